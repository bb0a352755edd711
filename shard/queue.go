package shard

import (
	"time"

	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/settings"
)

// Auto-management (libtorrent's auto_managed torrents): the session's
// queue (queue.go in the root package) decides once a second which
// auto-managed torrents run, from the QueueInfo every shard reports, and
// starts or stops them here with QueueStart and QueueStop. A manual Pause
// or Resume through the session's handle takes a torrent out of
// auto-management (SetAutoManaged(false)), as does a seed limit
// (seedlimit.go); a torrent added paused is not auto-managed either.
//
// A queue stop is a pause that resume data does not record (the torrent
// is saved running and auto-managed, so a restart puts it back in the
// queue). Queue stops and starts run the plugins' PauseHook and
// ResumeHook as a manual Pause and Resume do, as libtorrent's
// auto-managed pauses go through torrent::do_pause / do_resume: the hooks
// run after the paused flag flipped, and one returning true skips the
// rest of the standard work (disconnects, announces, alerts) while the
// torrent still reports paused or resumed.

// Defaults for the auto-manager's activity test, libtorrent's
// inactive_down_rate / inactive_up_rate and inactivity_timeout.
const (
	// InactiveRate is the payload rate, either way, below which a second
	// does not count as activity (2 KiB/s; settings.InactiveRate).
	InactiveRate = settings.InactiveRate
	// DefaultAutoManageInactiveTime is Settings.AutoManageInactiveTime's
	// default (settings.DefaultAutoManageInactiveTime).
	DefaultAutoManageInactiveTime = settings.DefaultAutoManageInactiveTime
)

// QueueInfo is what the session's queue needs of one torrent.
type QueueInfo struct {
	Key [20]byte // the torrent's wire info-hash (Shard.Torrent's key)
	// Seed: the torrent has every piece (seeds compete for active seed
	// slots, the others for active download slots).
	Seed bool
	// Paused: stopped, by the queue (the torrent is auto-managed).
	Paused bool
	// Active: running and moved payload faster than InactiveRate within
	// the last Settings.AutoManageInactiveTime, or started within it (the
	// startup grace of libtorrent's auto_manage_startup). A running
	// torrent that is not active is "slow": with dont_count_slow_torrents
	// it uses no slot.
	Active bool
	// Busy: checking files or in error; the queue neither starts nor
	// counts it.
	Busy bool
}

// AutoManaged reports whether the queue may start and stop t. Loop only.
func (t *Torrent) AutoManaged() bool { return t.autoManaged }

// SetAutoManaged puts t under the queue's control or takes it out (a
// manual Pause or Resume does). Loop only.
func (t *Torrent) SetAutoManaged(on bool) {
	if t.autoManaged != on {
		t.autoManaged = on
		t.rs.dirty = true // saved in resume data (policy.go)
	}
}

// noteActivity records a second with payload moving faster than
// InactiveRate; onTick calls it before the second's counters reset.
func (t *Torrent) noteActivity(now time.Time) {
	if t.secDown >= InactiveRate || t.secUp >= InactiveRate {
		t.lastActive = now
	}
	if t.secUp > 0 {
		t.sl.lastUp = now // the idle limit's activity (seedlimit.go)
	}
	t.advanceDownClock(now)
}

// AppendQueueInfo appends a QueueInfo for every auto-managed torrent of s
// to dst and returns it; with no allocation once dst has the capacity.
// Loop only.
func (s *Shard) AppendQueueInfo(dst []QueueInfo) []QueueInfo {
	now := s.now()
	grace := s.set.AutoManageInactiveTime
	for key, t := range s.torrents {
		if !t.autoManaged || t.removed {
			continue
		}
		dst = append(dst, QueueInfo{
			Key:    key,
			Seed:   t.isSeed(),
			Paused: t.paused,
			Active: !t.paused && now.Sub(t.lastActive) < grace,
			Busy:   t.checking || t.err != nil,
		})
	}
	return dst
}

// QueueStop pauses t for the queue: peers disconnected, announcing
// stopped, a TorrentPausedAlert; t stays auto-managed. The torrent
// plugins' OnPause run first (after t is marked paused); one returning
// true skips the rest. Nothing if t is paused or not auto-managed. Loop
// only.
func (t *Torrent) QueueStop() {
	if t.paused || !t.autoManaged || t.removed {
		return
	}
	defer t.noteState()
	t.stopSeedClock(t.s.now())
	t.rs.dirty = true
	t.paused = true
	if t.pauseHooks() {
		return
	}
	t.pauseInternal()
}

// QueueStart resumes t for the queue, which then counts it active for
// Settings.AutoManageInactiveTime (its startup grace): a
// TorrentResumedAlert, announcing and connecting. The torrent plugins'
// OnResume run first (after t is marked running); one returning true
// skips the rest. Nothing if t runs or is not auto-managed. Loop only.
func (t *Torrent) QueueStart() {
	if !t.paused || !t.autoManaged || t.removed {
		return
	}
	defer t.noteState()
	t.paused = false
	t.lastActive = t.s.now()
	t.rs.dirty = true
	if t.resumeHooks() {
		return
	}
	t.s.post(&plugin.TorrentResumedAlert{TorrentAlert: t.alertBase()})
	if !t.checking && (t.info == nil || t.filesChecked) {
		t.startAnnouncing()
	}
	t.connectMore(t.s.now())
}

// pauseHooks runs the torrent plugins' OnPause in chain order and reports
// whether one returned true (libtorrent's on_pause: handled).
func (t *Torrent) pauseHooks() bool {
	tx := t.tx
	return tx != nil && len(tx.pause) > 0 &&
		eachBool(t, tx.pause, "OnPause", func(h plugin.PauseHook) bool { return h.OnPause() })
}

// resumeHooks is pauseHooks for OnResume.
func (t *Torrent) resumeHooks() bool {
	tx := t.tx
	return tx != nil && len(tx.resume) > 0 &&
		eachBool(t, tx.resume, "OnResume", func(h plugin.ResumeHook) bool { return h.OnResume() })
}
