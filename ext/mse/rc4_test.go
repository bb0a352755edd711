package mse

import (
	"bytes"
	"crypto/rc4"
	"math/rand/v2"
	"testing"
)

// TestStreamMatchesCryptoRC4 checks our keystream against crypto/rc4 on
// random keys and random inputs split at random points, so the position
// carries across calls and both the 8-byte loop and the tail are covered.
func TestStreamMatchesCryptoRC4(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 500 {
		key := make([]byte, 1+r.IntN(256))
		for k := range key {
			key[k] = byte(r.Uint32())
		}
		src := make([]byte, r.IntN(5000))
		for k := range src {
			src[k] = byte(r.Uint32())
		}
		ref, err := rc4.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]byte, len(src))
		ref.XORKeyStream(want, src)

		var s Stream
		s.Reset(key)
		got := bytes.Clone(src)
		for rest := got; len(rest) > 0; {
			n := min(len(rest), r.IntN(40))
			if r.IntN(4) == 0 {
				n = min(len(rest), r.IntN(3000))
			}
			s.XORKeyStream(rest[:n], rest[:n]) // in place
			rest = rest[n:]
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("iter %d: keystream differs from crypto/rc4 (key %d bytes, %d bytes)", iter, len(key), len(src))
		}
	}
}

// TestStreamSeparateDst covers dst != src.
func TestStreamSeparateDst(t *testing.T) {
	key := []byte("Key")
	src := []byte("Plaintext and a little more than eight bytes")
	ref, _ := rc4.NewCipher(key)
	want := make([]byte, len(src))
	ref.XORKeyStream(want, src)
	var s Stream
	s.Reset(key)
	got := make([]byte, len(src)+5)
	s.XORKeyStream(got, src)
	if !bytes.Equal(got[:len(src)], want) {
		t.Fatal("dst != src output differs")
	}
	// Known answer (RC4 test vector "Key"/"Plaintext").
	s.Reset(key)
	pt := []byte("Plaintext")
	s.XORKeyStream(pt, pt)
	if want := []byte{0xBB, 0xF3, 0x16, 0xE8, 0xD9, 0x40, 0xAF, 0x0A, 0xD3}; !bytes.Equal(pt, want) {
		t.Fatalf("known answer: got %x want %x", pt, want)
	}
}

// TestRC4PluginDiscardsAndPairs checks the plugin keys with the 1024-byte
// drop, and that one side's Encrypt is the other side's Decrypt across
// vectors of any size.
func TestRC4PluginDiscardsAndPairs(t *testing.T) {
	keyA, keyB := bytes.Repeat([]byte{1}, 20), bytes.Repeat([]byte{2}, 20)
	var a, b RC4
	a.SetOutgoingKey(keyA)
	a.SetIncomingKey(keyB)
	b.SetOutgoingKey(keyB)
	b.SetIncomingKey(keyA)

	ref, _ := rc4.NewCipher(keyA)
	skip := make([]byte, DiscardBytes)
	ref.XORKeyStream(skip, skip)

	r := rand.New(rand.NewPCG(3, 4))
	for range 100 {
		msg := make([]byte, r.IntN(3000))
		for k := range msg {
			msg[k] = byte(r.Uint32())
		}
		want := make([]byte, len(msg))
		ref.XORKeyStream(want, msg)
		buf := bytes.Clone(msg)
		var vecs [][]byte
		for rest := buf; len(rest) > 0; {
			n := min(len(rest), r.IntN(700))
			vecs = append(vecs, rest[:n])
			rest = rest[n:]
		}
		a.Encrypt(vecs)
		if !bytes.Equal(buf, want) {
			t.Fatal("Encrypt is not RC4-drop1024 with the outgoing key")
		}
		c, p, ps := b.Decrypt(vecs)
		if c != 0 || p != len(msg) || ps != 0 {
			t.Fatalf("Decrypt = (%d, %d, %d), want (0, %d, 0)", c, p, ps, len(msg))
		}
		if !bytes.Equal(buf, msg) {
			t.Fatal("Decrypt did not invert Encrypt")
		}
	}
}

func TestRC4UnkeyedPanics(t *testing.T) {
	defer func() {
		if recover() != errNoKey {
			t.Fatal("want errNoKey panic")
		}
	}()
	var c RC4
	c.Encrypt([][]byte{{1}})
}

func TestRC4NoAllocs(t *testing.T) {
	var c RC4
	c.SetOutgoingKey([]byte("k"))
	c.SetIncomingKey([]byte("k"))
	buf := make([]byte, 4096)
	vecs := [][]byte{buf[:1000], buf[1000:]}
	if n := testing.AllocsPerRun(100, func() {
		c.Encrypt(vecs)
		c.Decrypt(vecs)
	}); n != 0 {
		t.Fatalf("%v allocs per Encrypt+Decrypt", n)
	}
}

const benchSize = 16 << 10

func BenchmarkRC4(b *testing.B) {
	key := bytes.Repeat([]byte{7}, 20)
	buf := make([]byte, benchSize)
	b.Run("ours", func(b *testing.B) {
		var s Stream
		s.Reset(key)
		b.SetBytes(benchSize)
		b.ReportAllocs()
		for b.Loop() {
			s.XORKeyStream(buf, buf)
		}
	})
	b.Run("crypto_rc4", func(b *testing.B) {
		c, _ := rc4.NewCipher(key)
		b.SetBytes(benchSize)
		b.ReportAllocs()
		for b.Loop() {
			c.XORKeyStream(buf, buf)
		}
	})
}
