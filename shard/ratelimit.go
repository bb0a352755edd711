package shard

// Rate limits (issue 13, part 1), in libtorrent's peer-class model reduced
// to what is asked: a session-wide upload and download limit shared by
// every shard, a per-torrent limit owned by the torrent's loop, and a
// local-network class (loopback, RFC 1918, link-local, ULA) exempt from
// both unless RateLimits.LimitLocal, as libtorrent's
// ignore_limits_on_local_network.
//
// The session budget is a RateBudget: atomic tokens refilled by time, with
// no lock. Each shard draws from it in slices (rateGate) and spends the
// slice locally, so the data path touches an atomic once per slice, not per
// block. A torrent's own limit is a plain bucket on its loop. Spending may
// overdraw by one block: the debt is paid from the next refill, so the
// average rate is exact while a block is never split.
//
// A peer that finds no quota stops: upload stops taking requests off its
// queue (serve), download pauses reading its socket (loop.Conn's
// SetReadPaused), so the peer's TCP window closes and nothing buffers. The
// shard keeps the stopped peers in a list and a loop timer (rateRetry)
// gives them another try; no goroutine per peer.
//
// With no limit set the data path pays one branch per block: the torrent's
// rlUp / rlDown flag, recomputed whenever a limit changes.

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/shardtorrent/shardtorrent/loop"
)

// NoRateLimit is the rate of a RateBudget or a torrent limit that is
// unlimited. Any negative rate means the same.
const NoRateLimit int64 = -1

const (
	// rateRetry is how often stopped peers are given another try while
	// any is waiting for quota.
	rateRetry = 5 * time.Millisecond
	// rateBurst bounds the tokens a budget or bucket saves up while idle,
	// as the time at its rate; at least minRateBurst bytes.
	rateBurst    = 100 * time.Millisecond
	minRateBurst = 64 << 10
	// A shard draws a slice of the session budget at a time: 1/100 of a
	// second at the rate, within [minRateSlice, maxRateSlice].
	minRateSlice = 16 << 10
	maxRateSlice = 4 << 20
	// ipOverhead estimates the TCP/IP header bytes per segment counted
	// when RateLimits.Overhead is set (IPv4 20 + TCP 20 bytes per 1460).
	ipOverhead = 40
	ipMSS      = 1460
	// pieceHeaderLen is a piece message's framing: length, id, index, begin.
	pieceHeaderLen = 13
)

// RateBudget is one direction of the session-wide limit, shared by the
// shards: tokens refilled by time, taken in slices with compare-and-swap.
// Safe from any goroutine.
type RateBudget struct {
	rate   atomic.Int64 // bytes/s; negative: unlimited
	tokens atomic.Int64
	last   atomic.Int64 // clock (ns) up to which refills were credited
}

// NewRateBudget returns a budget of rate bytes/s (NoRateLimit: unlimited).
// Safe from any goroutine.
func NewRateBudget(rate int64) *RateBudget {
	b := new(RateBudget)
	b.rate.Store(rate)
	return b
}

// SetRate changes the rate (NoRateLimit: unlimited). Saved tokens beyond
// the new burst are dropped at the next refill. Safe from any goroutine.
func (b *RateBudget) SetRate(rate int64) {
	b.rate.Store(rate)
	if rate >= 0 {
		// Drop what was saved under the old rate beyond the new burst.
		for {
			t := b.tokens.Load()
			nt := min(t, burstOf(rate))
			if nt == t || b.tokens.CompareAndSwap(t, nt) {
				break
			}
		}
	}
}

// Rate returns the rate in bytes/s (negative: unlimited). Safe from any
// goroutine.
func (b *RateBudget) Rate() int64 { return b.rate.Load() }

func burstOf(rate int64) int64 {
	return max(rate*int64(rateBurst)/int64(time.Second), minRateBurst)
}

func sliceOf(rate int64) int64 {
	return min(max(rate/100, minRateSlice), maxRateSlice)
}

// refillAmount credits rate bytes/s for the time from last to now and
// returns the bytes and the new last: last advances only by the time the
// whole bytes stand for, so no fraction is lost between refills.
func refillAmount(rate, last, now int64) (add, newLast int64) {
	el := now - last
	if el <= 0 || rate <= 0 {
		if rate <= 0 {
			return 0, now
		}
		return 0, last
	}
	if el > int64(time.Second) {
		// Long idle: at most a second's worth (the burst caps it anyway),
		// and no overflow in rate*el.
		return rate, now
	}
	add = rate * el / int64(time.Second)
	if add == 0 {
		return 0, last
	}
	return add, last + add*int64(time.Second)/rate
}

