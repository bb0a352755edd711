package shardtorrent

import (
	"testing"

	"github.com/shardtorrent/shardtorrent/plugin"
)

// TestAlertPrioritiesOverflow: a full queue (max 3) still takes high
// priority alerts up to twice its size and critical ones up to three times,
// as libtorrent's alert_manager does, and counts what it drops.
func TestAlertPrioritiesOverflow(t *testing.T) {
	cases := []struct {
		name  string
		alert plugin.Alert
		fits  int // queued on top of a full queue of 3 normal alerts
	}{
		{"normal", &plugin.PieceFinishedAlert{}, 0},
		{"user", userAlert{}, 0},
		{"torrent finished (high)", &plugin.TorrentFinishedAlert{}, 3},
		{"state changed (high)", &plugin.StateChangedAlert{}, 3},
		{"torrent error (high)", &plugin.TorrentErrorAlert{}, 3},
		{"file error (high)", &plugin.FileErrorAlert{}, 3},
		{"save resume data (critical)", &plugin.SaveResumeDataAlert{}, 6},
		{"torrent removed (critical)", &plugin.TorrentRemovedAlert{}, 6},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := newAlertQueue(3, plugin.CategoryAll)
			for range 3 {
				q.Post(&plugin.PieceFinishedAlert{})
			}
			for range 10 {
				q.Post(c.alert)
			}
			got := q.pop()
			d, ok := plugin.Cast[*plugin.AlertsDroppedAlert](got[0])
			if !ok {
				t.Fatalf("no drop report first: %T", got[0])
			}
			if n := len(got) - 1 - 3; n != c.fits {
				t.Fatalf("%d queued over the limit, want %d", n, c.fits)
			}
			dropped := d.Dropped[c.alert.Type()] + d.DroppedUser[c.alert.Type()]
			if dropped != 10-c.fits {
				t.Fatalf("%d counted as dropped, want %d", dropped, 10-c.fits)
			}
		})
	}
	// A burst of normal alerts over the limit cannot push out a critical
	// one posted after it, and never grows the queue past 3x.
	q := newAlertQueue(3, plugin.CategoryAll)
	for range 100 {
		q.Post(&plugin.PieceFinishedAlert{})
		q.Post(&plugin.StateChangedAlert{})
		q.Post(&plugin.SaveResumeDataAlert{})
	}
	if got := q.pop(); len(got) != 1+9 {
		t.Fatalf("queue held %d alerts, want 9 and the drop report", len(got)-1)
	}
}
