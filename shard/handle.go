package shard

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/shardtorrent/shardtorrent/loop"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// peerHandle implements plugin.PeerConn. It names its connection by pointer
// and id (the shard id in the top 16 bits, a per-shard sequence below, never
// reused): once the connection is closed every method answers zero values.
// A handle with a nil peer describes a connection not attached to any
// torrent (the one offered to UnknownTorrentHook): it knows its endpoints.
// Loop only, except ID and Less.
type peerHandle struct {
	p      *peer
	id     uint64
	remote netip.AddrPort
	local  netip.AddrPort
}

// NewPendingConn returns the handle UnknownTorrentHook gets for a
// connection that no torrent owns yet: it answers its endpoints and
// InHandshake, zero values otherwise. Any goroutine.
func NewPendingConn(remote, local netip.AddrPort) plugin.PeerConn {
	return &peerHandle{remote: remote, local: local}
}

// live returns the peer while the connection is open (closing included:
// OnDisconnect hooks may still use the handle), else nil.
func (h *peerHandle) live() *peer {
	if p := h.p; p != nil && !p.closed && p.id == h.id {
		return p
	}
	return nil
}

func (h *peerHandle) ID() uint64                  { return h.id }
func (h *peerHandle) Less(o plugin.PeerConn) bool { return o != nil && h.id < o.ID() }
func (h *peerHandle) Valid() bool                 { return h.live() != nil }
func (h *peerHandle) Type() plugin.ConnectionType { return plugin.ConnBitTorrent }
func (h *peerHandle) OnLocalNetwork() bool        { return isLocal(h.RemoteEndpoint().Addr()) }
func (h *peerHandle) RemoteEndpoint() netip.AddrPort {
	if h.p != nil {
		return h.p.addr
	}
	return h.remote
}

func (h *peerHandle) LocalEndpoint() netip.AddrPort {
	if p := h.live(); p != nil {
		if lc, ok := p.c.(interface{ LocalAddr() netip.AddrPort }); ok {
			return lc.LocalAddr()
		}
		return netip.AddrPort{}
	}
	return h.local
}

func (h *peerHandle) AddExtension(pp plugin.PeerPlugin) {
	if p := h.live(); p != nil && pp != nil {
		p.attach(pp)
	}
}

func (h *peerHandle) FindPlugin(typ string) plugin.PeerPlugin {
	p := h.live()
	if p == nil || p.hx == nil {
		return nil
	}
	for _, a := range p.hx.plugins {
		if pp := a.v.(plugin.PeerPlugin); !a.removed.Load() && pp.Type() == typ {
			return pp
		}
	}
	return nil
}

func (h *peerHandle) IsSeed() bool {
	p := h.live()
	return p != nil && p.peerSeed()
}

func (h *peerHandle) UploadOnly() bool {
	p := h.live()
	return p != nil && (p.uploadOnly || p.peerSeed())
}

func (h *peerHandle) HasPiece(i int) bool {
	p := h.live()
	if p == nil || p.t.info == nil || i < 0 || i >= p.t.info.NumPieces() {
		return false
	}
	return p.seedCounted || (p.bf != nil && p.bf.Has(i))
}

func (h *peerHandle) PeerID() [20]byte {
	if p := h.live(); p != nil {
		return p.peerID
	}
	return [20]byte{}
}

func (h *peerHandle) IsInteresting() bool {
	p := h.live()
	return p != nil && p.amInterested
}

func (h *peerHandle) IsChoked() bool {
	p := h.live()
	return p != nil && p.peerChoking
}

func (h *peerHandle) HasPeerChoked() bool {
	p := h.live()
	return p != nil && p.amChoking
}

func (h *peerHandle) IsPeerInterested() bool {
	p := h.live()
	return p != nil && p.peerInterested
}

func (h *peerHandle) ChokeThisPeer() {
	if p := h.live(); p != nil {
		p.choke()
	}
}

func (h *peerHandle) MaybeUnchokeThisPeer() {
	if p := h.live(); p != nil && p.active() {
		p.t.maybeUnchoke(p)
	}
}

func (h *peerHandle) PeerInfo() plugin.PeerInfo {
	p := h.live()
	if p == nil {
		return plugin.PeerInfo{Addr: h.RemoteEndpoint()}
	}
	return p.info()
}

