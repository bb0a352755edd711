package shard

import (
	"errors"
	"io"
	"net/netip"

	"github.com/shardtorrent/shardtorrent/bitfield"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/storage"
)

// The primitives peer exchange, lt_donthave and upload_only are built on
// (ext/utpex, ext/donthave, ext/uploadonly): the engine core knows neither
// message, only the state they change.

// ListenPort implements plugin.PeerConn.
func (h *peerHandle) ListenPort() uint16 {
	p := h.live()
	if p == nil {
		return 0
	}
	if p.outgoing {
		return p.addr.Port()
	}
	return p.listenPort
}

// Encrypted implements plugin.PeerConn.
func (h *peerHandle) Encrypted() bool {
	p := h.live()
	return p != nil && p.encrypted
}

// IncomingDontHave implements plugin.PeerConn.
func (h *peerHandle) IncomingDontHave(piece int) bool {
	p := h.live()
	if p == nil || p.closing || p.t.info == nil || piece < 0 || piece >= p.t.info.NumPieces() {
		return false
	}
	p.dontHave(piece)
	return true
}

// SetUploadOnly implements plugin.PeerConn.
func (h *peerHandle) SetUploadOnly(v bool) {
	p := h.live()
	if p == nil || p.closing || p.uploadOnly == v {
		return
	}
	p.uploadOnly = v
	if p.active() && p.redundant() {
		p.policyDisconnect(ReasonRedundant, nil)
	}
}

// redundant reports a connection neither side wants anything from: we
// are a seed and the peer is one too, or only uploads.
func (p *peer) redundant() bool {
	return p.t.isSeed() && (p.peerSeed() || p.uploadOnly)
}

// dontHave applies "the peer lost piece i" (lt_donthave): the DontHave
// chain first, then availability and interest. i is in range.
func (p *peer) dontHave(i int) {
	t := p.t
	if hx := p.hx; hx != nil && len(hx.onDontHave) > 0 {
		if eachBool(p, hx.onDontHave, "OnDontHave", func(h plugin.DontHaveHook) bool { return h.OnDontHave(i) }) || p.closing {
			return
		}
	}
	if p.seedCounted {
		// It had everything: from now on, everything but i.
		bf := bitfield.New(t.info.NumPieces())
		bf.SetAll()
		t.pk.RemoveSeed()
		p.seedCounted = false
		p.bf = bf
		t.pk.AddPeerBitfield(bf)
	}
	if p.bf == nil || !p.bf.Has(i) {
		return
	}
	p.bf.Clear(i)
	p.afDirty = true
	t.pk.DecAvailability(i)
	p.updateInterest()
}

// dataMissing reports a read error that means the data is not on disk (a
// missing or short file), as opposed to an I/O failure.
func dataMissing(err error) bool {
	return errors.Is(err, storage.ErrMissing) || errors.Is(err, io.ErrUnexpectedEOF)
}

// losePiece marks a piece we had as missing: the picker wants it again, a
// seed goes back to downloading, TorrentPieceLostHook runs (lt_donthave is
// sent from there) and the torrent looks for peers that have it.
func (t *Torrent) losePiece(i int) {
	if t.removed || i < 0 || i >= t.info.NumPieces() || !t.have.Has(i) {
		return
	}
	wasSeed := t.isSeed()
	t.have.Clear(i)
	t.pk.ClearHave(i)
	if wasSeed && !t.isSeed() {
		t.setState(plugin.StateDownloading)
	}
	if tx := t.tx; tx != nil {
		each(t, tx.pieceLost, "OnPieceLost", func(h plugin.TorrentPieceLostHook) { h.OnPieceLost(i) })
	}
	if t.removed || t.paused {
		return
	}
	for _, p := range t.peers {
		if p.active() {
			p.updateInterest()
			p.fillRequests()
		}
	}
	t.connectMore(t.s.now())
}

// AddPeer implements plugin.TorrentHandle.
func (h *torrentHandle) AddPeer(a netip.AddrPort, src plugin.PeerSource) {
	if t := h.live(); t != nil {
		t.addPeer(a, src)
	}
}
