package shard

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bitfield"
	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// hookPeer is a peer plugin implementing every peer hook. It records each
// call in *log (loop only) and answers with the functions set, if any.
type hookPeer struct {
	name string
	log  *[]string
	pc   plugin.PeerConn

	request       func(plugin.Request) bool
	piece         func(plugin.Request, plugin.Block) bool
	extended      func(length, msg int, body []byte) bool
	unknown       func(length, msg int, body []byte) bool
	extHandshake  func(*wire.ExtHandshake) bool
	addHandshake  func(*wire.ExtHandshake)
	canDisconnect func(error) bool
	writeRequest  func(plugin.Request) bool
	have          func(int) bool
}

func (p *hookPeer) rec(f string, args ...any) {
	s := f
	if len(args) > 0 {
		s += fmt.Sprint(args...)
	}
	*p.log = append(*p.log, p.name+"."+s)
}

func (p *hookPeer) Type() string { return p.name }
func (p *hookPeer) AddHandshake(h *wire.ExtHandshake) {
	p.rec("AddHandshake")
	if p.addHandshake != nil {
		p.addHandshake(h)
	}
}
func (p *hookPeer) OnDisconnect(err error) { p.rec("OnDisconnect") }
func (p *hookPeer) OnConnected()           { p.rec("OnConnected") }
func (p *hookPeer) OnHandshake(r [8]byte) bool {
	p.rec("OnHandshake")
	return true
}
func (p *hookPeer) OnExtensionHandshake(h *wire.ExtHandshake) bool {
	p.rec("OnExtensionHandshake")
	if p.extHandshake != nil {
		return p.extHandshake(h)
	}
	return true
}
func (p *hookPeer) OnBitfield(bf *bitfield.Bitfield) bool { p.rec("OnBitfield"); return false }
func (p *hookPeer) OnAllowedFast(i int) bool              { p.rec("OnAllowedFast", i); return false }
func (p *hookPeer) OnRequest(r plugin.Request) bool {
	p.rec("OnRequest", r)
	if p.request != nil {
		return p.request(r)
	}
	return false
}
func (p *hookPeer) OnChoke() bool         { p.rec("OnChoke"); return false }
func (p *hookPeer) OnNotInterested() bool { p.rec("OnNotInterested"); return false }
func (p *hookPeer) OnHave(i int) bool {
	p.rec("OnHave", i)
	if p.have != nil {
		return p.have(i)
	}
	return false
}
func (p *hookPeer) OnInterested() bool    { p.rec("OnInterested"); return false }
func (p *hookPeer) OnHaveAll() bool       { p.rec("OnHaveAll"); return false }
func (p *hookPeer) OnHaveNone() bool      { p.rec("OnHaveNone"); return false }
func (p *hookPeer) OnUnchoke() bool       { p.rec("OnUnchoke"); return false }
func (p *hookPeer) OnDontHave(i int) bool { p.rec("OnDontHave", i); return false }
func (p *hookPeer) OnPiece(r plugin.Request, b plugin.Block) bool {
	p.rec("OnPiece", r)
	if p.piece != nil {
		return p.piece(r, b)
	}
	return false
}
func (p *hookPeer) OnReject(r plugin.Request) bool { p.rec("OnReject", r); return false }
func (p *hookPeer) OnSuggest(i int) bool           { p.rec("OnSuggest", i); return false }
func (p *hookPeer) OnCancel(r plugin.Request) bool { p.rec("OnCancel", r); return false }
func (p *hookPeer) SentHaveNone()                  { p.rec("SentHaveNone") }
func (p *hookPeer) SentAllowFast(i int)            { p.rec("SentAllowFast", i) }
func (p *hookPeer) SentChoke()                     { p.rec("SentChoke") }
func (p *hookPeer) SentCancel(r plugin.Request)    { p.rec("SentCancel", r) }
func (p *hookPeer) SentRequest(r plugin.Request)   { p.rec("SentRequest", r) }
func (p *hookPeer) SentSuggest(i int)              { p.rec("SentSuggest", i) }
func (p *hookPeer) SentHaveAll()                   { p.rec("SentHaveAll") }
func (p *hookPeer) SentReject(r plugin.Request)    { p.rec("SentReject", r) }
func (p *hookPeer) SentInterested()                { p.rec("SentInterested") }
func (p *hookPeer) SentNotInterested()             { p.rec("SentNotInterested") }
func (p *hookPeer) SentUnchoke()                   { p.rec("SentUnchoke") }
func (p *hookPeer) SentHave(i int)                 { p.rec("SentHave", i) }
func (p *hookPeer) SentPiece(r plugin.Request)     { p.rec("SentPiece", r) }
func (p *hookPeer) SentPayload(n int)              { p.rec("SentPayload", n) }
func (p *hookPeer) CanDisconnect(err error) bool {
	p.rec("CanDisconnect")
	if p.canDisconnect != nil {
		return p.canDisconnect(err)
	}
	return true
}
func (p *hookPeer) OnExtended(length, msg int, body []byte) bool {
	p.rec("OnExtended", length, msg, len(body), p.pc.PacketFinished())
	if p.extended != nil {
		return p.extended(length, msg, body)
	}
	return false
}
func (p *hookPeer) OnUnknownMessage(length, msg int, body []byte) bool {
	p.rec("OnUnknownMessage", length, msg, len(body))
	if p.unknown != nil {
		return p.unknown(length, msg, body)
	}
	return false
}
func (p *hookPeer) OnPiecePass(i int)   { p.rec("OnPiecePass", i) }
func (p *hookPeer) OnPieceFailed(i int) { p.rec("OnPieceFailed", i) }
func (p *hookPeer) Tick()               { p.rec("Tick") }
func (p *hookPeer) WriteRequest(r plugin.Request) bool {
	p.rec("WriteRequest", r)
	if p.writeRequest != nil {
		return p.writeRequest(r)
	}
	return false
}