// info describes the connection. Loop only.
func (p *peer) info() plugin.PeerInfo {
	return plugin.PeerInfo{
		Addr: p.addr, PeerID: p.peerID, Client: p.client, Outgoing: p.outgoing,
		Seed: p.peerSeed(), AmChoking: p.amChoking, AmInterested: p.amInterested,
		PeerChoking: p.peerChoking, PeerInterest: p.peerInterested,
		DownloadRate: p.downRate, UploadRate: p.upRate,
		TotalDownload: p.totalDown, TotalUpload: p.totalUp, Source: p.source,
		Outstanding: len(p.outstanding), QueueDepth: p.queueDepth,
	}
}

func (h *peerHandle) AssociatedTorrent() plugin.TorrentHandle {
	if p := h.live(); p != nil {
		return p.t.handle()
	}
	return nil
}

func (h *peerHandle) IsConnecting() bool {
	p := h.live()
	return p != nil && p.outgoing && p.c == nil
}

func (h *peerHandle) IsOutgoing() bool {
	p := h.live()
	return p != nil && p.outgoing
}

func (h *peerHandle) Disconnect(err error, op plugin.Operation, sev plugin.Severity) {
	if p := h.live(); p != nil {
		p.disconnect(ReasonPlugin, err)
	}
}

func (h *peerHandle) IsDisconnecting() bool {
	p := h.live()
	return p != nil && p.closing
}

func (h *peerHandle) IgnoreUnchokeSlots() bool { return false }

func (h *peerHandle) Failed() bool {
	p := h.p
	if p == nil || p.id != h.id || p.discErr == nil {
		return false
	}
	switch p.discErr.Reason {
	case ReasonProtocol, ReasonIO, ReasonTimeout:
		return true
	}
	return false
}

func (h *peerHandle) ShouldLog(dir plugin.LogDirection) bool {
	p := h.live()
	return p != nil && p.t.s.wants(plugin.CategoryPeerLog)
}

func (h *peerHandle) PeerLog(dir plugin.LogDirection, event, format string, args ...any) {
	p := h.live()
	if p == nil || !p.t.s.wants(plugin.CategoryPeerLog) {
		return
	}
	p.t.s.post(&plugin.PeerLogAlert{PeerAlert: p.alertBase(), Direction: uint8(dir), Event: event, Text: fmt.Sprintf(format, args...)})
}

func (h *peerHandle) CanDisconnect(err error) bool {
	p := h.live()
	return p != nil && p.canDisconnect(err)
}

func (h *peerHandle) HasMetadata() bool {
	p := h.live()
	return p != nil && !p.noMetadata
}

func (h *peerHandle) InHandshake() bool {
	if h.p == nil {
		return true
	}
	p := h.live()
	return p != nil && p.stage == stHandshake
}

func (h *peerHandle) SendBuffer(b []byte) {
	if p := h.live(); p != nil && p.c != nil && !p.closing {
		p.write(b)
	}
}

func (h *peerHandle) TimeOfLastUnchoke() time.Time {
	if p := h.live(); p != nil {
		return p.unchokedAt
	}
	return time.Time{}
}

func (h *peerHandle) LastSeenComplete() time.Time {
	if p := h.live(); p != nil {
		if p.peerSeed() {
			return p.now()
		}
		return p.lastSeenComplete
	}
	return time.Time{}
}

func (h *peerHandle) PacketFinished() bool {
	p := h.live()
	return p != nil && !p.inFragment
}

func (h *peerHandle) SupportExtensions() bool {
	p := h.live()
	return p != nil && p.extended
}

// cipherConn is what crypto switching needs of a connection: *loop.Conn
// has it; the test harness's fake connections do not.
type cipherConn interface {
	SetSendCipher(s loop.SendCipher)
	SetRecvCipher(r loop.RecvCipher)
}

// cipherTarget returns the live peer and its connection for a crypto
// switch, or the error the switch reports.
func (h *peerHandle) cipherTarget() (*peer, cipherConn, error) {
	p := h.live()
	if p == nil || p.closing {
		return nil, nil, plugin.ErrHandleClosed
	}
	cc, ok := p.c.(cipherConn)
	if !ok {
		return nil, nil, plugin.ErrCryptoUnsupported
	}
	return p, cc, nil
}

