// Package utpex is peer exchange (BEP 11, libtorrent's ut_pex) as a plugin
// written against the public plugin API only, with libtorrent 2.0.8's
// limits and timings:
//
//   - Local extension id 1. Never attached to private torrents.
//   - Sending: the torrent plugin rebuilds one shared diff every 60 s in its
//     Tick; each connection gets at most one message per 60 s: the full
//     list (at most 100 added peers) the first time, the shared diff after
//     that (nothing if it is empty), and nothing while the torrent has at
//     most one peer. Only peers past the handshake that we dialled or that
//     told us their listen port are advertised, with that port and flags
//     (encryption, seed).
//   - Receiving: a message over 500 KiB, a 7th message within 60 s, or bad
//     bencode disconnects the sender (typed *Error, PeerErrorAlert). Added
//     peers (at most 50 per connection) enter the peer list with
//     SourcePEX and are connected to; local-network addresses are taken
//     only from a sender on the local network.
//
// The session registers it by default (Settings.DisablePEX turns it off).
package utpex

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/shardtorrent/shardtorrent/ext/internal/peererr"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// Name is the extension's key in the handshake's m dictionary and its
// peer plugin's Type.
const Name = "ut_pex"

// LocalID is the extended message id we advertise (libtorrent's, too).
const LocalID = 1

// libtorrent 2.0.8's limits (src/ut_pex.cpp).
const (
	// Interval is both the diff rebuild period and the minimum gap between
	// two messages to one peer.
	Interval = 60 * time.Second
	// MaxPeerEntries caps the added peers of one message we send (dropped
	// is not capped).
	MaxPeerEntries = 100
	// MaxPeersAccepted caps the peers taken from one connection
	// (max_pex_peers).
	MaxPeersAccepted = 50
	// MaxMessageSize is the largest message accepted.
	MaxMessageSize = 500 << 10
	// MaxMessagesPerInterval is how many messages a peer may send within
	// Interval; one more disconnects it.
	MaxMessagesPerInterval = 6
)

// Errors a peer's ut_pex message is refused with; each disconnects that
// peer. Match them with errors.Is on an *Error.
var (
	ErrTooLarge    = errors.New("utpex: ut_pex message too large")
	ErrTooFrequent = errors.New("utpex: ut_pex messages too frequent")
)

// Error is the typed error of a refused message.
type Error struct {
	Kind   error // ErrTooLarge, ErrTooFrequent or ErrBadMessage
	Length int   // the message's payload length
	Err    error // the decoder's error (ErrBadMessage)
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%v (%d bytes)", e.Err, e.Length)
	}
	return fmt.Sprintf("%v (%d bytes)", e.Kind, e.Length)
}

// Unwrap returns Kind.
func (e *Error) Unwrap() error { return e.Kind }

// Options configure the plugin; the zero value is libtorrent's behaviour.
type Options struct {
	// Now is the clock (nil: time.Now); tests drive the 60 s timings with
	// a fake one.
	Now func() time.Time
}

// Plugin is the session plugin; it attaches a torrent plugin to every
// public torrent. Safe to share between sessions.
type Plugin struct {
	now func() time.Time
}

// New returns the session plugin with libtorrent's behaviour.
func New() *Plugin { return NewWithOptions(Options{}) }

// NewWithOptions returns the session plugin configured by o.
func NewWithOptions(o Options) *Plugin {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Plugin{now: o.Now}
}

// Features implements plugin.Plugin: no gated hooks.
func (*Plugin) Features() plugin.Feature { return 0 }

// NewTorrent implements plugin.TorrentCreator: private torrents get
// nothing (BEP 27).
func (pl *Plugin) NewTorrent(th plugin.TorrentHandle, _ any) plugin.TorrentPlugin {
	if th.Private() {
		return nil
	}
	return &Torrent{th: th, now: pl.now}
}

// Torrent is the per-torrent part: the advertised set and the shared diff.
// Loop only.
type Torrent struct {
	th      plugin.TorrentHandle
	now     func() time.Time
	built   time.Time               // last rebuild of diff
	prev    map[netip.AddrPort]byte // what the last rebuild saw, with flags
	diff    []byte                  // the shared bencoded diff ("" while empty)
	scratch map[netip.AddrPort]byte // the set being built
	frame   []byte                  // reused for outgoing frames
	msg     Message                 // reused while building
}

// NewConnection implements plugin.NewConnectionHook.
func (t *Torrent) NewConnection(pc plugin.PeerConn) plugin.PeerPlugin {
	return &peer{t: t, pc: pc}
}

// Tick rebuilds the shared diff once per Interval.
func (t *Torrent) Tick() {
	now := t.now()
	if !t.built.IsZero() && now.Sub(t.built) < Interval {
		return
	}
	t.built = now
	cur := t.collect(nil)
	t.msg.Added, t.msg.Dropped = t.msg.Added[:0], t.msg.Dropped[:0]
	for a, f := range cur {
		if _, ok := t.prev[a]; !ok {
			t.msg.Added = append(t.msg.Added, Peer{Addr: a, Flags: f})
		}
	}
	for a := range t.prev {
		if _, ok := cur[a]; !ok {
			t.msg.Dropped = append(t.msg.Dropped, a)
		}
	}
	sortPeers(t.msg.Added)
	sortAddrs(t.msg.Dropped)
	if len(t.msg.Added) > MaxPeerEntries {
		t.msg.Added = t.msg.Added[:MaxPeerEntries]
	}
	t.diff = t.diff[:0]
	if len(t.msg.Added)+len(t.msg.Dropped) > 0 {
		t.diff = t.msg.Append(t.diff)
	}
	t.prev, t.scratch = cur, t.prev
}

