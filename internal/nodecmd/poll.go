package nodecmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/storage"
)

// The node never depends on an alert it can lose. The alert queue is
// bounded: 2,000 torrents starting together post about three alerts each,
// and once the queue is full the "seeding" state changes and torrent errors
// that -exit-when-complete waited for were dropped (the node hung, 5 of 5
// runs). So completion and errors come from each torrent's state, read for
// every torrent with one round trip per shard (Session.TorrentStatuses);
// alerts only make the node notice sooner, and are logged. Dropped alerts
// are counted and logged.
//
// Reading 10,000 torrents' state costs about 2 ms, and an idle node should
// cost nothing per second. So the read runs only when it can find
// something new: when the session's StateSeq (Session.Totals, kept by the
// loops at every add, removal, state, pause or error change, read without
// a round trip) moved since the last read, when a retry of a torrent in
// its error state is due (retry.go), or, with the status line on, while a
// torrent is checking or downloading (its progress moves without a state
// change). The status line's counts, peers and rates come from Totals; its
// first three torrents from the last read.

const (
	// pollEvery is the period of the state poll.
	pollEvery = time.Second
	// pollSoon is how long after a telling alert the state is polled: a
	// burst of alerts costs one poll.
	pollSoon = 20 * time.Millisecond
)

// track starts tracking a torrent just added.
func (n *node) track(h *shardtorrent.Torrent) *tracked {
	return &tracked{h: h, retry: backoff{first: n.retryFirst}}
}

// pollState is what the poll keeps between reads. Owned by the node's
// main goroutine.
type pollState struct {
	polled    bool      // a read ran at least once
	seq       uint64    // Totals.StateSeq before the last read
	nextRetry time.Time // the earliest retry due (zero: none)
	statusOn  bool      // the status line prints (-status > 0)
	head      string    // the status line's torrents, from the last read
	reads     int       // reads of every torrent's state so far
}

// due reports whether a read of every torrent's state may find something
// new at now, given the session's totals.
func (ps *pollState) due(now time.Time, tot shardtorrent.Totals) bool {
	return !ps.polled || tot.StateSeq != ps.seq ||
		(!ps.nextRetry.IsZero() && !now.Before(ps.nextRetry)) ||
		(ps.statusOn && tot.Checking+tot.Downloading > 0)
}

// poll reads every torrent's state, if it may have changed (see the top of
// this file), and acts on it: "seeding NAME" the first time one
// completes, "error NAME: ..." when one enters an error state, a retry
// when its back-off is due (retry.go). It reports whether the node should
// exit, and with which code: -exit-when-complete and every torrent
// complete (0), or an error and no retries (1).
func (n *node) poll(ctx context.Context, now time.Time, exitWhenComplete bool) (code int, done bool) {
	ps := &n.ps
	tot := n.sess.Totals()
	if !ps.due(now, tot) {
		return 0, false // nothing changed: the last read's conclusions stand (exit was not due)
	}
	sts, err := n.sess.TorrentStatuses(ctx, n.last)
	if err != nil {
		n.last = nil // partly overwritten
		ps.polled = false
		return 0, false // the context ended: the main loop is stopping
	}
	// StateSeq was read before the statuses: a change during the read
	// moves it again and makes the next poll read again.
	ps.polled, ps.seq = true, tot.StateSeq
	ps.reads++
	n.last = sts
	failed := false
	for i := range sts {
		st := &sts[i]
		t := n.byHash[st.InfoHash]
		if t == nil {
			continue
		}
		if n.applyStatus(ctx, t, st, now) {
			failed = true
		}
	}
	ps.nextRetry = time.Time{}
	for _, t := range n.byHash {
		if due := t.retry.due; t.err != nil && !due.IsZero() && (ps.nextRetry.IsZero() || due.Before(ps.nextRetry)) {
			ps.nextRetry = due
		}
	}
	ps.head = n.statusHead(sts)
	if !exitWhenComplete || len(n.byHash) == 0 {
		return 0, false
	}
	if failed && n.retryFirst <= 0 {
		return 1, true
	}
	for _, t := range n.byHash {
		if !t.complete {
			return 0, false
		}
	}
	return 0, true
}

// applyStatus updates t from its state st and reports whether t is in an
// error state.
func (n *node) applyStatus(ctx context.Context, t *tracked, st *shardtorrent.Status, now time.Time) bool {
	name := displayName(st)
	if st.Err != nil {
		if t.err == nil {
			t.err = st.Err
			fmt.Fprintf(n.out, "error %s: %v\n", name, st.Err)
			if due := t.retry.failed(now); !due.IsZero() {
				n.log.Error("torrent stopped by an error", "torrent", name, "file", st.ErrorFile, "err", st.Err,
					"retry_in", due.Sub(now).Round(time.Millisecond))
			} else {
				n.log.Error("torrent stopped by an error", "torrent", name, "file", st.ErrorFile, "err", st.Err)
			}
		}
		if t.retry.ready(now) {
			t.retry.retried(now)
			n.log.Warn("retrying torrent after its error", "torrent", name, "err", st.Err, "attempt", t.retry.attempts)
			fmt.Fprintf(n.out, "retry %s (attempt %d)\n", name, t.retry.attempts)
			t.err = nil // a new error after the retry is reported again
			if err := t.h.Resume(ctx); err != nil {
				n.log.Warn("retry failed", "torrent", name, "err", err)
			}
		}
		return true
	}
	t.err = nil
	if !t.complete && st.State == plugin.StateSeeding {
		t.complete = true
		t.retry.recovered()
		fmt.Fprintf(n.out, "seeding %s\n", name)
	}
	return false
}

