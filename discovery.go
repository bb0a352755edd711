package shardtorrent

import (
	"net/netip"

	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/shard"
)

// Peer discovery: the seams between the shards and the announcers (the
// tracker client, the DHT), which run on goroutines of their own.
//
//   - Shard → announcer: each torrent's lifecycle events (shard/events.go)
//     reach every announcer in s.announcers, on the torrent's loop; an
//     announcer records them and never blocks that loop.
//   - Announcer → shard: addPeers posts the addresses to the owning loop,
//     where they enter the peer list through the ban filter and OnAddPeer
//     like any other source.

// sessionEvents fans the shards' torrent events out to the announcers.
type sessionEvents struct{ s *Session }

// TorrentEvent implements shard.Events. Loop only (the torrent's).
func (e sessionEvents) TorrentEvent(t *shard.Torrent, ev shard.Event) {
	switch ev {
	case shard.EventRemoved:
		e.s.forget(t.InfoHash().Short()) // a seed limit removed it (seedlimit.go)
		return
	case shard.EventLimitPaused:
		e.s.q.nudge() // its queue slot is free (queue.go)
		return
	}
	for _, a := range e.s.announcers {
		a.TorrentEvent(t, ev)
	}
}

// addPeers offers peers found by src to the torrent with wire info-hash
// ih, on its loop; a torrent that is gone by then ignores them. peers is
// owned by the call from here on. Safe from any goroutine.
func (s *Session) addPeers(ih [20]byte, peers []netip.AddrPort, src plugin.PeerSource) {
	sh := s.lookup(ih)
	if sh == nil || len(peers) == 0 {
		return
	}
	sh.Loop().Post(func(any) {
		t := sh.Torrent(ih)
		if t == nil {
			return
		}
		for _, a := range peers {
			t.AddPeerFrom(a, src)
		}
	}, nil)
}
