package shard

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/ext/mse"
	"github.com/shardtorrent/shardtorrent/loop"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// Outgoing MSE without sockets: the test plays the receiver with
// mse.Receiver against a peer on a fake connection that records the cipher
// switches (the loop's side of them is tested in loop/crypto_test.go and,
// end to end, in the root package's encryption tests).

// cipherFake is a fakeConn that accepts cipher switches.
type cipherFake struct {
	*fakeConn
	send   loop.SendCipher
	recv   loop.RecvCipher
	sendAt int // len(out) when the send cipher was set
}

func (c *cipherFake) SetSendCipher(s loop.SendCipher) { c.send, c.sendAt = s, len(c.out) }
func (c *cipherFake) SetRecvCipher(r loop.RecvCipher) { c.recv = r }

// CanWriteFile and WriteFile refuse once a send cipher is set, as loop.Conn does.
func (c *cipherFake) CanWriteFile() bool { return c.send == nil && c.fakeConn.CanWriteFile() }

func (c *cipherFake) WriteFile(fd int, off int64, n int, ref loop.FileRef) bool {
	return c.CanWriteFile() && c.fakeConn.WriteFile(fd, off, n, ref)
}

// mseHandshaker is ext/mse's Initiator as Config.NewHandshaker, as the
// root package wires it (newMSEHandshaker there): the shard itself never
// imports ext/mse, only its tests do.
func mseHandshaker(ih [20]byte, lvl EncLevel, r io.Reader, payload []byte) (Handshaker, error) {
	methods := map[EncLevel]mse.CryptoMethod{
		EncLevelBoth: mse.MethodBoth, EncLevelPlaintext: mse.MethodPlaintext, EncLevelRC4: mse.MethodRC4,
	}
	init, err := mse.NewInitiator(ih, methods[lvl], r, payload)
	if err != nil {
		return nil, err
	}
	return testInitiator{init}, nil
}

type testInitiator struct{ *mse.Initiator }

func (i testInitiator) Cipher() StreamCipher {
	if c := i.Result().Cipher; c != nil {
		return c
	}
	return nil
}

// dialMSE opens an outgoing connection to a candidate under policy and
// level, as connectMore would, with ext/mse's handshake wired in. Loop only.
func (h *harness) dialMSE(tor *Torrent, pol EncPolicy, lvl EncLevel) (*tpeer, *cipherFake) {
	h.s.newHandshaker = mseHandshaker
	return h.dialEnc(tor, pol, lvl)
}

// dialEnc is dialMSE with the shard's Config.NewHandshaker as it is. Loop
// only.
func (h *harness) dialEnc(tor *Torrent, pol EncPolicy, lvl EncLevel) (*tpeer, *cipherFake) {
	h.s.set.OutEncPolicy, h.s.set.AllowedEncLevel = pol, lvl
	if !h.s.reserveConn() {
		fatalf("connection limit")
	}
	h.nextIP++
	addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, 0, byte(h.nextIP)}), 6881)
	cand := &candidate{addr: addr, connected: true}
	tor.cands[addr] = cand
	cf := &cipherFake{fakeConn: &fakeConn{pool: h.pool, writable: true}}
	tp := &tpeer{peer: tor.newPeer(addr, true), fc: cf.fakeConn}
	tp.cand = cand
	h.peers = append(h.peers, tp)
	tp.open(cf)
	return tp, cf
}

