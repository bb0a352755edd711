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
//
// Free spans wait in a free list per size class, not in a sync.Pool. A
// sync.Pool drops its contents at every other garbage collection, and the
// engine's working set of spans (every receive span a piece in flight or at
// the disk workers holds) is the largest part of its heap: on a 1 GiB
// download the pool was refilled by allocation after each GC, about 2,700
// spans of 256 KiB (0.04 allocations per block, and each new span zeroed
// and faulted in). The free list keeps the working set; it gives back to
// the garbage collector, at each GC, only the spans that sat unused since
// the previous one (see trim), so a burst does not pin memory for ever.
//
// An empty class grows by a slab of slabBytes (one allocation for the
// bytes, one for the Span headers) rather than one span at a time: the
// seeder's working set of 16 KiB read spans was about 500 spans, 1,000
// allocations, each a 0.015 share of a 1 GiB transfer's allocations per
// block; in slabs it is 16.
package bufpool

import (
	"fmt"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"weak"
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
	// slabBytes is how much a class grows by when it is empty: 64 spans
	// of 16 KiB, 4 of 256 KiB, one of 1 or 4 MiB. A slab's memory goes
	// back to the GC once all its spans are trimmed.
	slabBytes = 1 << 20
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
	p.classes[s.class].put(s)
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

	classes     [numClasses]freeList
	outstanding atomic.Int64
	gets        atomic.Uint64
	allocs      atomic.Uint64
}

// freeList holds one size class's free spans. Safe from any goroutine.
//
// Invariant (under mu): low <= len(free); the spans free[:low] have not
// left the list since the last trim.
type freeList struct {
	mu   sync.Mutex
	free []*Span
	low  int
}

func (f *freeList) get() *Span {
	f.mu.Lock()
	n := len(f.free)
	if n == 0 {
		f.mu.Unlock()
		return nil
	}
	s := f.free[n-1]
	f.free[n-1] = nil
	f.free = f.free[:n-1]
	f.low = min(f.low, n-1)
	f.mu.Unlock()
	return s
}

func (f *freeList) put(s *Span) {
	f.mu.Lock()
	f.free = append(f.free, s)
	f.mu.Unlock()
}

// trim drops the spans that stayed in the list since the last trim (the
// oldest, at the bottom of the stack) and returns how many it dropped.
func (f *freeList) trim() int {
	f.mu.Lock()
	k := f.low
	if k > 0 {
		n := copy(f.free, f.free[k:])
		clear(f.free[n:])
		f.free = f.free[:n]
	}
	f.low = len(f.free)
	f.mu.Unlock()
	return k
}

// New returns an empty pool. It trims itself at every garbage collection
// for as long as it is reachable.
func New() *Pool {
	p := &Pool{}
	armTrim(weak.Make(p))
	return p
}

// armTrim runs p's trim at the next garbage collection, and again after
// each, until p is collected: a cleanup on a fresh unreachable object runs
// once the GC has found it unreachable, that is after each cycle. The weak
// pointer keeps the cycle from keeping p alive.
func armTrim(wp weak.Pointer[Pool]) {
	// Not new(byte): an object without pointers under 16 bytes comes from
	// the tiny allocator, which packs several into one block, and the block
	// stays reachable while any of them is, so the cleanup could wait for
	// ever (TestWorkingSetSurvivesGC hung on it). A pointer-holding
	// object has a block of its own.
	sentinel := new(*byte)
	runtime.AddCleanup(sentinel, func(wp weak.Pointer[Pool]) {
		p := wp.Value()
		if p == nil {
			return
		}
		p.Trim()
		armTrim(wp)
		// After re-arming: a collection the hook's test starts next must
		// find the new sentinel already allocated, not allocated during
		// its mark phase (which would keep it for that cycle).
		if h := trimHook.Load(); h != nil {
			(*h)(p)
		}
	}, wp)
}

// trimHook, when set (tests only), is called after each trim that a GC
// ran: the trims run on the runtime's cleanup goroutine, some time after
// the collection, and a test waits for them instead of guessing. Atomic
// because every pool's cleanup reads it.
var trimHook atomic.Pointer[func(*Pool)]

// Trim gives the spans that sat in the free lists since the previous Trim
// to the garbage collector and returns how many. It runs by itself at each
// GC; tests call it. Safe from any goroutine.
func (p *Pool) Trim() int {
	n := 0
	for c := range p.classes {
		n += p.classes[c].trim()
	}
	return n
}

// Free reports how many spans wait in the free lists. Safe from any
// goroutine.
func (p *Pool) Free() int {
	n := 0
	for c := range p.classes {
		f := &p.classes[c]
		f.mu.Lock()
		n += len(f.free)
		f.mu.Unlock()
	}
	return n
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
		if s = p.classes[c].get(); s == nil {
			s = p.grow(c)
		}
	} else {
		s = &Span{buf: make([]byte, n), class: -1, pool: p}
		p.allocs.Add(1)
	}
	s.n = n
	s.refs.Store(1)
	s.gen.Add(1)
	p.outstanding.Add(1)
	p.gets.Add(1)
	return s
}

// grow makes a slab of class c's spans, keeps one for the caller and
// puts the rest in the free list.
func (p *Pool) grow(c int) *Span {
	size := BlockSize << (2 * c)
	k := max(1, slabBytes/size)
	mem := make([]byte, k*size)
	spans := make([]Span, k)
	for i := range spans {
		spans[i].buf = mem[i*size : (i+1)*size : (i+1)*size]
		spans[i].class, spans[i].pool = int8(c), p
	}
	p.allocs.Add(uint64(k))
	f := &p.classes[c]
	f.mu.Lock()
	for i := 1; i < k; i++ {
		f.free = append(f.free, &spans[i])
	}
	f.mu.Unlock()
	return &spans[0]
}

// Outstanding reports how many spans are handed out and not yet released.
func (p *Pool) Outstanding() int64 { return p.outstanding.Load() }

// Gets reports how many spans were handed out in total (a cheap counter for
// benchmarks: gets per block shows whether a path pools or allocates).
func (p *Pool) Gets() uint64 { return p.gets.Load() }

// Allocs reports how many spans were made rather than reused (a slab
// counts as its spans): the pool's growth to its working set plus
// unpooled (oversized) spans.
func (p *Pool) Allocs() uint64 { return p.allocs.Load() }

// ClassSize returns the capacity of the span Get(n) would return.
func ClassSize(n int) int {
	if c := classOf(n); c >= 0 {
		return BlockSize << (2 * c)
	}
	return n
}
