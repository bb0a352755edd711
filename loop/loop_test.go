package loop

import (
	"sync"
	"testing"
	"time"
)

// TestTimers: fire in deadline order on the loop goroutine; Stop and Reset.
func TestTimers(t *testing.T) {
	l := startLoop(t, Config{})
	var order []int
	done := make(chan struct{})
	record := func(arg any) {
		if !l.InLoop() {
			t.Error("timer callback off the loop")
		}
		order = append(order, *arg.(*int))
		if len(order) == 4 {
			close(done)
		}
	}
	ids := []int{0, 1, 2, 3, 4, 5}
	onLoop(t, l, func() {
		l.AfterFunc(40*time.Millisecond, record, &ids[3])
		l.AfterFunc(10*time.Millisecond, record, &ids[1])
		stopped := l.AfterFunc(15*time.Millisecond, record, &ids[5])
		l.AfterFunc(20*time.Millisecond, record, &ids[2])
		moved := l.AfterFunc(time.Millisecond, record, &ids[4])
		l.AfterFunc(5*time.Millisecond, record, &ids[0])
		if !stopped.Stop() {
			t.Error("Stop of a pending timer returned false")
		}
		if stopped.Stop() {
			t.Error("second Stop returned true")
		}
		moved.Reset(60 * time.Millisecond) // now last
	})
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("timers did not fire")
	}
	time.Sleep(100 * time.Millisecond)
	onLoop(t, l, func() {
		want := []int{0, 1, 2, 3, 4}
		if len(order) != len(want) {
			t.Fatalf("fired %v, want %v", order, want)
		}
		for i := range want {
			if order[i] != want[i] {
				t.Fatalf("fired %v, want %v", order, want)
			}
		}
	})
}

// TestTimerResetInCallback: a periodic timer re-arms itself; Stop from
// outside ends it.
func TestTimerResetInCallback(t *testing.T) {
	l := startLoop(t, Config{})
	ticks := 0
	var tm *Timer
	done := make(chan struct{})
	onLoop(t, l, func() {
		tm = l.AfterFunc(time.Millisecond, func(any) {
			ticks++
			if ticks == 5 {
				close(done)
				return
			}
			tm.Reset(0) // fires next iteration, not in this one
		}, nil)
	})
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("ticks stopped")
	}
	onLoop(t, l, func() {
		if tm.Stop() {
			t.Error("fired timer reported pending")
		}
	})
}

// TestPostFIFOPerPoster posts from many goroutines and checks each poster's
// tasks run in order, on the loop.
func TestPostFIFOPerPoster(t *testing.T) {
	l := startLoop(t, Config{})
	const posters, each = 8, 20000
	type msg struct{ from, seq int }
	last := make([]int, posters)
	for i := range last {
		last[i] = -1
	}
	var bad int
	var wg sync.WaitGroup
	run := func(arg any) {
		m := arg.(*msg)
		if m.seq != last[m.from]+1 {
			bad++
		}
		last[m.from] = m.seq
	}
	msgs := make([][]msg, posters)
	for p := range posters {
		msgs[p] = make([]msg, each)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				msgs[p][i] = msg{p, i}
				l.Post(run, &msgs[p][i])
			}
		}()
	}
	wg.Wait()
	onLoop(t, l, func() {
		if bad != 0 {
			t.Errorf("%d tasks out of order", bad)
		}
		for p, s := range last {
			if s != each-1 {
				t.Errorf("poster %d: last seq %d", p, s)
			}
		}
	})
	st := l.Stats()
	t.Logf("%d posts, %d wakeups", st.Posts, st.Wakeups)
}

// TestPostAllocs: Post with a pointer arg does not allocate.
func TestPostAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	l := startLoop(t, Config{})
	var n int
	fn := func(arg any) { *arg.(*int)++ }
	for range 10000 { // grow the inbox buffers to the burst size
		l.Post(fn, &n)
	}
	onLoop(t, l, func() {})
	allocs := testing.AllocsPerRun(1000, func() { l.Post(fn, &n) })
	if allocs != 0 {
		t.Errorf("Post allocates %v per call", allocs)
	}
}

// TestListenBeforeRunAndClose: Listen works before Run; Close without Run
// closes it; Run after Close fails.
func TestListenBeforeRunAndClose(t *testing.T) {
	l, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := l.Listen("tcp", "127.0.0.1:0", func(*Conn) Handler { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ln.Close(); err != nil {
		t.Errorf("Listener.Close after loop Close: %v", err)
	}
	if err := l.Run(); err != ErrLoopClosed {
		t.Errorf("Run after Close = %v", err)
	}
	if _, err := l.Listen("tcp", "127.0.0.1:0", nil); err != ErrLoopClosed {
		t.Errorf("Listen after Close = %v", err)
	}
}

// TestLoopOnlyCallsRefuseOtherGoroutines: Dial and Adopt off the loop fail.
func TestLoopOnlyCallsRefuseOtherGoroutines(t *testing.T) {
	l := startLoop(t, Config{})
	if _, err := l.Dial(netipLoopback(1), time.Second, &handler{}); err != ErrNotInLoop {
		t.Errorf("Dial off loop = %v", err)
	}
	if _, err := l.Adopt(0, nil, &handler{}); err != ErrNotInLoop {
		t.Errorf("Adopt off loop = %v", err)
	}
	if l.InLoop() {
		t.Error("InLoop true off the loop")
	}
}
