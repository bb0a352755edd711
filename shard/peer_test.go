package shard

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bitfield"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
	"golang.org/x/sys/unix"
)

// The seeding tests use 4 pieces of 32 KiB and a short last piece.
const (
	seedPieceLen = 32 << 10
	seedSize     = 4*seedPieceLen + 10000
)

func TestHandshakeRefused(t *testing.T) {
	h := newHarness(t, Settings{})
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	tests := []struct {
		name    string
		hs      func() []byte
		reason  DisconnectReason
		errType bool // a PeerErrorAlert with a *ProtocolError
	}{
		{"wrong info-hash", func() []byte {
			b := handshake(tor, peerID(1), true, true)
			b[28+3] ^= 0xff // inside the info-hash
			return b
		}, ReasonProtocol, true},
		{"bad protocol string", func() []byte {
			b := handshake(tor, peerID(1), true, true)
			b[5] = 'X'
			return b
		}, ReasonProtocol, false},
		{"our own peer id", func() []byte { return handshake(tor, selfID, true, true) }, ReasonSelf, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(alertsOf[*plugin.PeerErrorAlert](h.alerts))
			var tp *tpeer
			h.do(func() {
				tp = h.connect(tor, false)
				b := tc.hs()
				if n := h.feed(tp, b); n != len(b) {
					fatalf("data consumed %d of %d", n, len(b))
				}
			})
			if got := tp.fc.closeReason(); got != tc.reason {
				t.Fatalf("closed with %v (%v), want reason %v", got, tp.fc.closeErr, tc.reason)
			}
			errs := alertsOf[*plugin.PeerErrorAlert](h.alerts)[before:]
			if tc.reason == ReasonProtocol && len(errs) != 1 {
				t.Fatalf("%d PeerErrorAlerts, want 1", len(errs))
			}
			if tc.reason != ReasonProtocol && len(errs) != 0 {
				t.Fatalf("unexpected PeerErrorAlert %v", errs[0].Message())
			}
			var pe *ProtocolError
			if tc.errType && !errors.As(errs[0].Err, &pe) {
				t.Fatalf("PeerErrorAlert error %T %v, want a *ProtocolError", errs[0].Err, errs[0].Err)
			}
			h.do(func() {
				if slices.Contains(tor.peers, tp.peer) {
					fatalf("closed peer is still in the torrent's list")
				}
			})
		})
	}
}