// withPeerPlugins attaches a torrent plugin to tor whose NewConnection
// returns make(pc) for every new connection. Loop only.
func withPeerPlugins(tor *Torrent, make func(pc plugin.PeerConn) plugin.PeerPlugin) {
	tor.AddExtension(func(plugin.TorrentHandle, any) plugin.TorrentPlugin {
		return newConnFunc(make)
	}, nil)
}

type newConnFunc func(pc plugin.PeerConn) plugin.PeerPlugin

func (f newConnFunc) NewConnection(pc plugin.PeerConn) plugin.PeerPlugin { return f(pc) }

// has reports whether log contains an entry starting with prefix.
func has(log []string, prefix string) bool {
	return slices.ContainsFunc(log, func(s string) bool { return strings.HasPrefix(s, prefix) })
}

func count(log []string, prefix string) int {
	n := 0
	for _, s := range log {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

func TestPluginChainBreaksOnRequest(t *testing.T) {
	h := newHarness(t, Settings{})
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	var log []string
	h.do(func() {
		withPeerPlugins(tor, func(pc plugin.PeerConn) plugin.PeerPlugin {
			return &hookPeer{name: "a", log: &log, pc: pc, request: func(r plugin.Request) bool { return r.Piece == 1 }}
		})
		withPeerPlugins(tor, func(pc plugin.PeerConn) plugin.PeerPlugin {
			return &hookPeer{name: "b", log: &log, pc: pc}
		})
	})
	var tp *tpeer
	h.do(func() {
		tp = h.handshaken(tor, 1, simple(wire.HaveNone), simple(wire.Interested))
		log = nil
		h.feed(tp, wire.AppendRequest(nil, 1, 0, wire.BlockSize)) // a handles it
		h.feed(tp, wire.AppendRequest(nil, 2, 0, wire.BlockSize)) // the engine serves it
	})
	h.waitFor("the served block", func() bool { return len(only(tp.fc.take(), wire.Piece)) == 1 || tp.totalUp > 0 })
	want := []string{
		"a.OnRequest{1 0 16384}", // handled: b is not asked, nothing is served
		"a.OnRequest{2 0 16384}", "b.OnRequest{2 0 16384}",
	}
	h.do(func() {
		var got []string
		for _, s := range log {
			if strings.Contains(s, "OnRequest") {
				got = append(got, s)
			}
		}
		if !slices.Equal(got, want) {
			fatalf("request hooks %q, want %q", got, want)
		}
		if tp.totalUp != wire.BlockSize {
			fatalf("served %d bytes, want one block (piece 2)", tp.totalUp)
		}
		for _, who := range []string{"a", "b"} {
			for _, hook := range []string{".SentPiece{2 0 16384}", ".SentPayload16384"} {
				if !slices.Contains(log, who+hook) {
					fatalf("%s%s missing from %q", who, hook, log)
				}
			}
		}
	})
}

func TestPluginCanDisconnectVeto(t *testing.T) {
	set := Settings{InactivityTimeout: 30 * time.Second, KeepAliveInterval: time.Hour}
	h := newHarness(t, set)
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	var log []string
	h.do(func() {
		withPeerPlugins(tor, func(pc plugin.PeerConn) plugin.PeerPlugin {
			return &hookPeer{name: "v", log: &log, pc: pc, canDisconnect: func(error) bool { return false }}
		})
	})
	var tp *tpeer
	h.do(func() { tp = h.handshaken(tor, 1, simple(wire.HaveNone)) })
	h.tick(31 * time.Second)
	if tp.fc.closed {
		t.Fatalf("inactivity timeout was not vetoed: %v", tp.fc.closeErr)
	}
	h.do(func() {
		if !has(log, "v.CanDisconnect") {
			fatalf("CanDisconnect not asked: %q", log)
		}
		if tp.conn().CanDisconnect(errInactive) {
			fatalf("PeerConn.CanDisconnect = true with a vetoing plugin")
		}
		log = nil
		h.feed(tp, wire.AppendHave(nil, 1000)) // out of range: a protocol error
	})
	if r := tp.fc.closeReason(); r != ReasonProtocol {
		t.Fatalf("protocol error closed with %v (%v), want it to ignore the veto", r, tp.fc.closeErr)
	}
	h.do(func() {
		if has(log, "v.CanDisconnect") {
			fatalf("CanDisconnect asked for a protocol error: %q", log)
		}
		if count(log, "v.OnDisconnect") != 1 {
			fatalf("OnDisconnect ran %d times, want 1: %q", count(log, "v.OnDisconnect"), log)
		}
	})
}

func TestPluginWriteRequestOverride(t *testing.T) {
	h := newHarness(t, Settings{})
	tf := makeTorrent(t, dlSize, dlPieceLen)
	tor := h.leech(tf)
	var log []string
	h.do(func() {
		withPeerPlugins(tor, func(pc plugin.PeerConn) plugin.PeerPlugin {
			return &hookPeer{name: "w", log: &log, pc: pc, writeRequest: func(r plugin.Request) bool { return r.Piece%2 == 0 }}
		})
	})
	h.do(func() {
		src := h.handshaken(tor, 1)
		h.feed(src, join(simple(wire.HaveAll), simple(wire.Unchoke)))
		reqs := requestsOf(src.fc.take())
		if len(src.outstanding) != initialQueueDepth {
			fatalf("%d outstanding, want %d (overridden requests stay requested)", len(src.outstanding), initialQueueDepth)
		}
		if len(reqs) == 0 || len(reqs) == initialQueueDepth {
			fatalf("engine wrote %d requests: the override did nothing or took everything", len(reqs))
		}
		for _, r := range reqs {
			if r.Piece%2 == 0 {
				fatalf("engine wrote request for piece %d, which the plugin replaced", r.Piece)
			}
			if !slices.Contains(log, fmt.Sprintf("w.SentRequest{%d %d %d}", r.Piece, r.Begin, r.Length)) {
				fatalf("no SentRequest for %v", r)
			}
		}
		if count(log, "w.WriteRequest") != initialQueueDepth || count(log, "w.SentRequest") != len(reqs) {
			fatalf("%d WriteRequest, %d SentRequest; want %d and %d", count(log, "w.WriteRequest"), count(log, "w.SentRequest"), initialQueueDepth, len(reqs))
		}
	})
}

// pauseVeto is a torrent plugin that overrides pause.
type pauseVeto struct{ pauses, resumes int }

func (p *pauseVeto) OnPause() bool  { p.pauses++; return true }
func (p *pauseVeto) OnResume() bool { p.resumes++; return false }

func TestPluginPauseOverride(t *testing.T) {
	h := newHarness(t, Settings{})
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	pv := &pauseVeto{}
	var tp *tpeer
	h.do(func() {
		tor.AddExtension(func(plugin.TorrentHandle, any) plugin.TorrentPlugin { return pv }, nil)
		tp = h.handshaken(tor, 1, simple(wire.HaveNone))
		tor.Pause()
	})
	h.do(func() {
		if !tor.paused || pv.pauses != 1 {
			fatalf("paused %v, OnPause %d times", tor.paused, pv.pauses)
		}
		if tp.fc.closed {
			fatalf("peer disconnected although OnPause overrode the pause")
		}
		if n := len(alertsOf[*plugin.TorrentPausedAlert](h.alerts)); n != 0 {
			fatalf("%d paused alerts, want none", n)
		}
		tor.Resume()
		if tor.paused || pv.resumes != 1 || len(alertsOf[*plugin.TorrentResumedAlert](h.alerts)) != 1 {
			fatalf("resume: paused %v, OnResume %d, resumed alerts %d", tor.paused, pv.resumes, len(alertsOf[*plugin.TorrentResumedAlert](h.alerts)))
		}
	})
}

func TestPluginExtendedFragments(t *testing.T) {
	h := newHarness(t, Settings{})
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	const myID = 42
	var log []string
	var got []byte
	h.do(func() {
		withPeerPlugins(tor, func(pc plugin.PeerConn) plugin.PeerPlugin {
			return &hookPeer{name: "x", log: &log, pc: pc,
				addHandshake: func(h *wire.ExtHandshake) { h.M["x_test"] = myID },
				extended: func(length, msg int, body []byte) bool {
					if msg != myID {
						return false
					}
					if len(body) == length {
						got = append([]byte(nil), body...)
					}
					return true
				}}
		})
	})
	var tp *tpeer
	h.do(func() {
		tp = h.connect(tor, false)
		h.feed(tp, handshake(tor, peerID(1), true, true))
		msgs := tp.fc.take()
		var ext *wire.ExtHandshake
		for _, m := range only(msgs, wire.Extended) {
			if m.ExtID == 0 {
				e, err := wire.ParseExtHandshake(m.Payload)
				if err != nil {
					fatalf("our ext handshake: %v", err)
				}
				ext = &e
			}
		}
		if ext == nil || ext.M["x_test"] != myID {
			fatalf("our extension handshake %+v lacks x_test=%d", ext, myID)
		}
	})
	body := testData(100_000, 3)
	msg := wire.AppendExtended(nil, myID, body)
	var fed []byte
	h.do(func() {
		// Feed it in 4 KiB pieces, as a slow socket would: the loop keeps
		// the unconsumed front, so each call sees the whole frame so far.
		for off := 0; off < len(msg); {
			end := min(off+4096, len(msg))
			fed = append(fed, msg[off:end]...)
			n := h.feed(tp, fed)
			fed = fed[n:]
			off = end
		}
	})
	h.do(func() {
		var calls []string
		for _, s := range log {
			if strings.HasPrefix(s, "x.OnExtended") {
				calls = append(calls, s)
			}
		}
		if len(calls) < 20 {
			fatalf("%d OnExtended calls, want one per fragment: %q", len(calls), calls)
		}
		last := calls[len(calls)-1]
		if want := fmt.Sprintf("x.OnExtended%d %d %d %v", len(body), myID, len(body), true); last != want {
			fatalf("last call %q, want %q", last, want)
		}
		if !strings.HasSuffix(calls[0], "false") {
			fatalf("first fragment %q: PacketFinished should be false", calls[0])
		}
		if string(got) != string(body) {
			fatalf("the final body differs from what was sent")
		}
		if tp.fc.closed {
			fatalf("closed: %v", tp.fc.closeErr)
		}
		// An id nobody claims disconnects.
		h.feed(tp, wire.AppendExtended(nil, myID+1, []byte("hi")))
	})
	if r := tp.fc.closeReason(); r != ReasonProtocol {
		t.Fatalf("unclaimed extended message closed with %v, want a protocol error", r)
	}
}

func TestPluginUnknownMessageLength(t *testing.T) {
	h := newHarness(t, Settings{})
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	var log []string
	h.do(func() {
		withPeerPlugins(tor, func(pc plugin.PeerConn) plugin.PeerPlugin {
			return &hookPeer{name: "u", log: &log, pc: pc, unknown: func(length, msg int, body []byte) bool { return msg == 99 }}
		})
		tp := h.handshaken(tor, 1, simple(wire.HaveNone))
		log = nil
		m := []byte{0, 0, 0, 4, 99, 'a', 'b', 'c'}
		h.feed(tp, m)
		// length counts the id byte, body does not (libtorrent's off by one).
		if !slices.Contains(log, "u.OnUnknownMessage4 99 3") || tp.fc.closed {
			fatalf("log %q, closed %v", log, tp.fc.closed)
		}
		h.feed(tp, []byte{0, 0, 0, 1, 98})
		if !tp.fc.closed {
			fatalf("unclaimed unknown message did not disconnect")
		}
	})
}

func TestPluginExtensionHandshakeRemoves(t *testing.T) {
	h := newHarness(t, Settings{})
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	var log []string
	h.do(func() {
		withPeerPlugins(tor, func(pc plugin.PeerConn) plugin.PeerPlugin {
			return &hookPeer{name: "r", log: &log, pc: pc, extHandshake: func(h *wire.ExtHandshake) bool { return h.M["r_ext"] != 0 }}
		})
		withPeerPlugins(tor, func(pc plugin.PeerConn) plugin.PeerPlugin {
			return &hookPeer{name: "k", log: &log, pc: pc}
		})
		tp := h.handshaken(tor, 1)
		eh := wire.ExtHandshake{M: map[string]int{"other": 3}}
		payload, _ := eh.Marshal()
		h.feed(tp, wire.AppendExtended(nil, 0, payload))
		if tp.conn().FindPlugin("r") != nil || tp.conn().FindPlugin("k") == nil {
			fatalf("after OnExtensionHandshake false: r found %v, k found %v", tp.conn().FindPlugin("r") != nil, tp.conn().FindPlugin("k") != nil)
		}
		log = nil
		h.feed(tp, simple(wire.HaveNone))
		if has(log, "r.") || !has(log, "k.OnHaveNone") {
			fatalf("hooks after removal: %q", log)
		}
	})
}

func TestPluginOnPieceRetainsSpan(t *testing.T) {
	h := newHarness(t, Settings{})
	tf := makeTorrent(t, dlSize, dlPieceLen)
	tor := h.leech(tf)
	var kept []*plugin.RetainedBlock
	var log []string
	h.do(func() {
		withPeerPlugins(tor, func(pc plugin.PeerConn) plugin.PeerPlugin {
			return &hookPeer{name: "s", log: &log, pc: pc, piece: func(r plugin.Request, b plugin.Block) bool {
				kept = append(kept, b.Retain())
				return false
			}}
		})
	})
	var base int64
	h.do(func() {
		base = h.pool.Outstanding()
		src := h.handshaken(tor, 1)
		h.feed(src, join(simple(wire.HaveAll), simple(wire.Unchoke)))
		var b []byte
		for i, r := range requestsOf(src.fc.take()) {
			if i == 3 {
				break
			}
			b = wire.AppendPiece(b, r.Piece, r.Begin, tf.block(r.Piece, r.Begin, r.Length))
		}
		h.feed(src, b)
		src.disconnect(ReasonShutdown, nil)
	})
	h.do(func() {
		if len(kept) != 3 {
			fatalf("retained %d blocks, want 3", len(kept))
		}
		if h.pool.Outstanding() == base {
			fatalf("no span outstanding while the plugin holds blocks")
		}
	})
	// The views are still good after the peer is gone; released from
	// another goroutine.
	for i, k := range kept {
		r := requestsOfLog(log)[i]
		if string(k.Bytes()) != string(tf.block(uint32(r.Piece), uint32(r.Begin), uint32(r.Length))) {
			t.Fatalf("retained block %d changed", i)
		}
		k.Release()
	}
	h.do(func() {
		for piece := range tor.downloading {
			tor.dropPieceBuf(piece) // the engine's own references
		}
	})
	if n := h.pool.Outstanding(); n != base {
		t.Fatalf("%d spans outstanding after the plugin released its blocks, want %d", n, base)
	}
	// Misuse is caught.
	for name, f := range map[string]func(){
		"double release":    kept[0].Release,
		"use after release": func() { _ = kept[1].Bytes() },
	} {
		func() {
			defer func() {
				var me *bufpool.MisuseError
				if err, ok := recover().(error); !ok || !errors.As(err, &me) {
					t.Errorf("%s: recovered %v, want *bufpool.MisuseError", name, err)
				}
			}()
			f()
		}()
	}
}

// requestsOfLog returns the OnPiece requests recorded in log, in order.
func requestsOfLog(log []string) []plugin.Request {
	var out []plugin.Request
	for _, s := range log {
		var r plugin.Request
		if _, err := fmt.Sscanf(s, "s.OnPiece{%d %d %d}", &r.Piece, &r.Begin, &r.Length); err == nil {
			out = append(out, r)
		}
	}
	return out
}

func TestPluginHandleAfterDisconnect(t *testing.T) {
	h := newHarness(t, Settings{})
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	var pc plugin.PeerConn
	var th plugin.TorrentHandle
	h.do(func() {
		tp := h.handshaken(tor, 1, wire.AppendHave(nil, 0))
		pc = tp.conn()
		th = tor.Handle()
		if !pc.Valid() || pc.PeerID() != peerID(1) || pc.AssociatedTorrent() == nil {
			fatalf("live handle: valid %v id %x", pc.Valid(), pc.PeerID())
		}
		tp.disconnect(ReasonShutdown, nil)
	})
	h.do(func() {
		if pc.Valid() || pc.IsSeed() || pc.PeerID() != [20]byte{} || pc.AssociatedTorrent() != nil ||
			pc.HasPiece(0) || pc.FindPlugin("x") != nil || pc.InHandshake() || pc.PacketFinished() {
			fatalf("closed handle answers non-zero values")
		}
		pc.ChokeThisPeer()
		pc.MaybeUnchokeThisPeer()
		pc.SendBuffer([]byte("x"))
		pc.Disconnect(errors.New("x"), plugin.OpPlugin, plugin.SeverityNormal)
		pc.AddExtension(&hookPeer{name: "late"})
		pc.PeerLog(plugin.LogInfo, "e", "f")
		_ = pc.PeerInfo()
		if err := pc.SwitchSendCrypto(nil); !errors.Is(err, plugin.ErrHandleClosed) {
			fatalf("SwitchSendCrypto on a closed handle: %v", err)
		}
		tor.Remove()
		if th.Valid() || th.Status() != (plugin.TorrentStatus{}) || th.Peers() != nil || th.HavePiece(0) {
			fatalf("removed torrent's handle answers non-zero values")
		}
		th.Pause()
		th.ConnectPeer(pc.RemoteEndpoint())
	})
}

// panicky panics in OnRequest and OnHaveNone.
type panicky struct{}

func (panicky) Type() string                                    { return "panicky" }
func (panicky) OnRequest(plugin.Request) bool                   { panic("boom") }
func (panicky) OnHaveNone() bool                                { panic(errors.New("boom2")) }
func (panicky) NewConnection(plugin.PeerConn) plugin.PeerPlugin { return panicky{} }

func TestPluginPanicDisablesPlugin(t *testing.T) {
	h := newHarness(t, Settings{})
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	var log []string
	var tp, tp2 *tpeer
	h.do(func() {
		tor.AddExtension(func(plugin.TorrentHandle, any) plugin.TorrentPlugin { return panicky{} }, nil)
		withPeerPlugins(tor, func(pc plugin.PeerConn) plugin.PeerPlugin { return &hookPeer{name: "ok", log: &log, pc: pc} })
		tp = h.handshaken(tor, 1, simple(wire.HaveNone), simple(wire.Interested))
		tp2 = h.handshaken(tor, 2)
		h.feed(tp, wire.AppendRequest(nil, 1, 0, wire.BlockSize))
	})
	h.waitFor("the block", func() bool { return tp.totalUp == wire.BlockSize })
	h.do(func() {
		d := alertsOf[*plugin.PluginDisabledAlert](h.alerts)
		if len(d) != 1 || d[0].Hook != "OnHaveNone" || d[0].Addr != tp.addr || !strings.Contains(d[0].Message(), "boom2") {
			fatalf("disabled alerts %v, want one for OnHaveNone", d)
		}
		if tp.conn().FindPlugin("panicky") != nil || tp2.conn().FindPlugin("panicky") == nil {
			fatalf("the panicking plugin should be gone from that peer only")
		}
		if !has(log, "ok.OnHaveNone") || !has(log, "ok.OnRequest") {
			fatalf("the next plugin was skipped: %q", log)
		}
		if tp.fc.closed {
			fatalf("peer closed: %v", tp.fc.closeErr)
		}
	})
}

// fourNoops returns four no-op peer plugins' constructor.
type noopPeer struct{ n int }

func (*noopPeer) Type() string                                { return "noop" }
func (p *noopPeer) OnRequest(plugin.Request) bool             { p.n++; return false }
func (p *noopPeer) OnPiece(plugin.Request, plugin.Block) bool { return false }
func (p *noopPeer) OnHave(int) bool                           { return false }
func (p *noopPeer) OnInterested() bool                        { return false }
func (p *noopPeer) SentPiece(plugin.Request)                  { p.n++ }
func (p *noopPeer) SentPayload(int)                           { p.n++ }
func (p *noopPeer) SentRequest(plugin.Request)                {}
func (p *noopPeer) SentHave(int)                              {}
func (p *noopPeer) WriteRequest(plugin.Request) bool          { return false }
func (p *noopPeer) CanDisconnect(error) bool                  { return true }
func (p *noopPeer) Tick()                                     {}

func addNoopPlugins(tor *Torrent, n int) {
	for range n {
		withPeerPlugins(tor, func(plugin.PeerConn) plugin.PeerPlugin { return &noopPeer{} })
	}
}

// lateTorrent is a torrent plugin added at run time.
type lateTorrent struct {
	checked int
	conns   []plugin.PeerConn
	log     *[]string
}

func (l *lateTorrent) OnFilesChecked() { l.checked++ }
func (l *lateTorrent) NewConnection(pc plugin.PeerConn) plugin.PeerPlugin {
	l.conns = append(l.conns, pc)
	return &hookPeer{name: "late", log: l.log, pc: pc}
}

func TestPluginRuntimeAddExtension(t *testing.T) {
	h := newHarness(t, Settings{})
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	var log []string
	lt := &lateTorrent{log: &log}
	h.do(func() {
		tp := h.handshaken(tor, 1, simple(wire.HaveNone))
		var ud any
		tor.AddExtension(func(th plugin.TorrentHandle, u any) plugin.TorrentPlugin { ud = u; return lt }, "ud")
		if ud != "ud" || lt.checked != 1 || len(lt.conns) != 1 || lt.conns[0].ID() != tp.conn().ID() {
			fatalf("runtime add: userdata %v, OnFilesChecked %d, NewConnection %d", ud, lt.checked, len(lt.conns))
		}
		h.feed(tp, simple(wire.Interested))
		if !has(log, "late.OnInterested") || tp.conn().FindPlugin("late") == nil {
			fatalf("the late plugin is not on the existing peer: %q", log)
		}
		// A nil constructor result attaches nothing.
		tor.AddExtension(func(plugin.TorrentHandle, any) plugin.TorrentPlugin { return nil }, nil)
		if len(tor.tx.plugins) != 1 {
			fatalf("%d torrent plugins, want 1", len(tor.tx.plugins))
		}
	})
}
