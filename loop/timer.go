package loop

import "time"

// Timer is a one-shot timer on a loop's heap. Its callback runs on the loop
// goroutine. All methods are loop only.
type Timer struct {
	l    *Loop
	when int64 // ns since l.base
	fn   func(arg any)
	arg  any
	seq  uint64 // arming order, breaks ties between equal deadlines
	idx  int    // position in l.timers; -1 when not pending
}

// AfterFunc arranges for fn(arg) to run on the loop once d has passed from
// Now(). The epoll_wait timeout is derived from the earliest timer, so a timer
// fires up to about a millisecond late. Timers due at the same instant fire
// in the order they were set. Allocates the Timer; reuse it with Reset.
// Loop only.
func (l *Loop) AfterFunc(d time.Duration, fn func(arg any), arg any) *Timer {
	t := &Timer{l: l, fn: fn, arg: arg, idx: -1}
	t.Reset(d)
	return t
}

// Stop cancels the timer. It reports whether the timer was pending (false
// if it had fired or was stopped). Loop only.
func (t *Timer) Stop() bool {
	if t.idx < 0 {
		return false
	}
	t.l.timers.remove(t.idx)
	return true
}

// Reset (re)arms the timer to fire d after Now(), whether or not it is
// pending. It may be called from the timer's own callback. Loop only.
func (t *Timer) Reset(d time.Duration) {
	l := t.l
	if l.shutting {
		return
	}
	if d < 0 {
		d = 0
	}
	l.timerSeq++
	t.when = l.nowNs() + int64(d)
	t.seq = l.timerSeq
	if t.idx >= 0 {
		l.timers.fix(t.idx)
		return
	}
	l.timers.push(t)
}

// Pending reports whether the timer is armed. Loop only.
func (t *Timer) Pending() bool { return t.idx >= 0 }

func (l *Loop) nowNs() int64 { return int64(l.now.Sub(l.base)) }

// runTimers fires the timers due at the cached clock. A callback that
// re-arms its timer for "now" fires in the next iteration, not this one.
func (l *Loop) runTimers() {
	now := l.nowNs()
	armedBefore := l.timerSeq
	for n := 0; n < maxTimersPerIter && len(l.timers) > 0; n++ {
		t := l.timers[0]
		if t.when > now || t.seq > armedBefore {
			break
		}
		l.timers.remove(0)
		t.fn(t.arg)
		l.runDeferred()
	}
}

// timerHeap is a binary min-heap ordered by (when, seq).
type timerHeap []*Timer

func (h timerHeap) less(i, j int) bool {
	a, b := h[i], h[j]
	if a.when != b.when {
		return a.when < b.when
	}
	return a.seq < b.seq
}

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx = i
	h[j].idx = j
}

func (h *timerHeap) push(t *Timer) {
	t.idx = len(*h)
	*h = append(*h, t)
	h.up(t.idx)
}

func (h *timerHeap) remove(i int) {
	s := *h
	n := len(s) - 1
	t := s[i]
	if i != n {
		s.swap(i, n)
	}
	s[n] = nil
	*h = s[:n]
	if i != n {
		if !h.down(i) {
			h.up(i)
		}
	}
	t.idx = -1
}

func (h timerHeap) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h timerHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

// down sifts i down and reports whether it moved.
func (h timerHeap) down(i int) bool {
	start := i
	n := len(h)
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && h.less(r, c) {
			c = r
		}
		if !h.less(c, i) {
			break
		}
		h.swap(i, c)
		i = c
	}
	return i > start
}
