package shard

import (
	"github.com/shardtorrent/shardtorrent/bitfield"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

func (p *peer) conn() *peerHandle {
	if p.ph == nil {
		p.ph = &peerHandle{p: p, id: p.id}
	}
	return p.ph
}

// Handle returns the plugin handle of a connection. Loop only.
func (p *peer) Handle() plugin.PeerConn { return p.conn() }

// attach appends pp to the peer's chain.
func (p *peer) attach(pp plugin.PeerPlugin) {
	var plugins []*attached
	if p.hx != nil {
		plugins = p.hx.plugins
	}
	plugins = append(plugins[:len(plugins):len(plugins)], &attached{v: pp})
	p.hx = buildPeerHooks(plugins, &p.t.s.costs)
}

// rebuild drops removed plugins from the lists.
func (p *peer) rebuild() {
	if p.hx == nil {
		return
	}
	x := buildPeerHooks(p.hx.plugins, &p.t.s.costs)
	if len(x.plugins) == 0 {
		x = nil
	}
	p.hx = x
}

// disable implements disabler: a peer plugin panicked.
func (p *peer) disable(a *attached, hook string, v any) {
	a.removed.Store(true)
	p.rebuild()
	p.t.s.post(&plugin.PluginDisabledAlert{
		TorrentAlert: p.t.alertBase(), Addr: p.addr, Plugin: pluginName(a.v), Hook: hook, Panic: v,
	})
}

// canDisconnect asks the CanDisconnect chain; any false vetoes.
func (p *peer) canDisconnect(err error) bool {
	hx := p.hx
	if hx == nil || len(hx.canDisconnect) == 0 {
		return true
	}
	vetoed := eachBool(p, hx.canDisconnect, "CanDisconnect", func(h plugin.CanDisconnectHook) bool {
		return !h.CanDisconnect(err)
	})
	return !vetoed
}

// policyDisconnect is a disconnect plugins may veto (timeouts, redundant
// seed-to-seed connections). It reports whether the peer is disconnecting.
func (p *peer) policyDisconnect(r DisconnectReason, err error) bool {
	if p.closing || p.closed {
		return true
	}
	if !p.canDisconnect(&DisconnectError{Reason: r, Err: err}) {
		return false
	}
	p.disconnect(r, err)
	return true
}

// notifyDisconnect runs OnDisconnect once.
func (p *peer) notifyDisconnect(err error) {
	if p.discNotified {
		return
	}
	p.discNotified = true
	if hx := p.hx; hx != nil && len(hx.onDisconnect) > 0 {
		each(p, hx.onDisconnect, "OnDisconnect", func(h plugin.DisconnectHook) { h.OnDisconnect(err) })
	}
}

func req(piece, begin, length uint32) plugin.Request {
	return plugin.Request{Piece: int(piece), Begin: int(begin), Length: int(length)}
}

// msgHooks offers an incoming message to the plugins; true means a plugin
// handled it (or closed the peer) and the engine must skip it. Extended
// messages other than the handshake, and unknown ids, are dispatched by
// handle itself, since they are refused when nobody claims them.
func (p *peer) msgHooks(m *wire.Message) bool {
	hx := p.hx
	var handled bool
	switch m.ID {
	case wire.Choke:
		handled = eachBool(p, hx.onChoke, "OnChoke", func(h plugin.ChokeHook) bool { return h.OnChoke() })
	case wire.Unchoke:
		handled = eachBool(p, hx.onUnchoke, "OnUnchoke", func(h plugin.UnchokeHook) bool { return h.OnUnchoke() })
	case wire.Interested:
		handled = eachBool(p, hx.onInterested, "OnInterested", func(h plugin.InterestedHook) bool { return h.OnInterested() })
	case wire.NotInterested:
		handled = eachBool(p, hx.onNotInterested, "OnNotInterested", func(h plugin.NotInterestedHook) bool { return h.OnNotInterested() })
	case wire.Have:
		i := int(m.Index)
		handled = eachBool(p, hx.onHave, "OnHave", func(h plugin.HaveHook) bool { return h.OnHave(i) })
	case wire.Bitfield:
		if len(hx.onBitfield) > 0 && p.t.info != nil {
			bf, err := bitfield.FromBytes(m.Payload, p.t.info.NumPieces())
			if err == nil {
				handled = eachBool(p, hx.onBitfield, "OnBitfield", func(h plugin.BitfieldHook) bool { return h.OnBitfield(bf) })
			}
		}
	case wire.HaveAll:
		handled = eachBool(p, hx.onHaveAll, "OnHaveAll", func(h plugin.HaveAllHook) bool { return h.OnHaveAll() })
	case wire.HaveNone:
		handled = eachBool(p, hx.onHaveNone, "OnHaveNone", func(h plugin.HaveNoneHook) bool { return h.OnHaveNone() })
	case wire.AllowedFast:
		i := int(m.Index)
		handled = eachBool(p, hx.onAllowedFast, "OnAllowedFast", func(h plugin.AllowedFastHook) bool { return h.OnAllowedFast(i) })
	case wire.Request:
		r := req(m.Index, m.Begin, m.Length)
		handled = eachBool(p, hx.onRequest, "OnRequest", func(h plugin.RequestHook) bool { return h.OnRequest(r) })
	case wire.Cancel:
		r := req(m.Index, m.Begin, m.Length)
		handled = eachBool(p, hx.onCancel, "OnCancel", func(h plugin.CancelHook) bool { return h.OnCancel(r) })
	case wire.Reject:
		r := req(m.Index, m.Begin, m.Length)
		handled = eachBool(p, hx.onReject, "OnReject", func(h plugin.RejectHook) bool { return h.OnReject(r) })
	case wire.Suggest:
		i := int(m.Index)
		handled = eachBool(p, hx.onSuggest, "OnSuggest", func(h plugin.SuggestHook) bool { return h.OnSuggest(i) })
	case wire.Piece:
		if len(hx.onPiece) > 0 {
			r := req(m.Index, m.Begin, uint32(len(m.Payload)))
			b := plugin.NewBlock(p.c.RxSpan(), m.Payload)
			handled = eachBool(p, hx.onPiece, "OnPiece", func(h plugin.PieceHook) bool { return h.OnPiece(r, b) })
		}
	}
	return handled || p.closing
}

// extendedHooks offers (a fragment of) an extended message to the chain.
func (p *peer) extendedHooks(length, id int, body []byte) bool {
	hx := p.hx
	if hx == nil {
		return false
	}
	return eachBool(p, hx.onExtended, "OnExtended", func(h plugin.ExtendedHook) bool { return h.OnExtended(length, id, body) })
}

// unknownHooks offers (a fragment of) a message with an unknown id.
func (p *peer) unknownHooks(length, id int, body []byte) bool {
	hx := p.hx
	if hx == nil {
		return false
	}
	return eachBool(p, hx.onUnknown, "OnUnknownMessage", func(h plugin.UnknownMessageHook) bool { return h.OnUnknownMessage(length, id, body) })
}

// fragment offers the incomplete frame at the front of buf to the
// extended or unknown-message chain as it grows (libtorrent calls those
// hooks per fragment). It reports false when nobody claims it: the peer is
// then disconnected.
func (p *peer) fragment(buf []byte) bool {
	total, ok := wire.FrameLen(buf)
	if !ok || len(buf) < 5 || total <= 5 {
		return true
	}
	id := wire.MessageID(buf[4])
	switch {
	case id == wire.Extended:
		if len(buf) < 6 || buf[5] == 0 {
			return true
		}
		body := buf[6:]
		if len(body) <= p.fragBody {
			return true
		}
		p.fragBody = len(body)
		p.inFragment = true
		ok := p.extendedHooks(total-6, int(buf[5]), body)
		p.inFragment = false
		return ok
	case !id.Known():
		body := buf[5:]
		if len(body) <= p.fragBody {
			return true
		}
		p.fragBody = len(body)
		p.inFragment = true
		ok := p.unknownHooks(total-4, int(id), body)
		p.inFragment = false
		return ok
	}
	return true
}

// sent tells the plugins a message was queued.
func (p *peer) sent(id wire.MessageID, piece, begin, length uint32) {
	hx := p.hx
	if hx == nil {
		return
	}
	switch id {
	case wire.Choke:
		each(p, hx.sentChoke, "SentChoke", func(h plugin.SentChokeHook) { h.SentChoke() })
	case wire.Unchoke:
		each(p, hx.sentUnchoke, "SentUnchoke", func(h plugin.SentUnchokeHook) { h.SentUnchoke() })
	case wire.Interested:
		each(p, hx.sentInterested, "SentInterested", func(h plugin.SentInterestedHook) { h.SentInterested() })
	case wire.NotInterested:
		each(p, hx.sentNotInterested, "SentNotInterested", func(h plugin.SentNotInterestedHook) { h.SentNotInterested() })
	case wire.Have:
		each(p, hx.sentHave, "SentHave", func(h plugin.SentHaveHook) { h.SentHave(int(piece)) })
	case wire.HaveAll:
		each(p, hx.sentHaveAll, "SentHaveAll", func(h plugin.SentHaveAllHook) { h.SentHaveAll() })
	case wire.HaveNone:
		each(p, hx.sentHaveNone, "SentHaveNone", func(h plugin.SentHaveNoneHook) { h.SentHaveNone() })
	case wire.AllowedFast:
		each(p, hx.sentAllowFast, "SentAllowFast", func(h plugin.SentAllowFastHook) { h.SentAllowFast(int(piece)) })
	case wire.Suggest:
		each(p, hx.sentSuggest, "SentSuggest", func(h plugin.SentSuggestHook) { h.SentSuggest(int(piece)) })
	case wire.Request:
		r := req(piece, begin, length)
		each(p, hx.sentRequest, "SentRequest", func(h plugin.SentRequestHook) { h.SentRequest(r) })
	case wire.Cancel:
		r := req(piece, begin, length)
		each(p, hx.sentCancel, "SentCancel", func(h plugin.SentCancelHook) { h.SentCancel(r) })
	case wire.Reject:
		r := req(piece, begin, length)
		each(p, hx.sentReject, "SentReject", func(h plugin.SentRejectHook) { h.SentReject(r) })
	case wire.Piece:
		r := req(piece, begin, length)
		n := int(length)
		each(p, hx.sentPiece, "SentPiece", func(h plugin.SentPieceHook) { h.SentPiece(r) })
		each(p, hx.sentPayload, "SentPayload", func(h plugin.SentPayloadHook) { h.SentPayload(n) })
	}
}

// writeRequestHooks asks the chain whether a plugin sends r itself.
func (p *peer) writeRequestHooks(b0, b1, b2 uint32) bool {
	hx := p.hx
	if hx == nil || len(hx.writeRequest) == 0 {
		return false
	}
	r := req(b0, b1, b2)
	return eachBool(p, hx.writeRequest, "WriteRequest", func(h plugin.WriteRequestHook) bool { return h.WriteRequest(r) })
}

// piecePass and pieceFailed tell a contributing peer's plugins.
func (p *peer) piecePass(piece int) {
	if hx := p.hx; hx != nil {
		each(p, hx.piecePass, "OnPiecePass", func(h plugin.PeerPiecePassHook) { h.OnPiecePass(piece) })
	}
}

func (p *peer) pieceFailed(piece int) {
	if hx := p.hx; hx != nil {
		each(p, hx.pieceFailed, "OnPieceFailed", func(h plugin.PeerPieceFailedHook) { h.OnPieceFailed(piece) })
	}
}
