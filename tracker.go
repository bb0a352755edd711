package shardtorrent

import (
	"context"
	"net/http"
	"net/netip"
	"time"

	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/shard"
	"github.com/shardtorrent/shardtorrent/tracker"
)

// The tracker client (package tracker) is one Manager per session, on
// goroutines of its own: the shards hand it their torrents' lifecycle
// events (discovery.go), it announces, and posts the peers it learns to
// the owning loop with plugin.SourceTracker.

// TrackerSettings tune the tracker client; zero fields take the defaults
// of tracker.Config.
type TrackerSettings struct {
	// Disable turns the tracker client off: no torrent announces.
	Disable bool
	// AnnounceToAllTiers and AnnounceToAllTrackers are libtorrent's
	// settings of the same names (BEP 12 tiers otherwise).
	AnnounceToAllTiers, AnnounceToAllTrackers bool
	// NumWant is the peers asked for per announce [200].
	NumWant int
	// MaxPeersPerReply caps the peers taken from one reply [2·NumWant].
	MaxPeersPerReply int
	// MaxAnnouncesInFlight bounds the tracker requests out at once [32].
	MaxAnnouncesInFlight int
	// AnnounceRate bounds the announces started per second [100].
	AnnounceRate float64
	// MinAnnounceInterval floors every tracker interval [300 s].
	MinAnnounceInterval time.Duration
	// Timeout bounds a request [30 s]; StopTimeout bounds a stopped
	// announce and the wait for them in Close [5 s].
	Timeout, StopTimeout time.Duration
	// HTTPClient is the one client for every HTTP(S) tracker (nil: ours,
	// with keep-alive); redirects are bounded whatever it says.
	HTTPClient *http.Client
	// MaxResponseSize caps an HTTP tracker's body [1 MiB].
	MaxResponseSize int64
	// Clock is the scheduler's time source (tests); nil is the wall clock.
	Clock tracker.Clock
}

// TrackerStatus is the state of one of a torrent's trackers.
type TrackerStatus = tracker.Status

// startTrackers creates the session's tracker client and adds it to the
// announcers. Called once by NewSession, before any torrent exists.
func (s *Session) startTrackers() {
	ts := s.set.Tracker
	if ts.Disable {
		return
	}
	port := uint16(s.set.Engine.ListenPort)
	if port == 0 {
		port = s.listenAddr.Port()
	}
	s.trackers = tracker.NewManager(tracker.Config{
		PeerID: s.peerID, Port: func() uint16 { return port }, Self: s.listenAddr, Extra: s.set.Trackers,
		AnnounceToAllTiers: ts.AnnounceToAllTiers, AnnounceToAllTrackers: ts.AnnounceToAllTrackers,
		NumWant: ts.NumWant, MaxPeersPerReply: ts.MaxPeersPerReply, MaxInFlight: ts.MaxAnnouncesInFlight,
		AnnounceRate: ts.AnnounceRate, MinAnnounceInterval: ts.MinAnnounceInterval,
		Timeout: ts.Timeout, StopTimeout: ts.StopTimeout,
		Transports: tracker.Transports{
			HTTP: tracker.NewHTTPTransport(ts.HTTPClient, ts.MaxResponseSize, "shardtorrent/0.1"),
			UDP:  tracker.NewUDPTransport(),
		},
		Peers:  func(ih [20]byte, peers []netip.AddrPort) { s.addPeers(ih, peers, plugin.SourceTracker) },
		Alert:  s.alerts.Post,
		Clock:  ts.Clock,
		Logger: s.log,
	})
	s.announcers = append(s.announcers, trackerEvents{s})
}

// closeTrackers sends the stopped announces the shards' close queued and
// waits for them, within StopTimeout or ctx.
func (s *Session) closeTrackers(ctx context.Context) error {
	if s.trackers == nil {
		return nil
	}
	return s.trackers.Close(ctx)
}

// trackerEvents hands shard events to the Manager without blocking.
type trackerEvents struct{ s *Session }

// shardCounters reads a torrent's announce counters from any goroutine.
type shardCounters struct{ c *shard.Counters }

func (c shardCounters) Uploaded() int64   { return c.c.Uploaded.Load() }
func (c shardCounters) Downloaded() int64 { return c.c.Downloaded.Load() }
func (c shardCounters) Left() int64       { return c.c.Left.Load() }

// TorrentEvent implements shard.Events. Loop only (the torrent's): the
// Manager records the event under its lock and announces on its own
// goroutines.
func (e trackerEvents) TorrentEvent(t *shard.Torrent, ev shard.Event) {
	m, ih := e.s.trackers, t.InfoHash().Short()
	switch ev {
	case shard.EventStarted:
		m.Started(tracker.Torrent{
			InfoHash: ih, ID: t.InfoHash(), Name: t.Name(), Handle: t.AlertBase().Handle, Tiers: t.Trackers(), Private: t.Private(),
			Counters: shardCounters{t.Counters()},
		})
	case shard.EventCompleted:
		m.Completed(ih)
	case shard.EventMetadata:
		m.Metadata(ih, t.Private())
	case shard.EventStopped:
		m.Stopped(ih, false)
		// A removal deletes the torrent after this event: look again once
		// the current callback is over, and forget it if it is gone.
		if sh := e.s.lookup(ih); sh != nil {
			sh.Loop().Post(func(any) {
				if sh.Torrent(ih) == nil {
					m.Stopped(ih, true)
				}
			}, nil)
		}
	}
}

// Trackers returns the state of the torrent's trackers, in tier order.
// Safe from any goroutine.
func (t *Torrent) Trackers(ctx context.Context) ([]TrackerStatus, error) {
	var tiers [][]string
	if err := t.do(ctx, func(x *shard.Torrent) { tiers = x.Trackers() }); err != nil {
		return nil, err
	}
	if m := t.s.trackers; m != nil {
		if st, ok := m.Trackers(t.key); ok {
			return st, nil
		}
	}
	var out []TrackerStatus
	for i, tier := range tiers {
		for _, u := range tier {
			out = append(out, TrackerStatus{URL: u, Tier: i, Seeders: -1, Leechers: -1, Downloaded: -1})
		}
	}
	return out, nil
}

// AddTracker adds a tracker to the torrent, in tier (a tier past the last
// makes a new last tier); it is announced to by the tier rules. It is
// reported false when the URL is not an http, https or udp tracker URL,
// or the torrent has it already. Safe from any goroutine.
func (t *Torrent) AddTracker(ctx context.Context, url string, tier int) (bool, error) {
	if err := t.do(ctx, func(*shard.Torrent) {}); err != nil {
		return false, err
	}
	if t.s.trackers == nil {
		return false, nil
	}
	return t.s.trackers.AddTracker(t.key, url, tier), nil
}

// ForceReannounce announces to the torrent's trackers now, or when their
// min interval allows (libtorrent's force_reannounce). Safe from any
// goroutine.
func (t *Torrent) ForceReannounce(ctx context.Context) error {
	if err := t.do(ctx, func(*shard.Torrent) {}); err != nil {
		return err
	}
	if t.s.trackers != nil {
		t.s.trackers.ForceReannounce(t.key)
	}
	return nil
}

// Scrape asks the torrent's trackers for its seeders, leechers and
// downloads; the answers come as ScrapeReplyAlert or ScrapeFailedAlert
// and in Trackers. Safe from any goroutine.
func (t *Torrent) Scrape(ctx context.Context) error {
	if err := t.do(ctx, func(*shard.Torrent) {}); err != nil {
		return err
	}
	if t.s.trackers != nil {
		t.s.trackers.Scrape(t.key)
	}
	return nil
}
