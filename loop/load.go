package loop

import (
	"math"
	"sync/atomic"
	"time"
)

// Loop load: how much of its wall time a loop spends running callbacks
// (busy) rather than blocked in epoll_wait (waiting), and how many
// iterations it runs. iterate reads the clock once more than it already
// did, just before epoll_wait (the read after it refreshes Now anyway), and
// adds the two spans to loop-owned sums: no atomic, no lock per iteration.
//
// The window is fixed at LoadWindow: on the first iteration at least
// LoadWindow after the window began, the loop publishes the window's busy
// share and iteration rate and the cumulative sums (atomic stores, once a
// window) and starts the next. So Load is at most one window old for a
// loop that wakes at least once per window (a shard's 1 s tick does), and
// readers from any goroutine see one consistent window whatever their
// polling rate: two scrapers do not shorten each other's windows.
//
// Cost: BenchmarkLoadAccount (the extra clock read and the bookkeeping)
// measured 43-45 ns per iteration, 0 allocs. BenchmarkPieceTraffic runs
// about 0.016-0.03 epoll_waits per 16 KiB block, so ~1 ns of a 3-5 us
// block; interleaved runs against the commit before (3 each) were within
// this machine's noise: 3.3-4.4 us/op against 4.1-6.8, and BenchmarkPost
// 52-54 ns against 55-70.

// LoadWindow is the window Loop.Load's Busy and IterationsPerSec cover.
const LoadWindow = time.Second

// Load is a loop's load figures.
type Load struct {
	// Busy is the share of wall time spent running callbacks, timers and
	// posted tasks (not in epoll_wait) over the last complete window, 0..1.
	Busy float64
	// IterationsPerSec is the rate of loop iterations over that window.
	IterationsPerSec float64
	// Window is the length of that window (LoadWindow or a little more);
	// zero before the first window completed.
	Window time.Duration
	// BusyTime, WaitTime and Iterations are cumulative since Run began,
	// as of the end of the last complete window.
	BusyTime, WaitTime time.Duration
	Iterations         uint64
}

// loadState is the loop's load bookkeeping. The plain fields are owned by
// the loop goroutine; the atomics are written by it once per window and
// read by Load from any goroutine.
type loadState struct {
	winStart            time.Time
	winBusy, winWait    time.Duration
	winIters            uint64
	busyTot, waitTot    time.Duration
	itersTot            uint64
	pubBusy, pubIPS     atomic.Uint64 // float64 bits
	pubWindow           atomic.Int64
	pubBusyTot, pubWait atomic.Int64
	pubIters            atomic.Uint64
}

// start begins the first window at now. Loop only.
func (s *loadState) start(now time.Time) { s.winStart = now }

// account adds one iteration that was busy for busy and waited for wait,
// ending at now, and publishes the window when it is complete. Loop only.
func (s *loadState) account(busy, wait time.Duration, now time.Time) {
	s.winBusy += busy
	s.winWait += wait
	s.winIters++
	win := now.Sub(s.winStart)
	if win < LoadWindow {
		return
	}
	s.busyTot += s.winBusy
	s.waitTot += s.winWait
	s.itersTot += s.winIters
	ratio := 0.0
	if t := s.winBusy + s.winWait; t > 0 {
		ratio = float64(s.winBusy) / float64(t)
	}
	s.pubBusy.Store(math.Float64bits(ratio))
	s.pubIPS.Store(math.Float64bits(float64(s.winIters) / win.Seconds()))
	s.pubWindow.Store(int64(win))
	s.pubBusyTot.Store(int64(s.busyTot))
	s.pubWait.Store(int64(s.waitTot))
	s.pubIters.Store(s.itersTot)
	s.winStart, s.winBusy, s.winWait, s.winIters = now, 0, 0, 0
}

// Load returns the loop's load over its last complete window. Safe from
// any goroutine.
func (l *Loop) Load() Load {
	s := &l.load
	return Load{
		Busy:             math.Float64frombits(s.pubBusy.Load()),
		IterationsPerSec: math.Float64frombits(s.pubIPS.Load()),
		Window:           time.Duration(s.pubWindow.Load()),
		BusyTime:         time.Duration(s.pubBusyTot.Load()),
		WaitTime:         time.Duration(s.pubWait.Load()),
		Iterations:       s.pubIters.Load(),
	}
}