func TestHandshakeReply(t *testing.T) {
	h := newHarness(t, Settings{MaxInRequests: 1234, ClientName: "test/1.0"})
	seed := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	empty := h.leech(makeTorrent(t, seedSize+1, seedPieceLen))
	// A partial copy: the first two pieces of a third torrent.
	pf := makeTorrent(t, seedSize+2, seedPieceLen)
	pdir := t.TempDir()
	if err := os.WriteFile(filepath.Join(pdir, "payload.bin"), pf.data[:2*seedPieceLen], 0o644); err != nil {
		t.Fatal(err)
	}
	partial := h.add(pf, pdir)
	h.do(func() {
		if n := partial.have.Count(); n != 2 {
			fatalf("partial torrent has %d pieces, want 2", n)
		}
	})

	tests := []struct {
		name      string
		tor       *Torrent
		fast, ext bool
		outgoing  bool
		want      []wire.MessageID // after the extension handshake, if any
		wantBits  []int            // the bitfield's set pieces, if one is sent
	}{
		{"seed fast", seed, true, false, false, []wire.MessageID{wire.HaveAll}, nil},
		{"seed plain", seed, false, false, true, []wire.MessageID{wire.Bitfield}, []int{0, 1, 2, 3, 4}},
		{"seed extended", seed, true, true, true, []wire.MessageID{wire.HaveAll}, nil},
		{"empty fast", empty, true, true, false, []wire.MessageID{wire.HaveNone}, nil},
		{"empty plain", empty, false, false, false, nil, nil},
		{"partial fast", partial, true, true, true, []wire.MessageID{wire.Bitfield}, []int{0, 1}},
		{"partial plain", partial, false, false, false, []wire.MessageID{wire.Bitfield}, []int{0, 1}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tp *tpeer
			var out []wire.Message
			h.do(func() {
				tp = h.connect(tc.tor, tc.outgoing)
				// Both directions send the handshake at once: the info-hash is known.
				if len(tp.fc.out) != wire.HandshakeLen {
					fatalf("wrote %d bytes at open, want our handshake", len(tp.fc.out))
				}
				if msgs := tp.fc.take(); len(msgs) != 0 {
					fatalf("sent %v before the peer's handshake", ids(msgs))
				}
				// A handshake split over two reads is consumed only once complete.
				b := handshake(tc.tor, peerID(100+i), tc.fast, tc.ext)
				if n := h.feed(tp, b[:40]); n != 0 {
					fatalf("consumed %d bytes of a partial handshake", n)
				}
				if n := h.feed(tp, b); n != len(b) {
					fatalf("consumed %d of %d", n, len(b))
				}
				out = tp.fc.take()
			})
			hs := tp.fc.hs
			if hs.InfoHash != tc.tor.wireIH || hs.PeerID != selfID {
				t.Fatalf("our handshake has info-hash %x peer id %q", hs.InfoHash, hs.PeerID)
			}
			if !hs.Reserved.SupportsFast() || !hs.Reserved.SupportsExtended() {
				t.Fatalf("our handshake's reserved bits %x lack fast or extended", hs.Reserved)
			}
			// The extension handshake comes first (rtorrent's metadata
			// connection needs it before the bitfield; see onHandshake).
			want := tc.want
			if tc.ext {
				want = append([]wire.MessageID{wire.Extended}, want...)
			}
			// Fast peers also get our allowed-fast set (BEP 6): the canonical
			// pieces for their address that we have, after everything else.
			var af []uint32
			if tc.fast {
				for _, i := range allowedFastSet(nil, tp.addr.Addr(), tc.tor.wireIH, tc.tor.info.NumPieces(), allowedFastSetSize) {
					if tc.tor.have.Has(int(i)) {
						af = append(af, i)
					}
				}
			}
			var gotAF []uint32
			for len(out) > 0 && out[len(out)-1].ID == wire.AllowedFast {
				gotAF = append([]uint32{out[len(out)-1].Index}, gotAF...)
				out = out[:len(out)-1]
			}
			if !slices.Equal(gotAF, af) {
				t.Fatalf("sent allowed fast %v, want %v", gotAF, af)
			}
			if got := ids(out); !slices.Equal(got, want) {
				t.Fatalf("sent %v after the handshake, want %v", got, want)
			}
			if tc.wantBits != nil {
				bf, err := bitfield.FromBytes(out[len(out)-1].Payload, tc.tor.info.NumPieces())
				if err != nil {
					t.Fatal(err)
				}
				var got []int
				for i := bf.NextSet(0); i >= 0; i = bf.NextSet(i + 1) {
					got = append(got, i)
				}
				if !slices.Equal(got, tc.wantBits) {
					t.Fatalf("bitfield has %v, want %v", got, tc.wantBits)
				}
			}
			if tc.ext {
				m := out[0]
				if m.ExtID != 0 {
					t.Fatalf("extension handshake with ext id %d", m.ExtID)
				}
				eh, err := wire.ParseExtHandshake(m.Payload)
				if err != nil {
					t.Fatal(err)
				}
				// upload_only is ext/uploadonly's key now: the core never sets it.
				if eh.Reqq != 1234 || eh.V != "test/1.0" || eh.UploadOnly {
					t.Fatalf("extension handshake reqq %d v %q upload_only %v", eh.Reqq, eh.V, eh.UploadOnly)
				}
				if !bytes.Equal(eh.YourIP, tp.addr.Addr().AsSlice()) {
					t.Fatalf("yourip %v, want %v", eh.YourIP, tp.addr.Addr())
				}
			}
			var connected bool
			for _, a := range alertsOf[*plugin.PeerConnectedAlert](h.alerts) {
				if a.Addr == tp.addr {
					connected = true
					if a.Incoming == tc.outgoing || a.PeerID != peerID(100+i) {
						t.Fatalf("PeerConnectedAlert incoming %v id %q", a.Incoming, a.PeerID)
					}
				}
			}
			if !connected {
				t.Fatal("no PeerConnectedAlert")
			}
		})
	}
}

