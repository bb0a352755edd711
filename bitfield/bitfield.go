// Package bitfield implements the fixed-length piece bitfield of the
// BitTorrent wire protocol (BEP 3).
//
// Bit i lives in byte i/8 under mask 0x80>>(i%8): the high bit of byte 0 is
// piece 0, exactly as the BITFIELD message carries it, so Bytes can be sent
// without conversion.
//
// A *Bitfield is the only form in use: every method has a pointer receiver.
// A copied Bitfield value would share the bytes but not the cached count, and
// the two would drift apart, so the type is never handled by value.
//
// Threading: a Bitfield is not safe for concurrent use. In shardtorrent each
// one is owned by a single shard's event loop ("loop only"), so it needs no
// locks.
package bitfield

import (
	"errors"
	"fmt"
	"math/bits"
)

// Invariants (checked by (*Bitfield).check in tests):
//   - len(b.bits) == (b.n+7)/8.
//   - The spare bits after bit n-1 in the last byte are zero.
//   - b.count equals the number of set bits.

// Bitfield is a fixed-length set of piece indexes in BEP 3 wire layout.
// The zero value is an empty bitfield of length 0.
type Bitfield struct {
	bits  []byte // wire layout; spare trailing bits always zero
	n     int    // number of valid bits
	count int    // cached popcount of bits
}

// Sentinel causes carried by *FormatError; match with errors.Is.
var (
	// ErrLength means the byte slice is not (n+7)/8 bytes long.
	ErrLength = errors.New("bitfield: wrong length")
	// ErrSpareBits means a bit after the last piece is set; BEP 3 says the
	// peer sending such a bitfield must be dropped.
	ErrSpareBits = errors.New("bitfield: spare bits set")
)

// FormatError reports a malformed wire bitfield. Err is ErrLength or
// ErrSpareBits; Got and Want are byte lengths for ErrLength.
type FormatError struct {
	Err       error
	Got, Want int
}

// Error implements error.
func (e *FormatError) Error() string {
	if e.Err == ErrLength {
		return fmt.Sprintf("%v: got %d bytes, want %d", e.Err, e.Got, e.Want)
	}
	return e.Err.Error()
}

// Unwrap returns the sentinel cause.
func (e *FormatError) Unwrap() error { return e.Err }

// New returns an all-clear bitfield of n bits. It panics if n < 0.
func New(n int) *Bitfield {
	if n < 0 {
		panic("bitfield: negative length")
	}
	return &Bitfield{bits: make([]byte, (n+7)/8), n: n}
}

// FromBytes returns a bitfield of n bits holding a copy of the wire bytes b.
// It fails with a *FormatError if len(b) != (n+7)/8 or if any spare bit past
// bit n-1 is set. n is trusted (it comes from the metainfo); b is not.
func FromBytes(b []byte, n int) (*Bitfield, error) {
	if n < 0 {
		panic("bitfield: negative length")
	}
	want := (n + 7) / 8
	if len(b) != want {
		return nil, &FormatError{Err: ErrLength, Got: len(b), Want: want}
	}
	if n%8 != 0 && b[want-1]&spareMask(n) != 0 {
		return nil, &FormatError{Err: ErrSpareBits}
	}
	f := &Bitfield{bits: make([]byte, want), n: n}
	copy(f.bits, b)
	for _, x := range f.bits {
		f.count += bits.OnesCount8(x)
	}
	return f, nil
}

// spareMask returns the mask of the unused low bits of the last byte of an
// n-bit field (n%8 != 0).
func spareMask(n int) byte { return 0xff >> uint(n%8) }

// Len returns the number of bits.
func (b *Bitfield) Len() int { return b.n }

// Has reports whether bit i is set; out-of-range indexes report false.
func (b *Bitfield) Has(i int) bool {
	if uint(i) >= uint(b.n) {
		return false
	}
	return b.bits[i>>3]&(0x80>>uint(i&7)) != 0
}

