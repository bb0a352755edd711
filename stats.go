package shardtorrent

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/shardtorrent/shardtorrent/dht"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/shard"
	"github.com/shardtorrent/shardtorrent/storage"
	"github.com/shardtorrent/shardtorrent/tracker"
	"github.com/shardtorrent/shardtorrent/wire"
)

// What a running session shows to the node's status line, its RPC, its
// metrics endpoint and its status page (issue 12). Two kinds of figures:
//
//   - Totals: session-wide aggregates every loop publishes for its own
//     torrents, read by any goroutine with no loop round trip, so a status
//     line once a second over 10,000 idle torrents costs next to nothing.
//     StateSeq tells a poller whether any torrent changed state at all,
//     so it reads every torrent's Status only when something happened.
//   - SessionStats: the counters of libtorrent's session stats (bytes,
//     blocks, pieces, peers, connections, handshakes, bans, alerts, disk),
//     each loop's load, and what every plugin's hooks cost. Kept on the
//     loops, gathered with one round trip per shard.

// Totals are session-wide aggregates. Safe to read from any goroutine.
type Totals struct {
	Torrents     int   // every torrent in the session
	Checking     int   // checking files or waiting for metadata
	Downloading  int   // not complete, not paused, not in error
	Seeding      int   // complete, not paused, not in error
	Paused       int   // paused
	Errored      int   // stopped by an error (Status.Err set)
	Peers        int   // connections past the handshake
	Connecting   int   // outgoing connections not yet past the handshake
	UploadRate   int64 // payload bytes/s, summed over torrents
	DownloadRate int64 // payload bytes/s, summed over torrents
	// TotalUpload and TotalDownload are payload bytes this session.
	TotalUpload, TotalDownload int64
	// StateSeq changes whenever any torrent is added or removed or
	// changes its State, Paused, Err or completion. Equal values mean no
	// torrent's state changed in between.
	StateSeq uint64
}

// ShardStats is one shard's (one event loop's) load and counters.
type ShardStats struct {
	ID       int // the shard's index, as Torrent.Shard
	Torrents int // torrents the shard owns
	Peers    int // connections past the handshake
	// Busy is the share of wall time the loop spent running callbacks
	// (not waiting in epoll_wait) over its last complete measurement
	// window of loop.LoadWindow (1 s), 0..1. The loop keeps the window
	// itself, so every reader sees the same figures whatever its polling
	// rate (package loop, load.go).
	Busy float64
	// IterationsPerSec is the loop's event-loop iterations per second
	// over the same window.
	IterationsPerSec float64
	UploadRate       int64 // payload bytes/s
	DownloadRate     int64
	// BusyTime, WaitTime and Iterations are cumulative since the loop
	// started, as of the end of that window (for rates over any period).
	BusyTime, WaitTime time.Duration
	Iterations         uint64
	// BytesIn and BytesOut are every byte the loop read from and wrote
	// to its sockets (peer protocol, MSE, and on the listening loop the
	// accepted connections' first bytes).
	BytesIn, BytesOut uint64
	// Engine is the shard's engine counters and gauges.
	Engine EngineMetrics
}

// EngineMetrics are the engine counters of one shard or of the session,
// indexed by shard.Metric (see shard/counters.go for each one's meaning).
type EngineMetrics = shard.Metrics

// IncomingStats count the connections the listening loop accepted and
// those it refused before any shard owned them.
type IncomingStats struct {
	Accepted uint64 // every connection the listener accepted
	// Refused by reason: BadProtocol (neither a BitTorrent nor an MSE
	// handshake), UnknownTorrent (no torrent with that info-hash),
	// Timeout (no handshake within the handshake timeout),
	// EncryptionPolicy (plaintext under EncForced, MSE under
	// EncDisabled), MSE (the incoming MSE handshake failed), IPFilter
	// (Settings.IPFilter blocks the remote address), Other.
	BadProtocol, UnknownTorrent, Timeout, EncryptionPolicy, MSE, IPFilter, Other uint64
}

// PluginCost is the time one plugin spent in one kind of hook, measured
// by timing one call in PluginCostSampleEvery and scaling.
type PluginCost struct {
	Plugin string // the plugin's type name, e.g. "smartban.torrentPlugin"
	Hook   string // the hook's name, e.g. "OnPiece"
	Calls  uint64 // every call, timed or not
	Timed  uint64 // calls that were timed
	// Time is the estimated total time in the hook: the timed calls' sum
	// scaled by Calls/Timed.
	Time time.Duration
}

// PluginCostSampleEvery is how often a hook call is timed: one in this
// many. The other calls only bump a counter.
const PluginCostSampleEvery = 64

// SessionStats is a snapshot of the session's counters.
type SessionStats struct {
	At      time.Time     // when the snapshot was taken
	Uptime  time.Duration // since NewSession
	Totals  Totals        // as Session.Totals
	Shards  []ShardStats  // one per shard, in shard order
	Plugins []PluginCost  // the plugins' hook costs (plugincost.go)
	// AlertsDropped counts alerts the full queue dropped since the session
	// started, by alert type name (plugin.Alert.Name); nil if none.
	AlertsDropped map[string]uint64
	// Engine is every shard's engine counters and gauges summed.
	Engine EngineMetrics
	// Incoming are the listening loop's accepts and refusals.
	Incoming IncomingStats
	// Disk is the disk workers' bytes and job latencies.
	Disk storage.DiskStats
	// Tracker is the tracker client's counters; nil when it is disabled.
	Tracker *tracker.Stats
	// DHT is the DHT node's counters; nil without a DHT.
	DHT *dht.Stats
}

