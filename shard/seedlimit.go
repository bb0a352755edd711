package shard

import (
	"time"

	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/settings"
)

// Seeding policy: Settings.ShareRatioLimit, SeedTimeLimit,
// SeedTimeRatioLimit and SeedIdleLimit stop a torrent that has seeded
// enough, as libtorrent's share_ratio_limit, seed_time_limit and
// seed_time_ratio_limit and Transmission's seedRatioLimit and
// idle-seeding-limit do; Settings.SeedLimitAction says whether it is
// paused (the default), removed, or removed with its files (qBittorrent's
// choice). A removal goes through Remove / RemoveWithFiles, then
// EventRemoved tells the session to forget the torrent.
//
// The check runs on the shard's tick for every torrent, idle seeds
// included (they skip their own tick, wantTick), but only when one of the
// limits is set: with all at 0 (the default) it costs one branch a
// second. Times are measured with the shard's clock (a fake one in the
// tests) and to within a tick, in this session:
//   - seeding time accumulates while the torrent is complete and not
//     paused; Pause stops it at once;
//   - downloading time accumulates while it runs incomplete (its tick,
//     noteActivity, starts the stretch; completion and Pause end it);
//   - the seed-time ratio is seeding time over downloading time. As in
//     libtorrent 2.0.8's torrent::seed_rank, it only applies once the
//     downloading time exceeds one second; libtorrent counts a torrent
//     below that as done (it only loses queue priority there), where we,
//     who stop the torrent, let it seed on;
//   - idle time runs from the later of the start of the seeding stretch
//     and the last second with payload uploaded (Transmission's
//     max(startDate, activityDate)).
//
// A torrent paused by a limit is marked done: resumed by hand, it seeds on
// without being paused again (Transmission's behaviour once the user
// overrides the ratio), until the session restarts.

// SeedLimitAction is Settings.SeedLimitAction (plugin.SeedLimitAction).
type SeedLimitAction = plugin.SeedLimitAction

// The seed-limit actions.
const (
	SeedLimitPause      = plugin.SeedLimitPause
	SeedLimitRemove     = plugin.SeedLimitRemove
	SeedLimitRemoveData = plugin.SeedLimitRemoveData
)

// RatioMode and IdleMode are a torrent's own seed-limit rules
// (settings.RatioMode, settings.IdleMode).
type (
	RatioMode = settings.RatioMode
	IdleMode  = settings.IdleMode
)

// The rules' values (settings').
const (
	RatioGlobal    = settings.RatioGlobal
	RatioOwn       = settings.RatioOwn
	RatioUnlimited = settings.RatioUnlimited
	IdleGlobal     = settings.IdleGlobal
	IdleOwn        = settings.IdleOwn
	IdleUnlimited  = settings.IdleUnlimited
)