// Set sets bit i. It panics if i is out of range.
func (b *Bitfield) Set(i int) {
	b.mustIndex(i)
	m := byte(0x80 >> uint(i&7))
	if b.bits[i>>3]&m == 0 {
		b.bits[i>>3] |= m
		b.count++
	}
}

// Clear clears bit i. It panics if i is out of range.
func (b *Bitfield) Clear(i int) {
	b.mustIndex(i)
	m := byte(0x80 >> uint(i&7))
	if b.bits[i>>3]&m != 0 {
		b.bits[i>>3] &^= m
		b.count--
	}
}

func (b *Bitfield) mustIndex(i int) {
	if uint(i) >= uint(b.n) {
		panic(fmt.Sprintf("bitfield: index %d out of range [0,%d)", i, b.n))
	}
}

// SetAll sets the first Len bits, leaving the spare bits clear.
func (b *Bitfield) SetAll() {
	for i := range b.bits {
		b.bits[i] = 0xff
	}
	if b.n%8 != 0 {
		b.bits[len(b.bits)-1] &^= spareMask(b.n)
	}
	b.count = b.n
}

// ClearAll clears every bit.
func (b *Bitfield) ClearAll() {
	clear(b.bits)
	b.count = 0
}

// Count returns the number of set bits in O(1).
func (b *Bitfield) Count() int { return b.count }

// All reports whether every bit is set (true for a zero-length field).
func (b *Bitfield) All() bool { return b.count == b.n }

// None reports whether no bit is set.
func (b *Bitfield) None() bool { return b.count == 0 }

// Bytes returns the wire bytes. The slice aliases the bitfield's storage: it
// is valid until the next mutation and must not be modified by the caller.
func (b *Bitfield) Bytes() []byte { return b.bits }

// Clone returns an independent copy.
func (b *Bitfield) Clone() *Bitfield {
	c := &Bitfield{bits: make([]byte, len(b.bits)), n: b.n, count: b.count}
	copy(c.bits, b.bits)
	return c
}

// NextSet returns the index of the first set bit at or after from, or -1.
// A negative from is treated as 0.
func (b *Bitfield) NextSet(from int) int {
	if from < 0 {
		from = 0
	}
	if from >= b.n {
		return -1
	}
	i := from >> 3
	// Mask off the bits before from in the first byte.
	x := b.bits[i] & (0xff >> uint(from&7))
	for {
		if x != 0 {
			return i<<3 + bits.LeadingZeros8(x) // spare bits are zero
		}
		i++
		if i >= len(b.bits) {
			return -1
		}
		x = b.bits[i]
	}
}

// NextClear returns the index of the first clear bit at or after from, or -1.
// A negative from is treated as 0.
func (b *Bitfield) NextClear(from int) int {
	if from < 0 {
		from = 0
	}
	if from >= b.n {
		return -1
	}
	i := from >> 3
	x := ^b.bits[i] & (0xff >> uint(from&7))
	for {
		if x != 0 {
			r := i<<3 + bits.LeadingZeros8(x)
			if r >= b.n { // a spare bit
				return -1
			}
			return r
		}
		i++
		if i >= len(b.bits) {
			return -1
		}
		x = ^b.bits[i]
	}
}

// check verifies the invariants listed at the top of this file.
func (b *Bitfield) check() error {
	if len(b.bits) != (b.n+7)/8 {
		return fmt.Errorf("len(bits)=%d, want %d", len(b.bits), (b.n+7)/8)
	}
	if b.n%8 != 0 && b.bits[len(b.bits)-1]&spareMask(b.n) != 0 {
		return errors.New("spare bits set")
	}
	c := 0
	for _, x := range b.bits {
		c += bits.OnesCount8(x)
	}
	if c != b.count {
		return fmt.Errorf("count=%d, popcount=%d", b.count, c)
	}
	return nil
}
