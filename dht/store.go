package dht

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/anacrolix/dht/v2/krpc"
	peer_store "github.com/anacrolix/dht/v2/peer-store"
)

// store is the peer store the DHT server answers get_peers from and
// announce_peer into (anacrolix's peer_store.Interface), bounded as
// libtorrent's dht_storage:
//   - at most maxTorrents info-hashes and maxPeers peers per info-hash; an
//     announce past either bound is dropped (the stored ones stay);
//   - a peer expires peerLifetime after its last announce (libtorrent: 1.5
//     times its 30 min announce interval);
//   - a reply carries at most maxReply peers, picked at random.
//
// It also answers for our own torrents (self): a get_peers for a torrent
// this session announces returns our listen address too, so a node that
// asks us directly finds us even before our announces reached others.
//
// Invariant: len(torrents) <= maxTorrents and len(torrents[ih]) <=
// maxPeers (check() verifies it in tests). Safe from any goroutine: the
// server calls it from its own goroutines.
type store struct {
	maxTorrents, maxPeers, maxReply int
	now                             func() time.Time
	// onAnnounce is called for every announce with a valid token, after
	// it was stored, refreshed or refused by a bound (stored false): as
	// libtorrent posts dht_announce_alert for every incoming
	// announce_peer, whatever its storage does with it. onGetPeers is
	// called for every get_peers asked.
	onAnnounce func(ih [20]byte, peer netip.AddrPort, stored bool)
	onGetPeers func(ih [20]byte)

	mu       sync.Mutex
	torrents map[[20]byte]map[netip.AddrPort]time.Time // peer -> last announce
	self     netip.AddrPort                            // our listen address; invalid: not offered
	ours     map[[20]byte]bool                         // torrents we announce
	peers    int                                       // total stored, for Stats
	dropped  int64                                     // announces refused by a bound
}

// peerLifetime is how long an announced peer is kept (libtorrent's
// announce_interval * 3 / 2).
const peerLifetime = 45 * time.Minute

var _ peer_store.Interface = (*store)(nil)

func newStore(maxTorrents, maxPeers, maxReply int, now func() time.Time) *store {
	return &store{
		maxTorrents: maxTorrents, maxPeers: maxPeers, maxReply: maxReply, now: now,
		torrents: map[[20]byte]map[netip.AddrPort]time.Time{}, ours: map[[20]byte]bool{},
	}
}

// AddPeer implements peer_store.Interface: a peer announced itself for ih
// with a valid token.
func (s *store) AddPeer(ih peer_store.InfoHash, na krpc.NodeAddr) {
	a, ok := addrPortOf(na)
	if !ok {
		return
	}
	now := s.now()
	s.mu.Lock()
	ps := s.torrents[ih]
	if ps != nil {
		s.expire(ih, ps, now) // may drop ih altogether
		ps = s.torrents[ih]
	}
	stored := true
	switch {
	case ps != nil:
		if _, have := ps[a]; have || len(ps) < s.maxPeers {
			if !have {
				s.peers++
			}
			ps[a] = now
		} else {
			stored = false
		}
	case len(s.torrents) < s.maxTorrents:
		s.torrents[ih] = map[netip.AddrPort]time.Time{a: now}
		s.peers++
	default:
		stored = false
	}
	if !stored {
		s.dropped++
	}
	s.mu.Unlock()
	if s.onAnnounce != nil {
		s.onAnnounce(ih, a, stored)
	}
}

// GetPeers implements peer_store.Interface: up to maxReply stored peers of
// ih (a random pick when there are more), plus ourselves for our torrents.
func (s *store) GetPeers(ih peer_store.InfoHash) []krpc.NodeAddr {
	if s.onGetPeers != nil {
		s.onGetPeers(ih)
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []krpc.NodeAddr
	if s.ours[ih] && s.self.IsValid() {
		out = append(out, nodeAddrOf(s.self))
	}
	ps := s.torrents[ih]
	if ps == nil {
		return out
	}
	s.expire(ih, ps, now)
	// Pick each with probability left-to-pick / left-to-see (libtorrent's
	// reservoir walk), so a full torrent answers a random subset.
	pick, left := min(s.maxReply, len(ps)), len(ps)
	for a := range ps {
		if pick == 0 {
			break
		}
		if rand.IntN(left) < pick {
			out = append(out, nodeAddrOf(a))
			pick--
		}
		left--
	}
	return out
}

// expire drops ih's peers older than peerLifetime, and ih when none is
// left. Called with mu held.
func (s *store) expire(ih [20]byte, ps map[netip.AddrPort]time.Time, now time.Time) {
	for a, t := range ps {
		if now.Sub(t) > peerLifetime {
			delete(ps, a)
			s.peers--
		}
	}
	if len(ps) == 0 {
		delete(s.torrents, ih)
	}
}

// sweep expires every torrent's old peers; the scheduler calls it now and
// then so torrents nobody asks about do not linger.
func (s *store) sweep() {
	now := s.now()
	s.mu.Lock()
	for ih, ps := range s.torrents {
		s.expire(ih, ps, now)
	}
	s.mu.Unlock()
}

// setOurs marks ih as one of our torrents (on) or not.
func (s *store) setOurs(ih [20]byte, on bool) {
	s.mu.Lock()
	if on {
		s.ours[ih] = true
	} else {
		delete(s.ours, ih)
	}
	s.mu.Unlock()
}

// counts returns the stored torrents, peers and refused announces.
func (s *store) counts() (torrents, peers int, dropped int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.torrents), s.peers, s.dropped
}

// check verifies the bounds; tests call it after every step.
func (s *store) check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.torrents) > s.maxTorrents {
		return errInvariant("torrents above maxTorrents")
	}
	n := 0
	for _, ps := range s.torrents {
		if len(ps) > s.maxPeers {
			return errInvariant("peers above maxPeers")
		}
		if len(ps) == 0 {
			return errInvariant("empty torrent kept")
		}
		n += len(ps)
	}
	if n != s.peers {
		return errInvariant("peer count out of step")
	}
	return nil
}

type errInvariant string

func (e errInvariant) Error() string { return "dht: invariant: " + string(e) }

// addrPortOf converts a KRPC address; a zero port or a missing address is
// refused.
func addrPortOf(na krpc.NodeAddr) (netip.AddrPort, bool) {
	ip, ok := netip.AddrFromSlice(na.IP)
	if !ok || na.Port <= 0 || na.Port > 65535 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(na.Port)), true
}

func nodeAddrOf(a netip.AddrPort) krpc.NodeAddr {
	ip := a.Addr()
	if ip.Is4() {
		b := ip.As4()
		return krpc.NodeAddr{IP: net.IP(b[:]), Port: int(a.Port())}
	}
	b := ip.As16()
	return krpc.NodeAddr{IP: net.IP(b[:]), Port: int(a.Port())}
}
