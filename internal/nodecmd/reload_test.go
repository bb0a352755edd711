package nodecmd

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGHUPRereadsWatchDirectory: with the periodic rescan pushed out
// to an hour, a torrent dropped into the watch directory is added only
// when SIGHUP arrives, and the node says it re-read the directory. The
// signal is fed to the node's reload channel as the OS would deliver it.
func TestSIGHUPRereadsWatchDirectory(t *testing.T) {
	dir := t.TempDir()
	data, list := makeTinyTorrents(t, dir, 1)
	watch := filepath.Join(dir, "watch")
	if err := os.MkdirAll(watch, 0o755); err != nil {
		t.Fatal(err)
	}
	oldEvery, oldNotify := watchEvery, notifyReload
	t.Cleanup(func() { watchEvery, notifyReload = oldEvery, oldNotify })
	watchEvery = time.Hour
	hupC := make(chan chan<- os.Signal, 1)
	notifyReload = func(c chan<- os.Signal) func() {
		hupC <- c
		return func() {}
	}

	r := startNode(t, "-listen", "off", "-dht=false", "-status", "0", "-data", data, "-watch", watch)
	var hup chan<- os.Signal
	select {
	case hup = <-hupC: // the node is past its first scan and in its loop
	case <-r.exited:
		t.Fatalf("node exited; stderr:\n%s", r.err.String())
	}

	// Nothing new yet: SIGHUP re-reads and finds nothing.
	hup <- syscall.SIGHUP
	r.waitOut(t, "SIGHUP: re-read "+watch+": 0 new torrents", 10*time.Second)

	b, err := os.ReadFile(strings.TrimSpace(readFile(t, list)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(watch, "t00000.bin.torrent"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	hup <- syscall.SIGHUP
	r.waitOut(t, "SIGHUP: re-read "+watch+": 1 new torrents", 10*time.Second)
	if out := r.out.String(); !strings.Contains(out, "added t00000.bin") {
		t.Fatalf("torrent not added on SIGHUP; stdout:\n%s", out)
	}
	r.signal(t, syscall.SIGTERM)
	if code, hung := r.wait(t, 30*time.Second); hung || code != 0 {
		t.Fatalf("exit %d (hung %v)", code, hung)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
