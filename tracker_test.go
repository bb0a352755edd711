package shardtorrent

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/internal/trackertest"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// TestTrackerTransferCounters: a seeder and a leecher that know nothing
// of each other but a tracker find each other through it, and the tracker
// sees exactly the right events and uploaded/downloaded/left from both.
func TestTrackerTransferCounters(t *testing.T) {
	srv := trackertest.New()
	defer srv.Close()
	src := t.TempDir()
	const size = 1<<20 + 12345
	writeFiles(t, src, map[string]int{"t.bin": size})
	_, mi, err := metainfo.Create(filepath.Join(src, "t.bin"), metainfo.CreateOptions{PieceLength: 64 << 10, Trackers: []string{srv.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	seeder := newTestSession(t, bufpool.New(), 1)
	leecher := newTestSession(t, bufpool.New(), 2)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := seeder.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Wait(ctx, func(as []trackertest.Announce) bool { return len(as) == 1 }); err != nil {
		t.Fatal(err)
	}
	h, err := leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	waitAlert(t, leecher, 60*time.Second, func(a plugin.Alert) bool { _, ok := a.(*plugin.TorrentFinishedAlert); return ok })
	if err := srv.Wait(ctx, func(as []trackertest.Announce) bool { return len(as) == 3 }); err != nil {
		t.Fatal(err)
	}
	if err := h.Scrape(ctx); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, leecher, 10*time.Second, func(a plugin.Alert) bool {
		r, ok := a.(*plugin.ScrapeReplyAlert)
		return ok && r.Complete == 2 && r.Incomplete == 0
	})
	st, err := h.Trackers(ctx)
	if err != nil || len(st) != 1 || !st[0].Working || st[0].URL != srv.URL() || st[0].Seeders != 2 {
		t.Fatalf("trackers %+v %v", st, err)
	}
	if err := leecher.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := seeder.Close(ctx); err != nil {
		t.Fatal(err)
	}

	type ann struct {
		event          string
		up, down, left int64
	}
	bySide := map[[20]byte][]ann{}
	ports := map[[20]byte]int{}
	for _, a := range srv.Announces() {
		bySide[a.PeerID] = append(bySide[a.PeerID], ann{a.Event, a.Uploaded, a.Downloaded, a.Left})
		ports[a.PeerID] = a.Port
		wantNum := 200
		if a.Event == "stopped" {
			wantNum = 0 // as libtorrent: a leaving peer wants none
		}
		if a.InfoHash != mi.InfoHash.V1 || a.NumWant != wantNum || a.Key == "" {
			t.Errorf("announce %+v", a)
		}
	}
	wantSeed := []ann{{"started", 0, 0, 0}, {"stopped", size, 0, 0}}
	wantLeech := []ann{{"started", 0, 0, size}, {"completed", 0, size, 0}, {"stopped", 0, size, 0}}
	check := func(name string, s *Session, want []ann) {
		got := bySide[s.PeerID()]
		if len(got) != len(want) {
			t.Fatalf("%s announced %+v, want %+v", name, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s announce %d: %+v, want %+v", name, i, got[i], want[i])
			}
		}
		if ports[s.PeerID()] != int(s.ListenAddr().Port()) {
			t.Errorf("%s announced port %d, listens on %d", name, ports[s.PeerID()], s.ListenAddr().Port())
		}
	}
	check("seeder", seeder, wantSeed)
	check("leecher", leecher, wantLeech)
}

// TestTrackerSessionExtraAndPrivate: Settings.Trackers reach public
// torrents only, and a tracker's own address for us is ignored.
func TestTrackerSessionExtraAndPrivate(t *testing.T) {
	srv := trackertest.New()
	defer srv.Close()
	s, err := NewSession(context.Background(), Settings{ListenAddr: "127.0.0.1:0", Shards: 1, AlertMask: plugin.CategoryAll, Trackers: []string{srv.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	defer s.Close(ctx)
	for i, private := range []bool{true, false} {
		src := t.TempDir()
		writeFiles(t, src, map[string]int{"f.bin": 1000 + i})
		_, mi, err := metainfo.Create(filepath.Join(src, "f.bin"), metainfo.CreateOptions{PieceLength: 16 << 10, Private: private})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src}); err != nil {
			t.Fatal(err)
		}
		if !private {
			if err := srv.Wait(ctx, func(as []trackertest.Announce) bool { return len(as) == 1 }); err != nil {
				t.Fatal(err)
			}
			if as := srv.Announces(); as[0].InfoHash != mi.InfoHash.V1 {
				t.Fatal("the private torrent announced to the session's tracker")
			}
		}
	}
}

// TestTrackerPauseResumeRemove: pause sends stopped, resume started
// again, remove stopped once more; the handle's methods fail with
// ErrTorrentGone after and the tracker client forgets the torrent.
func TestTrackerPauseResumeRemove(t *testing.T) {
	srv := trackertest.New()
	defer srv.Close()
	s := newTestSession(t, bufpool.New(), 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	defer s.Close(ctx)
	src := t.TempDir()
	writeFiles(t, src, map[string]int{"f.bin": 5000})
	_, mi, err := metainfo.Create(filepath.Join(src, "f.bin"), metainfo.CreateOptions{PieceLength: 16 << 10, Trackers: []string{srv.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src})
	if err != nil {
		t.Fatal(err)
	}
	events := func(n int) []string {
		t.Helper()
		if err := srv.Wait(ctx, func(as []trackertest.Announce) bool { return len(as) >= n }); err != nil {
			t.Fatal(err)
		}
		var evs []string
		for _, a := range srv.Announces() {
			evs = append(evs, a.Event)
		}
		return evs
	}
	events(1)
	if ok, err := h.AddTracker(ctx, "udp://127.0.0.1:1/announce", 1); !ok || err != nil {
		t.Fatalf("AddTracker %v %v", ok, err)
	}
	if ok, _ := h.AddTracker(ctx, "ftp://x/", 1); ok {
		t.Fatal("AddTracker took an ftp URL")
	}
	st, err := h.Trackers(ctx)
	if err != nil || len(st) != 2 || st[1].URL != "udp://127.0.0.1:1/announce" || st[1].Tier != 1 {
		t.Fatalf("trackers %+v %v", st, err)
	}
	if err := h.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	events(2)
	if err := h.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	events(3)
	if err := h.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	got := events(4)
	want := []string{"started", "stopped", "started", "stopped"}
	if len(got) != 4 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Fatalf("events %q, want %q", got, want)
	}
	if _, err := h.Trackers(ctx); !errors.Is(err, ErrTorrentGone) {
		t.Fatalf("Trackers after Remove: %v", err)
	}
	// The reply to the stopped, then one round on the loop (the removal
	// check is posted there): the client has forgotten the torrent.
	stops := 0
	waitAlert(t, s, 10*time.Second, func(a plugin.Alert) bool {
		switch a := a.(type) {
		case *plugin.TrackerAnnounceAlert:
			if a.Event == "stopped" {
				stops++
			}
		case *plugin.TrackerReplyAlert:
			return stops == 2
		}
		return false
	})
	if err := s.onLoop(ctx, s.shards[0], func() {}); err != nil {
		t.Fatal(err)
	}
	if _, known := s.trackers.Trackers(mi.InfoHash.V1); known {
		t.Fatal("tracker client still knows the removed torrent")
	}
}