// handleAlerts logs the queued alerts and reports whether any may mean a
// state change worth polling for soon.
func (n *node) handleAlerts() (pollSoon bool) {
	for _, a := range n.sess.PopAlerts() {
		switch a := a.(type) {
		case *plugin.StateChangedAlert:
			pollSoon = true
			n.log.Info(a.Message())
		case *plugin.TorrentFinishedAlert:
			pollSoon = true
			fmt.Fprintf(n.out, "complete %s\n", a.Torrent)
		case *plugin.TorrentCheckedAlert:
			pollSoon = true
			n.log.Info(a.Message())
		case *plugin.MetadataReceivedAlert:
			fmt.Fprintf(n.out, "metadata %s (%s)\n", a.Torrent, a.InfoHash)
		case *plugin.TorrentErrorAlert, *plugin.FileErrorAlert:
			pollSoon = true // printed from the torrent's state (poll)
			n.log.Warn(a.Message())
		case *plugin.AlertsDroppedAlert:
			pollSoon = true // what was dropped may have been a change
			k := 0
			for _, c := range a.Dropped {
				k += c
			}
			for _, c := range a.DroppedUser {
				k += c
			}
			n.dropped += k
			n.log.Warn("alert queue full: alerts dropped", "dropped", k, "dropped_total", n.dropped, "detail", a.Message())
		case *plugin.MetadataFailedAlert, *plugin.HashFailedAlert, *plugin.PeerErrorAlert, *plugin.ListenFailedAlert,
			*plugin.TrackerErrorAlert, *plugin.TrackerWarningAlert:
			n.log.Warn(a.Message())
		default:
			n.log.Debug(a.Message(), "alert", a.Name())
		}
	}
	return pollSoon
}

// statusHeadLen is how many torrents the status line names.
const statusHeadLen = 3

// statusHead is the status line's list of torrents from a read of their
// state: the first statusHeadLen in order (errors first, then by name),
// and how many more. Only those are formatted: a read of 10,000 torrents
// builds three strings.
func (n *node) statusHead(sts []shardtorrent.Status) string {
	var head [statusHeadLen]*shardtorrent.Status
	k, total := 0, 0
	for i := range sts {
		st := &sts[i]
		if n.byHash[st.InfoHash] == nil {
			continue
		}
		total++
		j := k
		for j > 0 && statusBefore(st, head[j-1]) {
			j--
		}
		if j == statusHeadLen {
			continue
		}
		if k < statusHeadLen {
			k++
		}
		copy(head[j+1:k], head[j:k-1])
		head[j] = st
	}
	parts := make([]string, 0, k+1)
	for _, st := range head[:k] {
		parts = append(parts, statusPart(st))
	}
	if total > k {
		parts = append(parts, fmt.Sprintf("+%d more", total-k))
	}
	return strings.Join(parts, "; ")
}

// statusBefore orders the status line's torrents: those in an error
// state first, then by name, then by the text shown.
func statusBefore(a, b *shardtorrent.Status) bool {
	if ea, eb := a.Err != nil, b.Err != nil; ea != eb {
		return ea
	}
	if na, nb := displayName(a), displayName(b); na != nb {
		return na < nb
	}
	return statusPart(a) < statusPart(b)
}

// status prints the status line: torrents, peers, rates and errors from
// the session's Totals (no round trip), the first torrents from the last
// read of their state, torrents in an error state first with their error
// instead of their progress.
func (n *node) status() {
	tot := n.sess.Totals()
	extra := ""
	if tot.Errored > 0 {
		extra += fmt.Sprintf(" errors=%d", tot.Errored)
	}
	if n.dropped > 0 {
		extra += fmt.Sprintf(" alerts-dropped=%d", n.dropped)
	}
	fmt.Fprintf(n.out, "status: torrents=%d peers=%d down=%.1fMB/s up=%.1fMB/s%s [%s]\n",
		len(n.order), tot.Peers, float64(tot.DownloadRate)/1e6, float64(tot.UploadRate)/1e6, extra, n.ps.head)
}

// statusPart is one torrent in the status line: its state and progress,
// or its error ("NAME error: no space left on device (write a.bin)").
func statusPart(st *shardtorrent.Status) string {
	name := displayName(st)
	if st.Err == nil {
		return fmt.Sprintf("%s %s %.1f%%", name, st.State, 100*st.Progress)
	}
	var fe *storage.FileError
	if errors.As(st.Err, &fe) {
		return fmt.Sprintf("%s error: %v (%s %s)", name, fe.Err, fe.Op, fe.Path)
	}
	return fmt.Sprintf("%s error: %v", name, st.Err)
}

func displayName(st *shardtorrent.Status) string {
	if st.Name != "" {
		return st.Name
	}
	return st.InfoHash.String()
}