// Totals returns the session-wide aggregates without a loop round trip:
// the sums of what every loop publishes for its own torrents
// (shard/aggregate.go). Torrent counts by state and StateSeq are current;
// peers, rates and payload totals are as of each loop's last once-a-second
// tick. Safe from any goroutine.
func (s *Session) Totals() Totals {
	var t Totals
	for _, sh := range s.shards {
		a := sh.Aggregate()
		t.Checking += int(a.Classes[shard.ClassChecking])
		t.Downloading += int(a.Classes[shard.ClassDownloading])
		t.Seeding += int(a.Classes[shard.ClassSeeding])
		t.Paused += int(a.Classes[shard.ClassPaused])
		t.Errored += int(a.Classes[shard.ClassErrored])
		t.Peers += int(a.Peers)
		t.Connecting += int(a.Connecting)
		t.UploadRate += a.UploadRate
		t.DownloadRate += a.DownloadRate
		t.TotalUpload += a.TotalUpload
		t.TotalDownload += a.TotalDownload
		t.StateSeq += a.StateSeq
	}
	t.Torrents = t.Checking + t.Downloading + t.Seeding + t.Paused + t.Errored
	return t
}

// Stats returns a snapshot of the session's counters, with one round trip
// per shard, which copies the shard's engine counters and fills its gauges
// (shard.Shard.Snapshot: one walk over its torrents and peers, no
// allocation). Everything else is read without a round trip: the loops'
// load and byte counts, the disk workers', tracker's and DHT's counters,
// Totals and the plugin costs. Shards are asked one after the other; if
// ctx ends first, its error is returned. Safe from any goroutine.
func (s *Session) Stats(ctx context.Context) (SessionStats, error) {
	out := SessionStats{At: time.Now(), Uptime: time.Since(s.started), Totals: s.Totals()}
	if err := s.counters(ctx, &out); err != nil {
		return SessionStats{}, err
	}
	return out, nil
}

// counters fills what Stats adds to Totals and the plugin costs: the
// shards' counters and load, the listener's, disk's, tracker's and DHT's
// counters and the dropped alerts.
func (s *Session) counters(ctx context.Context, out *SessionStats) error {
	out.Shards = make([]ShardStats, len(s.shards))
	var costs []shard.HookCost
	for i, sh := range s.shards {
		ss := &out.Shards[i]
		err := s.onLoop(ctx, sh, func() {
			ss.Engine = sh.Snapshot()
			costs = sh.PluginCosts(costs)
		})
		if err != nil {
			return err
		}
		l := sh.Loop()
		ld, ls := l.Load(), l.Stats()
		v := &ss.Engine.V
		ss.ID = sh.ID()
		ss.Torrents = int(v[shard.MetricTorrents])
		ss.Peers = int(v[shard.MetricPeersConnected])
		ss.UploadRate = int64(v[shard.MetricUploadRate])
		ss.DownloadRate = int64(v[shard.MetricDownloadRate])
		ss.Busy, ss.IterationsPerSec = ld.Busy, ld.IterationsPerSec
		ss.BusyTime, ss.WaitTime, ss.Iterations = ld.BusyTime, ld.WaitTime, ld.Iterations
		ss.BytesIn, ss.BytesOut = ls.BytesIn, ls.BytesOut
		out.Engine.Add(&ss.Engine)
		out.Incoming.Accepted += ls.Accepts
	}
	out.Plugins = s.pluginCostsOf(costs)
	s.incoming.read(&out.Incoming)
	out.AlertsDropped = s.alerts.droppedTotals()
	out.Disk = s.disk.Stats()
	if s.trackers != nil {
		ts := s.trackers.Stats()
		out.Tracker = &ts
	}
	if s.dht != nil {
		ds := s.dht.Stats()
		out.DHT = &ds
	}
	return nil
}

// incomingCounters count the listening loop's refusals (IncomingStats).
// They are bumped on the listening loop, or on the loop that hands a
// connection over, before any shard owns the connection: atomics, once
// per refused connection.
type incomingCounters struct {
	badProtocol, unknownTorrent, timeout, encPolicy, mse, ipFilter, other atomic.Uint64
}

// refused counts one refusal by its error. Safe from any goroutine.
func (c *incomingCounters) refused(err error) {
	switch {
	case errors.Is(err, ErrUnknownInfoHash):
		c.unknownTorrent.Add(1)
	case errors.Is(err, errAcceptTimeout):
		c.timeout.Add(1)
	case errors.Is(err, shard.ErrPlaintextRefused), errors.Is(err, shard.ErrEncryptedRefused):
		c.encPolicy.Add(1)
	case errors.Is(err, ErrEncryptionHandshake):
		c.mse.Add(1)
	case errors.Is(err, plugin.ErrIPFiltered):
		c.ipFilter.Add(1)
	case errors.Is(err, wire.ErrBadProtocol), errors.Is(err, wire.ErrShortHandshake):
		c.badProtocol.Add(1)
	default:
		c.other.Add(1)
	}
}

// read copies the counters into st. Safe from any goroutine.
func (c *incomingCounters) read(st *IncomingStats) {
	st.BadProtocol, st.UnknownTorrent, st.Timeout = c.badProtocol.Load(), c.unknownTorrent.Load(), c.timeout.Load()
	st.EncryptionPolicy, st.MSE, st.Other = c.encPolicy.Load(), c.mse.Load(), c.other.Load()
	st.IPFilter = c.ipFilter.Load()
}
