package mse

import (
	"encoding/binary"
	"errors"
)

// DiscardBytes is how many keystream bytes MSE drops after keying each
// direction (the spec's "RC4-drop1024").
const DiscardBytes = 1024

// ErrRC4Key is the panic value of a keying with an empty or over-long key.
var ErrRC4Key = errors.New("mse: RC4 key must be 1 to 256 bytes")

// Stream is one RC4 keystream: a key schedule plus its position. The zero
// value is not usable; key it with Reset.
//
// The state is 256 bytes indexed by uint8, so every table access is in
// bounds by type and the compiler emits no bounds checks (crypto/rc4 keeps a
// [256]uint32 table, four times the cache footprint and a wider load per
// access). Not safe for concurrent use.
type Stream struct {
	s    [256]uint8
	i, j uint8
}

// Reset keys s with key (the RC4 key schedule) and rewinds it to the start
// of the keystream. key must be 1 to 256 bytes long.
func (s *Stream) Reset(key []byte) {
	if len(key) == 0 || len(key) > 256 {
		panic(ErrRC4Key)
	}
	for k := range s.s {
		s.s[k] = uint8(k)
	}
	var j uint8
	for k := range 256 {
		j += s.s[k] + key[k%len(key)]
		s.s[k], s.s[j] = s.s[j], s.s[k]
	}
	s.i, s.j = 0, 0
}

// Discard advances the keystream by n bytes.
func (s *Stream) Discard(n int) {
	var scratch [256]byte
	for n > 0 {
		k := min(n, len(scratch))
		s.XORKeyStream(scratch[:k], scratch[:k])
		n -= k
	}
}

// XORKeyStream sets dst to src XOR the next len(src) keystream bytes. dst
// must be at least as long as src and may be src itself (in place) but must
// not overlap it otherwise.
func (s *Stream) XORKeyStream(dst, src []byte) {
	if len(src) == 0 {
		return
	}
	_ = dst[len(src)-1] // one check here; none in the loops
	dst = dst[:len(src)]
	t := &s.s
	i, j := s.i, s.j
	// Eight bytes per iteration: the keystream is gathered into one word and
	// XORed with one 64-bit load and store, so the loop's memory traffic
	// outside the state table is two accesses per 8 bytes. The per-byte
	// dependency chain (j += t[i]; swap; t[x+y]) is inherent to RC4.
	for len(src) >= 8 && len(dst) >= 8 {
		var ks uint64
		i++
		x := t[i]
		j += x
		y := t[j]
		t[i], t[j] = y, x
		ks = uint64(t[x+y])
		i++
		x = t[i]
		j += x
		y = t[j]
		t[i], t[j] = y, x
		ks |= uint64(t[x+y]) << 8
		i++
		x = t[i]
		j += x
		y = t[j]
		t[i], t[j] = y, x
		ks |= uint64(t[x+y]) << 16
		i++
		x = t[i]
		j += x
		y = t[j]
		t[i], t[j] = y, x
		ks |= uint64(t[x+y]) << 24
		i++
		x = t[i]
		j += x
		y = t[j]
		t[i], t[j] = y, x
		ks |= uint64(t[x+y]) << 32
		i++
		x = t[i]
		j += x
		y = t[j]
		t[i], t[j] = y, x
		ks |= uint64(t[x+y]) << 40
		i++
		x = t[i]
		j += x
		y = t[j]
		t[i], t[j] = y, x
		ks |= uint64(t[x+y]) << 48
		i++
		x = t[i]
		j += x
		y = t[j]
		t[i], t[j] = y, x
		ks |= uint64(t[x+y]) << 56
		binary.LittleEndian.PutUint64(dst, binary.LittleEndian.Uint64(src)^ks)
		src, dst = src[8:], dst[8:]
	}
	for k, b := range src {
		i++
		x := t[i]
		j += x
		y := t[j]
		t[i], t[j] = y, x
		dst[k] = b ^ t[x+y]
	}
	s.i, s.j = i, j
}

// RC4 is MSE's stream encryption as a crypto plugin (plugin.CryptoPlugin,
// and loop.SendCipher and loop.RecvCipher): one keystream per direction,
// each keyed by SetOutgoingKey or SetIncomingKey and advanced past the first
// DiscardBytes bytes. Encrypt and Decrypt rewrite the vectors in place and
// carry the keystream position across calls, so a stream may be split at
// any byte.
//
// Threading: loop only (the loop that owns the connection); Encrypt and
// Decrypt may run on that loop alternately but never concurrently.
type RC4 struct {
	out, in Stream
	// Invariant: outKeyed (inKeyed) is true once out (in) was keyed;
	// Encrypt (Decrypt) panics before, as a missing key is a wiring bug,
	// not a peer's fault.
	outKeyed, inKeyed bool
}

// errNoKey is the panic value of Encrypt or Decrypt on an unkeyed direction.
var errNoKey = errors.New("mse: RC4 direction used before its key was set")

// SetOutgoingKey keys the encrypting direction with key (20 bytes in MSE:
// SHA1("keyA"|S|SKEY) for the initiator, "keyB" for the receiver) and
// discards the first DiscardBytes keystream bytes.
func (c *RC4) SetOutgoingKey(key []byte) {
	c.out.Reset(key)
	c.out.Discard(DiscardBytes)
	c.outKeyed = true
}

// SetIncomingKey keys the decrypting direction, as SetOutgoingKey.
func (c *RC4) SetIncomingKey(key []byte) {
	c.in.Reset(key)
	c.in.Discard(DiscardBytes)
	c.inKeyed = true
}

// Encrypt rewrites every byte of vecs in place with the outgoing keystream.
// vecs is only read during the call.
func (c *RC4) Encrypt(vecs [][]byte) {
	if !c.outKeyed {
		panic(errNoKey)
	}
	for _, v := range vecs {
		c.out.XORKeyStream(v, v)
	}
}

// Decrypt rewrites every byte of vecs in place with the incoming keystream
// and reports them all as plaintext: (0, n, 0), a stream cipher has no
// framing.
func (c *RC4) Decrypt(vecs [][]byte) (consume, produce, packetSize int) {
	if !c.inKeyed {
		panic(errNoKey)
	}
	for _, v := range vecs {
		c.in.XORKeyStream(v, v)
		produce += len(v)
	}
	return 0, produce, 0
}
