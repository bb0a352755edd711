package shardtorrent

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/shard"
	"github.com/shardtorrent/shardtorrent/storage"
	"golang.org/x/sys/unix"
)

// checkTotals compares, on each shard's loop, the shard's published
// aggregate (refreshed first, so peers and rates need no tick) with the sum
// of its torrents' Status, then Session.Totals with the sum of those
// aggregates. A state change between the rounds and the Totals read (a
// check finishing) shows as a different StateSeq; the comparison is then
// taken again. It returns Totals.
func checkTotals(t *testing.T, s *Session, what string) Totals {
	t.Helper()
	for try := 0; ; try++ {
		want := shardTotals(t, s, what)
		got := s.Totals()
		if got.StateSeq != want.StateSeq && try < 100 {
			continue
		}
		if got.Torrents != want.Torrents || got.Checking != want.Checking || got.Downloading != want.Downloading ||
			got.Seeding != want.Seeding || got.Paused != want.Paused || got.Errored != want.Errored || got.StateSeq != want.StateSeq {
			t.Fatalf("%s: Totals %+v, shards %+v", what, got, want)
		}
		return got
	}
}

// shardTotals checks each shard's aggregate against its torrents'
// statuses, on its loop, and sums them.
func shardTotals(t *testing.T, s *Session, what string) Totals {
	t.Helper()
	ctx := context.Background()
	var out Totals
	for _, sh := range s.shards {
		var got shard.Aggregate
		var sum Totals
		if err := s.onLoop(ctx, sh, func() {
			sh.RefreshAggregate()
			got = sh.Aggregate()
			for _, tr := range sh.Torrents() {
				addStatus(&sum, tr.Status())
			}
		}); err != nil {
			t.Fatal(err)
		}
		if got.Classes != [shard.NumClasses]int64{int64(sum.Checking), int64(sum.Downloading), int64(sum.Seeding), int64(sum.Paused), int64(sum.Errored)} ||
			int(got.Peers) != sum.Peers || int(got.Connecting) != sum.Connecting || got.UploadRate != sum.UploadRate ||
			got.DownloadRate != sum.DownloadRate || got.TotalUpload != sum.TotalUpload || got.TotalDownload != sum.TotalDownload {
			t.Fatalf("%s: shard %d published %+v, its statuses sum to %+v", what, sh.ID(), got, sum)
		}
		sum.StateSeq = got.StateSeq
		addTotals(&out, sum)
	}
	return out
}

// addStatus counts st into t as Totals classifies it.
func addStatus(t *Totals, st Status) {
	t.Torrents++
	switch shard.ClassOf(st.State, st.Paused, st.Err != nil) {
	case shard.ClassErrored:
		t.Errored++
	case shard.ClassPaused:
		t.Paused++
	case shard.ClassSeeding:
		t.Seeding++
	case shard.ClassDownloading:
		t.Downloading++
	default:
		t.Checking++
	}
	t.Peers += st.NumPeers
	t.Connecting += st.NumConnecting
	t.UploadRate += st.UploadRate
	t.DownloadRate += st.DownloadRate
	t.TotalUpload += st.TotalUpload
	t.TotalDownload += st.TotalDownload
}

func addTotals(t *Totals, u Totals) {
	t.Torrents += u.Torrents
	t.Checking += u.Checking
	t.Downloading += u.Downloading
	t.Seeding += u.Seeding
	t.Paused += u.Paused
	t.Errored += u.Errored
	t.Peers += u.Peers
	t.Connecting += u.Connecting
	t.UploadRate += u.UploadRate
	t.DownloadRate += u.DownloadRate
	t.TotalUpload += u.TotalUpload
	t.TotalDownload += u.TotalDownload
	t.StateSeq += u.StateSeq
}

