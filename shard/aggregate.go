package shard

import (
	"sync/atomic"

	"github.com/shardtorrent/shardtorrent/plugin"
)

// Aggregates a shard publishes for the session's Totals (issue 12), read
// by any goroutine without a loop round trip or a lock:
//
//   - Torrents by class (Class) and StateSeq are kept at every change: a
//     torrent added or removed, or whose State, Paused or Err changed
//     (noteState), moves one count and bumps the sequence. Those are rare
//     events, so the atomic adds cost nothing that matters.
//   - Peers, connecting peers, rates and payload totals are published from
//     the shard's once-a-second tick, summed over the torrents that tick.
//     A torrent that skips its tick (wantTick: no connections, no payload
//     moving) has no peers and zero rates, and its payload totals were
//     folded in by its last tick, so idle torrents still cost nothing per
//     second. They lag the truth by up to a tick; RefreshAggregate
//     recomputes them at once.

// Class is how a torrent counts in the session's Totals.
type Class uint8

// The classes, in the order of precedence ClassOf applies.
const (
	ClassChecking    Class = iota // checking files or resume data, or waiting for metadata
	ClassDownloading              // not complete, not paused, no error
	ClassSeeding                  // complete, not paused, no error
	ClassPaused                   // paused, no error
	ClassErrored                  // stopped by an error (Status.Err)
	NumClasses
)

// ClassOf classifies a torrent from its Status fields: an error first,
// then paused, then its state.
func ClassOf(st plugin.TorrentState, paused, errored bool) Class {
	switch {
	case errored:
		return ClassErrored
	case paused:
		return ClassPaused
	case st == plugin.StateSeeding || st == plugin.StateFinished:
		return ClassSeeding
	case st == plugin.StateDownloading:
		return ClassDownloading
	}
	return ClassChecking
}

// Aggregate is one shard's published figures. See the top of this file
// for when each is current.
type Aggregate struct {
	Classes       [NumClasses]int64 // torrents by class
	Peers         int64             // connections past the handshake
	Connecting    int64             // connections not yet past it
	UploadRate    int64             // payload bytes/s
	DownloadRate  int64
	TotalUpload   int64 // payload bytes this session, of the torrents in the shard
	TotalDownload int64
	// StateSeq counts the shard's state changes (see noteState).
	StateSeq uint64
}

// aggregate is the shard's published state (Shard.agg). The atomics are
// written by the loop only and read by anyone; the plain fields are loop
// only.
type aggregate struct {
	classes            [NumClasses]atomic.Int64
	seq                atomic.Uint64
	peers, connecting  atomic.Int64
	upRate, downRate   atomic.Int64
	totalUp, totalDown atomic.Int64
	sumUp, sumDown     int64  // payload totals folded in so far
	gen                uint64 // numbers the publications (torrentAgg.gen)
	tick               tickSums
}

// tickSums are the figures summed at a publication.
type tickSums struct {
	peers, connecting, upRate, downRate int64
}

// torrentAgg is a torrent's share of its shard's aggregate. Loop only.
type torrentAgg struct {
	in      bool // counted in the shard's classes
	class   Class
	state   plugin.TorrentState
	paused  bool
	errored bool
	// up and down are the payload totals folded into the shard's sums;
	// sums is what the torrent added to the publication numbered gen.
	up, down int64
	gen      uint64
	sums     tickSums
}

// Aggregate returns the shard's published figures. Safe from any
// goroutine.
func (s *Shard) Aggregate() Aggregate {
	g := &s.agg
	var a Aggregate
	for i := range a.Classes {
		a.Classes[i] = g.classes[i].Load()
	}
	a.Peers, a.Connecting = g.peers.Load(), g.connecting.Load()
	a.UploadRate, a.DownloadRate = g.upRate.Load(), g.downRate.Load()
	a.TotalUpload, a.TotalDownload = g.totalUp.Load(), g.totalDown.Load()
	a.StateSeq = g.seq.Load()
	return a
}

// noteState brings the torrent's class in the shard's counts up to date
// and bumps StateSeq if its State, Paused or Err changed (or it was not
// counted yet). Called after each of those changes. Loop only.
func (t *Torrent) noteState() {
	if t.removed {
		return
	}
	a, g := &t.agg, &t.s.agg
	errored := t.err != nil
	if a.in && a.state == t.state && a.paused == t.paused && a.errored == errored {
		return
	}
	c := ClassOf(t.state, t.paused, errored)
	if !a.in || c != a.class {
		if a.in {
			g.classes[a.class].Add(-1)
		}
		g.classes[c].Add(1)
	}
	a.in, a.class, a.state, a.paused, a.errored = true, c, t.state, t.paused, errored
	g.seq.Add(1)
}

// dropAggregate takes a removed torrent out of its shard's aggregate:
// class, payload totals, and what it added to the last publication.
// Loop only.
func (t *Torrent) dropAggregate() {
	a, g := &t.agg, &t.s.agg
	if !a.in {
		return
	}
	a.in = false
	g.classes[a.class].Add(-1)
	g.sumUp -= a.up
	g.sumDown -= a.down
	g.totalUp.Store(g.sumUp)
	g.totalDown.Store(g.sumDown)
	if a.gen == g.gen {
		g.tick.peers -= a.sums.peers
		g.tick.connecting -= a.sums.connecting
		g.tick.upRate -= a.sums.upRate
		g.tick.downRate -= a.sums.downRate
		g.storeTick()
	}
	g.seq.Add(1)
}

// fold adds t to the publication being summed: its peers and rates, and
// the payload it moved since its last fold. Loop only.
func (g *aggregate) fold(t *Torrent) {
	a := &t.agg
	if !a.in {
		return
	}
	var ts tickSums
	for _, p := range t.peers {
		if p.active() {
			ts.peers++
		} else {
			ts.connecting++
		}
	}
	ts.upRate, ts.downRate = t.upRate, t.downRate
	g.tick.peers += ts.peers
	g.tick.connecting += ts.connecting
	g.tick.upRate += ts.upRate
	g.tick.downRate += ts.downRate
	a.sums, a.gen = ts, g.gen
	g.sumUp += t.totalUp - a.up
	g.sumDown += t.totalDown - a.down
	a.up, a.down = t.totalUp, t.totalDown
}

// begin starts a publication; fold each torrent, then publish.
func (g *aggregate) begin() {
	g.gen++
	g.tick = tickSums{}
}

func (g *aggregate) publish() {
	g.storeTick()
	g.totalUp.Store(g.sumUp)
	g.totalDown.Store(g.sumDown)
}

func (g *aggregate) storeTick() {
	g.peers.Store(g.tick.peers)
	g.connecting.Store(g.tick.connecting)
	g.upRate.Store(g.tick.upRate)
	g.downRate.Store(g.tick.downRate)
}

// RefreshAggregate recomputes and publishes the tick-time figures (peers,
// rates, payload totals) from every torrent now, instead of at the next
// tick: for a caller about to compare them with every torrent's Status.
// It costs a pass over the shard's torrents. Loop only.
func (s *Shard) RefreshAggregate() {
	g := &s.agg
	g.begin()
	for _, t := range s.torrents {
		g.fold(t)
	}
	g.publish()
}
