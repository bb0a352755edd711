package shardtorrent

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// rateSessions starts a seeder with set (and a listen address on
// loopback) and a leecher, and starts the leecher downloading a file of
// size from the seeder. It returns the seeder and the leecher's torrent.
func rateSessions(t *testing.T, set Settings, size int) (*Session, *Session, *Torrent, *Torrent) {
	t.Helper()
	src := t.TempDir()
	writeFiles(t, src, map[string]int{"r.bin": size})
	_, mi, err := metainfo.Create(filepath.Join(src, "r.bin"), metainfo.CreateOptions{PieceLength: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	set.ListenAddr, set.Shards, set.Pool, set.AlertMask = "127.0.0.1:0", 2, bufpool.New(), plugin.CategoryAll
	seeder, err := NewSession(context.Background(), set)
	if err != nil {
		t.Fatal(err)
	}
	leecher := newTestSession(t, bufpool.New(), 1)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = leecher.Close(ctx)
		_ = seeder.Close(ctx)
	})
	ctx := context.Background()
	st, err := seeder.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src})
	if err != nil {
		t.Fatal(err)
	}
	waitAlert(t, seeder, 20*time.Second, func(a plugin.Alert) bool {
		sc, ok := a.(*plugin.StateChangedAlert)
		return ok && sc.To == plugin.StateSeeding
	})
	lt, err := leecher.AddTorrent(ctx, AddTorrentParams{
		MetaInfo: mi, SavePath: t.TempDir(), Peers: []netip.AddrPort{seeder.ListenAddr()},
	})
	if err != nil {
		t.Fatal(err)
	}
	return seeder, leecher, st, lt
}

// measureDown returns the leecher's payload download rate over a window
// of d: bytes between two readings of its counter a timer apart (the
// measurement itself, not a wait for an event).
func measureDown(t *testing.T, lt *Torrent, d time.Duration) float64 {
	t.Helper()
	ctx := context.Background()
	a, err := lt.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	<-time.NewTimer(d).C
	b, err := lt.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.Progress == 1 {
		t.Fatalf("the download finished inside the window: the rate is not measured")
	}
	return float64(b.TotalDownload-a.TotalDownload) / time.Since(t0).Seconds()
}

// waitStarted waits until the leecher has received its first payload.
func waitStarted(t *testing.T, leecher *Session) {
	t.Helper()
	waitAlert(t, leecher, 20*time.Second, func(a plugin.Alert) bool {
		_, ok := a.(*plugin.PieceFinishedAlert)
		return ok
	})
}

// near checks a measured rate against a limit. Above the limit it allows
// tol: a limiter that lets more through is broken, whatever the machine.
// Below it allows down to a quarter of the limit: a process starved of CPU
// falls short of any limit, because its token buckets refill by the clock
// but it wakes late and holds at most one burst (on this 2-vCPU machine at
// load average 12-14 these tests measured -17.6% and -54%, and -0.0% to
// -7.5% quiet). That shortfall is the scheduler's, not the limiter's. The
// accuracy itself (within 5% over 10 s) is measured against libtorrent in
// interop/ratelimit_test.go and in PERF.md, not in a unit test. Each call
// here still fails when its limit is not applied: the rates it tells apart
// differ by 4x, or one of them is unlimited.
func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	t.Logf("%s: %.0f B/s, limit %.0f B/s (%+.1f%%)", what, got, want, (got-want)/want*100)
	if got > want*(1+tol) || got < want/4 {
		t.Errorf("%s: %.0f B/s, want %.0f (at most %.0f%% above, at least a quarter)", what, got, want, tol*100)
	}
}

// TestSessionUploadLimit: a seeder with an upload limit that applies to
// local peers serves a loopback leecher at the limit, and a change while
// running takes effect within a second.
func TestSessionUploadLimit(t *testing.T) {
	const rate = 2 << 20
	_, leecher, _, lt := rateSessions(t, Settings{UploadRateLimit: LimitTo(rate), LimitLocal: true}, 24<<20)
	waitStarted(t, leecher)
	near(t, "2 MiB/s", measureDown(t, lt, 2*time.Second), rate, 0.1)
}

// TestSessionRateLimitChange: SetRateLimits on a running transfer changes
// its rate within a second.
func TestSessionRateLimitChange(t *testing.T) {
	const rate = 1 << 20
	seeder, leecher, _, lt := rateSessions(t, Settings{UploadRateLimit: LimitTo(rate), LimitLocal: true}, 48<<20)
	waitStarted(t, leecher)
	near(t, "before", measureDown(t, lt, 2*time.Second), rate, 0.1)
	if err := seeder.SetRateLimits(context.Background(), LimitTo(8*rate), Limit{}); err != nil {
		t.Fatal(err)
	}
	if up, down := seeder.RateLimits(); up != LimitTo(8*rate) || !down.IsUnlimited() {
		t.Fatalf("RateLimits() = %v, %v", up, down)
	}
	<-time.NewTimer(time.Second).C // "within a second": the window starts a second after the change
	near(t, "after SetRateLimits", measureDown(t, lt, 3*time.Second), 8*rate, 0.1)
}

// TestSessionTorrentLimitUnderSession: a torrent's own limit below the
// session's governs; download limits on the leecher side work the same.
func TestSessionTorrentLimitUnderSession(t *testing.T) {
	const rate = 4 << 20
	_, leecher, st, lt := rateSessions(t, Settings{UploadRateLimit: LimitTo(rate), LimitLocal: true}, 24<<20)
	ctx := context.Background()
	if err := st.SetUploadLimit(ctx, LimitTo(rate/4)); err != nil {
		t.Fatal(err)
	}
	if up, _, err := st.Limits(ctx); err != nil || up != LimitTo(rate/4) {
		t.Fatalf("Limits() = %v, %v", up, err)
	}
	waitStarted(t, leecher)
	near(t, "torrent limit", measureDown(t, lt, 2*time.Second), rate/4, 0.1)
	// Lift the torrent's limit and cap the leecher's download instead.
	if err := st.SetUploadLimit(ctx, Unlimited()); err != nil {
		t.Fatal(err)
	}
	if err := leecher.SetLimitLocal(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := leecher.SetRateLimits(ctx, Limit{}, LimitTo(rate/2)); err != nil {
		t.Fatal(err)
	}
	<-time.NewTimer(time.Second).C
	near(t, "leecher download limit", measureDown(t, lt, 2*time.Second), rate/2, 0.1)
}

// TestSessionLocalExempt: without LimitLocal a loopback peer ignores the
// limit: the whole file arrives much faster than the limit allows.
func TestSessionLocalExempt(t *testing.T) {
	const rate, size = 1 << 20, 16 << 20
	_, leecher, _, lt := rateSessions(t, Settings{UploadRateLimit: LimitTo(rate)}, size)
	t0 := time.Now()
	waitAlert(t, leecher, 60*time.Second, func(a plugin.Alert) bool {
		_, ok := a.(*plugin.TorrentFinishedAlert)
		return ok
	})
	if el := time.Since(t0); el > size/rate/4*time.Second {
		t.Errorf("exempt local peer took %v for %d bytes at a %d B/s limit", el, size, rate)
	}
	_ = lt
}