// receiverFor is the remote end: an mse.Receiver serving tor.
func receiverFor(t *testing.T, tor *Torrent, allowed mse.CryptoMethod) *mse.Receiver {
	ih := tor.wireIH
	want := mse.SKeyHash(ih)
	r, err := mse.NewReceiver(func(h [20]byte) ([20]byte, bool) { return ih, h == want }, allowed, rand.NewChaCha8([32]byte{3}))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// converse runs the handshake between the peer and r until r is done, and
// returns what the peer consumed of r's last message plus extra.
func (h *harness) converse(tp *tpeer, r *mse.Receiver, extra []byte) int {
	n := 0
	for i := 0; i < 4 && !r.Done(); i++ {
		var out []byte
		h.do(func() { out, tp.fc.out = tp.fc.out, nil })
		if _, err := r.Step(out); err != nil {
			h.t.Fatalf("receiver: %v", err)
		}
		msg := r.Output()
		if r.Done() {
			msg = append(msg, extra...)
		}
		h.do(func() { n = h.feed(tp, msg) })
		if r.Done() {
			return n - (len(msg) - len(extra))
		}
	}
	h.t.Fatal("handshake did not finish")
	return 0
}

func TestOutgoingMSE(t *testing.T) {
	f := makeTorrent(t, 256<<10, 64<<10)
	t.Run("rc4", func(t *testing.T) {
		h := newHarness(t, Settings{})
		tor := h.leech(f)
		var tp *tpeer
		var cf *cipherFake
		h.do(func() { tp, cf = h.dialMSE(tor, EncForced, EncLevelBoth) })
		if len(cf.out) < 96 || bytes.HasPrefix(cf.out, []byte("\x13BitTorrent")) {
			t.Fatalf("opened with %d bytes %q, want Ya and PadA", len(cf.out), cf.out[:min(20, len(cf.out))])
		}
		r := receiverFor(t, tor, mse.MethodBoth)
		// Ciphertext past the handshake is not consumed: the loop decrypts
		// it with the new cipher and presents it again.
		if rest := h.converse(tp, r, []byte("ciphertext")); rest != 0 {
			t.Fatalf("the peer consumed %d bytes past the handshake", rest)
		}
		res := r.Result()
		if res.Method != mse.MethodRC4 || res.Cipher == nil {
			t.Fatalf("negotiated %v", res.Method)
		}
		var hs [wire.HandshakeLen]byte
		if !bytes.Equal(res.InitialPayload, tp.appendHandshake(hs[:0])) {
			t.Fatal("initial payload is not our BitTorrent handshake")
		}
		ours, ok := cf.recv.(*mse.RC4)
		if sent, _ := cf.send.(*mse.RC4); !ok || sent != ours {
			t.Fatalf("ciphers after the handshake: send %T recv %T", cf.send, cf.recv)
		}
		if cf.sendAt != 0 || len(cf.out) != 0 {
			t.Fatalf("bytes queued before the send switch: %d", len(cf.out))
		}
		// Keyed as the receiver's mirror image, both ways.
		msg := []byte("a block of payload")
		buf := bytes.Clone(msg)
		res.Cipher.Encrypt([][]byte{buf})
		ours.Decrypt([][]byte{buf})
		ours.Encrypt([][]byte{buf})
		res.Cipher.Decrypt([][]byte{buf})
		if !bytes.Equal(buf, msg) {
			t.Fatal("the two sides' RC4 keys do not pair")
		}
		// The stream continues (decrypted by the loop) with their handshake.
		h.do(func() { h.feed(tp, handshake(tor, peerID(1), true, true)) })
		if !tp.active() {
			t.Fatal("not active after the BitTorrent handshake")
		}
		wantMetrics(t, "after an RC4 handshake", h.snap(), map[Metric]uint64{
			MetricMSEOutgoingRC4: 1, MetricMSEOutgoingPlaintext: 0, MetricHandshakeMSE: 0, MetricPeersEncrypted: 1,
		})
	})
	t.Run("plaintext_method", func(t *testing.T) {
		h := newHarness(t, Settings{})
		tor := h.leech(f)
		var tp *tpeer
		var cf *cipherFake
		h.do(func() { tp, cf = h.dialMSE(tor, EncEnabled, EncLevelBoth) })
		r := receiverFor(t, tor, mse.MethodPlaintext)
		// Their plaintext handshake arrives in the same read as the last
		// MSE message: parsed at once, no cipher.
		if rest := h.converse(tp, r, handshake(tor, peerID(2), true, true)); rest != wire.HandshakeLen {
			t.Fatalf("consumed %d bytes of the handshake after MSE", rest)
		}
		if cf.send != nil || cf.recv != nil {
			t.Fatal("a cipher was set for MethodPlaintext")
		}
		if !tp.active() {
			t.Fatal("not active")
		}
		wantMetrics(t, "after a plaintext-method handshake", h.snap(), map[Metric]uint64{
			MetricMSEOutgoingRC4: 0, MetricMSEOutgoingPlaintext: 1, MetricPeersEncrypted: 0,
		})
	})
	t.Run("failures", func(t *testing.T) {
		cases := []struct {
			name      string
			pol       EncPolicy
			fail      func(h *harness, tp *tpeer)
			cause     error
			plainNext bool // the candidate is redialled in plaintext, now
		}{
			{"garbage_enabled", EncEnabled, func(h *harness, tp *tpeer) {
				h.do(func() { h.feed(tp, bytes.Repeat([]byte{7}, 96+mse.MaxPad+8)) })
			}, mse.ErrSyncNotFound, true},
			{"eof_enabled", EncEnabled, func(h *harness, tp *tpeer) {
				h.do(func() { tp.fc.Close(io.EOF) })
			}, io.EOF, true},
			{"eof_forced", EncForced, func(h *harness, tp *tpeer) {
				h.do(func() { tp.fc.Close(io.EOF) })
			}, io.EOF, false},
			{"timeout_forced", EncForced, func(h *harness, tp *tpeer) {
				h.tick(11 * time.Second)
			}, ErrEncryptionTimeout, false},
			{"shutdown_is_not_a_failure", EncEnabled, func(h *harness, tp *tpeer) {
				h.do(func() { tp.disconnect(ReasonShutdown, nil) })
			}, nil, false},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				h := newHarness(t, Settings{})
				tor := h.leech(f)
				var tp *tpeer
				h.do(func() { tp, _ = h.dialMSE(tor, tc.pol, EncLevelBoth) })
				tc.fail(h, tp)
				if !tp.fc.delivered {
					t.Fatal("connection not closed")
				}
				// One failed MSE handshake each (a timeout counts as
				// the MSE handshake's failure, not as a plain timeout).
				wantFail := uint64(1)
				if tc.cause == nil {
					wantFail = 0
				}
				wantMetrics(t, tc.name, h.snap(), map[Metric]uint64{MetricHandshakeMSE: wantFail, MetricHandshakeTimeout: 0})
				errs := alertsOf[*plugin.PeerErrorAlert](h.alerts)
				if tc.cause == nil {
					if len(errs) != 0 || tp.cand.plainOnly {
						t.Fatalf("alerts %v, plaintext retry %v after our own disconnect", errs, tp.cand.plainOnly)
					}
					return
				}
				if len(errs) != 1 || !errors.Is(errs[0].Err, ErrEncryptionHandshake) || !errors.Is(errs[0].Err, tc.cause) {
					t.Fatalf("alerts %v, want one EncryptionError(%v)", errs, tc.cause)
				}
				var ee *EncryptionError
				if !errors.As(errs[0].Err, &ee) || ee.Op != plugin.OpEncryption {
					t.Fatalf("%v is not an EncryptionError with OpEncryption", errs[0].Err)
				}
				var plain, now bool
				h.do(func() {
					plain = tp.cand.plainOnly
					at, ok := tp.cand.readyAt(tor.dialPolicy())
					now = ok && !h.clock.now.Before(at)
					if plain && tp.wantMSE() {
						fatalf("a plaintext-only candidate would start MSE again")
					}
				})
				if plain != tc.plainNext || (tc.plainNext && !now) {
					t.Fatalf("plaintext retry %v (now %v), want %v", plain, now, tc.plainNext)
				}
			})
		}
	})
}

