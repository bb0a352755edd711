package shardtorrent

import (
	"context"
	"sync"

	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/shard"
)

// alertQueue is the session's bounded alert queue, shared by every shard.
// Safe for concurrent use.
type alertQueue struct {
	mu          sync.Mutex
	q           []plugin.Alert
	max         int
	mask        plugin.Category
	dropped     map[plugin.AlertType]int
	droppedUser map[plugin.AlertType]int
	// droppedTotal counts every alert dropped since the session started,
	// by the alert's Name; unlike dropped it is never reset (metrics).
	droppedTotal map[string]uint64
	notify       chan struct{} // capacity 1: "something is queued"
	// ext shows queued alerts to the session plugins with FeatureAlert,
	// synchronously on the posting goroutine, outside mu (so a plugin may
	// post from OnAlert).
	ext *shard.Extensions
	// ref finds the handle of a torrent alert posted without one (by a
	// plugin, say); nil in tests of the queue alone. See fillHandle.
	ref func(metainfo.InfoHash) plugin.TorrentRef
}

func newAlertQueue(max int, mask plugin.Category) *alertQueue {
	return &alertQueue{max: max, mask: mask, notify: make(chan struct{}, 1)}
}

func (q *alertQueue) Wants(c plugin.Category) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.mask&c != 0
}

// Alert priorities, as libtorrent's alert_priority: the queue holds up to
// max alerts of normal priority, and an alert of priority p is dropped
// only when (1+p)*max alerts are queued. The overflow is bounded (at most
// 3*max alerts) and keeps what an application cannot afford to lose when a
// burst fills the queue: completions, errors, resume data.
const (
	prioNormal = iota
	prioHigh
	prioCritical
)

// alertPriority is libtorrent 2.0.8's priority of the alert's libtorrent
// counterpart (alert_types.hpp); plugins' alerts are normal.
func alertPriority(a plugin.Alert) int {
	switch a.(type) {
	case *plugin.TorrentAddedAlert, // add_torrent_alert
		*plugin.TorrentRemovedAlert, *plugin.TorrentDeletedAlert, *plugin.TorrentDeleteFailedAlert,
		*plugin.SaveResumeDataAlert, *plugin.SaveResumeDataFailedAlert, *plugin.FastresumeRejectedAlert,
		*plugin.ListenSucceededAlert, *plugin.ListenFailedAlert, *plugin.ScrapeReplyAlert, *plugin.ScrapeFailedAlert:
		return prioCritical
	case *plugin.StateChangedAlert, *plugin.TorrentFinishedAlert, *plugin.TorrentCheckedAlert,
		*plugin.TorrentPausedAlert, *plugin.TorrentResumedAlert, *plugin.TorrentErrorAlert, *plugin.FileErrorAlert,
		*plugin.TrackerErrorAlert:
		return prioHigh
	}
	return prioNormal
}

// Post queues a, or counts it as dropped when the queue is full for its
// priority (see alertPriority).
func (q *alertQueue) Post(a plugin.Alert) {
	q.fillHandle(a)
	q.mu.Lock()
	if q.mask&a.Category() == 0 {
		q.mu.Unlock()
		return
	}
	queued := false
	if len(q.q) >= q.max && len(q.q) >= q.max*(1+alertPriority(a)) {
		m := &q.dropped
		if a.Type() >= plugin.UserAlertID {
			m = &q.droppedUser
		}
		if *m == nil {
			*m = make(map[plugin.AlertType]int)
		}
		(*m)[a.Type()]++
		if q.droppedTotal == nil {
			q.droppedTotal = make(map[string]uint64)
		}
		q.droppedTotal[a.Name()]++
	} else {
		q.q = append(q.q, a)
		queued = true
	}
	q.mu.Unlock()
	if queued && q.ext != nil {
		q.ext.DispatchAlert(a)
	}
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// fillHandle sets the Handle of a torrent alert posted without one, from
// its info-hash, before anyone else sees the alert. The engine's own
// alerts carry their handle already (shard.AddParams.Owner), so this costs
// them one type assertion; a plugin's look the torrent up, outside q.mu.
func (q *alertQueue) fillHandle(a plugin.Alert) {
	if q.ref == nil {
		return
	}
	if ta := plugin.TorrentAlertOf(a); ta != nil && ta.Handle == nil && !ta.InfoHash.IsZero() {
		ta.Handle = q.ref(ta.InfoHash)
	}
}

// pop takes every queued alert; if any were dropped since the last pop, an
// AlertsDroppedAlert comes first.
func (q *alertQueue) pop() []plugin.Alert {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.q
	q.q = nil
	if q.dropped != nil || q.droppedUser != nil {
		out = append([]plugin.Alert{&plugin.AlertsDroppedAlert{Dropped: q.dropped, DroppedUser: q.droppedUser}}, out...)
		q.dropped, q.droppedUser = nil, nil
	}
	return out
}

// droppedTotals returns a copy of the cumulative drop counts by alert
// name (nil if none was dropped). Safe from any goroutine.
func (q *alertQueue) droppedTotals() map[string]uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.droppedTotal) == 0 {
		return nil
	}
	out := make(map[string]uint64, len(q.droppedTotal))
	for k, v := range q.droppedTotal {
		out[k] = v
	}
	return out
}

func (q *alertQueue) setMask(m plugin.Category) {
	q.mu.Lock()
	q.mask = m
	q.mu.Unlock()
}

// wait blocks until an alert may be queued or ctx ends.
func (q *alertQueue) wait(ctx context.Context) error {
	q.mu.Lock()
	n := len(q.q)
	q.mu.Unlock()
	if n > 0 {
		return nil
	}
	select {
	case <-q.notify:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