func TestSeedServesRequest(t *testing.T) {
	h := newHarness(t, Settings{})
	tf := makeTorrent(t, seedSize, seedPieceLen)
	tor := h.seed(tf)
	var tp *tpeer
	reqs := []struct{ piece, begin, length uint32 }{
		{1, 16384, 16384},
		{4, 0, 10000}, // the short last piece
		{0, 100, 2000},
	}
	h.do(func() {
		tp = h.handshaken(tor, 1)
		h.feed(tp, join(simple(wire.HaveNone), simple(wire.Interested)))
		if got := ids(tp.fc.take()); !slices.Equal(got, []wire.MessageID{wire.Unchoke}) {
			fatalf("after interested we sent %v, want an unchoke (a slot is free)", got)
		}
		var b []byte
		for _, r := range reqs {
			b = wire.AppendRequest(b, r.piece, r.begin, r.length)
		}
		h.feed(tp, b)
	})
	var pieces []wire.Message
	h.waitFor("the pieces", func() bool {
		pieces = append(pieces, only(tp.fc.take(), wire.Piece)...)
		return len(pieces) >= len(reqs)
	})
	for i, r := range reqs {
		m := pieces[i]
		if m.Index != r.piece || m.Begin != r.begin || !bytes.Equal(m.Payload, tf.block(r.piece, r.begin, r.length)) {
			t.Fatalf("piece message %d: index %d begin %d len %d, want %+v with the file's bytes",
				i, m.Index, m.Begin, len(m.Payload), r)
		}
	}
	h.do(func() {
		if tor.totalUp != 16384+10000+2000 || tp.totalUp != tor.totalUp {
			fatalf("uploaded %d (peer %d), want %d", tor.totalUp, tp.totalUp, 16384+10000+2000)
		}
	})
}

func TestSeedRefusesBadRequest(t *testing.T) {
	tests := []struct {
		name                 string
		piece, begin, length uint32
	}{
		{"piece out of range", 5, 0, 16384},
		{"past the short last piece", 4, 0, 16384},
		{"past the piece end", 0, seedPieceLen - 100, 16384},
		{"zero length", 0, 0, 0},
		{"longer than the limit", 0, 0, maxRequestLen + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Settings{})
			tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
			var tp *tpeer
			h.do(func() {
				tp = h.handshaken(tor, 1, simple(wire.HaveNone), simple(wire.Interested))
				h.feed(tp, wire.AppendRequest(nil, tc.piece, tc.begin, tc.length))
			})
			if r := tp.fc.closeReason(); r != ReasonProtocol {
				t.Fatalf("closed with %v, want a protocol error", tp.fc.closeErr)
			}
			errs := alertsOf[*plugin.PeerErrorAlert](h.alerts)
			var pe *ProtocolError
			if len(errs) != 1 || !errors.As(errs[0].Err, &pe) {
				t.Fatalf("PeerErrorAlerts %v, want one with a *ProtocolError", errs)
			}
			if d := alertsOf[*plugin.PeerDisconnectedAlert](h.alerts); len(d) != 1 {
				t.Fatalf("%d PeerDisconnectedAlerts, want 1", len(d))
			}
			if got := only(tp.fc.take(), wire.Piece); len(got) != 0 {
				t.Fatal("served a bad request")
			}
		})
	}
}

