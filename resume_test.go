package shardtorrent

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/resume"
)

// checkedFiles reports whether alerts show a full check of ih (a state
// change out of checking_files) and whether resume data was rejected.
func checkedFiles(alerts []plugin.Alert, ih metainfo.InfoHash) (checked, rejected bool) {
	for _, a := range alerts {
		switch a := a.(type) {
		case *plugin.StateChangedAlert:
			if a.InfoHash == ih && (a.From == plugin.StateCheckingFiles || a.To == plugin.StateCheckingFiles) {
				checked = true
			}
		case *plugin.FastresumeRejectedAlert:
			if a.InfoHash == ih {
				rejected = true
			}
		}
	}
	return checked, rejected
}

func isSeeding(a plugin.Alert) bool {
	sc, ok := a.(*plugin.StateChangedAlert)
	return ok && sc.To == plugin.StateSeeding
}

// TestResumeAfterDownload: download, SaveResumeData, close, and a new
// session given the data serves at once: no check, every piece, the same
// bytes.
func TestResumeAfterDownload(t *testing.T) {
	seeder, leecher, mi, src := seededPair(t)
	ctx := context.Background()
	dst := t.TempDir()
	h, err := leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: dst, Peers: []netip.AddrPort{seeder.ListenAddr()}})
	if err != nil {
		t.Fatal(err)
	}
	waitAlert(t, leecher, 30*time.Second, isFinished)
	b, err := h.SaveResumeData(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitAlert(t, leecher, 5*time.Second, func(a plugin.Alert) bool {
		s, ok := a.(*plugin.SaveResumeDataAlert)
		return ok && string(s.Data) == string(b)
	})
	if err := leecher.Close(ctx); err != nil {
		t.Fatal(err)
	}

	p, err := ReadResumeData(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.MetaInfo == nil || p.SavePath != dst || p.Resume == nil || p.InfoHash != mi.InfoHash {
		t.Fatalf("ReadResumeData: %+v", p)
	}
	again := newTestSession(t, bufpool.New(), 1)
	defer again.Close(ctx)
	h2, err := again.AddTorrent(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	seen := waitAlert(t, again, 10*time.Second, isSeeding)
	if checked, rejected := checkedFiles(seen, mi.InfoHash); checked || rejected {
		t.Fatalf("resumed torrent: checked=%v rejected=%v, want neither", checked, rejected)
	}
	st, err := h2.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pieces != mi.Info.NumPieces() || st.ResumeRejected {
		t.Fatalf("resumed status: %d of %d pieces, rejected=%v", st.Pieces, mi.Info.NumPieces(), st.ResumeRejected)
	}
	if got, want := hashTree(t, dst), hashTree(t, src); len(got) != 1 || got["p.bin"] != want["p.bin"] {
		t.Fatal("downloaded bytes differ from the seed's")
	}

	// The same data after the file changed is rejected, naming the file,
	// and the torrent is checked in full.
	if err := h2.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dst, "p.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(dst, "p.bin"), time.Now(), fi.ModTime().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	p, _ = ReadResumeData(b)
	if _, err := again.AddTorrent(ctx, p); err != nil {
		t.Fatal(err)
	}
	seen = waitAlert(t, again, 10*time.Second, isSeeding)
	checked, rejected := checkedFiles(seen, mi.InfoHash)
	if !checked || !rejected {
		t.Fatalf("changed file: checked=%v rejected=%v, want both", checked, rejected)
	}
	for _, a := range seen {
		if r, ok := a.(*plugin.FastresumeRejectedAlert); ok && r.File != "p.bin" {
			t.Fatalf("rejection names %q, want p.bin", r.File)
		}
	}
}

// TestResumeDirRestart: with ResumeDir, Close saves every torrent, and a
// session restarted from the store resumes them without a check.
func TestResumeDirRestart(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	writeFiles(t, src, map[string]int{"a.bin": 300 << 10})
	_, mi, err := metainfo.Create(filepath.Join(src, "a.bin"), metainfo.CreateOptions{PieceLength: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "state")
	open := func() *Session {
		s, err := NewSession(ctx, Settings{ListenAddr: "127.0.0.1:0", Shards: 2, AlertMask: plugin.CategoryAll, ResumeDir: state})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	if _, err := s.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src}); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, s, 10*time.Second, isSeeding)
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := resume.OpenStore(state)
	if err != nil {
		t.Fatal(err)
	}
	ds, errs := st.LoadAll()
	if len(errs) > 0 || len(ds) != 1 {
		t.Fatalf("store after Close: %d resume files, errors %v", len(ds), errs)
	}
	p, err := ParamsFromResume(ds[0])
	if err != nil {
		t.Fatal(err)
	}
	s = open()
	defer s.Close(ctx)
	h, err := s.AddTorrent(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	seen := waitAlert(t, s, 10*time.Second, isSeeding)
	if checked, rejected := checkedFiles(seen, mi.InfoHash); checked || rejected {
		t.Fatalf("restart: checked=%v rejected=%v, want neither", checked, rejected)
	}
	// Remove takes the resume file away too (written by the saver, after
	// the removal: wait for the store to show it).
	if err := h.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if ds, _ := st.LoadAll(); len(ds) != 0 {
		t.Fatalf("%d resume files after Remove and Close, want 0", len(ds))
	}
}

// TestErrClosedAfterClose: every method returns ErrClosed at once after
// Close, even with a context that never ends.
func TestErrClosedAfterClose(t *testing.T) {
	s, mi, _ := seedSession(t, map[string]int{"x.bin": 100 << 10}, metainfo.CreateOptions{PieceLength: 16 << 10})
	ctx := context.Background()
	ts, err := s.Torrents(ctx)
	if err != nil || len(ts) != 1 {
		t.Fatalf("Torrents: %v %v", ts, err)
	}
	h := ts[0]
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Close": func() error { return s.Close(ctx) },
		"AddTorrent": func() error {
			_, err := s.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: t.TempDir()})
			return err
		},
		"Torrents":       func() error { _, err := s.Torrents(ctx); return err },
		"WaitForAlert":   func() error { s.PopAlerts(); return s.WaitForAlert(ctx) },
		"Status":         func() error { _, err := h.Status(ctx); return err },
		"Peers":          func() error { _, err := h.Peers(ctx); return err },
		"Pause":          func() error { return h.Pause(ctx) },
		"Resume":         func() error { return h.Resume(ctx) },
		"ConnectPeer":    func() error { return h.ConnectPeer(ctx, netip.MustParseAddrPort("127.0.0.1:1")) },
		"Remove":         func() error { return h.Remove(ctx, RemoveDeleteFiles) },
		"ForceRecheck":   func() error { return h.ForceRecheck(ctx) },
		"SaveResumeData": func() error { _, err := h.SaveResumeData(ctx); return err },
		"AddExtension":   func() error { return h.AddExtension(ctx, nil) },
	}
	for name, call := range calls {
		done := make(chan error, 1)
		go func() { done <- call() }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrClosed) {
				t.Errorf("%s after Close: %v, want ErrClosed", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s after Close did not return", name)
		}
	}
}