// collect returns the advertisable peers (except skip) with their flags,
// in the scratch map.
func (t *Torrent) collect(skip plugin.PeerConn) map[netip.AddrPort]byte {
	m := t.scratch
	if m == nil {
		m = map[netip.AddrPort]byte{}
	}
	clear(m)
	for _, pc := range t.th.Peers() {
		if skip != nil && pc.ID() == skip.ID() {
			continue
		}
		a, f, ok := advertised(pc)
		if ok {
			m[a] = f
		}
	}
	t.scratch = nil
	return m
}

// advertised says whether and how pc goes into our messages: past the
// handshake, and reachable (we dialled it or it told us its port).
func advertised(pc plugin.PeerConn) (netip.AddrPort, byte, bool) {
	if !pc.Valid() || pc.IsDisconnecting() || pc.InHandshake() || pc.IsConnecting() {
		return netip.AddrPort{}, 0, false
	}
	port := pc.ListenPort()
	if port == 0 {
		return netip.AddrPort{}, 0, false
	}
	var f byte
	if pc.Encrypted() {
		f |= FlagEncryption
	}
	if pc.IsSeed() || pc.UploadOnly() {
		f |= FlagSeed
	}
	return netip.AddrPortFrom(pc.RemoteEndpoint().Addr().Unmap(), port), f, true
}

// peer is the per-connection part. Loop only.
type peer struct {
	t        *Torrent
	pc       plugin.PeerConn
	remoteID uint8
	sentAt   time.Time // last message we sent
	sentFull bool      // the full list went out

	recvAt  [MaxMessagesPerInterval]time.Time // last messages received, oldest first
	learned map[netip.AddrPort]struct{}       // peers taken from this connection
}

// Type implements plugin.PeerPlugin.
func (p *peer) Type() string { return Name }

func (p *peer) AddHandshake(h *wire.ExtHandshake) {
	if h.M == nil {
		h.M = map[string]int{}
	}
	h.M[Name] = LocalID
}

// OnExtensionHandshake keeps the plugin only for peers that speak ut_pex.
func (p *peer) OnExtensionHandshake(h *wire.ExtHandshake) bool {
	id, ok := h.M[Name]
	if ok && id > 0 && id < 256 {
		p.remoteID = uint8(id)
	} else if ok {
		p.remoteID = 0
	}
	return true
}

// Tick sends the full list, then diffs, at most once per Interval.
func (p *peer) Tick() {
	if p.remoteID == 0 || p.pc.InHandshake() {
		return
	}
	now := p.t.now()
	if !p.sentAt.IsZero() && now.Sub(p.sentAt) < Interval {
		return
	}
	// Status counts connections past the handshake without allocating:
	// this runs every second until the first message goes out.
	if p.t.th.Status().NumPeers <= 1 {
		return
	}
	var body []byte
	if !p.sentFull {
		body = p.fullList()
	} else {
		if len(p.t.diff) == 0 {
			return
		}
		body = p.t.diff
	}
	p.sentAt = now
	p.sentFull = true
	p.t.frame = wire.AppendExtended(p.t.frame[:0], p.remoteID, body)
	p.pc.SendBuffer(p.t.frame)
}

// fullList is the first message: every advertisable peer but the
// receiver, at most MaxPeerEntries, no dropped.
func (p *peer) fullList() []byte {
	t := p.t
	cur := t.collect(p.pc)
	t.msg.Added, t.msg.Dropped = t.msg.Added[:0], t.msg.Dropped[:0]
	for a, f := range cur {
		t.msg.Added = append(t.msg.Added, Peer{Addr: a, Flags: f})
	}
	t.scratch = cur
	sortPeers(t.msg.Added)
	if len(t.msg.Added) > MaxPeerEntries {
		t.msg.Added = t.msg.Added[:MaxPeerEntries]
	}
	return t.msg.Append(nil)
}

// OnExtended receives a ut_pex message: size and rate limits first (a
// too large one is refused at its first fragment), then its peers.
func (p *peer) OnExtended(length int, msg int, body []byte) bool {
	if msg != LocalID {
		return false
	}
	if length > MaxMessageSize {
		peererr.Disconnect(p.pc, &Error{Kind: ErrTooLarge, Length: length})
		return true
	}
	if len(body) < length {
		return true
	}
	now := p.t.now()
	if oldest := p.recvAt[0]; !oldest.IsZero() && now.Sub(oldest) < Interval {
		peererr.Disconnect(p.pc, &Error{Kind: ErrTooFrequent, Length: length})
		return true
	}
	copy(p.recvAt[:], p.recvAt[1:])
	p.recvAt[len(p.recvAt)-1] = now
	m, err := Parse(body)
	if err != nil {
		peererr.Disconnect(p.pc, &Error{Kind: ErrBadMessage, Length: length, Err: err})
		return true
	}
	for _, d := range m.Dropped {
		delete(p.learned, d)
	}
	senderLocal := p.pc.OnLocalNetwork()
	th := p.t.th
	for _, a := range m.Added {
		if len(p.learned) >= MaxPeersAccepted {
			break
		}
		ip := a.Addr.Addr()
		if !ip.IsValid() || a.Addr.Port() == 0 || ip.IsUnspecified() || ip.IsMulticast() {
			continue
		}
		if isLocal(ip) && !senderLocal {
			continue
		}
		if p.learned == nil {
			p.learned = map[netip.AddrPort]struct{}{}
		}
		p.learned[a.Addr] = struct{}{}
		th.AddPeer(a.Addr, plugin.SourcePEX)
	}
	return true
}

// isLocal reports loopback, private and link-local addresses.
func isLocal(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast()
}
