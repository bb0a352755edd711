package tracker

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/internal/trackertest"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// fakeClock is a Clock that moves only when told.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	changed chan struct{} // closed and replaced when a timer is made
}

type fakeTimer struct {
	c       chan time.Time
	at      time.Time
	d       time.Duration
	clk     *fakeClock
	stopped bool // guarded by clk.mu
}

func newFakeClock() *fakeClock { return &fakeClock{now: t0, changed: make(chan struct{})} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: make(chan time.Time, 1), at: c.now.Add(d), d: d, clk: c}
	if d <= 0 {
		t.c <- c.now
		return t
	}
	c.timers = append(c.timers, t)
	close(c.changed)
	c.changed = make(chan struct{})
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }
func (t *fakeTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	t.stopped = true
	return true
}

// Advance moves the clock and fires the timers due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			if !t.stopped {
				t.c <- c.now
			}
			continue
		}
		kept = append(kept, t)
	}
	c.timers = kept
}

// waitTimer blocks until a live timer of duration d exists.
func (c *fakeClock) waitTimer(ctx context.Context, t *testing.T, d time.Duration) {
	c.waitFor(ctx, t, func(x *fakeTimer) bool { return x.d == d })
}

// advanceTo waits until the Manager's run loop has a timer for at (it is
// parked until then), and moves the clock there.
func (h *harness) advanceTo(at time.Time) {
	h.clk.waitFor(h.ctx, h.t, func(x *fakeTimer) bool { return x.at.Equal(at) })
	h.clk.Advance(at.Sub(h.clk.Now()))
}

func (c *fakeClock) waitFor(ctx context.Context, t *testing.T, pred func(*fakeTimer) bool) {
	for {
		c.mu.Lock()
		ch := c.changed
		for _, x := range c.timers {
			if pred(x) && !x.stopped {
				c.mu.Unlock()
				return
			}
		}
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatal("no such timer")
		}
	}
}

type harness struct {
	t      *testing.T
	m      *Manager
	clk    *fakeClock
	srv    *trackertest.Server
	alerts chan plugin.Alert
	peers  chan []netip.AddrPort
	ctx    context.Context
}

func newHarness(t *testing.T, cfg Config) *harness {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	h := &harness{t: t, clk: newFakeClock(), srv: trackertest.New(), alerts: make(chan plugin.Alert, 1000), peers: make(chan []netip.AddrPort, 100), ctx: ctx}
	t.Cleanup(h.srv.Close)
	cfg.Clock = h.clk
	cfg.Rand = rand.New(rand.NewPCG(3, 4))
	cfg.Alert = func(a plugin.Alert) { h.alerts <- a }
	cfg.Peers = func(_ [20]byte, p []netip.AddrPort) { h.peers <- p }
	cfg.Port = func() uint16 { return 6881 }
	copy(cfg.PeerID[:], "-ST0010-abcdefghijkl")
	h.m = NewManager(cfg)
	t.Cleanup(func() { _ = h.m.Close(context.Background()) })
	return h
}

// next returns the next alert of type T.
func next[T plugin.Alert](h *harness) T {
	h.t.Helper()
	for {
		select {
		case a := <-h.alerts:
			if x, ok := a.(T); ok {
				return x
			}
		case <-h.ctx.Done():
			var zero T
			h.t.Fatalf("no %T alert", zero)
			return zero
		}
	}
}

func (h *harness) torrent() Torrent {
	tr := tor(1, []string{h.srv.URL()})
	return tr
}

