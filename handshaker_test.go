package shardtorrent

import (
	"math/rand/v2"
	"testing"

	"github.com/shardtorrent/shardtorrent/ext/mse"
)

// TestMSEMethods: the encryption level maps to the MSE crypto methods the
// session offers and accepts, libtorrent's allowed_enc_level.
func TestMSEMethods(t *testing.T) {
	for _, tc := range []struct {
		l    EncLevel
		want mse.CryptoMethod
	}{
		{EncLevelBoth, mse.MethodBoth},
		{EncLevelPlaintext, mse.MethodPlaintext},
		{EncLevelRC4, mse.MethodRC4},
	} {
		if got := mseMethods(tc.l); got != tc.want {
			t.Errorf("mseMethods(%v) = %v, want %v", tc.l, got, tc.want)
		}
	}
}

// TestMSEHandshakerCipher: the Handshaker the session gives its shards
// reports a nil cipher as an untyped nil (the plaintext method), and the
// RC4 it negotiated otherwise, so the shard's nil test is right.
func TestMSEHandshakerCipher(t *testing.T) {
	for _, tc := range []struct {
		l      EncLevel
		cipher bool
	}{{EncLevelPlaintext, false}, {EncLevelRC4, true}} {
		ih := [20]byte{7}
		init, err := newMSEHandshaker(ih, tc.l, rand.NewChaCha8([32]byte{1}), []byte("payload"))
		if err != nil {
			t.Fatal(err)
		}
		handshakePair(t, init, ih, rand.NewChaCha8([32]byte{2}))
		c := init.Cipher()
		if (c != nil) != tc.cipher {
			t.Fatalf("%v: cipher %T (%v), want one: %v", tc.l, c, c != nil, tc.cipher)
		}
		if _, ok := c.(*mse.RC4); tc.cipher && !ok {
			t.Fatalf("%v: cipher %T, want *mse.RC4", tc.l, c)
		}
	}
}

// handshakePair runs one MSE handshake to the end: init against an
// mse.Receiver drawing from r.
func handshakePair(tb testing.TB, init interface {
	Step([]byte) (int, error)
	Output() []byte
	Done() bool
}, ih [20]byte, r *rand.ChaCha8) {
	rcv, err := mse.NewReceiver(func(h [20]byte) ([20]byte, bool) { return ih, h == mse.SKeyHash(ih) }, mse.MethodBoth, r)
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < 8 && !init.Done(); i++ {
		if _, err := rcv.Step(init.Output()); err != nil {
			tb.Fatalf("receiver: %v", err)
		}
		if _, err := init.Step(rcv.Output()); err != nil {
			tb.Fatalf("initiator: %v", err)
		}
	}
	if !init.Done() {
		tb.Fatal("handshake did not finish")
	}
}

// BenchmarkMSEHandshake: a whole outgoing MSE handshake (both sides' DH,
// RC4 keying) with ext/mse's Initiator called directly, as the shard did
// before it declared shard.Handshaker, and through the Handshaker the
// session now gives it (newMSEHandshaker): the interface costs nothing
// measurable next to the handshake.
func BenchmarkMSEHandshake(b *testing.B) {
	ih := [20]byte{7}
	payload := make([]byte, 68)
	b.Run("direct", func(b *testing.B) {
		r := rand.NewChaCha8([32]byte{1})
		b.ReportAllocs()
		for b.Loop() {
			init, err := mse.NewInitiator(ih, mse.MethodBoth, r, payload)
			if err != nil {
				b.Fatal(err)
			}
			handshakePair(b, init, ih, r)
			if init.Result().Cipher == nil {
				b.Fatal("no cipher")
			}
		}
	})
	b.Run("handshaker", func(b *testing.B) {
		r := rand.NewChaCha8([32]byte{1})
		b.ReportAllocs()
		for b.Loop() {
			init, err := newMSEHandshaker(ih, EncLevelBoth, r, payload)
			if err != nil {
				b.Fatal(err)
			}
			handshakePair(b, init, ih, r)
			if init.Cipher() == nil {
				b.Fatal("no cipher")
			}
		}
	})
}

// TestMSEHandshakerAllocs: wrapping ext/mse's Initiator as the shard's
// Handshaker allocates nothing beyond the Initiator itself (the adapter is
// one pointer, stored in the interface as is).
func TestMSEHandshakerAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are asserted without the race detector (it makes values escape)")
	}
	ih := [20]byte{7}
	payload := make([]byte, 68)
	var r rand.ChaCha8
	direct := testing.AllocsPerRun(100, func() {
		r = *rand.NewChaCha8([32]byte{1})
		if _, err := mse.NewInitiator(ih, mse.MethodBoth, &r, payload); err != nil {
			t.Fatal(err)
		}
	})
	wrapped := testing.AllocsPerRun(100, func() {
		r = *rand.NewChaCha8([32]byte{1})
		if _, err := newMSEHandshaker(ih, EncLevelBoth, &r, payload); err != nil {
			t.Fatal(err)
		}
	})
	if wrapped != direct {
		t.Fatalf("%v allocations through the Handshaker, %v direct", wrapped, direct)
	}
}
