package nodecmd

import "time"

// Retrying torrents in an error state. A disk error (disk full, a file
// system remounted read-only, a permission error) stops one torrent
// (shard/diskerror.go); the usual cure is outside the node (space freed, a
// disk remounted), so the node, which is the application here, resumes the
// torrent by itself after a back-off and logs each attempt. libtorrent
// leaves this to the application too (qBittorrent offers no automatic
// retry; the user clicks "resume").
//
// The first retry waits retryFirst (the -error-retry flag, 30 s by
// default), each later one twice as long as the one before, up to
// retryMax (30 min). A torrent that runs clear of errors for longer than
// its current delay starts again from the first delay next time.

// retryMax caps the delay between two retries of one torrent.
const retryMax = 30 * time.Minute

// backoff is one torrent's retry schedule. Its methods take the time, so
// tests drive it with a fake clock.
type backoff struct {
	first    time.Duration // 0: never retry
	attempts int           // retries made in this run of errors
	due      time.Time     // when the next retry may run; zero: none scheduled
	lastTry  time.Time     // when the last retry ran
}

// delay is the wait before retry number attempts+1.
func (b *backoff) delay() time.Duration {
	d := b.first
	for range b.attempts {
		if d >= retryMax/2 {
			return retryMax
		}
		d *= 2
	}
	return min(d, retryMax)
}

// failed records that the torrent is in an error state at now and
// schedules the next retry, if none is; it returns the retry time (zero
// when retries are off).
func (b *backoff) failed(now time.Time) time.Time {
	if b.first <= 0 {
		return time.Time{}
	}
	if !b.due.IsZero() {
		return b.due
	}
	if !b.lastTry.IsZero() && now.Sub(b.lastTry) > 2*b.delay() {
		b.attempts = 0 // it ran well for a while: a new run of errors
	}
	b.due = now.Add(b.delay())
	return b.due
}

// ready reports whether a scheduled retry is due at now.
func (b *backoff) ready(now time.Time) bool {
	return !b.due.IsZero() && !now.Before(b.due)
}

// retried records a retry made at now.
func (b *backoff) retried(now time.Time) {
	b.attempts++
	b.lastTry = now
	b.due = time.Time{}
}

// recovered records that the torrent completed: the next error starts a
// new run of retries.
func (b *backoff) recovered() {
	b.attempts = 0
	b.due = time.Time{}
	b.lastTry = time.Time{}
}
