package utmetadata

import (
	"time"

	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// Peer is the ut_metadata plugin of one connection. Owned by the
// torrent's loop.
type Peer struct {
	t     *Torrent
	pc    plugin.PeerConn
	extID int // the peer's id for ut_metadata; 0 until its handshake names one

	out      [MaxOutstanding]int // pieces asked of the peer, valid up to nOut
	nOut     int
	queue    []int     // its requests waiting for send-buffer room (≤ MaxQueued)
	notUntil time.Time // request back-off
}

// Type implements plugin.PeerPlugin.
func (pp *Peer) Type() string { return ExtensionName }

func (pp *Peer) asked(piece int) bool {
	for _, p := range pp.out[:pp.nOut] {
		if p == piece {
			return true
		}
	}
	return false
}

// unask removes piece from the outstanding set; false if it was not there.
func (pp *Peer) unask(piece int) bool {
	for i, p := range pp.out[:pp.nOut] {
		if p == piece {
			pp.out[i] = pp.out[pp.nOut-1]
			pp.nOut--
			return true
		}
	}
	return false
}

func (pp *Peer) backoff(until time.Time) {
	if until.After(pp.notUntil) {
		pp.notUntil = until
	}
}

// AddHandshake implements plugin.AddHandshakeHook: m.ut_metadata and, when
// we can serve it, metadata_size.
func (pp *Peer) AddHandshake(h *wire.ExtHandshake) {
	if h.M == nil {
		h.M = map[string]int{}
	}
	h.M[ExtensionName] = ExtID
	if b := pp.t.serveable(); b != nil {
		h.MetadataSize = len(b)
	}
}

// OnExtensionHandshake implements plugin.ExtensionHandshakeHook: a peer
// without ut_metadata loses the plugin.
func (pp *Peer) OnExtensionHandshake(h *wire.ExtHandshake) bool {
	id := h.M[ExtensionName]
	if id <= 0 {
		return false
	}
	pp.extID = id
	t := pp.t
	if t.size == 0 && t.hint == 0 && h.MetadataSize > 0 && h.MetadataSize <= MaxPresize && !t.th.HasMetadata() {
		t.hint = h.MetadataSize
	}
	pp.maybeRequest(t.now())
	return true
}

// OnExtended implements plugin.ExtendedHook for our id: the message is
// checked against MaxMessageSize on its first fragment and handled once
// whole.
func (pp *Peer) OnExtended(length, msg int, body []byte) bool {
	if msg != ExtID {
		return false
	}
	if length > MaxMessageSize {
		// Refused on its first fragment, before the engine buffers it.
		pp.fail(newError(ErrMessageTooLarge, itoa(length)+" bytes"))
		return true
	}
	if len(body) < length {
		return true // more to come; the engine shows it again, grown
	}
	pp.handle(body)
	return true
}

// fail disconnects the peer for a protocol error.
func (pp *Peer) fail(err error) {
	pp.pc.Disconnect(err, plugin.OpBitTorrent, plugin.SeverityPeerError)
}

// handle applies one whole message.
func (pp *Peer) handle(b []byte) {
	h, end, err := parseMessage(b)
	if err != nil {
		pp.fail(err)
		return
	}
	t := pp.t
	switch h.MsgType {
	case MsgRequest:
		pp.onRequest(h.Piece)
	case MsgData:
		if !pp.unask(h.Piece) || t.th.HasMetadata() {
			return // unrequested, or late: ignored, as in libtorrent
		}
		if err := t.received(pp, h.Piece, h.TotalSize, b[end:]); err != nil {
			pp.fail(err)
			return
		}
		if t.th.HasMetadata() {
			return
		}
		now := t.now()
		for _, q := range t.th.Peers() {
			if other, ok := q.FindPlugin(ExtensionName).(*Peer); ok {
				other.maybeRequest(now)
			}
		}
	case MsgReject:
		if pp.unask(h.Piece) {
			pp.backoff(t.now().Add(RejectBackoff))
		}
	default:
		// Unknown types are ignored: a later BEP revision may add some.
	}
}

// serveable returns the dictionary we may serve, nil if none: unknown,
// or a private torrent's.
func (t *Torrent) serveable() []byte {
	if !t.th.HasMetadata() || t.th.Private() {
		return nil
	}
	return t.th.InfoBytes()
}

// onRequest serves, queues or rejects a request.
func (pp *Peer) onRequest(piece int) {
	info := pp.t.serveable()
	if info == nil {
		pp.t.send(pp, MsgReject, piece, -1, nil)
		return
	}
	if piece*PieceSize >= len(info) {
		// libtorrent adds total_size to every message while it has the
		// metadata.
		pp.t.send(pp, MsgReject, piece, len(info), nil)
		return
	}
	if pp.pc.SendBufferSize() < SendBufferLimit && len(pp.queue) == 0 {
		pp.sendPiece(info, piece)
		return
	}
	if len(pp.queue) >= MaxQueued {
		pp.t.send(pp, MsgReject, piece, len(info), nil)
		return
	}
	pp.queue = append(pp.queue, piece)
}

func (pp *Peer) sendPiece(info []byte, piece int) {
	off := piece * PieceSize
	pp.t.send(pp, MsgData, piece, len(info), info[off:min(off+PieceSize, len(info))])
}

// Tick implements plugin.PeerTickHook: drain queued requests while the
// send buffer has room, and ask for pieces we lack.
func (pp *Peer) Tick() {
	if n := len(pp.queue); n > 0 {
		info := pp.t.serveable()
		i := 0
		for ; i < n && pp.pc.SendBufferSize() < SendBufferLimit; i++ {
			if info == nil {
				pp.t.send(pp, MsgReject, pp.queue[i], -1, nil)
			} else {
				pp.sendPiece(info, pp.queue[i])
			}
		}
		pp.queue = pp.queue[:copy(pp.queue, pp.queue[i:])]
	}
	pp.maybeRequest(pp.t.now())
}

// maybeRequest asks the peer for pieces, up to MaxOutstanding.
func (pp *Peer) maybeRequest(now time.Time) {
	t := pp.t
	if pp.extID == 0 || t.th.HasMetadata() || now.Before(pp.notUntil) || !pp.pc.Valid() {
		return
	}
	for pp.nOut < MaxOutstanding {
		i := t.pick(pp, now)
		if i < 0 {
			return
		}
		ps := &t.pieces[i]
		ps.requests++
		ps.lastReq, ps.source = now, pp
		pp.out[pp.nOut] = i
		pp.nOut++
		t.send(pp, MsgRequest, i, -1, nil)
	}
}
