package shardtorrent

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/shardtorrent/shardtorrent/settings"
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
// seedRatioMode and seedRatioLimit): RatioGlobal follows the
// session's limit, RatioOwn pauses the torrent at ratio (0: never),
// RatioUnlimited seeds on. A new rule is checked afresh, even on a
// torrent a limit paused before (resume it to seed again). Safe from any
// goroutine.
func (t *Torrent) SetRatioLimit(ctx context.Context, mode RatioMode, ratio float64) error {
	if mode > RatioUnlimited || ratio < 0 || math.IsNaN(ratio) || math.IsInf(ratio, 0) {
		return fmt.Errorf("%w: ratio mode %d, ratio %v", ErrBadLimit, mode, ratio)
	}
	return t.do(ctx, func(x *shard.Torrent) { x.SetRatioLimit(mode, ratio) })
}

// RatioLimit returns the torrent's share-ratio rule and own limit
// (SetRatioLimit). Safe from any goroutine.
func (t *Torrent) RatioLimit(ctx context.Context) (mode RatioMode, ratio float64, err error) {
	err = t.do(ctx, func(x *shard.Torrent) { mode, ratio = x.RatioLimit() })
	return mode, ratio, err
}

// forget takes a torrent its shard removed on its own (a seed limit's
// remove action) out of the registry and the queue, as Torrent.Remove
// does after its shard's removal, and its handle out of the handle table
// (torrents.go). Safe from any goroutine, the loops included.
func (s *Session) forget(key [20]byte) {
	if t := s.handles.get(key); t != nil {
		s.forgetTorrent(t)
	}
}

// SeedPolicy returns the seed-time ratio limit, the idle limit and the
// action taken at any seed limit in effect (Engine.SeedTimeRatioLimit,
// SeedIdleLimit and SeedLimitAction; 0 is no limit). Safe from any
// goroutine.
func (s *Session) SeedPolicy() settings.SeedPolicy {
	e := &s.live.Load().Engine
	return settings.SeedPolicy{TimeRatio: e.SeedTimeRatioLimit, Idle: e.SeedIdleLimit, Action: e.SeedLimitAction}
}

// SetSeedPolicy changes the seed-time ratio limit, the idle limit and
// the seed-limit action while the session runs, as ApplySettings with
// those three fields: each shard's next tick applies them. Safe from any
// goroutine.
func (s *Session) SetSeedPolicy(ctx context.Context, p settings.SeedPolicy) error {
	if p.TimeRatio < 0 || math.IsNaN(p.TimeRatio) || math.IsInf(p.TimeRatio, 0) || p.Idle < 0 || p.Action > shard.SeedLimitRemoveData {
		return fmt.Errorf("%w: seed time ratio %v, idle %v, action %v", ErrBadLimit, p.TimeRatio, p.Idle, p.Action)
	}
	return s.modifySettings(ctx, func(set *Settings) {
		e := &set.Engine
		e.SeedTimeRatioLimit, e.SeedIdleLimit, e.SeedLimitAction = p.TimeRatio, p.Idle, p.Action
	})
}

// SetIdleLimit sets the torrent's idle-seeding rule (Transmission's
// seedIdleMode and seedIdleLimit): IdleGlobal follows the session's
// limit, IdleOwn stops the torrent after idle without upload (0:
// never), IdleUnlimited seeds on. Safe from any goroutine.
func (t *Torrent) SetIdleLimit(ctx context.Context, mode IdleMode, idle time.Duration) error {
	if mode > IdleUnlimited || idle < 0 {
		return fmt.Errorf("%w: idle mode %d, idle %v", ErrBadLimit, mode, idle)
	}
	return t.do(ctx, func(x *shard.Torrent) { x.SetIdleLimit(mode, idle) })
}

// IdleLimit returns the torrent's idle-seeding rule and own limit
// (SetIdleLimit). Safe from any goroutine.
func (t *Torrent) IdleLimit(ctx context.Context) (mode IdleMode, idle time.Duration, err error) {
	err = t.do(ctx, func(x *shard.Torrent) { mode, idle = x.IdleLimit() })
	return mode, idle, err
}

// RatioMode is a torrent's share-ratio rule (settings.RatioMode,
// Transmission's seedRatioMode); IdleMode its idle-seeding rule
// (settings.IdleMode, seedIdleMode).
type (
	RatioMode = settings.RatioMode
	IdleMode  = settings.IdleMode
)

// The rules: follow the session's limit (the default), the torrent's own,
// or none.
const (
	RatioGlobal    = settings.RatioGlobal
	RatioOwn       = settings.RatioOwn
	RatioUnlimited = settings.RatioUnlimited
	IdleGlobal     = settings.IdleGlobal
	IdleOwn        = settings.IdleOwn
	IdleUnlimited  = settings.IdleUnlimited
)
