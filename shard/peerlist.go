package shard

// The peer list: the addresses a torrent knows and may dial, with what it
// learnt about each, after libtorrent 2.0.8's peer_list and torrent_peer.
//
// Invariants (peerList.check and Torrent.checkNextDial, run by the tests):
//   - One entry per address: the map key is the entry's addr (IPv4 unmapped),
//     and the list holds at most maxCandidates entries; when full, an entry
//     that may not be dialled (given up, or a seed while we are one) and is
//     neither connected nor manual is erased to make room, the most failed
//     first, else the new address is refused.
//   - A banned address never enters (the torrent filters before add, and a
//     ban removes the address's entries: ban.go). A connection to ourselves
//     removes its entry.
//   - connected is true exactly while a connection tied to the entry
//     exists: our dial, an incoming peer that told this listen port, or the
//     connection the duplicate rule kept. Such an entry is never erased nor
//     dialled.
//   - fails counts connection attempts that failed (refused, timed out,
//     closed before the BitTorrent handshake, not by us), capped at
//     maxFailCap; a completed handshake resets it and a tracker naming the
//     address again forgives one. A connection that ends after its
//     handshake (the peer closed after the metadata, as Transmission does)
//     is a drop, not a failure.
//   - An entry may be dialled when it is not connected, not given up
//     (fails < MaxFailCount, or manual), not a known seed while we are a
//     seed, and its back-off has run out: MinReconnectTime × (fails+1)
//     since lastTried (never tried: at once), as libtorrent's
//     find_connect_candidates.
//   - manual entries (AddParams.Peers, Torrent.AddPeer, ConnectPeer) are
//     never given up nor erased to make room; they are redialled with the
//     same back-off for as long as the torrent runs.
//   - seed is what we last learnt: a connection that ended while the peer
//     had every piece (or said it only uploads) marks it; one that ended
//     while it lacked pieces clears it. PEX seed flags do not reach the
//     core yet (see offerPeer).
//   - Torrent.nextDial is no later than any entry's ready time (the zero
//     time: no entry will be ready), so connectMore scans the list, and an
//     idle seed ticks, only when a dial may be due.
//
// Among ready entries the best are dialled first, in libtorrent's
// compare_peer order: fewer fails, local-network addresses, least recently
// tried (never tried first), higher source rank (tracker > LSD > DHT > PEX
// > manual > incoming), higher BEP 40 priority.
//
// The list is a pure data structure: time and the policy are arguments,
// so it is tested without sockets (peerlist_test.go). Owned by the
// torrent's loop.

import (
	"encoding/binary"
	"hash/crc32"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/shardtorrent/shardtorrent/plugin"
)

// maxFailCap bounds a candidate's fail count, and so the back-off of a
// manual address that keeps failing (libtorrent's 5-bit failcount).
const maxFailCap = 31

// candidate is an address we know for a torrent and may connect to.
type candidate struct {
	addr      netip.AddrPort
	src       plugin.PeerSource // every source that named it
	manual    bool              // named through the API: never given up nor erased
	connected bool              // an outgoing connection exists or is being made
	seed      bool              // a seed (or upload-only) when we last knew
	fails     int
	lastTried time.Time // the last attempt or disconnect; zero: never tried
	plainOnly bool      // an encrypted attempt failed: dial in plaintext (EncEnabled)
	prio      uint32    // BEP 40 priority, once computed
	prioSet   bool
}

// zeroTime is a candidate's lastTried before any attempt: due at once.
var zeroTime time.Time

// dialPolicy is what decides whether a candidate may be dialled.
type dialPolicy struct {
	finished     bool // we are a seed or upload-only: known seeds are not dialled
	maxFails     int
	minReconnect time.Duration
}

func (t *Torrent) dialPolicy() dialPolicy {
	return dialPolicy{
		finished:     t.isSeed(),
		maxFails:     t.s.set.MaxFailCount,
		minReconnect: t.s.set.MinReconnectTime,
	}
}

// givenUp reports a candidate that is never dialled again (until a tracker
// names it again: see add).
func (c *candidate) givenUp(pol dialPolicy) bool {
	return !c.manual && c.fails >= pol.maxFails
}

