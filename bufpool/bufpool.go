// Package bufpool hands out pooled, reference-counted byte spans.
//
// A span is the unit of ownership for every payload byte that crosses the
// engine: the loop reads peer bytes into a span, the shard hands views of it
// to plugins, the hasher and the disk writer, and the span goes back to its
// pool when the last holder lets go. Nothing is copied to share a block.
//
// Invariants (checked by Release and by the tests):
//   - A span obtained from Get has exactly one reference.
//   - Retain and Release may be called from any goroutine; the count is atomic.
//   - Whoever calls Release gives up the right to touch Bytes; the span may be
//     handed to someone else before Release returns.
//   - Releasing a span whose count is already zero is a bug in the caller and
//     panics with a *MisuseError rather than corrupting the pool: a span in the
//     free list twice would later have two owners writing into it.
//   - Pool.Outstanding counts spans handed out and not yet fully released, so
//     a test can assert that a closed session returned every span.
package bufpool

import (
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
)

// BlockSize is the size of a BitTorrent block (a request's usual length) and
// of the smallest size class.
const BlockSize = 16 << 10

// The size classes are powers of four from BlockSize up: 16 KiB, 64 KiB,
// 256 KiB, 1 MiB and 4 MiB. Powers of four keep the class count small while
// wasting at most 3/4 of a span; larger requests are served unpooled.
const (
	minShift   = 14 // log2(BlockSize)
	numClasses = 5
	// MaxPooled is the largest size served from a pool; larger spans are
	// allocated on demand and dropped to the garbage collector on release.
	MaxPooled = BlockSize << (2 * (numClasses - 1))
)

// Span is a pooled buffer with a reference count.
type Span struct {
	buf   []byte // full capacity of the class
	n     int    // length asked for in Get
	refs  atomic.Int32
	gen   atomic.Uint32 // incremented by every Get, so stale views can be detected
	class int8          // -1 for unpooled spans
	pool  *Pool
}

// Bytes returns the span's bytes, of the length passed to Get. The slice is
// valid until the caller's reference is released.
func (s *Span) Bytes() []byte { return s.buf[:s.n] }

// Full returns the whole capacity of the span's size class, which may be more
// than asked for. Readers use it to fill as much as the class holds.
func (s *Span) Full() []byte { return s.buf }

// Len is the length passed to Get.
func (s *Span) Len() int { return s.n }

// Gen identifies this lease of the span: it changes every time the span is
// handed out again, so a holder of a stale (span, gen) pair can tell.
func (s *Span) Gen() uint32 { return s.gen.Load() }

// Refs reports the current number of references (for assertions and tests).
func (s *Span) Refs() int32 { return s.refs.Load() }

// Retain adds a reference and returns s. Safe from any goroutine, but only by
// a caller that already holds a reference.
func (s *Span) Retain() *Span {
	if s.refs.Add(1) <= 1 {
		panic(&MisuseError{Op: "retain", Refs: 0})
	}
	return s
}

// Release drops a reference; the last one returns the span to its pool.
// Safe from any goroutine.
func (s *Span) Release() {
	r := s.refs.Add(-1)
	switch {
	case r > 0:
		return
	case r < 0:
		panic(&MisuseError{Op: "release", Refs: r + 1})
	}
	p := s.pool
	p.outstanding.Add(-1)
	if s.class < 0 {
		return
	}
	if p.Poison {
		for i := range s.buf {
			s.buf[i] = 0xdb
		}
	}
	p.classes[s.class].Put(s)
}

// MisuseError reports a reference-count bug: a release or retain of a span
// that no one holds.
type MisuseError struct {
	Op   string
	Refs int32
}

func (e *MisuseError) Error() string {
	return fmt.Sprintf("bufpool: %s of a span with %d references (use after release or double release)", e.Op, e.Refs)
}

// Pool is a set of size-classed span pools. The zero value is not usable;
// call New. A Pool is safe for use from any goroutine.
type Pool struct {
	// Poison, when set before use, fills released spans with 0xdb so that a
	// use after release shows up as garbage in tests.
	Poison bool

	classes     [numClasses]sync.Pool
	outstanding atomic.Int64
	gets        atomic.Uint64
}

// New returns an empty pool.
func New() *Pool {
	p := &Pool{}
	for c := range p.classes {
		size := BlockSize << (2 * c)
		p.classes[c].New = func() any {
			return &Span{buf: make([]byte, size), class: int8(c), pool: p}
		}
	}
	return p
}

// Default is the process-wide pool used when a component is not given one.
var Default = New()

// classOf returns the size class for n bytes, or -1 when n is too large.
func classOf(n int) int {
	if n <= BlockSize {
		return 0
	}
	// ceil(log2(n)) - minShift, rounded up to an even number, halved.
	shift := bits.Len(uint(n-1)) - minShift
	c := (shift + 1) / 2
	if c >= numClasses {
		return -1
	}
	return c
}

// Get returns a span of length n with one reference. Its contents are
// whatever the previous holder left (or zeros): callers overwrite it.
func (p *Pool) Get(n int) *Span {
	if n < 0 {
		panic("bufpool: negative length")
	}
	var s *Span
	if c := classOf(n); c >= 0 {
		s = p.classes[c].Get().(*Span)
	} else {
		s = &Span{buf: make([]byte, n), class: -1, pool: p}
	}
	s.n = n
	s.refs.Store(1)
	s.gen.Add(1)
	p.outstanding.Add(1)
	p.gets.Add(1)
	return s
}

// Outstanding reports how many spans are handed out and not yet released.
func (p *Pool) Outstanding() int64 { return p.outstanding.Load() }

// Gets reports how many spans were handed out in total (a cheap counter for
// benchmarks: gets per block shows whether a path pools or allocates).
func (p *Pool) Gets() uint64 { return p.gets.Load() }

// ClassSize returns the capacity of the span Get(n) would return.
func ClassSize(n int) int {
	if c := classOf(n); c >= 0 {
		return BlockSize << (2 * c)
	}
	return n
}
