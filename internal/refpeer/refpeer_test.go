package refpeer

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestMakeDataDeterministicAndHash(t *testing.T) {
	files := map[string]int64{"a/b/c.bin": 100_001, "empty": 0, "x": 7}
	d1, d2 := t.TempDir(), t.TempDir()
	if err := MakeData(d1, files, 42); err != nil {
		t.Fatal(err)
	}
	if err := MakeData(d2, files, 42); err != nil {
		t.Fatal(err)
	}
	h1, err := HashFiles(d1)
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := HashFiles(d2)
	if len(h1) != 3 || DiffHashes(h1, h2) != nil {
		t.Fatalf("not deterministic: %v vs %v", h1, h2)
	}
	if h1["empty"] != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("empty file hash %s", h1["empty"])
	}
	d3 := t.TempDir()
	if err := MakeData(d3, files, 43); err != nil {
		t.Fatal(err)
	}
	h3, _ := HashFiles(d3)
	if DiffHashes(h1, h3) == nil {
		t.Error("different seeds gave identical data")
	}
	fi, _ := os.Stat(filepath.Join(d1, "a/b/c.bin"))
	if fi.Size() != 100_001 {
		t.Errorf("size %d", fi.Size())
	}
	if err := MakeData(t.TempDir(), map[string]int64{"../evil": 1}, 1); err == nil {
		t.Error("accepted an escaping path")
	}
}

func TestTrackerCompactPeers(t *testing.T) {
	url, stop, err := StartTracker(netip.MustParseAddrPort("127.0.0.1:6881"), netip.MustParseAddrPort("127.0.0.2:258"))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get(url + "?info_hash=x&compact=1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := "d8:completei1e10:incompletei1e8:intervali30e12:min intervali5e5:peers12:" +
		"\x7f\x00\x00\x01\x1a\xe1\x7f\x00\x00\x02\x01\x02e"
	if string(b) != want {
		t.Fatalf("got %q\nwant %q", b, want)
	}
}

func TestFreePortsDistinct(t *testing.T) {
	p, err := FreePorts(8)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, x := range p {
		if seen[x] || x <= 0 {
			t.Fatalf("bad ports %v", p)
		}
		seen[x] = true
	}
}

func TestProcessLinesUsageAndStop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := StartProcess(ctx, ProcOptions{Path: "/bin/sh", Args: []string{"-c", "echo hello; echo oops >&2; exec sleep 30"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitLine(ctx, "oops"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.CPU(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	q, err := StartProcess(ctx, ProcOptions{Path: "/bin/sh", Args: []string{"-c", "echo bye; exit 3"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Wait(ctx); err == nil {
		t.Fatal("exit 3 not reported")
	}
	if _, err := q.WaitLine(ctx, "never"); err == nil {
		t.Fatal("WaitLine on an exited process succeeded")
	}
}

// TestCrashedOnlyOnSignals: a peer that dies of a signal nobody sent it
// is ErrCrashed (the guard measures that run again); one that exits with
// an error, or that Stop killed, is not.
func TestCrashedOnlyOnSignals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tc := range []struct {
		script  string
		crashed bool
	}{
		{"echo up; kill -SEGV $$", true},
		{"echo up; kill -ABRT $$", true},
		{"echo up; exit 3", false},
		{"echo up; exit 0", false},
	} {
		p, err := StartProcess(ctx, ProcOptions{Path: "/bin/sh", Args: []string{"-c", tc.script}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.WaitLine(ctx, "never printed")
		if err == nil {
			t.Fatalf("%q: WaitLine succeeded", tc.script)
		}
		if got := errors.Is(err, ErrCrashed); got != tc.crashed {
			t.Errorf("%q: errors.Is(err, ErrCrashed) = %v, want %v (err: %v)", tc.script, got, tc.crashed, err)
		}
	}
	p, err := StartProcess(ctx, ProcOptions{Path: "/bin/sh", Args: []string{"-c", "echo up; exec sleep 30"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitLine(ctx, "up"); err != nil {
		t.Fatal(err)
	}
	_, _ = p.Stop()
	if _, err := p.WaitLine(ctx, "never printed"); err == nil || errors.Is(err, ErrCrashed) {
		t.Errorf("a peer killed by Stop: err %v, want an error that is not ErrCrashed", err)
	}
}

// TestLTSmoke runs the embedded script end to end when libtorrent exists.
func TestLTSmoke(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	if err := MakeData(filepath.Join(dir, "seed"), map[string]int64{"f.bin": 1<<20 + 3}, 1); err != nil {
		t.Fatal(err)
	}
	tor := filepath.Join(dir, "f.torrent")
	ti, err := MakeTorrent(ctx, filepath.Join(dir, "seed", "f.bin"), tor, 16<<10)
	if err != nil {
		t.Fatal(err)
	}
	if ti.NumPieces != 65 || ti.TotalSize != 1<<20+3 || len(ti.InfoHash) != 40 {
		t.Fatalf("torrent info %+v", ti)
	}
	ports, _ := FreePorts(2)
	s, err := StartLT(ctx, LTOptions{Mode: "seed", Torrent: tor, SaveDir: filepath.Join(dir, "seed"), ListenPort: ports[0]})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if err := s.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	l, err := StartLT(ctx, LTOptions{Mode: "leech", Torrent: tor, SaveDir: filepath.Join(dir, "leech"), ListenPort: ports[1], Peers: []string{s.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	if err := l.WaitFinished(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if st := l.LastStatus(); st.Event != "finished" || st.Progress != 1 {
		t.Fatalf("last status %+v", st)
	}
	a, _ := HashFiles(filepath.Join(dir, "seed"))
	b, _ := HashFiles(filepath.Join(dir, "leech"))
	if err := DiffHashes(a, b); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stop(); err != nil {
		t.Fatalf("seeder stop: %v", err)
	}
}
