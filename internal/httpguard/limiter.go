package httpguard

import (
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Failed-login limits.
const (
	// DefaultBurst is how many failed logins an address may make at once.
	DefaultBurst = 5
	// DefaultEvery is how often an address earns one more attempt.
	DefaultEvery = 10 * time.Second
	// DefaultMaxTracked bounds the addresses with a failed-login record.
	DefaultMaxTracked = 4096
)

// limiter is a token bucket of failed logins per client key. Safe from any
// goroutine: every method takes mu for a map operation and a bucket update.
type limiter struct {
	limit rate.Limit
	burst int
	// refill is how long an empty bucket takes to fill: an entry idle that
	// long is the same as no entry.
	refill time.Duration
	max    int

	mu sync.Mutex
	m  map[netip.Addr]*bucket // guarded by mu
}

type bucket struct {
	lim *rate.Limiter
	// last is the latest failure; zero for a bucket only ever used by
	// logins that succeeded (full again, so evicted first).
	last time.Time
}

func newLimiter(every time.Duration, burst, max int) *limiter {
	return &limiter{
		limit:  rate.Every(every),
		burst:  burst,
		refill: every * time.Duration(burst),
		max:    max,
		m:      map[netip.Addr]*bucket{},
	}
}

// clientKey is the key an address is limited under: an IPv4 address, or an
// IPv6 address's /64 (one host usually owns a whole /64, so per-address
// keys would give it 2^64 buckets).
func clientKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// blocked reports whether k has no attempt left at now, and if so how long
// until it has one.
func (l *limiter) blocked(k netip.Addr, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[k]
	if b == nil {
		return false, 0
	}
	tok := b.lim.TokensAt(now)
	if tok >= 1 {
		return false, 0
	}
	wait := time.Duration(math.Ceil((1 - tok) / float64(l.limit) * float64(time.Second)))
	return true, wait
}

// attempt takes a token from k at now for a login about to be checked,
// making k's bucket if needed. Without a token left it takes nothing and
// says how long until one. Taking the token before the (slow) password
// check bounds the checks one address can have running at once to its
// burst. A login that succeeds gives the token back with refund.
func (l *limiter) attempt(k netip.Addr, now time.Time) (r *rate.Reservation, ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[k]
	if b == nil {
		if len(l.m) >= l.max {
			l.evict(now)
		}
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.m[k] = b
	}
	r = b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return nil, false, d
	}
	return r, true, 0
}

// refund gives back the token of an attempt that succeeded; at must be
// the attempt's time: rate.Reservation.CancelAt restores nothing for a
// reservation that acted before the time it is given, and the password
// check between the two takes a quarter of a second.
func (l *limiter) refund(r *rate.Reservation, at time.Time) { r.CancelAt(at) }

// failed records that k's attempt at now failed: its token stays spent,
// and the entry is as recent as now for eviction.
func (l *limiter) failed(k netip.Addr, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.m[k]; b != nil {
		b.last = now
	}
}

// fail takes one attempt from k at now and records it as failed.
func (l *limiter) fail(k netip.Addr, now time.Time) {
	if _, ok, _ := l.attempt(k, now); ok {
		l.failed(k, now)
	}
}

// evict makes room for one entry: every entry whose bucket has refilled
// (worth nothing), or if none, the one whose latest failure is oldest.
// O(entries), and only when the map is full; each failure that gets here
// has already cost its sender a bcrypt comparison on our side.
func (l *limiter) evict(now time.Time) {
	var oldest netip.Addr
	var oldestAt time.Time
	for k, b := range l.m {
		if now.Sub(b.last) >= l.refill {
			delete(l.m, k)
			continue
		}
		if oldestAt.IsZero() || b.last.Before(oldestAt) {
			oldest, oldestAt = k, b.last
		}
	}
	if len(l.m) >= l.max {
		delete(l.m, oldest)
	}
}

// tracked returns the number of keys with a record.
func (l *limiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
