package shardtorrent

import (
	"context"
	"time"

	"github.com/shardtorrent/shardtorrent/shard"
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
	Torrents     int // every torrent in the session
	Checking     int // checking files or waiting for metadata
	Downloading  int // not complete, not paused, not in error
	Seeding      int // complete, not paused, not in error
	Paused       int
	Errored      int   // stopped by an error (Status.Err set)
	Peers        int   // connections past the handshake
	Connecting   int   // outgoing connections not yet past the handshake
	UploadRate   int64 // payload bytes/s, summed over torrents
	DownloadRate int64
	// TotalUpload and TotalDownload are payload bytes this session.
	TotalUpload, TotalDownload int64
	// StateSeq changes whenever any torrent is added or removed or
	// changes its State, Paused, Err or completion. Equal values mean no
	// torrent's state changed in between.
	StateSeq uint64
}

// ShardStats is one shard's (one event loop's) load.
type ShardStats struct {
	ID       int
	Torrents int
	Peers    int
	// Busy is the share of wall time the loop spent running callbacks
	// (not waiting in epoll_wait) over the last measurement window, 0..1.
	Busy float64
	// IterationsPerSec is the loop's event-loop iterations per second
	// over the same window.
	IterationsPerSec float64
	UploadRate       int64 // payload bytes/s
	DownloadRate     int64
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
	At      time.Time
	Uptime  time.Duration
	Totals  Totals
	Shards  []ShardStats
	Plugins []PluginCost
	// AlertsDropped counts alerts the full queue dropped, by alert type
	// name.
	AlertsDropped map[string]uint64
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
// per shard. Safe from any goroutine.
//
// Seam (issue 12): this first version fills Totals and each shard's
// torrent and peer counts; the loops' counters, load and plugin costs come
// with the metrics work.
func (s *Session) Stats(ctx context.Context) (SessionStats, error) {
	out := SessionStats{At: time.Now(), Uptime: time.Since(s.started), Totals: s.Totals(), Plugins: s.pluginCosts()}
	for _, sh := range s.shards {
		ss := ShardStats{ID: sh.ID()}
		err := s.onLoop(ctx, sh, func() {
			for _, t := range sh.Torrents() {
				st := t.Status()
				ss.Torrents++
				ss.Peers += st.NumPeers
				ss.UploadRate += st.UploadRate
				ss.DownloadRate += st.DownloadRate
			}
		})
		if err != nil {
			return SessionStats{}, err
		}
		out.Shards = append(out.Shards, ss)
	}
	return out, nil
}
