package shard

import (
	"time"

	"github.com/shardtorrent/shardtorrent/plugin"
)

// Seeding policy: Settings.ShareRatioLimit and Settings.SeedTimeLimit
// pause a torrent that has seeded enough, as libtorrent's
// share_ratio_limit and seed_time_limit do for an auto-managed torrent.
//
// The check runs on the shard's tick for every torrent, idle seeds
// included (they skip their own tick, wantTick), but only when one of the
// limits is set: with both at 0 (the default) it costs one branch a
// second. Seeding time is measured with the shard's clock (a fake one in
// the tests) and to within a tick: it accumulates while the torrent is
// complete and not paused; Pause stops it at once.
//
// A torrent paused by a limit is marked done: resumed by hand, it seeds on
// without being paused again (Transmission's behaviour once the user
// overrides the ratio), until the session restarts.

// RatioMode is a torrent's share-ratio rule, as Transmission's
// seedRatioMode.
type RatioMode uint8

const (
	// RatioGlobal follows Settings.ShareRatioLimit (the default).
	RatioGlobal RatioMode = iota
	// RatioOwn uses the torrent's own limit (SetRatioLimit).
	RatioOwn
	// RatioUnlimited seeds on whatever the session's limit.
	RatioUnlimited
)

// seedLimitState is a torrent's seeding clock. Loop only.
type seedLimitState struct {
	mode   RatioMode
	ratio  float64       // the limit with RatioOwn
	since  time.Time     // start of the current seeding stretch, zero if not seeding
	seeded time.Duration // seeding time of the stretches before it
	done   bool          // a limit paused the torrent already
}

// seedingTime returns how long t has seeded in this session, as of now.
func (t *Torrent) seedingTime(now time.Time) time.Duration {
	d := t.sl.seeded
	if !t.sl.since.IsZero() && now.After(t.sl.since) {
		d += now.Sub(t.sl.since)
	}
	return d
}

// shareRatio is payload uploaded over the larger of payload downloaded and
// the torrent's size, over the torrent's life (libtorrent divides by the
// download, or by the size when less was downloaded, so that a torrent
// added complete has a ratio too).
func (t *Torrent) shareRatio() float64 {
	if t.info == nil {
		return 0
	}
	down := max(t.rs.baseDown+t.totalDown, t.info.TotalLength, 1)
	return float64(t.rs.baseUp+t.totalUp) / float64(down)
}

// stopSeedClock ends the current seeding stretch, if any: Pause calls it
// so that paused time never counts; other ends of seeding (an error, a
// recheck) are seen by the next checkSeedLimits, within a tick.
func (t *Torrent) stopSeedClock(now time.Time) {
	if !t.sl.since.IsZero() {
		t.sl.seeded = t.seedingTime(now)
		t.sl.since = time.Time{}
	}
}

// checkSeedLimits advances t's seeding clock and pauses t when it reached
// a limit, with a SeedLimitReachedAlert. Called once a second by the
// shard's tick when a limit is set.
func (t *Torrent) checkSeedLimits(now time.Time) {
	seeding := !t.paused && !t.removed && !t.checking && t.err == nil && t.isSeed()
	if !seeding {
		t.stopSeedClock(now)
		return
	}
	if t.sl.since.IsZero() {
		t.sl.since = now
	}
	if t.sl.done {
		return
	}
	set := &t.s.set
	reason := ""
	ratio := t.shareRatio()
	seeded := t.seedingTime(now)
	limit := set.ShareRatioLimit
	switch t.sl.mode {
	case RatioOwn:
		limit = t.sl.ratio
	case RatioUnlimited:
		limit = 0
	}
	switch {
	case limit > 0 && ratio >= limit:
		reason = "ratio"
	case set.SeedTimeLimit > 0 && seeded >= set.SeedTimeLimit:
		reason = "seed time"
	default:
		return
	}
	t.sl.done = true
	t.Pause()
	t.s.post(&plugin.SeedLimitReachedAlert{TorrentAlert: t.alertBase(), Reason: reason, Ratio: ratio, Seeded: int64(seeded / time.Second)})
}

// RatioLimit returns t's share-ratio rule and its own limit. Loop only.
func (t *Torrent) RatioLimit() (RatioMode, float64) { return t.sl.mode, t.sl.ratio }

// SetRatioLimit sets t's share-ratio rule; ratio is its own limit, used
// with RatioOwn (0: none). A torrent with its own rule is checked every
// tick even when the session has no limit. Loop only.
func (t *Torrent) SetRatioLimit(mode RatioMode, ratio float64) {
	if (t.sl.mode == RatioOwn) != (mode == RatioOwn) {
		if mode == RatioOwn {
			t.s.ownRatios++
		} else {
			t.s.ownRatios--
		}
	}
	t.sl.mode, t.sl.ratio = mode, ratio
	t.sl.done = false // a new rule is checked afresh
}

// SetSeedLimits changes Settings.ShareRatioLimit and SeedTimeLimit while
// the shard runs; the next tick applies them. Loop only.
func (s *Shard) SetSeedLimits(ratio float64, seedTime time.Duration) {
	s.set.ShareRatioLimit, s.set.SeedTimeLimit = ratio, seedTime
}
