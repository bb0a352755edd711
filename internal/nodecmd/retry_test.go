package nodecmd

import (
	"testing"
	"time"
)

// TestBackoffDoublesToTheCap drives one torrent's retry schedule with a
// fake clock: 30 s, 60 s, 120 s ... capped at 30 min while errors keep
// coming; a torrent that ran well for a while starts at 30 s again; and
// with retries off nothing is ever scheduled.
func TestBackoffDoublesToTheCap(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := backoff{first: 30 * time.Second}
	now := t0
	var delays []time.Duration
	for range 9 {
		due := b.failed(now)
		if b.ready(due.Add(-time.Nanosecond)) || !b.ready(due) {
			t.Fatalf("ready before or not at its due time %v", due)
		}
		if again := b.failed(now.Add(time.Second)); again != due {
			t.Fatalf("a second failure report moved the retry from %v to %v", due, again)
		}
		delays = append(delays, due.Sub(now))
		now = due
		b.retried(now)
		now = now.Add(time.Second) // the retry fails again at once
	}
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute,
		16 * time.Minute, 30 * time.Minute, 30 * time.Minute, 30 * time.Minute}
	for i := range want {
		if delays[i] != want[i] {
			t.Fatalf("delays %v, want %v", delays, want)
		}
	}

	cases := []struct {
		name  string
		after time.Duration // since the last retry, before the next error
		delay time.Duration
	}{
		{"error soon after a retry keeps doubling", time.Minute, 2 * time.Minute},
		{"error after a long healthy run starts over", time.Hour, 30 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := backoff{first: 30 * time.Second}
			b.retried(b.failed(t0))                  // attempt 1 after 30 s
			b.retried(b.failed(t0.Add(time.Minute))) // attempt 2 after 60 s
			last := b.lastTry
			if got := b.failed(last.Add(c.after)).Sub(last.Add(c.after)); got != c.delay {
				t.Fatalf("delay %v, want %v", got, c.delay)
			}
		})
	}

	b = backoff{first: 30 * time.Second}
	b.retried(b.failed(t0))
	b.recovered()
	if got := b.failed(t0.Add(time.Minute)).Sub(t0.Add(time.Minute)); got != 30*time.Second {
		t.Fatalf("after completing, first delay %v", got)
	}
	off := backoff{}
	if !off.failed(t0).IsZero() || off.ready(t0.Add(time.Hour)) {
		t.Fatal("retries off still schedules one")
	}
}
