package nodecmd

import (
	"context"
	"errors"
	"fmt"
	"sort"
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
// every torrent with one round trip per shard (Session.TorrentStatuses)
// once a second and shortly after any alert that may mean a change; alerts
// only make the node notice sooner, and are logged. Dropped alerts are
// counted and logged.

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

// poll reads every torrent's state and acts on it: "seeding NAME" the
// first time one completes, "error NAME: ..." when one enters an error
// state, a retry when its back-off is due (retry.go). It reports whether
// the node should exit, and with which code: -exit-when-complete and every
// torrent complete (0), or an error and no retries (1).
func (n *node) poll(ctx context.Context, now time.Time, exitWhenComplete bool) (code int, done bool) {
	sts, err := n.sess.TorrentStatuses(ctx, n.last)
	if err != nil {
		n.last = nil    // partly overwritten
		return 0, false // the context ended: the main loop is stopping
	}
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

// status prints the status line from the latest poll: torrents in an
// error state first, with their error instead of their progress.
func (n *node) status() {
	var peers, errs int
	var down, up int64
	var parts []string
	for i := range n.last {
		st := &n.last[i]
		if n.byHash[st.InfoHash] == nil {
			continue
		}
		peers += st.NumPeers
		down += st.DownloadRate
		up += st.UploadRate
		if st.Err != nil {
			errs++
		}
		parts = append(parts, statusPart(st))
	}
	sort.Slice(parts, func(i, j int) bool {
		ei, ej := strings.Contains(parts[i], " error: "), strings.Contains(parts[j], " error: ")
		if ei != ej {
			return ei
		}
		return parts[i] < parts[j]
	})
	if len(parts) > 3 {
		parts = append(parts[:3], fmt.Sprintf("+%d more", len(parts)-3))
	}
	extra := ""
	if errs > 0 {
		extra += fmt.Sprintf(" errors=%d", errs)
	}
	if n.dropped > 0 {
		extra += fmt.Sprintf(" alerts-dropped=%d", n.dropped)
	}
	fmt.Fprintf(n.out, "status: torrents=%d peers=%d down=%.1fMB/s up=%.1fMB/s%s [%s]\n",
		len(n.order), peers, float64(down)/1e6, float64(up)/1e6, extra, strings.Join(parts, "; "))
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