// readyAt is when c may be dialled, ok false if it may not be at all
// (connected, given up, or a seed while we are finished).
func (c *candidate) readyAt(pol dialPolicy) (at time.Time, ok bool) {
	if c.connected || c.givenUp(pol) || (c.seed && pol.finished) {
		return time.Time{}, false
	}
	if c.lastTried.IsZero() {
		return time.Time{}, true
	}
	return c.lastTried.Add(pol.minReconnect * time.Duration(min(c.fails, maxFailCap)+1)), true
}

// sourceRank orders sources as libtorrent's source_rank, with manual
// entries above incoming ones.
func sourceRank(c *candidate) int {
	r := 0
	if c.src&plugin.SourceTracker != 0 {
		r |= 1 << 5
	}
	if c.src&plugin.SourceLSD != 0 {
		r |= 1 << 4
	}
	if c.src&plugin.SourceDHT != 0 {
		r |= 1 << 3
	}
	if c.src&plugin.SourcePEX != 0 {
		r |= 1 << 2
	}
	if c.manual {
		r |= 1 << 1
	}
	return r
}

// peerList is a torrent's candidates by address. A map type, so the
// torrent's other files index and range over it directly. Loop only.
type peerList map[netip.AddrPort]*candidate

// add records a (already unmapped and validated) from src. It returns the
// entry and whether it is new; nil if the list holds bound entries and no entry could be
// erased to make room. An address named again gains the source; a tracker
// naming a failed address takes one failure back (somebody reached it), as
// libtorrent's update_peer.
func (l peerList) add(a netip.AddrPort, src plugin.PeerSource, manual bool, bound int, pol dialPolicy) (c *candidate, first bool) {
	if c := l[a]; c != nil {
		c.src |= src
		c.manual = c.manual || manual
		if src&plugin.SourceTracker != 0 && c.fails > 0 {
			c.fails--
		}
		return c, false
	}
	if len(l) >= bound && !l.eraseOne(pol) {
		return nil, false
	}
	c = &candidate{addr: a, src: src, manual: manual}
	l[a] = c
	return c, true
}

// eraseOne removes the entry least worth keeping to make room: one that is
// not connected, not manual and may not be dialled (given up, or a seed
// while we are finished), the most failed first, as libtorrent's
// erase_peers. It reports whether one was erased.
func (l peerList) eraseOne(pol dialPolicy) bool {
	var worst *candidate
	for _, c := range l {
		if c.connected || c.manual {
			continue
		}
		if _, ok := c.readyAt(pol); ok {
			continue
		}
		if worst == nil || c.fails > worst.fails {
			worst = c
		}
	}
	if worst == nil {
		return false
	}
	delete(l, worst.addr)
	return true
}

// better reports whether a should be dialled before b (libtorrent's
// compare_peer).
func better(a, b *candidate) bool {
	if a.fails != b.fails {
		return a.fails < b.fails
	}
	if la, lb := isLocal(a.addr.Addr()), isLocal(b.addr.Addr()); la != lb {
		return la
	}
	if !a.lastTried.Equal(b.lastTried) {
		return a.lastTried.Before(b.lastTried)
	}
	if ra, rb := sourceRank(a), sourceRank(b); ra != rb {
		return ra > rb
	}
	return a.priority() > b.priority()
}

// priority is c's BEP 40 canonical peer priority. Our external address is
// not known to the engine, so it is ranked against the unspecified address
// of c's family (libtorrent ranks against its external address once a
// tracker or peer told it).
func (c *candidate) priority() uint32 {
	if !c.prioSet {
		self := netip.IPv4Unspecified()
		if !c.addr.Addr().Is4() {
			self = netip.IPv6Unspecified()
		}
		c.prio, c.prioSet = peerPriority(netip.AddrPortFrom(self, 0), c.addr), true
	}
	return c.prio
}