func TestSeedRequestWhileChoked(t *testing.T) {
	for _, fast := range []bool{true, false} {
		t.Run(map[bool]string{true: "fast", false: "plain"}[fast], func(t *testing.T) {
			h := newHarness(t, Settings{})
			// Enough pieces that the allowed-fast set leaves some out.
			tor := h.seed(makeTorrent(t, 40*16384, 16384))
			var out []wire.Message
			var tp *tpeer
			var allowed, other uint32
			h.do(func() {
				tp = h.connect(tor, false)
				h.feed(tp, handshake(tor, peerID(1), fast, false))
				tp.fc.take()
				set := allowedFastSet(nil, tp.addr.Addr(), tor.wireIH, 40, allowedFastSetSize)
				allowed = set[0]
				for other = 0; slices.Contains(set, other); other++ {
				}
				// Not interested, so never unchoked.
				h.feed(tp, wire.AppendRequest(nil, other, 0, 16384))
				h.feed(tp, wire.AppendRequest(nil, allowed, 0, 16384))
			})
			time.Sleep(20 * time.Millisecond) // a wrongly queued read would land now
			h.do(func() { out = tp.fc.take() })
			if fast {
				// The piece outside the allowed-fast set is rejected; the one
				// inside it is served although the peer is choked (BEP 6).
				if len(out) != 2 || out[0].ID != wire.Reject || out[0].Index != other || out[0].Begin != 0 || out[0].Length != 16384 ||
					out[1].ID != wire.Piece || out[1].Index != allowed {
					t.Fatalf("sent %v, want reject(%d, 0, 16384) then piece %d", ids(out), other, allowed)
				}
			} else if len(out) != 0 {
				t.Fatalf("sent %v to a choked peer without fast, want nothing", ids(out))
			}
			if tp.fc.closed {
				t.Fatalf("closed: %v", tp.fc.closeErr)
			}
		})
	}
}

func TestSeedCancelBeforeServing(t *testing.T) {
	h := newHarness(t, Settings{})
	tf := makeTorrent(t, seedSize, seedPieceLen)
	tor := h.seed(tf)
	var tp *tpeer
	h.do(func() {
		tp = h.handshaken(tor, 1, simple(wire.HaveNone), simple(wire.Interested))
		tp.fc.writable = false // hold the queue
		h.feed(tp, join(
			wire.AppendRequest(nil, 0, 0, 16384),
			wire.AppendRequest(nil, 0, 16384, 16384),
			wire.AppendRequest(nil, 3, 0, 16384),
			wire.AppendCancel(nil, 0, 16384, 16384),
			wire.AppendCancel(nil, 3, 0, 100), // matches nothing
		))
		if got := only(tp.fc.take(), wire.Piece); len(got) != 0 {
			fatalf("served %d blocks while not writable", len(got))
		}
		tp.fc.writable = true
		tp.writable()
	})
	var pieces []wire.Message
	h.waitFor("the pieces", func() bool {
		pieces = append(pieces, only(tp.fc.take(), wire.Piece)...)
		return len(pieces) >= 2
	})
	time.Sleep(10 * time.Millisecond)
	h.do(func() { pieces = append(pieces, only(tp.fc.take(), wire.Piece)...) })
	var got [][2]uint32
	for _, m := range pieces {
		got = append(got, [2]uint32{m.Index, m.Begin})
	}
	if want := [][2]uint32{{0, 0}, {3, 0}}; !slices.Equal(got, want) {
		t.Fatalf("served %v, want %v (the cancelled block skipped)", got, want)
	}
}