// TestRemoveDeleteFiles deletes a removed torrent's files and says so.
func TestRemoveDeleteFiles(t *testing.T) {
	s, _, src := seedSession(t, map[string]int{"d/one.bin": 100 << 10, "d/two.bin": 50 << 10}, metainfo.CreateOptions{PieceLength: 16 << 10})
	ctx := context.Background()
	defer s.Close(ctx)
	ts, err := s.Torrents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ts[0].Remove(ctx, RemoveDeleteFiles); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, s, 5*time.Second, func(a plugin.Alert) bool { _, ok := a.(*plugin.TorrentDeletedAlert); return ok })
	if _, err := os.Stat(filepath.Join(src, "d")); !os.IsNotExist(err) {
		t.Fatalf("the torrent's directory is still there: %v", err)
	}
}

// TestForceRecheck checks a seeding torrent again and seeds after.
func TestForceRecheck(t *testing.T) {
	s, mi, _ := seedSession(t, map[string]int{"r.bin": 200 << 10}, metainfo.CreateOptions{PieceLength: 16 << 10})
	ctx := context.Background()
	defer s.Close(ctx)
	ts, err := s.Torrents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ts[0].ForceRecheck(ctx); err != nil {
		t.Fatal(err)
	}
	seen := waitAlert(t, s, 10*time.Second, isSeeding)
	if checked, _ := checkedFiles(seen, mi.InfoHash); !checked {
		t.Fatal("ForceRecheck did not check the files")
	}
	st, err := ts[0].Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pieces != mi.Info.NumPieces() {
		t.Fatalf("after the recheck %d of %d pieces", st.Pieces, mi.Info.NumPieces())
	}
}

// TestSaveResumeDataWithoutMetadata fails with an alert.
func TestSaveResumeDataWithoutMetadata(t *testing.T) {
	s := newTestSession(t, bufpool.New(), 1)
	ctx := context.Background()
	defer s.Close(ctx)
	h, err := s.AddTorrent(ctx, AddTorrentParams{InfoHash: metainfo.InfoHash{V1: metainfo.HashV1{1, 2, 3}}, SavePath: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.SaveResumeData(ctx); !errors.Is(err, ErrMetadataPending) {
		t.Fatalf("SaveResumeData without metadata: %v", err)
	}
	waitAlert(t, s, 5*time.Second, func(a plugin.Alert) bool { _, ok := a.(*plugin.SaveResumeDataFailedAlert); return ok })
}

// TestNewSessionContext: a context that has ended bounds start-up.
func TestNewSessionContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if s, err := NewSession(ctx, Settings{ListenAddr: "off"}); !errors.Is(err, context.Canceled) || s != nil {
		t.Fatalf("NewSession with an ended context: %v, %v", s, err)
	}
}