// draw refills the budget for the time up to now (ns on the shards'
// shared clock) and takes up to want tokens; it returns how many it got.
func (b *RateBudget) draw(now, want int64) int64 {
	rate := b.rate.Load()
	if last := b.last.Load(); now > last {
		add, nl := refillAmount(rate, last, now)
		if nl != last && b.last.CompareAndSwap(last, nl) && add > 0 {
			burst := burstOf(rate)
			for {
				t := b.tokens.Load()
				nt := min(t+add, max(t, burst))
				if nt == t || b.tokens.CompareAndSwap(t, nt) {
					break
				}
			}
		}
	}
	for {
		t := b.tokens.Load()
		if t <= 0 {
			return 0
		}
		g := min(t, want)
		if b.tokens.CompareAndSwap(t, t-g) {
			return g
		}
	}
}

// rateGate is one shard's window on a RateBudget: the slice it drew and
// has not spent yet (negative: overdrawn by the last block). Loop only.
type rateGate struct {
	b    *RateBudget
	have int64
}

// ok reports whether the gate has quota, drawing a slice if it has none.
func (g *rateGate) ok(now int64) bool {
	if g.have > 0 {
		return true
	}
	rate := g.b.rate.Load()
	if rate < 0 {
		return true
	}
	g.have += g.b.draw(now, sliceOf(rate)-g.have)
	return g.have > 0
}

// rateBucket is a torrent's own limit in one direction. Loop only.
type rateBucket struct {
	rate   int64 // bytes/s; negative: unlimited
	tokens int64
	last   int64
}

func (k *rateBucket) setRate(rate int64, now int64) {
	if k.rate < 0 && rate >= 0 {
		// A new limit starts full, as the session budget's first draw.
		k.tokens, k.last = burstOf(rate), now
	}
	k.rate = rate
	if rate >= 0 {
		k.tokens = min(k.tokens, burstOf(rate))
	}
}

func (k *rateBucket) ok(now int64) bool {
	if k.rate < 0 {
		return true
	}
	if k.tokens > 0 {
		return true
	}
	add, nl := refillAmount(k.rate, k.last, now)
	k.last = nl
	k.tokens = min(k.tokens+add, max(k.tokens, burstOf(k.rate)))
	return k.tokens > 0
}

// RateLimits is the session-wide limit state the shards share. Safe from
// any goroutine.
type RateLimits struct {
	Up, Down *RateBudget
	// LimitLocal applies the limits to local-network peers too.
	LimitLocal atomic.Bool
	// Overhead counts piece framing and an estimate of TCP/IP headers
	// against the limits, not only the payload.
	Overhead atomic.Bool
}

// NewRateLimits returns unlimited session limits. Safe from any goroutine.
func NewRateLimits() *RateLimits {
	return &RateLimits{Up: NewRateBudget(NoRateLimit), Down: NewRateBudget(NoRateLimit)}
}

// shardRate is a shard's side of the limits. Loop only.
type shardRate struct {
	lim      *RateLimits
	up, down rateGate
	local    bool // LimitLocal, as of the last RateLimitsChanged
	overhead bool
	waitUp   []*peer // stopped uploads (peer.rlWaitUp)
	waitDown []*peer // paused reads (peer.rlWaitDown)
	scratch  []*peer
	timer    *loop.Timer
}

func (s *Shard) initRate(lim *RateLimits) {
	if lim == nil {
		lim = NewRateLimits()
	}
	s.rl.lim = lim
	s.rl.up.b, s.rl.down.b = lim.Up, lim.Down
	s.rl.local = lim.LimitLocal.Load()
	s.rl.overhead = lim.Overhead.Load()
}

// RateLimits returns the shared limits the shard applies. Safe from any
// goroutine.
func (s *Shard) RateLimits() *RateLimits { return s.rl.lim }

// RateLimitsChanged applies a change of the shared limits (their rates,
// LimitLocal, Overhead) to this shard's torrents and wakes the peers that
// were stopped. Loop only: the session posts it to every shard after
// changing RateLimits.
func (s *Shard) RateLimitsChanged() {
	s.rl.local = s.rl.lim.LimitLocal.Load()
	s.rl.overhead = s.rl.lim.Overhead.Load()
	for _, t := range s.torrents {
		t.rateFlags()
	}
	s.rateWake()
}

// SetUploadLimit sets the torrent's own upload limit in bytes/s
// (NoRateLimit: unlimited), under the session's. Loop only.
func (t *Torrent) SetUploadLimit(rate int64) {
	t.rlUpB.setRate(rate, t.s.rateNow())
	t.rateFlags()
	t.s.rateWake()
	t.rs.dirty = true // saved in resume data (policy.go)
}

// SetDownloadLimit sets the torrent's own download limit in bytes/s
// (NoRateLimit: unlimited), under the session's. Loop only.
func (t *Torrent) SetDownloadLimit(rate int64) {
	t.rlDownB.setRate(rate, t.s.rateNow())
	t.rateFlags()
	t.s.rateWake()
	t.rs.dirty = true // saved in resume data (policy.go)
}

