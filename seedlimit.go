package shardtorrent

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/shardtorrent/shardtorrent/shard"
)

// SeedLimits returns the share-ratio and seed-time limits in effect
// (Engine.ShareRatioLimit and Engine.SeedTimeLimit; 0 is no limit). Safe
// from any goroutine.
func (s *Session) SeedLimits() (ratio float64, seedTime time.Duration) {
	set := s.live.Load()
	return set.Engine.ShareRatioLimit, set.Engine.SeedTimeLimit
}

// SetSeedLimits changes the share-ratio and seed-time limits while the
// session runs (0: no limit), as ApplySettings with those two fields:
// each shard's next tick applies them. A torrent already paused by a limit
// stays paused. Safe from any goroutine.
func (s *Session) SetSeedLimits(ctx context.Context, ratio float64, seedTime time.Duration) error {
	if ratio < 0 || math.IsNaN(ratio) || math.IsInf(ratio, 0) || seedTime < 0 {
		return fmt.Errorf("%w: seed ratio %v, seed time %v", ErrBadLimit, ratio, seedTime)
	}
	return s.modifySettings(ctx, func(set *Settings) {
		set.Engine.ShareRatioLimit, set.Engine.SeedTimeLimit = ratio, seedTime
	})
}

// QueueLimits returns Settings.ActiveDownloads, ActiveSeeds and
// ActiveLimit in effect, defaults filled in. Safe from any goroutine.
func (s *Session) QueueLimits() (downloads, seeds, total Limit) {
	set := s.live.Load()
	return set.ActiveDownloads, set.ActiveSeeds, set.ActiveLimit
}

// SetRatioLimit sets the torrent's share-ratio rule (Transmission's
// seedRatioMode and seedRatioLimit): shard.RatioGlobal follows the
// session's limit, shard.RatioOwn pauses the torrent at ratio (0: never),
// shard.RatioUnlimited seeds on. A new rule is checked afresh, even on a
// torrent a limit paused before (resume it to seed again). Safe from any
// goroutine.
func (t *Torrent) SetRatioLimit(ctx context.Context, mode shard.RatioMode, ratio float64) error {
	if mode > shard.RatioUnlimited || ratio < 0 || math.IsNaN(ratio) || math.IsInf(ratio, 0) {
		return fmt.Errorf("%w: ratio mode %d, ratio %v", ErrBadLimit, mode, ratio)
	}
	return t.do(ctx, func(x *shard.Torrent) { x.SetRatioLimit(mode, ratio) })
}

// RatioLimit returns the torrent's share-ratio rule and own limit
// (SetRatioLimit). Safe from any goroutine.
func (t *Torrent) RatioLimit(ctx context.Context) (mode shard.RatioMode, ratio float64, err error) {
	err = t.do(ctx, func(x *shard.Torrent) { mode, ratio = x.RatioLimit() })
	return mode, ratio, err
}
