package shard

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// TestSeedLimitActions: at a limit, SeedLimitAction pauses the torrent,
// removes it (files kept, EventRemoved for the session, a
// TorrentRemovedAlert) or removes it with its files (TorrentDeletedAlert),
// and the SeedLimitReachedAlert names the action.
func TestSeedLimitActions(t *testing.T) {
	for _, action := range []SeedLimitAction{SeedLimitPause, SeedLimitRemove, SeedLimitRemoveData} {
		t.Run(action.String(), func(t *testing.T) {
			h, rec := newEventHarness(t)
			h.do(func() { h.s.ApplySettings(Settings{ShareRatioLimit: 1, SeedLimitAction: action}) })
			f := makeTorrent(t, seedSize, seedPieceLen)
			tor := h.seed(f)
			h.do(func() { tor.totalUp = int64(seedSize) })
			h.tick(time.Second)
			as := seedLimitAlerts(h)
			if len(as) != 1 || as[0].Action != action || as[0].Reason != "ratio" {
				t.Fatalf("alerts %+v, want one ratio alert with action %v", as, action)
			}
			removed := len(alertsOf[*plugin.TorrentRemovedAlert](h.alerts))
			var gone, paused bool
			h.do(func() { gone, paused = h.s.Torrent(tor.wireIH) == nil, tor.paused })
			evRemoved := slices.Contains(rec.events(), EventRemoved)
			if action == SeedLimitPause {
				if !paused || gone || removed != 0 || evRemoved {
					t.Fatalf("pause: paused %v, gone %v, removed alerts %d, EventRemoved %v", paused, gone, removed, evRemoved)
				}
				return
			}
			if !gone || removed != 1 || !evRemoved {
				t.Fatalf("%v: gone %v, removed alerts %d, EventRemoved %v (events %v)", action, gone, removed, evRemoved, rec.events())
			}
			if ev := rec.events(); ev[len(ev)-1] != EventRemoved || ev[len(ev)-2] != EventStopped {
				t.Fatalf("events %v, want ... stopped, removed", ev)
			}
			path := filepath.Join(f.src, f.mi.Info.Name)
			if action == SeedLimitRemoveData {
				h.waitFor("TorrentDeletedAlert", func() bool { return len(alertsOf[*plugin.TorrentDeletedAlert](h.alerts)) > 0 })
				if _, err := os.Stat(path); !os.IsNotExist(err) {
					t.Fatalf("data still there after remove-data: %v", err)
				}
				return
			}
			h.tick(time.Second) // the close job has had a tick to run; nothing deletes
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("remove deleted the data: %v", err)
			}
			if n := len(alertsOf[*plugin.TorrentDeletedAlert](h.alerts)); n != 0 {
				t.Fatalf("%d TorrentDeletedAlerts after a plain remove", n)
			}
		})
	}
}

// TestSeedTimeRatioLimit: a seed stops once its seeding time reaches
// SeedTimeRatioLimit times its downloading time, not before; a torrent
// that downloaded for a second or less (added complete) is never stopped
// by the ratio, as libtorrent's minimum.
func TestSeedTimeRatioLimit(t *testing.T) {
	h := newHarness(t, Settings{SeedTimeRatioLimit: 2, InactivityTimeout: time.Hour, KeepAliveInterval: time.Hour})
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	fresh := h.seed(makeTorrent(t, seedSize+1, seedPieceLen))
	h.do(func() {
		tor.sl.down = 10 * time.Second
		fresh.sl.down = time.Second
	})
	h.tick(time.Second) // starts the seeding clocks
	for range 19 {
		h.tick(time.Second)
	}
	h.do(func() {
		if tor.paused || len(seedLimitAlerts(h)) != 0 {
			fatalf("stopped at %v seeding for 10 s downloading", tor.seedingTime(h.clock.now))
		}
	})
	h.tick(time.Second)
	as := seedLimitAlerts(h)
	if len(as) != 1 || as[0].Reason != "seed time ratio" || as[0].Seeded != 20 || as[0].InfoHash != tor.ih {
		t.Fatalf("alerts %+v, want one seed-time-ratio alert at 20 s", as)
	}
	h.tick(time.Hour)
	h.do(func() {
		if fresh.paused {
			fatalf("a torrent that downloaded 1 s stopped by the seed-time ratio")
		}
	})
}

// TestDownloadClock: the downloading time runs while an incomplete
// torrent runs, and stops while it is paused (by hand or by the queue).
func TestDownloadClock(t *testing.T) {
	h := newHarness(t, Settings{InactivityTimeout: time.Hour, KeepAliveInterval: time.Hour})
	tor := h.leech(makeTorrent(t, seedSize, seedPieceLen))
	h.waitFor("the check", func() bool { return !tor.checking })
	h.tick(time.Second) // starts the stretch
	for range 5 {
		h.tick(time.Second)
	}
	h.do(tor.QueueStop)
	h.tick(time.Hour)
	h.do(tor.QueueStart)
	h.tick(time.Second) // restarts it
	h.tick(2 * time.Second)
	h.do(tor.Pause)
	h.tick(time.Hour)
	h.do(func() {
		if d := tor.downloadingTime(h.clock.now); d != 7*time.Second {
			fatalf("downloading time %v, want 7s", d)
		}
	})
}

