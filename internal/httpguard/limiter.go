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
	lim  *rate.Limiter
	last time.Time // latest failure
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

// fail takes one attempt from k at now, making its bucket if needed.
func (l *limiter) fail(k netip.Addr, now time.Time) {
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
	b.lim.AllowN(now, 1)
	b.last = now
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
