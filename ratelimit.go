package shardtorrent

import (
	"context"

	"github.com/shardtorrent/shardtorrent/shard"
)

// Rate limits (issue 13, part 1): the session-wide limits live in one
// shard.RateLimits shared by every shard (an atomic budget each loop draws
// from in slices), the per-torrent limits in the torrent's loop. See
// shard/ratelimit.go for the model. Every one can change while the
// session runs; a change takes effect at the shards' next retry (5 ms).

// limitRate maps a Limit to the shard's bytes/s, where NoRateLimit is
// unlimited: unset means the default, which is unlimited.
func limitRate(l Limit) int64 {
	if v, ok := l.Value(); ok {
		return v
	}
	return shard.NoRateLimit
}

// rateLimit maps a shard rate back to a Limit (negative: Unlimited).
func rateLimit(r int64) Limit {
	if r < 0 {
		return Unlimited()
	}
	return LimitTo(r)
}

func (s *Session) initRateLimits(set *Settings) {
	s.rates = shard.NewRateLimits()
	s.rates.Up.SetRate(limitRate(set.UploadRateLimit))
	s.rates.Down.SetRate(limitRate(set.DownloadRateLimit))
	s.rates.LimitLocal.Store(set.LimitLocal)
	s.rates.Overhead.Store(set.RateLimitOverhead)
}

// SetRateLimits changes the session-wide upload and download limits in
// bytes/s while the session runs (libtorrent's upload_rate_limit and
// download_rate_limit through apply_settings), as ApplySettings with
// UploadRateLimit and DownloadRateLimit: an unset Limit leaves that
// direction as it is, Unlimited() lifts it, LimitTo(0) stops it. Safe from
// any goroutine.
func (s *Session) SetRateLimits(ctx context.Context, up, down Limit) error {
	return s.modifySettings(ctx, func(set *Settings) {
		set.UploadRateLimit = up.Or(set.UploadRateLimit)
		set.DownloadRateLimit = down.Or(set.DownloadRateLimit)
	})
}

// SetLimitLocal applies the limits to local-network peers too (true) or
// exempts them (false, the default), as ApplySettings with LimitLocal.
// Safe from any goroutine.
func (s *Session) SetLimitLocal(ctx context.Context, on bool) error {
	return s.modifySettings(ctx, func(set *Settings) { set.LimitLocal = on })
}

// RateLimits returns the session-wide upload and download limits
// (Unlimited() when none is set). Safe from any goroutine.
func (s *Session) RateLimits() (up, down Limit) {
	return rateLimit(s.rates.Up.Rate()), rateLimit(s.rates.Down.Rate())
}

// SetUploadLimit sets the torrent's own upload limit in bytes/s, under the
// session's (libtorrent's torrent_handle::set_upload_limit): unset or
// Unlimited() removes it, LimitTo(0) stops its uploads. Safe from any
// goroutine.
func (t *Torrent) SetUploadLimit(ctx context.Context, l Limit) error {
	return t.do(ctx, func(x *shard.Torrent) { x.SetUploadLimit(limitRate(l)) })
}

// SetDownloadLimit sets the torrent's own download limit in bytes/s, as
// SetUploadLimit. Safe from any goroutine.
func (t *Torrent) SetDownloadLimit(ctx context.Context, l Limit) error {
	return t.do(ctx, func(x *shard.Torrent) { x.SetDownloadLimit(limitRate(l)) })
}

// Limits returns the torrent's own upload and download limits
// (Unlimited() when none). Safe from any goroutine.
func (t *Torrent) Limits(ctx context.Context) (up, down Limit, err error) {
	var u, d int64
	err = t.do(ctx, func(x *shard.Torrent) { u, d = x.UploadLimit(), x.DownloadLimit() })
	return rateLimit(u), rateLimit(d), err
}
