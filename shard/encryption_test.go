package shard

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

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

// dialMSE opens an outgoing connection to a candidate under policy and
// level, as connectMore would. Loop only.
func (h *harness) dialMSE(tor *Torrent, pol EncPolicy, lvl EncLevel) (*tpeer, *cipherFake) {
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
				errs := alertsOf[*plugin.PeerErrorAlert](h.alerts)
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
					now = !h.clock.now.Before(tp.cand.nextTry)
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