// seedLimitState is a torrent's seeding clock. Loop only.
type seedLimitState struct {
	mode   RatioMode
	ratio  float64       // the limit with RatioOwn
	since  time.Time     // start of the current seeding stretch, zero if not seeding
	seeded time.Duration // seeding time of the stretches before it
	done   bool          // a limit paused the torrent already

	idleMode IdleMode
	idle     time.Duration // the limit with IdleOwn
	lastUp   time.Time     // last second with payload uploaded

	downSince time.Time     // start of the current downloading stretch, zero if not downloading
	down      time.Duration // downloading time of the stretches before it
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

// downloadingTime returns how long t has run incomplete in this session,
// as of now.
func (t *Torrent) downloadingTime(now time.Time) time.Duration {
	d := t.sl.down
	if !t.sl.downSince.IsZero() && now.After(t.sl.downSince) {
		d += now.Sub(t.sl.downSince)
	}
	return d
}

// advanceDownClock starts or ends t's downloading stretch as t runs
// incomplete or not; noteActivity calls it every tick of t, and
// checkSeedLimits every shard tick while a limit is set.
func (t *Torrent) advanceDownClock(now time.Time) {
	downloading := !t.paused && !t.removed && !t.checking && t.err == nil && t.info != nil && !t.isSeed()
	switch {
	case downloading && t.sl.downSince.IsZero():
		t.sl.downSince = now
	case !downloading && !t.sl.downSince.IsZero():
		t.sl.down = t.downloadingTime(now)
		t.sl.downSince = time.Time{}
	}
}

// stopSeedClock ends the current seeding and downloading stretches, if
// any: Pause, QueueStop and the completion call it so that paused time
// never counts; other ends (an error, a recheck) are seen by the next
// checkSeedLimits or tick, within a second.
func (t *Torrent) stopSeedClock(now time.Time) {
	if !t.sl.since.IsZero() {
		t.sl.seeded = t.seedingTime(now)
		t.sl.since = time.Time{}
	}
	if !t.sl.downSince.IsZero() {
		t.sl.down = t.downloadingTime(now)
		t.sl.downSince = time.Time{}
	}
}

// seedLimitsSet reports whether the tick must run checkSeedLimits.
func (s *Shard) seedLimitsSet() bool {
	set := &s.set
	return set.ShareRatioLimit > 0 || set.SeedTimeLimit > 0 || set.SeedTimeRatioLimit > 0 ||
		set.SeedIdleLimit > 0 || s.ownRatios > 0 || s.ownIdles > 0
}

// checkSeedLimits advances t's clocks and, when t reached a limit, takes
// Settings.SeedLimitAction and posts a SeedLimitReachedAlert. Called once
// a second by the shard's tick when a limit is set.
func (t *Torrent) checkSeedLimits(now time.Time) {
	t.advanceDownClock(now)
	seeding := !t.paused && !t.removed && !t.checking && t.err == nil && t.isSeed()
	if !seeding {
		t.stopSeedClock(now)
		return
	}
	if t.sl.since.IsZero() {
		t.sl.since = now
	}
	if t.secUp > 0 {
		t.sl.lastUp = now // this second's upload, before onTick notes it
	}
	if t.sl.done {
		return
	}
	reason, ratio, seeded := t.seedLimitReached(now)
	if reason == "" {
		return
	}
	t.sl.done = true
	action := t.s.set.SeedLimitAction
	switch action {
	case SeedLimitRemove:
		t.Remove()
		t.emit(EventRemoved)
	case SeedLimitRemoveData:
		t.RemoveWithFiles()
		t.emit(EventRemoved)
	default:
		action = SeedLimitPause
		t.Pause()
		t.emit(EventLimitPaused)
	}
	t.s.post(&plugin.SeedLimitReachedAlert{TorrentAlert: t.alertBase(), Reason: reason, Ratio: ratio, Seeded: int64(seeded / time.Second), Action: action})
}

// seedLimitReached returns the name of the first limit a seeding t has
// reached ("" for none), its share ratio and its seeding time.
func (t *Torrent) seedLimitReached(now time.Time) (reason string, ratio float64, seeded time.Duration) {
	set := &t.s.set
	ratio = t.shareRatio()
	seeded = t.seedingTime(now)
	limit := set.ShareRatioLimit
	switch t.sl.mode {
	case RatioOwn:
		limit = t.sl.ratio
	case RatioUnlimited:
		limit = 0
	}
	idle := set.SeedIdleLimit
	switch t.sl.idleMode {
	case IdleOwn:
		idle = t.sl.idle
	case IdleUnlimited:
		idle = 0
	}
	switch {
	case limit > 0 && ratio >= limit:
		return "ratio", ratio, seeded
	case set.SeedTimeLimit > 0 && seeded >= set.SeedTimeLimit:
		return "seed time", ratio, seeded
	case set.SeedTimeRatioLimit > 0:
		// libtorrent's minimum: more than a second of downloading.
		if down := t.downloadingTime(now); down > time.Second && float64(seeded) >= set.SeedTimeRatioLimit*float64(down) {
			return "seed time ratio", ratio, seeded
		}
	}
	if idle > 0 {
		from := t.sl.since
		if t.sl.lastUp.After(from) {
			from = t.sl.lastUp
		}
		if now.Sub(from) >= idle {
			return "idle", ratio, seeded
		}
	}
	return "", ratio, seeded
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
	t.rs.dirty = true // saved in resume data (policy.go)
}

// IdleLimit returns t's idle-seeding rule and its own limit. Loop only.
func (t *Torrent) IdleLimit() (IdleMode, time.Duration) { return t.sl.idleMode, t.sl.idle }

// SetIdleLimit sets t's idle-seeding rule; idle is its own limit, used
// with IdleOwn (0: none). As SetRatioLimit, a new rule is checked afresh.
// Loop only.
func (t *Torrent) SetIdleLimit(mode IdleMode, idle time.Duration) {
	if (t.sl.idleMode == IdleOwn) != (mode == IdleOwn) {
		if mode == IdleOwn {
			t.s.ownIdles++
		} else {
			t.s.ownIdles--
		}
	}
	t.sl.idleMode, t.sl.idle = mode, idle
	t.sl.done = false
	t.rs.dirty = true
}

// SetSeedLimits changes Settings.ShareRatioLimit and SeedTimeLimit while
// the shard runs; the next tick applies them. Loop only.
func (s *Shard) SetSeedLimits(ratio float64, seedTime time.Duration) {
	s.set.ShareRatioLimit, s.set.SeedTimeLimit = ratio, seedTime
}

// SeedPolicy is the rest of the seeding policy that can change while the
// session runs (the root package's SeedPolicy and SetSeedPolicy):
// Settings.SeedTimeRatioLimit, SeedIdleLimit and SeedLimitAction.
type SeedPolicy = settings.SeedPolicy
