package nodecmd

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/metainfo"
)

func TestBadInputGetsOneClearLine(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.torrent")
	if err := os.WriteFile(junk, []byte("not bencode"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown flag", []string{"-nope"}, 2, "flag provided but not defined"},
		{"bad peer", []string{"-peer", "localhost"}, 2, `bad -peer "localhost"`},
		{"unreadable torrent", []string{"-listen", "off", filepath.Join(dir, "missing.torrent")}, 1, "missing.torrent"},
		{"junk torrent", []string{"-listen", "off", junk}, 1, "junk.torrent"},
		{"bad magnet", []string{"-listen", "off", "magnet:?xt=urn:btih:zz"}, 2, "magnet"},
		{"magnet with a bad x.pe", []string{"-listen", "off", "magnet:?xt=urn:btih:" + strings.Repeat("ab", 20) + "&x.pe=nohost"}, 2, "x.pe"},
		{"exit without torrents", []string{"-listen", "off", "-exit-when-complete"}, 2, "needs at least one torrent"},
		{"bad encryption policy", []string{"-listen", "off", "-encryption", "always"}, 2, `unknown encryption policy "always"`},
		{"bad encryption level", []string{"-listen", "off", "-enc-level", "aes"}, 2, `unknown encryption level "aes"`},
		{"bad fleet", []string{"-listen", "off", "-fleet", "3/3"}, 2, "-fleet"},
		{"make without output", []string{"make", dir}, 2, "usage: node make"},
		{"make bad piece size", []string{"make", "-o", filepath.Join(dir, "x.torrent"), "-piece-size", "1000", dir}, 2, "power of two"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Run(c.args, &out, &errb)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, c.code, errb.String())
			}
			if !strings.Contains(errb.String(), c.want) {
				t.Fatalf("stderr %q does not mention %q", errb.String(), c.want)
			}
			if strings.Contains(errb.String(), "goroutine ") {
				t.Fatalf("stack trace on bad input: %q", errb.String())
			}
		})
	}
}

func TestMakeThenSeedUntilComplete(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(filepath.Join(data, "tree", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, size := range map[string]int{"tree/a.bin": 70_000, "tree/sub/b.bin": 5} {
		if err := os.WriteFile(filepath.Join(data, name), bytes.Repeat([]byte{byte(size)}, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tor := filepath.Join(dir, "tree.torrent")
	var out, errb bytes.Buffer
	if code := Run([]string{"make", "-o", tor, "-piece-size", "16384", filepath.Join(data, "tree")}, &out, &errb); code != 0 {
		t.Fatalf("make: %d %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "5 pieces") {
		t.Fatalf("make output %q", out.String())
	}
	// A node over the data directory checks it, finds it complete and, with
	// -exit-when-complete, exits 0. The torrent comes from -watch.
	watch := filepath.Join(dir, "watch")
	if err := os.MkdirAll(watch, 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(tor)
	if err := os.WriteFile(filepath.Join(watch, "tree.torrent"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errb.Reset()
	code := Run([]string{"-listen", "127.0.0.1:0", "-data", data, "-watch", watch, "-exit-when-complete", "-status", "0"}, &out, &errb)
	if code != 0 {
		t.Fatalf("node exit %d: %s %s", code, out.String(), errb.String())
	}
	for _, want := range []string{"listening on 127.0.0.1:", "added tree", "from " + filepath.Join(watch, "tree.torrent"), "seeding tree", "all torrents complete"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestFleetSplitsWatchDirectory: three nodes with -fleet 0/3..2/3 over one
// watch directory of 30 torrents serve every torrent exactly once, each the
// share FleetShare gives it.
func TestFleetSplitsWatchDirectory(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	watch := filepath.Join(dir, "watch")
	for _, d := range []string{data, watch} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const count = 30
	shareOf := map[string]int{}
	for i := 0; i < count; i++ {
		name := fmt.Sprintf("f%02d.bin", i)
		if err := os.WriteFile(filepath.Join(data, name), bytes.Repeat([]byte{byte(i)}, 1000+i), 0o644); err != nil {
			t.Fatal(err)
		}
		tor := filepath.Join(watch, name+".torrent")
		var out, errb bytes.Buffer
		if code := Run([]string{"make", "-o", tor, "-piece-size", "16384", filepath.Join(data, name)}, &out, &errb); code != 0 {
			t.Fatalf("make: %d %s", code, errb.String())
		}
		mi, err := metainfo.Load(tor)
		if err != nil {
			t.Fatal(err)
		}
		shareOf[name] = shardtorrent.FleetShare(mi.InfoHash, 3)
	}
	servedBy := map[string]int{}
	for i := 0; i < 3; i++ {
		var out, errb bytes.Buffer
		args := []string{"-listen", "127.0.0.1:0", "-data", data, "-watch", watch, "-fleet", fmt.Sprintf("%d/3", i),
			"-exit-when-complete", "-status", "0"}
		if i == 0 {
			// Seed mode posts no state change: the node must still
			// see its torrents complete and exit.
			args = append(args, "-seed-mode")
		}
		code := Run(args, &out, &errb)
		if code != 0 {
			t.Fatalf("node %d/3 exit %d: %s %s", i, code, out.String(), errb.String())
		}
		n := 0
		for _, line := range strings.Split(out.String(), "\n") {
			name, ok := strings.CutPrefix(line, "added ")
			if !ok {
				continue
			}
			name, _, _ = strings.Cut(name, " ")
			if prev, dup := servedBy[name]; dup {
				t.Errorf("%s served by nodes %d and %d", name, prev, i)
			}
			servedBy[name] = i
			if shareOf[name] != i {
				t.Errorf("%s served by node %d, its share is %d", name, i, shareOf[name])
			}
			n++
		}
		if want := fmt.Sprintf("fleet %d/3: serving %d torrents, %d left to the other nodes", i, n, count-n); !strings.Contains(out.String(), want) {
			t.Errorf("node %d output lacks %q:\n%s", i, want, out.String())
		}
	}
	if len(servedBy) != count {
		t.Fatalf("%d of %d torrents served", len(servedBy), count)
	}
}