// TestHostileTrackers: each misbehaviour becomes a tracker error alert of
// the right kind and a back-off: no second request until the clock
// passes the first retry delay.
func TestHostileTrackers(t *testing.T) {
	cases := []struct {
		mode   trackertest.Mode
		kind   ErrorKind
		reason string
	}{
		{trackertest.Failure, ErrFailureReason, "go away"},
		{trackertest.Huge, ErrBodyTooLarge, ""},
		{trackertest.BadBencode, ErrBadResponse, ""},
		{trackertest.RedirectLoop, ErrTooManyRedirects, ""},
		{trackertest.Silent, ErrTimeout, ""},
	}
	for _, c := range cases {
		t.Run(c.kind.String(), func(t *testing.T) {
			h := newHarness(t, Config{Timeout: 300 * time.Millisecond})
			h.srv.Mode, h.srv.Reason = c.mode, c.reason
			h.m.Started(h.torrent())
			a := next[*plugin.TrackerErrorAlert](h)
			if !errors.Is(a.Err, c.kind) || a.Fails != 1 || a.FailureReason != c.reason {
				t.Fatalf("alert %v (fails %d, reason %q), want kind %v", a.Err, a.Fails, a.FailureReason, c.kind)
			}
			st, _ := h.m.Trackers(h.torrent().InfoHash)
			if d := st[0].NextAnnounce.Sub(h.clk.Now()); d < 17*time.Second || d > 19*time.Second {
				t.Fatalf("retry in %v, want libtorrent's 17 s (+jitter)", d)
			}
			h.advanceTo(st[0].NextAnnounce)
			a = next[*plugin.TrackerErrorAlert](h)
			if a.Fails != 2 {
				t.Fatalf("second failure counted %d", a.Fails)
			}
			if c.mode != trackertest.RedirectLoop {
				if n := len(h.srv.Announces()); n != 2 {
					t.Fatalf("%d requests, want 2", n)
				}
			}
		})
	}
}

// TestWarningAndManyPeers: a warning is an alert and the reply is used;
// a reply of 100,000 peers is cut to MaxPeersPerReply.
func TestWarningAndManyPeers(t *testing.T) {
	h := newHarness(t, Config{MaxPeersPerReply: 300})
	h.srv.Mode, h.srv.Reason, h.srv.NumPeers = trackertest.Warning, "be nice", 0
	h.m.Started(h.torrent())
	if w := next[*plugin.TrackerWarningAlert](h); w.Warning != "be nice" {
		t.Fatalf("warning %q", w.Warning)
	}
	next[*plugin.TrackerReplyAlert](h)

	h.srv.Lock()
	h.srv.Mode, h.srv.NumPeers = trackertest.ManyPeers, 100000
	h.srv.Unlock()
	h.m.ForceReannounce(h.torrent().InfoHash)
	st, _ := h.m.Trackers(h.torrent().InfoHash)
	if d := st[0].NextAnnounce.Sub(h.clk.Now()); d != 300*time.Second {
		t.Fatalf("forced re-announce in %v, want the 300 s min interval floor", d)
	}
	h.advanceTo(st[0].NextAnnounce)
	r := next[*plugin.TrackerReplyAlert](h)
	if r.NumPeers != 300 {
		t.Fatalf("%d peers taken, want the cap 300", r.NumPeers)
	}
	if p := <-h.peers; len(p) != 300 {
		t.Fatalf("%d peers handed on", len(p))
	}
}

// TestStoppedOnRemove: removing a torrent sends stopped and forgets it.
func TestStoppedOnRemove(t *testing.T) {
	h := newHarness(t, Config{})
	tr := h.torrent()
	h.m.Started(tr)
	next[*plugin.TrackerReplyAlert](h)
	h.m.Stopped(tr.InfoHash, true)
	if a := next[*plugin.TrackerAnnounceAlert](h); a.Event != "stopped" {
		t.Fatalf("event %q", a.Event)
	}
	next[*plugin.TrackerReplyAlert](h)
	if err := h.srv.Wait(h.ctx, func(as []trackertest.Announce) bool { return len(as) == 2 && as[1].Event == "stopped" }); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.m.Trackers(tr.InfoHash); ok {
		t.Fatal("removed torrent still known")
	}
}

// TestCloseBounded: Close sends stopped and waits for it at most
// StopTimeout (on the Manager's clock) when the tracker never answers.
func TestCloseBounded(t *testing.T) {
	h := newHarness(t, Config{StopTimeout: 5 * time.Second})
	tr := h.torrent()
	h.m.Started(tr)
	next[*plugin.TrackerReplyAlert](h)
	h.srv.Lock()
	h.srv.Mode = trackertest.Silent
	h.srv.Unlock()
	done := make(chan error, 1)
	go func() { done <- h.m.Close(context.Background()) }()
	if err := h.srv.Wait(h.ctx, func(as []trackertest.Announce) bool { return len(as) == 2 && as[1].Event == "stopped" }); err != nil {
		t.Fatal(err)
	}
	h.clk.waitTimer(h.ctx, t, 5*time.Second)
	select {
	case <-done:
		t.Fatal("Close returned before the stop timeout")
	default:
	}
	h.clk.Advance(5 * time.Second)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-h.ctx.Done():
		t.Fatal("Close did not return after the stop timeout")
	}
}