// pick appends to dst up to n candidates ready at now, best first, and
// returns the earliest time another candidate becomes ready: now if ready
// ones were left out, the zero time if none ever will (all connected,
// given up or seeds while we are finished).
func (l peerList) pick(now time.Time, pol dialPolicy, n int, dst []*candidate) ([]*candidate, time.Time) {
	base := len(dst)
	var next time.Time
	for _, c := range l {
		at, ok := c.readyAt(pol)
		if !ok {
			continue
		}
		if at.After(now) {
			if next.IsZero() || at.Before(next) {
				next = at
			}
			continue
		}
		sel := dst[base:]
		if len(sel) == n {
			if n == 0 || !better(c, sel[n-1]) {
				next = now
				continue
			}
			dst = dst[:len(dst)-1] // drop the worst
			next = now
		}
		// insert c in order
		i := len(dst)
		dst = append(dst, c)
		for i > base && better(c, dst[i-1]) {
			dst[i] = dst[i-1]
			i--
		}
		dst[i] = c
	}
	return dst, next
}

// dialled marks c as being connected at now (libtorrent sets last_connected
// when a connection starts).
func (c *candidate) dialled(now time.Time) {
	c.connected = true
	c.lastTried = now
}

// closed records the end of c's connection at now: failed counts one more
// failure; seed is what the connection showed of the peer (known reports
// whether it showed anything: the handshake completed).
func (c *candidate) closed(now time.Time, failed, known, seed bool) {
	c.connected = false
	c.lastTried = now
	if failed && c.fails < maxFailCap {
		c.fails++
	}
	if known {
		c.seed = seed
	}
}

// check verifies the list's invariants; for tests.
func (l peerList) check(bound int) string {
	if len(l) > bound {
		return "more entries than the bound"
	}
	for a, c := range l {
		if c.addr != a || a.Addr().Is4In6() {
			return "entry " + c.addr.String() + " filed under " + a.String()
		}
		if c.fails < 0 || c.fails > maxFailCap {
			return "fail count out of range for " + a.String()
		}
	}
	return ""
}

