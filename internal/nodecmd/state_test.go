package nodecmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRestartResumesFromState: a node that seeded a torrent saves it in
// DATA/.shardtorrent at exit; restarted with no argument it re-adds it
// from there without a check, and a torrent given both ways uses the
// resume data. A file changed between runs is re-checked, that torrent
// alone.
func TestRestartResumesFromState(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	var tors []string
	for _, name := range []string{"one.bin", "two.bin"} {
		if err := os.MkdirAll(data, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(data, name), bytes.Repeat([]byte(name), 20_000), 0o644); err != nil {
			t.Fatal(err)
		}
		tor := filepath.Join(dir, name+".torrent")
		var out, errb bytes.Buffer
		if code := Run([]string{"make", "-o", tor, "-piece-size", "16384", filepath.Join(data, name)}, &out, &errb); code != 0 {
			t.Fatalf("make: %d %s", code, errb.String())
		}
		tors = append(tors, tor)
	}
	run := func(args ...string) (string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		base := []string{"-listen", "127.0.0.1:0", "-data", data, "-exit-when-complete", "-status", "0", "-dht=false"}
		if code := Run(append(base, args...), &out, &errb); code != 0 {
			t.Fatalf("node %v: exit %d\n%s\n%s", args, code, out.String(), errb.String())
		}
		return out.String(), errb.String()
	}
	out, log := run(tors...)
	if !strings.Contains(log, "checking_files -> seeding") {
		t.Fatalf("first run did not check:\n%s\n%s", out, log)
	}
	if files, _ := filepath.Glob(filepath.Join(data, ".shardtorrent", "*.fastresume")); len(files) != 2 {
		t.Fatalf("state directory holds %d resume files after exit, want 2", len(files))
	}

	// Restart without arguments: both come back from the state, unchecked.
	out, log = run()
	for _, want := range []string{"resumed 2 torrents (0 re-checked)", "seeding one.bin", "seeding two.bin", "all torrents complete"} {
		if !strings.Contains(out, want) {
			t.Fatalf("restart output lacks %q:\n%s\n%s", want, out, log)
		}
	}
	if strings.Contains(log, "checking_files") {
		t.Fatalf("restart checked files:\n%s", log)
	}

	// Given on the command line too: still from the resume data. A file
	// changed behind the node's back: that torrent alone is re-checked.
	fi, err := os.Stat(filepath.Join(data, "two.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(data, "two.bin"), time.Now(), fi.ModTime().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	out, log = run(tors[0])
	if !strings.Contains(out, "resumed 2 torrents (1 re-checked)") || strings.Contains(out, "added one.bin") {
		t.Fatalf("restart with a changed file:\n%s\n%s", out, log)
	}
	if !strings.Contains(log, "two.bin state changed: checking_files") || strings.Contains(log, "one.bin state changed: checking_files") {
		t.Fatalf("want two.bin alone re-checked:\n%s", log)
	}
}
