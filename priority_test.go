package shardtorrent

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// TestFilePrioritiesBetweenSessions: a leecher that skips one file of
// three over 127.0.0.1 finishes (StateFinished, not seeding) with the
// other two equal to the source; Files reports the priorities; making the
// file wanted again resumes the download to a seed with every file equal.
func TestFilePrioritiesBetweenSessions(t *testing.T) {
	src := t.TempDir()
	files := map[string]int{"multi/a.bin": 300_001, "multi/b.bin": 500_000, "multi/c.bin": 200_003}
	writeFiles(t, src, files)
	_, mi, err := metainfo.Create(filepath.Join(src, "multi"), metainfo.CreateOptions{PieceLength: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	seeder := newTestSession(t, bufpool.New(), 1)
	leecher := newTestSession(t, bufpool.New(), 1)
	ctx := context.Background()
	defer func() {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = leecher.Close(cctx)
		_ = seeder.Close(cctx)
	}()
	if _, err := seeder.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src}); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, seeder, 20*time.Second, func(a plugin.Alert) bool {
		sc, ok := a.(*plugin.StateChangedAlert)
		return ok && sc.To == plugin.StateSeeding
	})
	dst := t.TempDir()
	h, err := leecher.AddTorrent(ctx, AddTorrentParams{
		MetaInfo: mi, SavePath: dst, Peers: []netip.AddrPort{seeder.ListenAddr()},
		FilePriorities: []Priority{PriorityTop, PriorityDontDownload},
	})
	if err != nil {
		t.Fatal(err)
	}
	finished := func(a plugin.Alert) bool { _, ok := a.(*plugin.TorrentFinishedAlert); return ok }
	waitAlert(t, leecher, 60*time.Second, finished)
	st, err := h.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != plugin.StateFinished || st.Progress != 1 || st.TotalWanted != st.TotalWantedDone || st.TotalDone == mi.Info.TotalLength {
		t.Fatalf("status after finishing with a skipped file: %+v", st)
	}
	fs, err := h.Files(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var prios []Priority
	for _, f := range fs {
		prios = append(prios, f.Priority)
	}
	if want := []Priority{PriorityTop, PriorityDontDownload, PriorityDefault}; !slices.Equal(prios, want) {
		t.Fatalf("Files priorities %v, want %v", prios, want)
	}
	if fs[0].Completed != fs[0].Size || fs[2].Completed != fs[2].Size || fs[1].Completed == fs[1].Size {
		t.Fatalf("files after the finish: %+v", fs)
	}
	want, got := hashTree(t, src), hashTree(t, dst)
	for _, name := range []string{"multi/a.bin", "multi/c.bin"} {
		if got[name] != want[name] {
			t.Fatalf("%s differs from the source", name)
		}
	}

	if err := h.SetFilePriority(ctx, 3, PriorityLow); !errors.Is(err, ErrPriorityArg) {
		t.Fatalf("SetFilePriority(3) of 3 files: %v, want ErrPriorityArg", err)
	}
	if err := h.SetFilePriority(ctx, 1, PriorityLow); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, leecher, 60*time.Second, finished)
	if st, err = h.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if st.State != plugin.StateSeeding || st.TotalDone != mi.Info.TotalLength {
		t.Fatalf("status after the unskip: %+v", st)
	}
	got = hashTree(t, dst)
	for name, sum := range want {
		if got[name] != sum {
			t.Fatalf("%s differs from the source after the unskip", name)
		}
	}
	if ps, err := h.PiecePriorities(ctx); err != nil || len(ps) != mi.Info.NumPieces() {
		t.Fatalf("PiecePriorities: %d, %v", len(ps), err)
	}
}

// TestPiecePrioritiesNeedMetadata: a magnet's file priorities are kept
// until its metadata arrives; its piece priorities are refused with
// ErrMetadataPending.
func TestPiecePrioritiesNeedMetadata(t *testing.T) {
	s := newTestSession(t, bufpool.New(), 1)
	defer s.Close(context.Background())
	ctx := context.Background()
	h, err := s.AddTorrent(ctx, AddTorrentParams{InfoHash: metainfo.InfoHash{V1: metainfo.HashV1{1, 2, 3}}, SavePath: t.TempDir(),
		FilePriorities: []Priority{PriorityDontDownload}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.SetPiecePriorities(ctx, []Priority{PriorityTop}); !errors.Is(err, ErrMetadataPending) {
		t.Fatalf("SetPiecePriorities before metadata: %v, want ErrMetadataPending", err)
	}
	if err := h.SetFilePriority(ctx, 2, PriorityTop); err != nil {
		t.Fatal(err)
	}
	ps, err := h.FilePriorities(ctx)
	if want := []Priority{0, PriorityDefault, PriorityTop}; err != nil || !slices.Equal(ps, want) {
		t.Fatalf("FilePriorities before metadata: %v, %v; want %v", ps, err, want)
	}
}