// UploadLimit and DownloadLimit return the torrent's own limits in
// bytes/s (negative: unlimited). Loop only.
func (t *Torrent) UploadLimit() int64   { return t.rlUpB.rate }
func (t *Torrent) DownloadLimit() int64 { return t.rlDownB.rate }

// rateFlags recomputes the one-branch flags the data path tests.
func (t *Torrent) rateFlags() {
	lim := t.s.rl.lim
	t.rlUp = t.rlUpB.rate >= 0 || lim.Up.Rate() >= 0
	t.rlDown = t.rlDownB.rate >= 0 || lim.Down.Rate() >= 0
}

func (s *Shard) rateNow() int64 { return s.now().UnixNano() }

// isLocalAddr reports whether a is in the local-network class: loopback,
// RFC 1918, link-local or IPv6 unique-local.
func isLocalAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast()
}

// rateExempt reports whether p's class ignores the limits.
func (p *peer) rateExempt() bool { return p.local && !p.t.s.rl.local }

// upCost is what sending a block of n payload bytes counts.
func (s *Shard) rateCost(n int) int64 {
	if !s.rl.overhead {
		return int64(n)
	}
	return int64(n + pieceHeaderLen + (n+pieceHeaderLen+ipMSS-1)/ipMSS*ipOverhead)
}

// upAllowed is serve's test, taken only when a limit is set: it spends n
// bytes of upload quota and reports true, or parks p until quota returns
// and reports false.
func (p *peer) upAllowed(n int) bool {
	if p.rateExempt() {
		return true
	}
	t, s := p.t, p.t.s
	now := s.rateNow()
	if !t.rlUpB.ok(now) || !s.rl.up.ok(now) {
		if !p.rlWaitUp {
			p.rlWaitUp = true
			s.rl.waitUp = append(s.rl.waitUp, p)
			s.rateArm()
		}
		return false
	}
	c := s.rateCost(n)
	if t.rlUpB.rate >= 0 {
		t.rlUpB.tokens -= c
	}
	if s.rl.up.b.rate.Load() >= 0 {
		s.rl.up.have -= c
	}
	return true
}

// downSpent counts a received block of n payload bytes against the
// download limits, taken only when a limit is set; if the quota is gone p
// stops reading until it returns.
func (p *peer) downSpent(n int) {
	if p.rateExempt() {
		return
	}
	t, s := p.t, p.t.s
	c := s.rateCost(n)
	if t.rlDownB.rate >= 0 {
		t.rlDownB.tokens -= c
	}
	if s.rl.down.b.rate.Load() >= 0 {
		s.rl.down.have -= c
	}
	now := s.rateNow()
	if t.rlDownB.ok(now) && s.rl.down.ok(now) {
		return
	}
	if !p.rlWaitDown {
		p.rlWaitDown = true
		p.c.SetReadPaused(true)
		s.rl.waitDown = append(s.rl.waitDown, p)
		s.rateArm()
	}
}

func (s *Shard) rateArm() {
	if s.rl.timer == nil {
		s.rl.timer = s.loop.AfterFunc(rateRetry, rateTimer, s)
		return
	}
	if !s.rl.timer.Pending() {
		s.rl.timer.Reset(rateRetry)
	}
}

func rateTimer(arg any) { arg.(*Shard).rateWake() }

// rateWake gives the stopped peers another try: uploads serve again (and
// park again if still out of quota); paused reads resume where their
// limits have quota. Loop only.
func (s *Shard) rateWake() {
	if s.closed {
		return
	}
	now := s.rateNow()
	if len(s.rl.waitDown) > 0 {
		keep := s.rl.waitDown[:0]
		for _, p := range s.rl.waitDown {
			if p.closed || p.closing {
				p.rlWaitDown = false
				continue
			}
			if !p.t.rlDown || p.rateExempt() || (p.t.rlDownB.ok(now) && s.rl.down.ok(now)) {
				p.rlWaitDown = false
				p.c.SetReadPaused(false)
				continue
			}
			keep = append(keep, p)
		}
		clear(s.rl.waitDown[len(keep):])
		s.rl.waitDown = keep
	}
	if len(s.rl.waitUp) > 0 {
		// serve may park a peer again: walk a copy. Peers park again in
		// the order they are tried, so starting from the second makes the
		// first try go round the peers: the quota is not always taken by
		// whoever parked first.
		s.rl.scratch = append(s.rl.scratch[:0], s.rl.waitUp...)
		clear(s.rl.waitUp)
		s.rl.waitUp = s.rl.waitUp[:0]
		n := len(s.rl.scratch)
		for i := range n {
			p := s.rl.scratch[(1+i)%n]
			p.rlWaitUp = false
			if p.active() {
				p.serve()
			}
		}
		clear(s.rl.scratch)
	}
	if len(s.rl.waitUp) > 0 || len(s.rl.waitDown) > 0 {
		s.rateArm()
	}
}
