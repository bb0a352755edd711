package shardtorrent

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/internal/trackertest"
	"github.com/shardtorrent/shardtorrent/ipfilter"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// TestTorrentHandleIsOnePerTorrent: AddTorrent, a duplicate add, a
// duplicate within AddTorrents, Session.Torrent, FindTorrent and Torrents
// all give the same pointer; a torrent added with its metadata has Info at
// once; after Remove it is not found and can be added again (a new handle).
func TestTorrentHandleIsOnePerTorrent(t *testing.T) {
	s := newTestSession(t, bufpool.New(), 2)
	defer s.Close(context.Background())
	ctx := context.Background()
	src := t.TempDir()
	writeFiles(t, src, map[string]int{"one.bin": 100_000})
	_, mi, err := metainfo.Create(src+"/one.bin", metainfo.CreateOptions{PieceLength: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src})
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: t.TempDir()})
	if !errors.Is(err, ErrDuplicateTorrent) || again != h {
		t.Fatalf("adding again: %p, %v; want %p, ErrDuplicateTorrent", again, err, h)
	}
	other := AddTorrentParams{InfoHash: metainfo.InfoHash{V1: metainfo.HashV1{7}}, Name: "dn", SavePath: t.TempDir()}
	hs, errs := s.AddTorrents(ctx, []AddTorrentParams{other, other, {MetaInfo: mi, SavePath: src}})
	if errs[0] != nil || !errors.Is(errs[1], ErrDuplicateTorrent) || hs[1] != hs[0] || !errors.Is(errs[2], ErrDuplicateTorrent) || hs[2] != h {
		t.Fatalf("AddTorrents with repeats: %v, %v", hs, errs)
	}
	m := hs[0]
	if got, ok := s.Torrent(mi.InfoHash); !ok || got != h {
		t.Fatalf("Session.Torrent = %p, %v; want %p", got, ok, h)
	}
	if got, ok := s.Torrent(other.InfoHash); !ok || got != m {
		t.Fatalf("Session.Torrent(magnet) = %p, %v; want %p", got, ok, m)
	}
	if _, ok := s.Torrent(metainfo.InfoHash{V1: metainfo.HashV1{8}}); ok {
		t.Fatal("Session.Torrent found a torrent that was never added")
	}
	if got, err := s.FindTorrent(ctx, mi.InfoHash.Short()); err != nil || got != h {
		t.Fatalf("FindTorrent = %p, %v", got, err)
	}
	all, err := s.Torrents(ctx)
	if err != nil || len(all) != 2 || !slices.Contains(all, h) || !slices.Contains(all, m) {
		t.Fatalf("Torrents = %v, %v", all, err)
	}

	// Metadata: known at once for h, not for the magnet m.
	if h.Info() != &mi.Info && h.Info().Name != mi.Info.Name {
		t.Fatalf("Info() = %v", h.Info())
	}
	select {
	case <-h.GotInfo():
	default:
		t.Fatal("GotInfo not closed for a torrent added with its metadata")
	}
	if info, err := h.AwaitInfo(ctx); err != nil || info != h.Info() {
		t.Fatalf("AwaitInfo = %v, %v", info, err)
	}
	if m.Info() != nil || m.Name() != "dn" {
		t.Fatalf("magnet: Info %v, Name %q", m.Info(), m.Name())
	}
	select {
	case <-m.GotInfo():
		t.Fatal("GotInfo closed for a magnet without metadata")
	default:
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := m.AwaitInfo(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("AwaitInfo without metadata: %v", err)
	}
	// Removing wakes AwaitInfo with ErrTorrentGone.
	waited := make(chan error, 1)
	go func() { _, err := m.AwaitInfo(ctx); waited <- err }()
	if err := m.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; !errors.Is(err, ErrTorrentGone) {
		t.Fatalf("AwaitInfo across Remove: %v", err)
	}
	if _, ok := s.Torrent(other.InfoHash); ok {
		t.Fatal("removed torrent still found")
	}
	m2, err := s.AddTorrent(ctx, other)
	if err != nil || m2 == m {
		t.Fatalf("re-adding a removed torrent: %p, %v (old handle %p)", m2, err, m)
	}
}

// handleAlert is a plugin's own alert about a torrent, posted without a
// handle: the session's alert queue fills it in.
type handleAlert struct{ plugin.TorrentAlert }

func (*handleAlert) Type() plugin.AlertType    { return plugin.UserAlertID + 41 }
func (*handleAlert) Category() plugin.Category { return plugin.CategoryStatus }
func (*handleAlert) Name() string              { return "test_handle_alert" }
func (*handleAlert) Message() string           { return "handle alert" }

