package shard

import (
	"net/netip"
	"sync/atomic"

	"github.com/shardtorrent/shardtorrent/plugin"
)

// Lifecycle events for announcers (the tracker client, the DHT).
//
// Invariants, kept by startAnnouncing and stopAnnouncing below:
//   - EventStarted and EventStopped alternate for a torrent, Started first:
//     an announcer never sees Stopped without a Started before it, nor two
//     Starteds in a row.
//   - EventCompleted and EventMetadata come only between a Started and its
//     Stopped.
//   - Every event is delivered on the torrent's loop, after the torrent's
//     Counters were refreshed, so an announcer reading them from another
//     goroutine sees the figures as of the event.

// Event is a change in a torrent's life that announcers act on.
type Event uint8

// Events, in libtorrent's announce model.
const (
	// EventStarted: the torrent wants peers. Sent when a torrent with
	// metadata finished its check (or was added in seed mode), when a
	// torrent without metadata (a magnet) is added, and on resume; never
	// while paused.
	EventStarted Event = iota + 1
	// EventCompleted: the last piece was downloaded and verified in this
	// session (a torrent complete at its check never sends it).
	EventCompleted
	// EventStopped: paused, failed, removed, or the session is closing.
	EventStopped
	// EventMetadata: a torrent added without metadata received it;
	// Private and the info are known from now on.
	EventMetadata
	// EventRemoved: the shard removed the torrent on its own (a seed
	// limit with SeedLimitRemove or SeedLimitRemoveData, seedlimit.go),
	// after its EventStopped; the session forgets it. A removal asked for
	// through the session does not send it.
	EventRemoved
	// EventLimitPaused: a seed limit paused the torrent (seedlimit.go),
	// which took it out of the queue; the session recalculates the queue
	// so that another torrent may take its slot. Announcers ignore it (the
	// pause sent EventStopped before it).
	EventLimitPaused
)

func (e Event) String() string {
	switch e {
	case EventStarted:
		return "started"
	case EventCompleted:
		return "completed"
	case EventStopped:
		return "stopped"
	case EventMetadata:
		return "metadata"
	case EventRemoved:
		return "removed"
	case EventLimitPaused:
		return "limit-paused"
	}
	return "unknown"
}

// Events receives torrent lifecycle events. TorrentEvent is called on the
// torrent's loop and must not block: an announcer records the event and
// does its network work on its own goroutines.
type Events interface {
	TorrentEvent(t *Torrent, e Event)
}

// Counters are the figures a tracker announce carries, readable from any
// goroutine. The owning loop refreshes them once a second while the
// torrent ticks and before every event.
type Counters struct {
	// Uploaded and Downloaded are payload bytes this session.
	Uploaded, Downloaded atomic.Int64
	// Left is the bytes still to download, or -1 while the metadata is
	// unknown.
	Left atomic.Int64
}

// Counters returns the torrent's announce counters. Safe from any
// goroutine (the pointer and its fields).
func (t *Torrent) Counters() *Counters { return &t.counters }

// refreshCounters copies the loop's counters into the atomic ones. Loop
// only.
func (t *Torrent) refreshCounters() {
	t.counters.Uploaded.Store(t.totalUp)
	t.counters.Downloaded.Store(t.totalDown)
	t.counters.Left.Store(t.bytesLeft())
}

// bytesLeft is the bytes of the torrent we do not have, -1 without
// metadata. Loop only.
func (t *Torrent) bytesLeft() int64 {
	if t.info == nil {
		return -1
	}
	n := t.info.NumPieces()
	if n == 0 {
		return 0
	}
	done := int64(t.have.Count()) * t.info.PieceLength
	if t.have.Has(n - 1) {
		done += t.info.PieceSize(n-1) - t.info.PieceLength
	}
	return t.info.TotalLength - done
}

// Private reports whether the torrent is private (BEP 27): it talks to its
// trackers only, never the DHT, PEX or LSD. False until the metadata is
// known. Loop only.
func (t *Torrent) Private() bool { return t.info != nil && t.info.Private }

// Trackers returns the torrent's tracker tiers as added. Loop only; the
// result must not be modified.
func (t *Torrent) Trackers() [][]string { return t.trackers }

// Announcing reports whether the torrent is between EventStarted and
// EventStopped. Loop only.
func (t *Torrent) Announcing() bool { return t.announcing }

// AddPeerFrom offers an address from src (a tracker, the DHT) to the
// torrent's peer list, through the same ban filter and OnAddPeer hooks as
// every other source. Loop only.
func (t *Torrent) AddPeerFrom(a netip.AddrPort, src plugin.PeerSource) { t.addPeer(a, src) }

func (t *Torrent) emit(e Event) {
	t.refreshCounters()
	if ev := t.s.events; ev != nil {
		ev.TorrentEvent(t, e)
	}
}

// startAnnouncing sends EventStarted unless the torrent is announcing
// already, paused or removed. Loop only.
func (t *Torrent) startAnnouncing() {
	if t.announcing || t.paused || t.removed {
		return
	}
	t.announcing = true
	t.emit(EventStarted)
}

// stopAnnouncing sends EventStopped if the torrent is announcing. Loop only.
func (t *Torrent) stopAnnouncing() {
	if !t.announcing {
		return
	}
	t.announcing = false
	t.emit(EventStopped)
}

// announceCompleted sends EventCompleted if the torrent is announcing.
// Loop only.
func (t *Torrent) announceCompleted() {
	if t.announcing {
		t.emit(EventCompleted)
	}
}

// announceMetadata sends EventMetadata if the torrent is announcing. Loop
// only.
func (t *Torrent) announceMetadata() {
	if t.announcing {
		t.emit(EventMetadata)
	}
}
