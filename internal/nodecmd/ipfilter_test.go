package nodecmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestIPFilterFlagBadFile: a missing file, or one with no usable line,
// costs one clear line on stderr and exit 2, before anything starts.
func TestIPFilterFlagBadFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.p2p")
	if err := os.WriteFile(bad, []byte("# header\nnot a range\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "missing.p2p"), "no such file"},
		{bad, "line 2"},
	} {
		var out, errb bytes.Buffer
		if code := Run([]string{"-listen", "off", "-dht=false", "-ip-filter", tc.path}, &out, &errb); code != 2 {
			t.Fatalf("%s: exit %d, want 2; stderr %q", tc.path, code, errb.String())
		}
		msg := errb.String()
		if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "node: -ip-filter: ") || !strings.Contains(msg, tc.want) {
			t.Fatalf("%s: stderr %q, want one line naming %q", tc.path, msg, tc.want)
		}
	}
}

// TestIPFilterFlagLoadAndSIGHUP: the node loads -ip-filter at start and
// says how many ranges; SIGHUP reloads the file (now larger); a file that
// breaks leaves the previous filter in place.
func TestIPFilterFlagLoadAndSIGHUP(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "block.txt")
	if err := os.WriteFile(list, []byte("A:10.0.0.0-10.0.0.255\nbad line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	oldNotify := notifyReload
	t.Cleanup(func() { notifyReload = oldNotify })
	hupC := make(chan chan<- os.Signal, 1)
	notifyReload = func(c chan<- os.Signal) func() {
		hupC <- c
		return func() {}
	}
	r := startNode(t, "-listen", "127.0.0.1:0", "-dht=false", "-status", "0", "-data", dir, "-ip-filter", list)
	var hup chan<- os.Signal
	select {
	case hup = <-hupC:
	case <-r.exited:
		t.Fatalf("node exited; stderr:\n%s", r.err.String())
	}
	r.waitOut(t, "ip filter "+list+": 1 ranges loaded from 1 rules, 1 bad lines skipped", 10*time.Second)

	if err := os.WriteFile(list, []byte("A:10.0.0.0-10.0.0.255\n192.168.0.0/16\n2001:db8::/32\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hup <- syscall.SIGHUP
	r.waitOut(t, "SIGHUP: ip filter "+list+": 3 ranges loaded from 3 rules", 10*time.Second)

	if err := os.WriteFile(list, []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hup <- syscall.SIGHUP
	r.waitOut(t, "(the previous filter stays)", 10*time.Second)

	r.signal(t, syscall.SIGTERM)
	if code, hung := r.wait(t, 30*time.Second); hung || code != 0 {
		t.Fatalf("exit %d (hung %v)", code, hung)
	}
}
