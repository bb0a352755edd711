package bufpool

import (
	"errors"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestClassSize(t *testing.T) {
	cases := []struct{ n, want int }{
		{0, 16 << 10}, {1, 16 << 10}, {16 << 10, 16 << 10}, {16<<10 + 1, 64 << 10},
		{64 << 10, 64 << 10}, {64<<10 + 1, 256 << 10}, {256 << 10, 256 << 10},
		{1 << 20, 1 << 20}, {1<<20 + 1, 4 << 20}, {4 << 20, 4 << 20}, {4<<20 + 1, 4<<20 + 1},
	}
	for _, c := range cases {
		if got := ClassSize(c.n); got != c.want {
			t.Errorf("ClassSize(%d) = %d, want %d", c.n, got, c.want)
		}
		p := New()
		s := p.Get(c.n)
		if s.Len() != c.n || len(s.Bytes()) != c.n || len(s.Full()) != c.want {
			t.Errorf("Get(%d): len %d bytes %d full %d", c.n, s.Len(), len(s.Bytes()), len(s.Full()))
		}
		s.Release()
		if p.Outstanding() != 0 {
			t.Errorf("outstanding %d after release", p.Outstanding())
		}
	}
}

func TestRefCounting(t *testing.T) {
	p := New()
	s := p.Get(BlockSize)
	s.Retain()
	s.Retain()
	if s.Refs() != 3 {
		t.Fatalf("refs %d", s.Refs())
	}
	s.Release()
	s.Release()
	if p.Outstanding() != 1 {
		t.Fatalf("span returned early: outstanding %d", p.Outstanding())
	}
	s.Release()
	if p.Outstanding() != 0 {
		t.Fatalf("outstanding %d", p.Outstanding())
	}
}

func TestDoubleReleasePanics(t *testing.T) {
	p := New()
	s := p.Get(10)
	s.Release()
	defer func() {
		r := recover()
		var me *MisuseError
		if err, ok := r.(error); !ok || !errors.As(err, &me) {
			t.Fatalf("double release: recovered %v, want *MisuseError", r)
		}
	}()
	s.Release()
}

func TestRetainAfterReleasePanics(t *testing.T) {
	p := New()
	s := p.Get(10)
	s.Release()
	defer func() {
		if _, ok := recover().(*MisuseError); !ok {
			t.Fatal("retain after release did not panic with *MisuseError")
		}
	}()
	s.Retain()
}

func TestPoisonShowsUseAfterRelease(t *testing.T) {
	p := New()
	p.Poison = true
	s := p.Get(BlockSize)
	b := s.Bytes()
	copy(b, "hello")
	gen := s.Gen()
	s.Release()
	if b[0] != 0xdb {
		t.Fatalf("released span not poisoned: %x", b[0])
	}
	s2 := p.Get(BlockSize)
	if s2 == s && s2.Gen() == gen {
		t.Fatal("reused span kept its generation")
	}
	s2.Release()
}

func TestConcurrentRelease(t *testing.T) {
	p := New()
	const holders = 8
	for range 100 {
		s := p.Get(BlockSize)
		for range holders - 1 {
			s.Retain()
		}
		var wg sync.WaitGroup
		for range holders {
			wg.Go(s.Release)
		}
		wg.Wait()
	}
	if p.Outstanding() != 0 {
		t.Fatalf("outstanding %d", p.Outstanding())
	}
}

func TestGetReleaseAllocatesNothing(t *testing.T) {
	p := New()
	p.Get(BlockSize).Release() // warm the class
	allocs := testing.AllocsPerRun(1000, func() {
		s := p.Get(BlockSize)
		s.Retain()
		s.Release()
		s.Release()
	})
	if allocs != 0 {
		t.Fatalf("Get/Retain/Release allocated %.1f times per run", allocs)
	}
}

func BenchmarkGetRelease(b *testing.B) {
	p := New()
	b.ReportAllocs()
	for b.Loop() {
		p.Get(BlockSize).Release()
	}
}

func BenchmarkGetReleaseParallel(b *testing.B) {
	p := New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.Get(BlockSize).Release()
		}
	})
}