// TestMalformedFrame: a framing or protocol error closes the offending peer
// with an alert, and another peer of the same torrent carries on.
func TestMalformedFrame(t *testing.T) {
	frame := func(length uint32, body ...byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, length), body...)
	}
	tests := []struct {
		name    string
		fast    bool
		b       []byte
		msgErr  wire.ErrorKind    // a *wire.MessageError of this kind, or 0 for a *ProtocolError
		partial bool              // the error is visible before the whole frame
		kind    ProtocolErrorKind // the *ProtocolError's kind, if one is expected
	}{
		{"oversized length prefix", true, frame(1 << 24), wire.ErrTooLong, true, 0},
		{"have with a bad fixed length", true, frame(4, byte(wire.Have), 0, 0, 0), wire.ErrBadLength, false, 0},
		{"request with a bad fixed length", true, frame(12, byte(wire.Request), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), wire.ErrBadLength, false, 0},
		{"unknown message id", true, frame(1, 99), 0, false, ErrUnknownMessage},
		{"extended id never advertised", true, wire.AppendExtended(nil, 3, []byte("de")), 0, false, ErrUnclaimedExtension},
		{"have for a piece out of range", true, wire.AppendHave(nil, 5), 0, false, ErrPieceIndex},
		{"have all without fast", false, simple(wire.HaveAll), 0, false, ErrNeedFast},
		{"reject without fast", false, wire.AppendReject(nil, 0, 0, 16384), 0, false, ErrNeedFast},
		{"bitfield of the wrong size", true, wire.AppendBitfield(nil, []byte{0xff, 0}), 0, false, 0},
		{"bad extension handshake", true, wire.AppendExtended(nil, 0, []byte("not bencode")), 0, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Settings{})
			tf := makeTorrent(t, seedSize, seedPieceLen)
			tor := h.seed(tf)
			var bad, good *tpeer
			h.do(func() {
				good = h.handshaken(tor, 1, simple(wire.HaveNone), simple(wire.Interested))
				bad = h.connect(tor, false)
				h.feed(bad, handshake(tor, peerID(2), tc.fast, true))
				bad.fc.take()
				b := wire.AppendKeepAlive(nil)
				if !tc.fast {
					b = wire.AppendBitfield(b, []byte{0})
				}
				b = append(b, tc.b...)
				if n := h.feed(bad, b); n != len(b) {
					fatalf("consumed %d of %d bytes of a bad stream", n, len(b))
				}
			})
			if r := bad.fc.closeReason(); r != ReasonProtocol {
				t.Fatalf("bad peer closed with %v, want a protocol error", bad.fc.closeErr)
			}
			errs := alertsOf[*plugin.PeerErrorAlert](h.alerts)
			if len(errs) != 1 || errs[0].Addr != bad.addr {
				t.Fatalf("PeerErrorAlerts %v, want one for %v", errs, bad.addr)
			}
			var me *wire.MessageError
			var pe *ProtocolError
			if tc.msgErr != 0 && (!errors.As(errs[0].Err, &me) || me.Kind != tc.msgErr) {
				t.Fatalf("error %v, want a wire %v", errs[0].Err, tc.msgErr)
			}
			var fe *bitfield.FormatError
			if tc.msgErr == 0 && !errors.As(errs[0].Err, &pe) && !errors.As(errs[0].Err, &fe) &&
				!errors.Is(errs[0].Err, wire.ErrBadExtHandshake) {
				t.Fatalf("error %T %v, want a typed protocol error", errs[0].Err, errs[0].Err)
			}
			if tc.kind != 0 {
				// Matchable by kind, and by no other kind.
				if !errors.As(errs[0].Err, &pe) || pe.Kind != tc.kind || !errors.Is(errs[0].Err, tc.kind) ||
					errors.Is(errs[0].Err, tc.kind%ErrWrongInfoHash+1) {
					t.Fatalf("error %v, want a *ProtocolError matching %v alone", errs[0].Err, tc.kind)
				}
			}
			var de *DisconnectError
			if !errors.As(bad.fc.closeErr, &de) || !errors.Is(de, errs[0].Err) {
				t.Fatalf("close error %v does not wrap the alert's %v", bad.fc.closeErr, errs[0].Err)
			}
			if tc.partial {
				// The prefix alone is enough to refuse the frame.
				h2 := newHarness(t, Settings{})
				tor2 := h2.seed(tf)
				h2.do(func() {
					p := h2.handshaken(tor2, 3)
					h2.feed(p, tc.b[:4])
					if !p.fc.closed {
						fatalf("an oversized prefix alone did not close the peer")
					}
				})
			}
			// The other peer is unaffected.
			h.do(func() {
				if !good.active() || good.fc.closed || !slices.Contains(tor.peers, good.peer) || slices.Contains(tor.peers, bad.peer) {
					fatalf("good peer active %v closed %v", good.active(), good.fc.closed)
				}
				h.feed(good, wire.AppendRequest(nil, 0, 0, 16384))
			})
			h.waitFor("the good peer's block", func() bool { return len(only(good.fc.take(), wire.Piece)) == 1 })
		})
	}
}