// SwitchSendCrypto makes c encrypt the bytes queued after the call (the
// loop keeps a send barrier: bytes queued before keep their old cipher).
func (h *peerHandle) SwitchSendCrypto(c plugin.CryptoPlugin) error {
	p, cc, err := h.cipherTarget()
	if err != nil {
		return err
	}
	var sc loop.SendCipher
	if c != nil {
		sc = c
		p.encrypted = true
	}
	cc.SetSendCipher(sc)
	return nil
}

// SwitchRecvCrypto makes c decrypt the bytes not yet consumed (see
// loop.Conn.SetRecvCipher for exactly when it takes effect).
func (h *peerHandle) SwitchRecvCrypto(c plugin.CryptoPlugin) error {
	p, cc, err := h.cipherTarget()
	if err != nil {
		return err
	}
	var rc loop.RecvCipher
	if c != nil {
		rc = c
		p.encrypted = true
	}
	p.recvSwitched = true
	cc.SetRecvCipher(rc)
	return nil
}

// isLocal reports loopback, private and link-local addresses.
func isLocal(a netip.Addr) bool {
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast()
}

// torrentHandle implements plugin.TorrentHandle. Loop only unless the
// interface says otherwise.
type torrentHandle struct {
	t    *Torrent
	ih   [20]byte
	name atomic.Value // string: the magnet's name, then the info's (any goroutine)
}

func (t *Torrent) handle() *torrentHandle {
	if t.th == nil {
		t.th = &torrentHandle{t: t, ih: t.wireIH}
		t.th.name.Store(t.Name())
	}
	return t.th
}

// Handle returns the torrent's plugin handle. Loop only.
func (t *Torrent) Handle() plugin.TorrentHandle { return t.handle() }

func (h *torrentHandle) live() *Torrent {
	if h.t.removed {
		return nil
	}
	return h.t
}

func (h *torrentHandle) InfoHash() [20]byte { return h.ih }
func (h *torrentHandle) Name() string       { return h.name.Load().(string) }
func (h *torrentHandle) Valid() bool        { return h.live() != nil }
func (h *torrentHandle) InLoop() bool       { return h.t.s.loop.InLoop() }
func (h *torrentHandle) PostAlert(a plugin.Alert) {
	h.t.fillOwner(a) // owner.go
	h.t.s.post(a)
}

func (h *torrentHandle) Post(fn func()) {
	h.t.s.loop.Post(func(any) { fn() }, nil)
}

func (h *torrentHandle) Status() plugin.TorrentStatus {
	t := h.live()
	if t == nil {
		return plugin.TorrentStatus{}
	}
	st := t.Status()
	return plugin.TorrentStatus{
		State: st.State, Paused: st.Paused, Seeding: t.isSeed(), Pieces: st.Pieces,
		NumPieces: st.NumPieces, NumPeers: st.NumPeers, DownloadRate: st.DownloadRate,
		UploadRate: st.UploadRate, TotalDownload: st.TotalDownload, TotalUpload: st.TotalUpload,
	}
}

func (h *torrentHandle) HavePiece(i int) bool {
	t := h.live()
	return t != nil && t.info != nil && i >= 0 && i < t.info.NumPieces() && t.have.Has(i)
}

func (h *torrentHandle) Pause() {
	if t := h.live(); t != nil {
		t.Pause()
	}
}

func (h *torrentHandle) Resume() {
	if t := h.live(); t != nil {
		t.Resume()
	}
}

func (h *torrentHandle) ConnectPeer(a netip.AddrPort) {
	if t := h.live(); t != nil {
		t.AddPeer(a)
	}
}

func (h *torrentHandle) Peers() []plugin.PeerConn {
	t := h.live()
	if t == nil {
		return nil
	}
	out := make([]plugin.PeerConn, 0, len(t.peers))
	for _, p := range t.peers {
		out = append(out, p.conn())
	}
	return out
}

func (h *torrentHandle) AddExtension(ctor func(plugin.TorrentHandle, any) plugin.TorrentPlugin, userData any) {
	if t := h.live(); t != nil {
		t.AddExtension(ctor, userData)
	}
}

func (h *torrentHandle) UserData() any {
	if t := h.live(); t != nil {
		return t.user
	}
	return nil
}

// SupportsEncryption reports whether the connection can switch crypto.
func (h *peerHandle) SupportsEncryption() bool {
	p := h.live()
	if p == nil {
		return false
	}
	_, ok := p.c.(cipherConn)
	return ok
}