// TestWorkingSetSurvivesGC guards the free list's reason to exist: a
// sync.Pool emptied itself at GC and the engine re-allocated its whole
// working set of receive spans after every collection.
func TestWorkingSetSurvivesGC(t *testing.T) {
	// Collections only when the test asks, and each one's trim waited
	// for: trims run on the cleanup goroutine after the GC, and two of
	// them with no cycle in between rightly drop the whole set (that once
	// happened here under the race detector's own collections).
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var watched atomic.Pointer[Pool]
	trimmed := make(chan struct{}, 1)
	hook := func(q *Pool) {
		if q == watched.Load() {
			select { // never block the runtime's cleanup goroutine
			case trimmed <- struct{}{}:
			default:
			}
		}
	}
	trimHook.Store(&hook)
	defer trimHook.Store(nil)
	p := New()
	watched.Store(p)
	gc := func() {
		t.Helper()
		runtime.GC()
		select {
		case <-trimmed:
		case <-time.After(30 * time.Second):
			t.Fatal("no trim ran within 30 s of a collection")
		}
	}
	const n = 64
	spans := make([]*Span, n)
	cycle := func() {
		for i := range spans {
			spans[i] = p.Get(256 << 10)
		}
		for _, s := range spans {
			s.Release()
		}
	}
	cycle()
	if got := p.Allocs(); got != n {
		t.Fatalf("first cycle allocated %d spans, want %d", got, n)
	}
	if got := p.Free(); got != n {
		t.Fatalf("%d spans free, want %d (whole slabs)", got, n)
	}
	gc() // one collection and its trim: the spans were in use in this period
	allocs := testing.AllocsPerRun(10, cycle)
	if allocs != 0 || p.Allocs() != n {
		t.Fatalf("after a GC: %.1f allocations per cycle, %d spans allocated in all (want %d)", allocs, p.Allocs(), n)
	}
	// And the idle set does go: two trims with no cycle between them.
	gc()
	gc()
	if got := p.Free(); got != 0 {
		t.Fatalf("%d spans still free after two idle collections, want 0", got)
	}
}

// TestTrimDropsOnlyIdleSpans: a span is given back only after a whole trim
// period (a GC cycle) in the free list without being taken.
func TestTrimDropsOnlyIdleSpans(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // no trim but ours
	p := New()
	a, b := p.Get(BlockSize), p.Get(BlockSize)
	a.Release()
	b.Release()
	slab := slabBytes / BlockSize
	if p.Free() != slab {
		t.Fatalf("%d free spans after the first Get, want a slab of %d", p.Free(), slab)
	}
	p.Trim() // starts the period: all idle from here
	s := p.Get(BlockSize)
	s.Release() // one of them was used in this period
	if got := p.Trim(); got != slab-1 || p.Free() != 1 {
		t.Fatalf("trim dropped %d, %d free; want %d dropped, 1 kept", got, p.Free(), slab-1)
	}
	if got := p.Trim(); got != 1 || p.Free() != 0 {
		t.Fatalf("second trim dropped %d, %d free; want 1, 0", got, p.Free())
	}
	if p.Outstanding() != 0 {
		t.Fatalf("outstanding %d", p.Outstanding())
	}
}

// TestGCTrims: the collector runs Trim by itself, so an idle pool
// shrinks to nothing after a few cycles (each a chance for the cleanup
// goroutine to run; no sleeping).
func TestGCTrims(t *testing.T) {
	p := New()
	p.Get(1 << 20).Release()
	for i := 0; p.Free() != 0; i++ {
		if i == 10000 {
			t.Fatalf("still %d free spans after %d collections", p.Free(), i)
		}
		runtime.GC()
		runtime.Gosched()
	}
}

// TestSlabsAreSeparateSpans: spans carved from one slab never overlap, and
// each one's capacity ends at its own end (an append cannot run into the
// next span).
func TestSlabsAreSeparateSpans(t *testing.T) {
	p := New()
	k := slabBytes / BlockSize
	spans := make([]*Span, k)
	for i := range spans {
		spans[i] = p.Get(BlockSize)
		b := spans[i].Full()
		if len(b) != BlockSize || cap(b) != BlockSize {
			t.Fatalf("span %d: len %d cap %d", i, len(b), cap(b))
		}
		for j := range b {
			b[j] = byte(i)
		}
	}
	if p.Allocs() != uint64(k) {
		t.Fatalf("%d spans made for %d Gets, want one slab", p.Allocs(), k)
	}
	for i, s := range spans {
		for _, c := range s.Full() {
			if c != byte(i) {
				t.Fatalf("span %d overwritten by another", i)
			}
		}
		s.Release()
	}
}

// BenchmarkGrowWorkingSet: the allocations of a pool growing to 512 spans
// of 16 KiB (the seeder's read spans on a 1 GiB transfer).
func BenchmarkGrowWorkingSet(b *testing.B) {
	b.ReportAllocs()
	spans := make([]*Span, 512)
	for b.Loop() {
		p := New()
		for i := range spans {
			spans[i] = p.Get(BlockSize)
		}
		for _, s := range spans {
			s.Release()
		}
	}
}