// TestTotalsFollowSession: a seeder and a leecher of two shards each;
// Totals match the torrents' statuses after adds, a pause and a resume, a
// disk error, a transfer and a removal, and StateSeq moves with each state
// change and not with reads.
func TestTotalsFollowSession(t *testing.T) {
	srcA, miA := makeSeed(t, "a.bin", map[string]int{"a.bin": 1<<20 + 3}, 64<<10)
	srcB, miB := makeSeed(t, "b.bin", map[string]int{"b.bin": 512<<10 + 9}, 64<<10)
	seeder := newTestSession(t, bufpool.New(), 2)
	leecher := newTestSession(t, bufpool.New(), 2)
	ctx := context.Background()
	defer func() {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = leecher.Close(cctx)
		_ = seeder.Close(cctx)
	}()
	if tt := seeder.Totals(); tt != (Totals{}) {
		t.Fatalf("empty session: %+v", tt)
	}
	hA, err := seeder.AddTorrent(ctx, AddTorrentParams{MetaInfo: miA, SavePath: srcA})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seeder.AddTorrent(ctx, AddTorrentParams{MetaInfo: miB, SavePath: srcB}); err != nil {
		t.Fatal(err)
	}
	sw := &alertWaiter{t: t, s: seeder}
	sw.until(30*time.Second, "both seeding", func(as []plugin.Alert) bool {
		n := 0
		for _, a := range as {
			if sc, ok := a.(*plugin.StateChangedAlert); ok && sc.To == plugin.StateSeeding {
				n++
			}
		}
		return n == 2
	})
	tt := checkTotals(t, seeder, "seeder after adds")
	if tt.Torrents != 2 || tt.Seeding != 2 {
		t.Fatalf("seeder after adds: %+v", tt)
	}
	seq := tt.StateSeq
	for range 3 { // reads do not move StateSeq
		if _, err := seeder.TorrentStatuses(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if s := checkTotals(t, seeder, "reads").StateSeq; s != seq {
			t.Fatalf("StateSeq moved on reads: %d -> %d", seq, s)
		}
	}

	// Pause and resume: StateSeq moves each time.
	if err := hA.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if tt := checkTotals(t, seeder, "paused"); tt.Paused != 1 || tt.Seeding != 1 || tt.StateSeq == seq {
		t.Fatalf("paused: %+v (StateSeq was %d)", tt, seq)
	} else {
		seq = tt.StateSeq
	}
	if err := hA.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if tt := checkTotals(t, seeder, "resumed"); tt.Paused != 0 || tt.Seeding != 2 || tt.StateSeq == seq {
		t.Fatalf("resumed: %+v (StateSeq was %d)", tt, seq)
	}

	// The leecher: A fails on a full disk part way, B downloads.
	dst := t.TempDir()
	peers := []netip.AddrPort{seeder.ListenAddr()}
	lA, err := leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: miA, SavePath: dst, Peers: peers, Paused: true})
	if err != nil {
		t.Fatal(err)
	}
	plan := storage.NewFaultPlan(storage.FaultRule{Op: storage.FaultWrite, After: miA.Info.NumPieces() / 3, Err: unix.ENOSPC})
	if err := lA.do(ctx, func(x *shard.Torrent) { x.Storage().(*storage.FileStorage).SetFaults(plan) }); err != nil {
		t.Fatal(err)
	}
	if _, err := leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: miB, SavePath: dst, Peers: peers}); err != nil {
		t.Fatal(err)
	}
	lseq := checkTotals(t, leecher, "leecher after adds").StateSeq
	if err := lA.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	lw := &alertWaiter{t: t, s: leecher}
	lw.until(60*time.Second, "A's file error and B finished", func(as []plugin.Alert) bool {
		return fileErrorFor(miA.InfoHash)(as) && finishedFor(miB.InfoHash)(as)
	})
	tt = checkTotals(t, leecher, "leecher: A failed, B done")
	if tt.Errored != 1 || tt.Seeding != 1 || tt.TotalDownload < miB.Info.TotalLength || tt.StateSeq == lseq {
		t.Fatalf("leecher: A failed, B done: %+v", tt)
	}
	if tt := checkTotals(t, seeder, "seeder after serving"); tt.TotalUpload < miB.Info.TotalLength {
		t.Fatalf("seeder after serving: %+v", tt)
	}

	// The disk has room again: A resumes and completes.
	lseq = tt.StateSeq
	if err := lA.do(ctx, func(x *shard.Torrent) { x.Storage().(*storage.FileStorage).SetFaults(nil) }); err != nil {
		t.Fatal(err)
	}
	if err := lA.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	lw.until(60*time.Second, "A finished after Resume", finishedFor(miA.InfoHash))
	tt = checkTotals(t, leecher, "leecher: both done")
	if tt.Errored != 0 || tt.Seeding != 2 || tt.StateSeq == lseq {
		t.Fatalf("leecher: both done: %+v (StateSeq was %d)", tt, lseq)
	}

	// Removal takes a torrent out of every figure at once.
	lseq = tt.StateSeq
	if err := lA.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	tt = checkTotals(t, leecher, "leecher after removal")
	if tt.Torrents != 1 || tt.StateSeq == lseq || tt.TotalDownload >= miA.Info.TotalLength+miB.Info.TotalLength {
		t.Fatalf("leecher after removal: %+v", tt)
	}
}
