package shardtorrent

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// seededPair starts a seeding session and a leeching one connected to it,
// on a torrent big enough that the transfer is still running when the test
// acts on it.
func seededPair(t *testing.T) (seeder, leecher *Session, mi *metainfo.MetaInfo, src string) {
	t.Helper()
	src = t.TempDir()
	writeFiles(t, src, map[string]int{"p.bin": 2 << 20})
	_, mi, err := metainfo.Create(filepath.Join(src, "p.bin"), metainfo.CreateOptions{PieceLength: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	seeder = newTestSession(t, bufpool.New(), 1)
	leecher = newTestSession(t, bufpool.New(), 2)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = leecher.Close(ctx)
		_ = seeder.Close(ctx)
	})
	if _, err := seeder.AddTorrent(context.Background(), AddTorrentParams{MetaInfo: mi, SavePath: src}); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, seeder, 10*time.Second, func(a plugin.Alert) bool {
		sc, ok := a.(*plugin.StateChangedAlert)
		return ok && sc.To == plugin.StateSeeding
	})
	return seeder, leecher, mi, src
}

func TestPauseResumeRemove(t *testing.T) {
	seeder, leecher, mi, _ := seededPair(t)
	ctx := context.Background()
	h, err := leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: t.TempDir(), Paused: true,
		Peers: []netip.AddrPort{seeder.ListenAddr()}})
	if err != nil {
		t.Fatal(err)
	}
	// Paused: checking runs, but no connection is made.
	waitAlert(t, leecher, 10*time.Second, func(a plugin.Alert) bool { _, ok := a.(*plugin.TorrentCheckedAlert); return ok })
	time.Sleep(300 * time.Millisecond)
	st, err := h.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Paused || st.NumPeers != 0 || st.NumConnecting != 0 {
		t.Fatalf("paused torrent: %+v", st)
	}
	if err := h.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, leecher, 30*time.Second, func(a plugin.Alert) bool { _, ok := a.(*plugin.TorrentFinishedAlert); return ok })
	if err := h.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, leecher, 5*time.Second, func(a plugin.Alert) bool { _, ok := a.(*plugin.TorrentPausedAlert); return ok })
	if err := h.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Status(ctx); !errors.Is(err, ErrTorrentGone) {
		t.Fatalf("status of a removed torrent: %v, want ErrTorrentGone", err)
	}
	// The info-hash can be added again after removal.
	if _, err := leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: t.TempDir(), Paused: true}); err != nil {
		t.Fatalf("re-adding after remove: %v", err)
	}
	if _, err := leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: t.TempDir()}); !errors.Is(err, ErrDuplicateTorrent) {
		t.Fatalf("adding twice: %v, want ErrDuplicateTorrent", err)
	}
}

func TestConnectPeerAndPeersList(t *testing.T) {
	seeder, leecher, mi, _ := seededPair(t)
	ctx := context.Background()
	h, err := leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.ConnectPeer(ctx, seeder.ListenAddr()); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, leecher, 30*time.Second, func(a plugin.Alert) bool { _, ok := a.(*plugin.TorrentFinishedAlert); return ok })
	st, err := h.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TotalDownload < mi.Info.TotalLength || st.Progress != 1 {
		t.Fatalf("after finishing: %+v", st)
	}
	ts, err := leecher.Torrents(ctx)
	if err != nil || len(ts) != 1 || ts[0].InfoHash() != mi.InfoHash {
		t.Fatalf("Torrents() = %v, %v", ts, err)
	}
}

func TestAlertQueueBoundedAndCountsDrops(t *testing.T) {
	q := newAlertQueue(3, plugin.CategoryAll)
	for i := 0; i < 5; i++ {
		q.Post(&plugin.PieceFinishedAlert{Piece: i})
	}
	q.Post(userAlert{})
	q.Post(userAlert{})
	got := q.pop()
	if len(got) != 4 {
		t.Fatalf("popped %d alerts, want the drop report and 3", len(got))
	}
	d, ok := plugin.Cast[*plugin.AlertsDroppedAlert](got[0])
	if !ok {
		t.Fatalf("first alert is %T, want *AlertsDroppedAlert", got[0])
	}
	if d.Dropped[plugin.TypePieceFinished] != 2 || d.DroppedUser[userAlertType] != 2 {
		t.Fatalf("drop counts %v / %v", d.Dropped, d.DroppedUser)
	}
	// Masked categories are not queued at all.
	q.setMask(plugin.CategoryError)
	q.Post(&plugin.PieceFinishedAlert{})
	if got := q.pop(); len(got) != 0 {
		t.Fatalf("masked alert queued: %v", got)
	}
}

const userAlertType = plugin.UserAlertID + 7

type userAlert struct{}

func (userAlert) Type() plugin.AlertType    { return userAlertType }
func (userAlert) Category() plugin.Category { return plugin.CategoryStatus }
func (userAlert) Name() string              { return "test_user_alert" }
func (userAlert) Message() string           { return "user alert" }

func TestShardPlacementIsStableAndSpread(t *testing.T) {
	s := newTestSession(t, bufpool.New(), 2)
	defer s.Close(context.Background())
	counts := make([]int, 2)
	for i := 0; i < 200; i++ {
		var ih [20]byte
		ih[0], ih[1] = byte(i), byte(i>>8)
		a, b := s.shardFor(ih), s.shardFor(ih)
		if a != b {
			t.Fatal("placement not stable")
		}
		counts[a.ID()]++
	}
	if counts[0] < 60 || counts[1] < 60 {
		t.Fatalf("torrents spread %v over 2 shards", counts)
	}
}