func TestTimeouts(t *testing.T) {
	set := Settings{
		HandshakeTimeout:  5 * time.Second,
		InactivityTimeout: 30 * time.Second,
		KeepAliveInterval: time.Hour,
	}
	t.Run("handshake", func(t *testing.T) {
		h := newHarness(t, set)
		tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
		var tp *tpeer
		h.do(func() {
			tp = h.connect(tor, true)
			h.feed(tp, handshake(tor, peerID(1), true, true)[:50]) // not enough
		})
		h.tick(5 * time.Second)
		if tp.fc.closed {
			t.Fatalf("closed at the timeout, before it passed: %v", tp.fc.closeErr)
		}
		h.tick(time.Second)
		if r := tp.fc.closeReason(); r != ReasonTimeout || !errors.Is(tp.fc.closeErr, errHandshakeTimeout) {
			t.Fatalf("closed with %v, want a handshake timeout", tp.fc.closeErr)
		}
		h.do(func() {
			if len(tor.peers) != 0 || h.s.conns.Load() != 0 {
				fatalf("%d peers, %d conns counted after the timeout", len(tor.peers), h.s.conns.Load())
			}
		})
	})
	t.Run("inactivity", func(t *testing.T) {
		h := newHarness(t, set)
		tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
		var tp *tpeer
		h.do(func() { tp = h.handshaken(tor, 1, simple(wire.HaveNone)) })
		h.tick(20 * time.Second)
		h.do(func() { h.feed(tp, wire.AppendKeepAlive(nil)) }) // resets the timer
		h.tick(20 * time.Second)
		h.tick(10 * time.Second)
		if tp.fc.closed {
			t.Fatalf("closed %v after data within the timeout: %v", 30*time.Second, tp.fc.closeErr)
		}
		h.tick(time.Second)
		if r := tp.fc.closeReason(); r != ReasonTimeout || !errors.Is(tp.fc.closeErr, errInactive) {
			t.Fatalf("closed with %v, want an inactivity timeout", tp.fc.closeErr)
		}
		d := alertsOf[*plugin.PeerDisconnectedAlert](h.alerts)
		var de *DisconnectError
		if len(d) != 1 || !errors.As(d[0].Reason, &de) || de.Reason != ReasonTimeout {
			t.Fatalf("PeerDisconnectedAlerts %v, want one with reason timeout", d)
		}
	})
	t.Run("keep-alive", func(t *testing.T) {
		h := newHarness(t, Settings{KeepAliveInterval: 10 * time.Second, InactivityTimeout: time.Hour})
		tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
		var tp *tpeer
		h.do(func() { tp = h.handshaken(tor, 1, simple(wire.HaveNone)) })
		h.tick(10 * time.Second)
		h.tick(time.Second)
		var out []wire.Message
		h.do(func() { out = tp.fc.take() })
		if len(out) != 1 || !out[0].KeepAlive {
			t.Fatalf("sent %v after %v of silence, want one keep-alive", out, 11*time.Second)
		}
	})
}