// checkNextDial verifies Torrent.nextDial's invariant at now; for tests.
func (t *Torrent) checkNextDial(now time.Time) string {
	pol := t.dialPolicy()
	for _, c := range t.cands {
		at, ok := c.readyAt(pol)
		if !ok {
			continue
		}
		if at.Before(now) {
			at = now
		}
		if t.nextDial.IsZero() || t.nextDial.After(at) {
			return "nextDial " + t.nextDial.String() + " is later than " + c.addr.String() + "'s ready time " + at.String()
		}
	}
	return ""
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// peerPriority is BEP 40's canonical peer priority of two endpoints of the
// same address family: the CRC-32C of the two ports (same address) or of
// the two masked addresses, lowest first. The closer the addresses, the
// fewer bits the mask hides.
func peerPriority(a, b netip.AddrPort) uint32 {
	if a.Addr() == b.Addr() {
		pa, pb := a.Port(), b.Port()
		if pa > pb {
			pa, pb = pb, pa
		}
		var buf [4]byte
		binary.BigEndian.PutUint16(buf[0:], pa)
		binary.BigEndian.PutUint16(buf[2:], pb)
		return crc32.Checksum(buf[:], castagnoli)
	}
	x, y := a.Addr(), b.Addr()
	if y.Less(x) {
		x, y = y, x
	}
	if x.Is4() {
		bx, by := x.As4(), y.As4()
		mask := [4]byte{0xff, 0xff, 0x55, 0x55}
		switch {
		case bx[0] == by[0] && bx[1] == by[1] && bx[2] == by[2]:
			mask = [4]byte{0xff, 0xff, 0xff, 0xff}
		case bx[0] == by[0] && bx[1] == by[1]:
			mask = [4]byte{0xff, 0xff, 0xff, 0x55}
		}
		var buf [8]byte
		for i := range 4 {
			buf[i] = bx[i] & mask[i]
			buf[4+i] = by[i] & mask[i]
		}
		return crc32.Checksum(buf[:], castagnoli)
	}
	bx, by := x.As16(), y.As16()
	mask := [8]byte{0xff, 0xff, 0xff, 0xff, 0x55, 0x55, 0x55, 0x55}
	switch {
	case [6]byte(bx[:6]) == [6]byte(by[:6]):
		mask = [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	case [4]byte(bx[:4]) == [4]byte(by[:4]):
		mask = [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x55, 0x55}
	}
	var buf [32]byte
	for i := range 16 {
		m := byte(0xff)
		if i < 8 {
			m = mask[i]
		}
		buf[i] = bx[i] & m
		buf[16+i] = by[i] & m
	}
	return crc32.Checksum(buf[:], castagnoli)
}

// DialBudget bounds new outgoing connection attempts per second across
// the shards that share it (libtorrent's connection_speed, session-wide).
// It is one atomic word holding the current second and the attempts made
// in it, so shards take from it without a lock. Safe from any goroutine.
type DialBudget struct {
	v     atomic.Uint64 // second<<32 | attempts made in that second
	limit atomic.Uint32
}

// NewDialBudget returns a budget of perSecond attempts a second (the
// default, 30, if perSecond <= 0). Safe from any goroutine.
func NewDialBudget(perSecond int) *DialBudget {
	if perSecond <= 0 {
		perSecond = Defaults().ConnectionSpeed
	}
	b := &DialBudget{}
	b.limit.Store(uint32(perSecond))
	return b
}

// Limit returns the attempts allowed a second. Safe from any goroutine.
func (b *DialBudget) Limit() int { return int(b.limit.Load()) }

// SetLimit changes the attempts allowed a second (the default, 30, if
// perSecond <= 0), from the next take on. Safe from any goroutine.
func (b *DialBudget) SetLimit(perSecond int) {
	if perSecond <= 0 {
		perSecond = Defaults().ConnectionSpeed
	}
	b.limit.Store(uint32(perSecond))
}

// take takes up to n attempts from the second of now and returns how many
// it got. Safe from any goroutine.
func (b *DialBudget) take(now time.Time, n int) int {
	if n <= 0 {
		return 0
	}
	sec := uint64(uint32(now.Unix()))
	for {
		old := b.v.Load()
		used := uint32(old)
		if old>>32 != sec {
			used = 0
		}
		limit := b.limit.Load()
		got := min(uint32(n), limit-min(used, limit))
		if got == 0 {
			return 0
		}
		if b.v.CompareAndSwap(old, sec<<32|uint64(used+got)) {
			return int(got)
		}
	}
}

// candidateClosed updates p's candidate when p's connection ends. A
// connection that never completed its handshake is a failed attempt
// unless we ended it ourselves (pause, shutdown, duplicate, ban); one that
// did is a drop, redialled after MinReconnectTime. A connection to
// ourselves takes the address off the list. Loop only.
func (t *Torrent) candidateClosed(p *peer, wasActive bool, de *DisconnectError) {
	c := p.cand
	now := t.s.now()
	var failed bool
	switch de.Reason {
	case ReasonSelf:
		delete(t.cands, c.addr)
		return
	case ReasonTorrentStop, ReasonShutdown, ReasonDuplicate, ReasonBanned:
	default:
		failed = !wasActive
	}
	c.closed(now, failed, wasActive, wasActive && (p.peerSeed() || p.uploadOnly))
	t.noteReady(c)
}

// keepCandidate moves the candidate of a connection closed as a duplicate
// (from) to the connection kept (to), so the address is not redialled
// while to lives. Loop only.
func keepCandidate(from, to *peer) {
	if from.cand == nil || to.cand != nil {
		return
	}
	to.cand, from.cand = from.cand, nil
}

// listenPortKnown runs when an incoming peer tells its listen port (the
// extension handshake's "p"), as libtorrent's update_peer_port: the
// address it listens on enters the peer list (source incoming) or is
// matched to its entry, which counts as connected while this connection
// lives and is redialled after it ends, so a seed behind a NAT keeps the
// leechers that found it. Loop only.
func (t *Torrent) listenPortKnown(p *peer) {
	if p.outgoing || p.cand != nil || p.closing || p.closed {
		return
	}
	a := netip.AddrPortFrom(p.addr.Addr().Unmap(), p.listenPort)
	if !a.IsValid() || t.isBanned(a.Addr()) {
		return
	}
	c, _ := t.cands.add(a, plugin.SourceIncoming, false, maxCandidates, t.dialPolicy())
	if c == nil || c.connected {
		return // full, or we are dialling it: the handshake's duplicate rule decides
	}
	c.dialled(t.s.now())
	p.cand = c
}