// TestOutgoingWithoutHandshaker: a shard given no Config.NewHandshaker
// connects in plaintext under EncEnabled, and under EncForced fails the
// connection at once with ErrEncryptionUnavailable instead of falling back
// to plaintext.
func TestOutgoingWithoutHandshaker(t *testing.T) {
	f := makeTorrent(t, 256<<10, 64<<10)
	t.Run("enabled_is_plaintext", func(t *testing.T) {
		h := newHarness(t, Settings{})
		tor := h.leech(f)
		var tp *tpeer
		var cf *cipherFake
		var out []byte
		h.do(func() {
			tp, cf = h.dialEnc(tor, EncEnabled, EncLevelBoth)
			out = append(out, cf.out...)
		})
		var hs [wire.HandshakeLen]byte
		if !bytes.Equal(out, tp.appendHandshake(hs[:0])) {
			t.Fatalf("opened with %d bytes %q, want our plaintext handshake", len(out), out[:min(20, len(out))])
		}
		if errs := alertsOf[*plugin.PeerErrorAlert](h.alerts); len(errs) != 0 || tp.fc.closed {
			t.Fatalf("alerts %v, closed %v", errs, tp.fc.closed)
		}
	})
	t.Run("forced_fails", func(t *testing.T) {
		h := newHarness(t, Settings{})
		tor := h.leech(f)
		var tp *tpeer
		var cf *cipherFake
		h.do(func() { tp, cf = h.dialEnc(tor, EncForced, EncLevelBoth) })
		if !tp.fc.delivered || len(cf.out) != 0 {
			t.Fatalf("closed %v after sending %d bytes, want closed before sending", tp.fc.delivered, len(cf.out))
		}
		errs := alertsOf[*plugin.PeerErrorAlert](h.alerts)
		if len(errs) != 1 || !errors.Is(errs[0].Err, ErrEncryptionHandshake) || !errors.Is(errs[0].Err, ErrEncryptionUnavailable) {
			t.Fatalf("alerts %v, want one EncryptionError(ErrEncryptionUnavailable)", errs)
		}
		if tp.cand.plainOnly {
			t.Fatal("a forced connection was marked for a plaintext retry")
		}
	})
}

// rc4Pair returns the two ends of one RC4 session: ours (as a receiver of
// MSE) and theirs (the initiator).
func rc4Pair() (ours, theirs *mse.RC4) {
	a, b := []byte("keyA for the test"), []byte("keyB for the test")
	ours, theirs = new(mse.RC4), new(mse.RC4)
	ours.SetOutgoingKey(b)
	ours.SetIncomingKey(a)
	theirs.SetOutgoingKey(a)
	theirs.SetIncomingKey(b)
	return ours, theirs
}