// pluginAlert is a torrent plugin's own alert, posted through its
// TorrentHandle without a handle: the shard fills it in.
type pluginAlert struct{ handleAlert }

func (*pluginAlert) Name() string { return "test_plugin_alert" }

// TestMagnetGotInfoAndAlertsCarryHandle: a leecher adds a magnet; GotInfo
// is closed when ut_metadata delivers the metadata (not by metadata that
// fails its hash) and Info/Name switch to it; the download completes.
// Every alert either session posted about a torrent carries that session's
// handle of it: the engine's own (added, checked, state changes, metadata
// received and failed, pieces, peers connected, disconnected, blocked and
// in error, a plugin's panic, finished, paused, resumed, removed,
// deleted), the root package's (resume data), the tracker client's (error,
// announce, reply, scrape), a plugin's through its TorrentHandle, and one
// posted to the session with the info-hash alone.
func TestMagnetGotInfoAndAlertsCarryHandle(t *testing.T) {
	seeder, mi, _ := seedSession(t, map[string]int{"h/a.bin": 300_000, "h/b.bin": 70_000}, metainfo.CreateOptions{PieceLength: 32 << 10})
	defer seeder.Close(context.Background())
	leecher := newTestSession(t, bufpool.New(), 2)
	defer leecher.Close(context.Background())
	ctx := context.Background()
	srv := trackertest.New()
	defer srv.Close()
	size := len(mi.InfoBytes)
	// Two hostile peers: one serves metadata that does not hash to the
	// info-hash (metadata_failed), the other bad bencode (peer_error).
	wrong := newHostilePeer(t, mi.InfoHash.V1, size, wrongData(size))
	defer wrong.ln.Close()
	garbled := newHostilePeer(t, mi.InfoHash.V1, size, func(int) []byte { return []byte("d8:msg_typei1e5:pi") })
	defer garbled.ln.Close()

	p, err := ParseMagnet(mi.Magnet().String())
	if err != nil {
		t.Fatal(err)
	}
	p.SavePath = t.TempDir()
	p.Paused = true
	p.Peers = []netip.AddrPort{wrong.ln.Addr().(*net.TCPAddr).AddrPort()}
	// A tracker that refuses the connection (tracker_error), then a
	// working one in the next tier (tracker_announce, tracker_reply).
	p.Trackers = [][]string{{"http://127.0.0.1:1/announce"}, {srv.URL()}}
	// A torrent plugin whose constructor panics (plugin_disabled), and
	// one that posts its own alert through its TorrentHandle.
	p.Extensions = []func(plugin.TorrentHandle, any) plugin.TorrentPlugin{
		func(plugin.TorrentHandle, any) plugin.TorrentPlugin { panic("a broken plugin") },
		func(th plugin.TorrentHandle, _ any) plugin.TorrentPlugin {
			th.PostAlert(&pluginAlert{handleAlert{plugin.TorrentAlert{InfoHash: metainfo.InfoHash{V1: th.InfoHash()}, Torrent: th.Name()}}})
			return nil
		},
	}
	h, err := leecher.AddTorrent(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if h.Info() != nil || p.Name == "" || h.Name() != p.Name {
		t.Fatalf("before metadata: Info %v, Name %q", h.Info(), h.Name())
	}
	// An address the IP filter blocks (peer_blocked).
	f := ipfilter.New()
	blocked := netip.MustParseAddr("127.0.0.9")
	if err := f.AddRule(blocked, blocked, ipfilter.Blocked); err != nil {
		t.Fatal(err)
	}
	if err := leecher.SetIPFilter(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := h.ConnectPeer(ctx, netip.AddrPortFrom(blocked, 6881)); err != nil {
		t.Fatal(err)
	}
	if err := h.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	var seen []plugin.Alert
	seen = append(seen, collectAlerts(t, leecher, 30*time.Second, func(a plugin.Alert) bool {
		_, ok := a.(*plugin.MetadataFailedAlert)
		return ok
	})...)
	if err := h.ConnectPeer(ctx, garbled.ln.Addr().(*net.TCPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	seen = append(seen, collectAlerts(t, leecher, 30*time.Second, func(a plugin.Alert) bool {
		_, ok := a.(*plugin.PeerErrorAlert)
		return ok
	})...)
	select {
	case <-h.GotInfo():
		t.Fatal("GotInfo closed by metadata that failed its hash")
	default:
	}
	if err := h.ConnectPeer(ctx, seeder.ListenAddr()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.GotInfo():
	case <-time.After(30 * time.Second):
		t.Fatal("GotInfo not closed within 30 s")
	}
	if info := h.Info(); info == nil || info.Name != mi.Info.Name || info.TotalLength != mi.Info.TotalLength || h.Name() != mi.Info.Name {
		t.Fatalf("after metadata: Info %+v, Name %q", h.Info(), h.Name())
	}
	seen = append(seen, collectAlerts(t, leecher, 60*time.Second, isFinished)...)
	leecher.PostAlert(&handleAlert{TorrentAlert: plugin.TorrentAlert{InfoHash: h.InfoHash(), Torrent: h.Name()}})
	if err := h.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := h.SaveResumeData(ctx); err != nil {
		t.Fatal(err)
	}
	var trackerErr, reply bool
	seen = append(seen, collectAlerts(t, leecher, 30*time.Second, func(a plugin.Alert) bool {
		switch a.(type) {
		case *plugin.TrackerErrorAlert:
			trackerErr = true
		case *plugin.TrackerReplyAlert:
			reply = true
		}
		return trackerErr && reply
	})...)
	if err := h.Scrape(ctx); err != nil {
		t.Fatal(err)
	}
	seen = append(seen, collectAlerts(t, leecher, 30*time.Second, func(a plugin.Alert) bool {
		_, ok := a.(*plugin.ScrapeReplyAlert)
		return ok
	})...)
	if err := h.Remove(ctx, RemoveDeleteFiles); err != nil {
		t.Fatal(err)
	}
	seen = append(seen, collectAlerts(t, leecher, 30*time.Second, func(a plugin.Alert) bool {
		_, ok := a.(*plugin.TorrentDeletedAlert)
		return ok
	})...)

	sh, ok := seeder.Torrent(mi.InfoHash)
	if !ok {
		t.Fatal("seeder's torrent not found")
	}
	seederAlerts := seeder.PopAlerts()
	kinds := map[string]bool{}
	check := func(who string, alerts []plugin.Alert, want *Torrent) {
		for _, a := range alerts {
			ta := plugin.TorrentAlertOf(a)
			if ta == nil || ta.InfoHash.IsZero() {
				continue
			}
			got, ok := TorrentOf(a)
			if !ok || got != want {
				t.Errorf("%s: %s (%q) carries handle %v, want %p", who, a.Name(), a.Message(), ta.Handle, want)
			}
			if who == "leecher" {
				kinds[a.Name()] = true
			}
		}
	}
	check("leecher", seen, h)
	check("seeder", seederAlerts, sh)
	for _, k := range []string{"torrent_added", "plugin_disabled", "peer_blocked", "torrent_resumed", "state_changed",
		"metadata_failed", "peer_error", "peer_connected", "peer_disconnected", "metadata_received",
		"torrent_checked", "piece_finished", "torrent_finished", "test_handle_alert", "torrent_paused",
		"save_resume_data", "test_plugin_alert", "tracker_error", "tracker_announce", "tracker_reply", "scrape_reply",
		"torrent_removed", "torrent_deleted"} {
		if !kinds[k] {
			t.Errorf("no %s alert seen: the test did not check it", k)
		}
	}
	// An alert about a torrent the session does not have gets no handle.
	leecher.PostAlert(&handleAlert{TorrentAlert: plugin.TorrentAlert{InfoHash: metainfo.InfoHash{V1: metainfo.HashV1{1}}}})
	for _, a := range leecher.PopAlerts() {
		if a.Name() == "test_handle_alert" {
			if _, ok := TorrentOf(a); ok {
				t.Errorf("alert about an unknown torrent carries a handle")
			}
		}
	}
	if _, ok := TorrentOf(&plugin.ListenSucceededAlert{Addr: netip.AddrPort{}}); ok {
		t.Error("TorrentOf found a handle in an alert about no torrent")
	}
}

// collectAlerts is waitAlert that keeps every alert popped, the ones after
// the match included.
func collectAlerts(t *testing.T, s *Session, d time.Duration, match func(plugin.Alert) bool) []plugin.Alert {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var seen []plugin.Alert
	for {
		batch := s.PopAlerts()
		seen = append(seen, batch...)
		if slices.ContainsFunc(batch, match) {
			return seen
		}
		if err := s.WaitForAlert(ctx); err != nil {
			t.Fatalf("alert not seen within %v (%d seen)", d, len(seen))
		}
	}
}
