//go:build interop

package interop

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/internal/refpeer"
)

// Harness self-checks: the same flows with reference peers on both ends, so
// a failure in a node test can be told apart from a harness problem.

func TestHarnessLTtoLT(t *testing.T) {
	cases := []struct {
		name  string
		size  int64
		files map[string]int64
		enc   string
	}{
		{"single", singleSize, nil, ""},
		{"multi_odd", 0, oddFiles, ""},
		{"forced_encryption", 4 << 20, nil, "forced"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := setup(t, testTimeout)
			dir := t.TempDir()
			name := "data"
			if c.files == nil {
				name = "single.bin"
			}
			f := makeFixture(t, dir, name, c.size, c.files, singlePiece)
			ports := freePorts(t, 2)
			seed := ltSeed(t, ctx, f, ports[0], refpeer.LTOptions{Encryption: c.enc})
			leechDir := mkdir(t, dir, "lt")
			start := time.Now()
			l := ltLeech(t, ctx, f, leechDir, ports[1], refpeer.LTOptions{Peers: []string{seed.Addr()}, Encryption: c.enc})
			u := waitLT(t, ctx, l)
			t.Logf("leecher: %v wall, %v CPU, max RSS %d MiB", time.Since(start).Round(time.Millisecond), u.CPU(), u.MaxRSS>>20)
			f.verify(t, "libtorrent leecher", leechDir)
		})
	}
}

func TestHarnessLTtoAria2(t *testing.T) {
	for _, enc := range []bool{false, true} {
		name := "plain"
		if enc {
			name = "require_crypto"
		}
		t.Run(name, func(t *testing.T) {
			ctx := setup(t, testTimeout)
			requireAria2(t)
			dir := t.TempDir()
			ports := freePorts(t, 2)
			url, stop, err := refpeer.StartTracker(addrPort(ports[0]))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(stop)
			f := makeFixture(t, dir, "data", 0, oddFiles, singlePiece, url)
			o := refpeer.LTOptions{}
			if enc {
				o.Encryption = "forced"
			}
			ltSeed(t, ctx, f, ports[0], o)
			leechDir := mkdir(t, dir, "aria2")
			a, err := refpeer.StartAria2(ctx, refpeer.Aria2Options{Torrent: f.Torrent, Dir: leechDir, ListenPort: ports[1], RequireEncryption: enc, Log: t.Output()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Stop() })
			if _, err := a.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			f.verify(t, "aria2", leechDir)
		})
	}
}

// TestHarnessLTSwarm: one seeder and three leechers that know each other.
func TestHarnessLTSwarm(t *testing.T) {
	ctx := setup(t, testTimeout)
	dir := t.TempDir()
	f := makeFixture(t, dir, "single.bin", 16<<20, nil, singlePiece)
	ports := freePorts(t, 4)
	var all []string
	for _, p := range ports {
		all = append(all, loopback(p))
	}
	ltSeed(t, ctx, f, ports[0], refpeer.LTOptions{})
	var leechers []*refpeer.LTPeer
	var dirs []string
	for i := 1; i < len(ports); i++ {
		d := mkdir(t, dir, "lt"+string(rune('0'+i)))
		dirs = append(dirs, d)
		var peers []string
		for j, a := range all {
			if j != i {
				peers = append(peers, a)
			}
		}
		leechers = append(leechers, ltLeech(t, ctx, f, d, ports[i], refpeer.LTOptions{Peers: peers, Name: "lt-leech" + string(rune('0'+i))}))
	}
	for _, l := range leechers {
		waitLT(t, ctx, l)
	}
	for _, d := range dirs {
		f.verify(t, filepath.Base(d), d)
	}
}

// TestHarnessSeedChecksData: a libtorrent seeder checks its data by default
// and refuses to report ready when it is incomplete.
func TestHarnessSeedChecksData(t *testing.T) {
	ctx := setup(t, testTimeout)
	dir := t.TempDir()
	f := makeFixture(t, dir, "single.bin", 2<<20, nil, singlePiece)
	p := filepath.Join(f.SeedDir, "single.bin")
	fh, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteAt([]byte("corrupt"), 300_000); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	seed, err := refpeer.StartLT(ctx, refpeer.LTOptions{Mode: "seed", Torrent: f.Torrent, SaveDir: f.SeedDir, ListenPort: freePorts(t, 1)[0], Log: t.Output()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seed.Stop() })
	err = seed.WaitReady(ctx)
	if err == nil || !strings.Contains(err.Error(), "incomplete after check") {
		t.Fatalf("want an 'incomplete after check' failure, got %v", err)
	}
	t.Logf("as expected: %v", strings.SplitN(err.Error(), "\n", 2)[0])
}