// wireFake is a cipherFake that applies the send cipher as the loop does:
// Write's bytes are copied and encrypted, a WriteSpan block is encrypted in
// its own span, which the queue must hold alone (else the loop would copy).
type wireFake struct {
	*cipherFake
	scratch []byte
	vec     [1][]byte
}

func (c *wireFake) Write(b []byte) {
	if c.send == nil {
		c.fakeConn.Write(b)
		return
	}
	c.scratch = append(c.scratch[:0], b...)
	c.vec[0] = c.scratch
	c.send.Encrypt(c.vec[:])
	c.fakeConn.Write(c.scratch)
}

func (c *wireFake) WriteSpan(s *bufpool.Span, b []byte) {
	if c.send != nil {
		if s.Refs() != 1 {
			fatalf("a block span with %d references reached the send queue: the loop would copy it to encrypt", s.Refs())
		}
		c.vec[0] = b
		c.send.Encrypt(c.vec[:])
		c.vec[0] = nil
	}
	c.fakeConn.WriteSpan(s, b)
}

// feedRC4 sends b through theirs, then has the peer's receive cipher
// decrypt it in its receive span, as the loop does, and presents it.
func (h *harness) feedRC4(tp *tpeer, wf *wireFake, theirs *mse.RC4, b []byte) {
	sp := h.pool.Get(len(b))
	buf := sp.Bytes()[:len(b)]
	copy(buf, b)
	wf.vec[0] = buf
	theirs.Encrypt(wf.vec[:])
	wf.recv.Decrypt(wf.vec[:])
	wf.vec[0] = nil
	tp.fc.rx = sp
	tp.data(buf)
	tp.fc.rx = nil
	sp.Release()
}

// TestServeEncryptedBlockAllocs: an incoming RC4 peer (adopted with its
// cipher, as AdoptEncrypted leaves it) is served blocks that are encrypted
// in their own pooled spans, correctly, and allocating nothing per block.
func TestServeEncryptedBlockAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("measures allocations (not under -race, which adds some)")
	}
	h := newHarness(t, Settings{})
	f := makeTorrent(t, seedSize, seedPieceLen)
	tor := h.seed(f)
	ours, theirs := rc4Pair()
	var tp *tpeer
	var wf *wireFake
	req := wire.AppendRequest(nil, 1, wire.BlockSize, wire.BlockSize)
	perBlock := wire.PieceHeaderLen + wire.BlockSize
	h.do(func() {
		if !h.s.reserveConn() {
			fatalf("connection limit")
		}
		addr := netip.MustParseAddrPort("10.2.0.1:6881")
		wf = &wireFake{cipherFake: &cipherFake{fakeConn: &fakeConn{pool: h.pool, writable: true}}}
		tp = &tpeer{peer: tor.newPeer(addr, false), fc: wf.fakeConn}
		tp.mse = &peerMSE{ciph: ours, prelude: []byte("crypto_select")}
		h.peers = append(h.peers, tp)
		tp.open(wf)
		if wf.sendAt != len("crypto_select") || wf.recv == nil {
			fatalf("cipher switched after %d bytes (recv %v), want right after the prelude", wf.sendAt, wf.recv != nil)
		}
		wf.out = wf.out[wf.sendAt:]
		h.feedRC4(tp, wf, theirs, join(handshake(tor, peerID(1), true, true), simple(wire.HaveNone), simple(wire.Interested), req))
	})
	// The opening messages are far shorter than a block: more than a
	// block written means the block went out.
	h.waitFor("the first block", func() bool { return tp.active() && wf.written > perBlock })
	h.do(func() {
		// Decrypt what went out and check it is our handshake, then the
		// block with its header, somewhere after the opening messages.
		out := bytes.Clone(wf.out)
		theirs.Decrypt([][]byte{out})
		var hs [wire.HandshakeLen]byte
		if !bytes.HasPrefix(out, tp.appendHandshake(hs[:0])) {
			fatalf("the first encrypted bytes are not our handshake")
		}
		if !bytes.Contains(out, f.block(1, wire.BlockSize, wire.BlockSize)) {
			fatalf("the served block does not decrypt to the file's bytes")
		}
		wf.discard = true
		wf.written = 0
	})
	var allocs float64
	const runs = 200
	h.do(func() {
		allocs = testing.AllocsPerRun(runs, func() { h.feedRC4(tp, wf, theirs, req) })
		if wf.written != (runs+1)*perBlock {
			fatalf("served %d bytes synchronously, want %d", wf.written, (runs+1)*perBlock)
		}
	})
	t.Logf("allocations per encrypted served block: %v", allocs)
	if allocs > 0 {
		t.Fatalf("%v allocations per encrypted served block, want 0", allocs)
	}
}