func TestConnectionLimits(t *testing.T) {
	h := newHarness(t, Settings{MaxConnsPerTorrent: 2, MaxConns: 3})
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	var first *tpeer
	h.do(func() {
		if !tor.acceptsConnection() {
			fatalf("refuses a first connection")
		}
		first = h.connect(tor, false)
		h.connect(tor, false)
		if tor.acceptsConnection() {
			fatalf("accepts a third connection with MaxConnsPerTorrent 2")
		}
		// The session counter: 2 held, room for one more.
		if !h.s.reserveConn() {
			fatalf("refused the third session connection of 3")
		}
		if h.s.reserveConn() {
			fatalf("reserved a fourth session connection of 3")
		}
		if n := h.s.conns.Load(); n != 3 {
			fatalf("conns %d after a refused reservation, want 3", n)
		}
		h.s.conns.Add(-1)
		first.disconnect(ReasonLimit, nil)
	})
	h.do(func() {
		if !tor.acceptsConnection() || h.s.conns.Load() != 1 {
			fatalf("after a close: accepts %v, conns %d", tor.acceptsConnection(), h.s.conns.Load())
		}
		h.connect(tor, false)
	})

	// AdoptIncoming closes the fd of a connection it refuses.
	for _, tc := range []struct {
		name string
		ih   [20]byte
		want error
	}{
		{"torrent at its limit", tor.wireIH, ErrConnLimit},
		{"unknown torrent", [20]byte{1}, ErrUnknownTorrent},
	} {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got error
		h.do(func() { got = h.s.AdoptIncoming(fds[0], nil, tc.ih, first.addr) })
		if !errors.Is(got, tc.want) {
			t.Errorf("%s: AdoptIncoming = %v, want %v", tc.name, got, tc.want)
		}
		if _, err := unix.FcntlInt(uintptr(fds[0]), unix.F_GETFD, 0); err != unix.EBADF {
			t.Errorf("%s: the refused fd is still open", tc.name)
			unix.Close(fds[0])
		}
		unix.Close(fds[1])
	}
	h.do(func() {
		if n := h.s.conns.Load(); n != 2 || len(tor.peers) != 2 {
			fatalf("after refusals: conns %d, peers %d, want 2 and 2", n, len(tor.peers))
		}
	})
}

// TestDuplicatePeerID: two connections with one peer id keep the one dialled
// by the side with the lower id (here the remote's, "-LT" < "-ST"), so both
// ends drop the same one.
func TestDuplicatePeerID(t *testing.T) {
	if bytes.Compare(remoteID[:], selfID[:]) >= 0 {
		t.Fatal("the test assumes the remote id sorts first")
	}
	for _, tc := range []struct {
		name                  string
		firstOut, secondOut   bool
		dropFirst, dropSecond bool
	}{
		{"their dial arrives second", true, false, true, false},
		{"our dial completes second", false, true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Settings{})
			tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
			var first, second *tpeer
			h.do(func() {
				first = h.connect(tor, tc.firstOut)
				h.feed(first, handshake(tor, peerID(1), true, false))
				second = h.connect(tor, tc.secondOut)
				h.feed(second, handshake(tor, peerID(1), true, false))
			})
			if first.fc.closed != tc.dropFirst || second.fc.closed != tc.dropSecond {
				t.Fatalf("closed: first %v (%v), second %v (%v)", first.fc.closed, first.fc.closeErr, second.fc.closed, second.fc.closeErr)
			}
			for _, p := range []*tpeer{first, second} {
				if p.fc.closed && p.fc.closeReason() != ReasonDuplicate {
					t.Fatalf("closed with %v, want duplicate", p.fc.closeErr)
				}
			}
		})
	}
}

// TestRequestPipelineHonoursReqq: a peer's advertised "reqq" bounds our
// pipeline to it from the first request on.
func TestRequestPipelineHonoursReqq(t *testing.T) {
	h := newHarness(t, Settings{})
	tor := h.leech(makeTorrent(t, dlSize, dlPieceLen))
	ext := wire.ExtHandshake{Reqq: 10, V: "small/1"}
	payload, err := ext.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	h.do(func() {
		p := h.handshaken(tor, 1, wire.AppendExtended(nil, 0, payload), simple(wire.HaveAll))
		h.feed(p, simple(wire.Unchoke))
		if p.reqq != 10 {
			fatalf("reqq %d, want 10", p.reqq)
		}
		n = len(requestsOf(p.fc.take()))
	})
	if n > 10 {
		// Regression: the peer's reqq caps the pipeline from the first request.
		t.Fatalf("sent %d requests to a peer that advertised reqq 10", n)
	}
}
