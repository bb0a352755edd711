package loop

import (
	"math"
	"testing"
	"time"
)

// TestLoadWindow drives the window bookkeeping with explicit times: nothing
// is published before a window completes; a complete window publishes its
// busy share, iteration rate and the cumulative sums, and the next window
// starts from zero.
func TestLoadWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	type step struct{ busy, wait, at time.Duration }
	cases := []struct {
		name       string
		steps      []step
		busy, ips  float64
		window     time.Duration
		busyTot    time.Duration
		waitTot    time.Duration
		iterations uint64
	}{
		{name: "window not complete", steps: []step{{10 * ms, 100 * ms, 110 * ms}, {5 * ms, 800 * ms, 915 * ms}}},
		{name: "one window, a quarter busy",
			steps: []step{{100 * ms, 300 * ms, 400 * ms}, {150 * ms, 450 * ms, 1000 * ms}},
			busy:  0.25, ips: 2, window: time.Second, busyTot: 250 * ms, waitTot: 750 * ms, iterations: 2},
		{name: "second window replaces the first, sums go on",
			steps: []step{{500 * ms, 500 * ms, 1000 * ms}, {1800 * ms, 200 * ms, 3000 * ms}},
			busy:  0.9, ips: 0.5, window: 2 * time.Second, busyTot: 2300 * ms, waitTot: 700 * ms, iterations: 2},
		{name: "idle", steps: []step{{0, 1000 * ms, 1000 * ms}},
			busy: 0, ips: 1, window: time.Second, busyTot: 0, waitTot: time.Second, iterations: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := &Loop{}
			l.load.start(t0)
			for _, s := range tc.steps {
				l.load.account(s.busy, s.wait, t0.Add(s.at))
			}
			got := l.Load()
			near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
			if !near(got.Busy, tc.busy) || !near(got.IterationsPerSec, tc.ips) || got.Window != tc.window ||
				got.BusyTime != tc.busyTot || got.WaitTime != tc.waitTot || got.Iterations != tc.iterations {
				t.Fatalf("Load = %+v, want busy %v, %v it/s, window %v, busy %v, wait %v, %d iterations",
					got, tc.busy, tc.ips, tc.window, tc.busyTot, tc.waitTot, tc.iterations)
			}
		})
	}
}

// TestLoadMeasuresCallbacks runs a posted task that keeps the loop busy for
// 50 ms of wall time, then reads Load from a timer that fires once the
// window is over: the window is published by then (it is rolled before
// timers run) and holds the busy time.
func TestLoadMeasuresCallbacks(t *testing.T) {
	l := startLoop(t, Config{})
	const spin = 50 * time.Millisecond
	got := make(chan Load, 1)
	onLoop(t, l, func() {
		l.AfterFunc(LoadWindow, func(any) { got <- l.Load() }, nil)
		for start := time.Now(); time.Since(start) < spin; {
		}
	})
	var ld Load
	select {
	case ld = <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("the timer did not fire")
	}
	if ld.Window < LoadWindow || ld.Iterations == 0 || ld.IterationsPerSec <= 0 {
		t.Fatalf("no complete window published: %+v", ld)
	}
	if ld.BusyTime < spin || ld.Busy < spin.Seconds()/ld.Window.Seconds()*0.99 || ld.Busy > 1 {
		t.Fatalf("busy %v (%.3f of the window) after a %v callback: %+v", ld.BusyTime, ld.Busy, spin, ld)
	}
	if ld.BusyTime+ld.WaitTime > ld.Window+time.Millisecond {
		t.Fatalf("busy %v + wait %v exceed the window %v", ld.BusyTime, ld.WaitTime, ld.Window)
	}
}

// BenchmarkLoadAccount is what the load figures add to one loop
// iteration: one more clock read and the window bookkeeping.
func BenchmarkLoadAccount(b *testing.B) {
	var s loadState
	now := time.Now()
	s.start(now)
	b.ReportAllocs()
	for b.Loop() {
		before := time.Now()
		s.account(before.Sub(now), time.Microsecond, before)
		now = before
	}
}