// TestSeedIdleLimit: a seed that uploads nothing for SeedIdleLimit stops
// with reason "idle"; an upload restarts the idle time; IdleUnlimited
// exempts a torrent and IdleOwn applies its own limit though the session
// has none.
func TestSeedIdleLimit(t *testing.T) {
	h := newHarness(t, Settings{SeedIdleLimit: time.Minute, InactivityTimeout: time.Hour, KeepAliveInterval: time.Hour})
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	free := h.seed(makeTorrent(t, seedSize+1, seedPieceLen))
	h.do(func() { free.SetIdleLimit(IdleUnlimited, 0) })
	h.tick(time.Second) // the seeding stretch starts
	h.tick(30 * time.Second)
	h.do(func() { tor.secUp = 100 }) // a second with upload
	h.tick(time.Second)
	h.tick(59 * time.Second)
	h.do(func() {
		if tor.paused {
			fatalf("stopped 59 s after its last upload")
		}
	})
	h.tick(time.Second)
	as := seedLimitAlerts(h)
	if len(as) != 1 || as[0].Reason != "idle" || as[0].InfoHash != tor.ih {
		t.Fatalf("alerts %+v, want one idle alert for the torrent", as)
	}
	h.do(func() {
		if free.paused {
			fatalf("IdleUnlimited stopped by the session's idle limit")
		}
		h.s.ApplySettings(Settings{InactivityTimeout: time.Hour, KeepAliveInterval: time.Hour})
		free.SetIdleLimit(IdleOwn, 2*time.Hour)
		if m, d := free.IdleLimit(); m != IdleOwn || d != 2*time.Hour || h.s.ownIdles != 1 {
			fatalf("IdleLimit %v %v, ownIdles %d", m, d, h.s.ownIdles)
		}
	})
	h.tick(2 * time.Hour)
	h.do(func() {
		if !free.paused {
			fatalf("own idle limit of 2 h not applied")
		}
		free.Remove()
		if h.s.ownIdles != 0 {
			fatalf("ownIdles %d after the remove", h.s.ownIdles)
		}
	})
}

// hookRec is a torrent plugin that records its pause and resume hooks and
// returns handled from both.
type hookRec struct {
	calls   []string
	handled bool
}

func (r *hookRec) OnPause() bool  { r.calls = append(r.calls, "pause"); return r.handled }
func (r *hookRec) OnResume() bool { r.calls = append(r.calls, "resume"); return r.handled }

// TestQueueAndLimitPauseHooks: queue stops and starts and a seed-limit
// pause run the torrent plugins' OnPause and OnResume after the flag
// flipped; a plugin returning true skips the standard work (no
// disconnect, no alert) while the torrent still reports paused or
// resumed, as libtorrent's do_pause / do_resume.
func TestQueueAndLimitPauseHooks(t *testing.T) {
	for _, handled := range []bool{false, true} {
		h := newHarness(t, Settings{InactivityTimeout: time.Hour, KeepAliveInterval: time.Hour})
		tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
		rec := &hookRec{handled: handled}
		var sawPaused []bool
		var tp *tpeer
		h.do(func() {
			tor.AddExtension(func(plugin.TorrentHandle, any) plugin.TorrentPlugin { return rec }, nil)
			tp = h.handshaken(tor, 1, simple(wire.HaveNone))
			tor.QueueStop()
			sawPaused = append(sawPaused, tor.paused, tp.fc.closed)
			tor.QueueStart()
			sawPaused = append(sawPaused, tor.paused)
		})
		paused := len(alertsOf[*plugin.TorrentPausedAlert](h.alerts))
		resumed := len(alertsOf[*plugin.TorrentResumedAlert](h.alerts))
		if !slices.Equal(rec.calls, []string{"pause", "resume"}) {
			t.Fatalf("handled %v: hooks %v, want pause, resume", handled, rec.calls)
		}
		if !sawPaused[0] || sawPaused[2] {
			t.Fatalf("handled %v: paused %v after QueueStop, %v after QueueStart", handled, sawPaused[0], sawPaused[2])
		}
		if handled {
			if sawPaused[1] || paused != 0 || resumed != 0 {
				t.Fatalf("handled: peer closed %v, %d paused and %d resumed alerts, want none", sawPaused[1], paused, resumed)
			}
		} else if !sawPaused[1] || paused != 1 || resumed != 1 {
			t.Fatalf("not handled: peer closed %v, %d paused and %d resumed alerts, want 1 and 1", sawPaused[1], paused, resumed)
		}
		// A seed-limit pause runs OnPause too.
		h.do(func() {
			tor.totalUp = int64(seedSize)
			tor.SetRatioLimit(RatioOwn, 1)
		})
		h.tick(time.Second)
		h.do(func() {
			if !tor.paused || !slices.Equal(rec.calls, []string{"pause", "resume", "pause"}) {
				fatalf("handled %v: seed limit: paused %v, hooks %v", handled, tor.paused, rec.calls)
			}
		})
		h.close()
	}
}
