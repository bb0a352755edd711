package shard

import (
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/choker"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// seedLimitAlerts returns the SeedLimitReachedAlerts posted so far.
func seedLimitAlerts(h *harness) []*plugin.SeedLimitReachedAlert {
	var out []*plugin.SeedLimitReachedAlert
	for _, a := range h.alerts.snapshot() {
		if a, ok := a.(*plugin.SeedLimitReachedAlert); ok {
			out = append(out, a)
		}
	}
	return out
}

// TestShareRatioLimitPauses: a seed below the ratio limit keeps seeding;
// once its upload reaches limit times its size it is paused on the next
// tick, with one SeedLimitReachedAlert and a TorrentPausedAlert, and a
// manual Resume is not undone.
func TestShareRatioLimitPauses(t *testing.T) {
	h := newHarness(t, Settings{ShareRatioLimit: 2, InactivityTimeout: time.Hour, KeepAliveInterval: time.Hour})
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	other := h.seed(makeTorrent(t, seedSize+1, seedPieceLen))
	h.do(func() { tor.totalUp = 2*int64(seedSize) - 1 })
	for range 3 {
		h.tick(time.Second)
	}
	h.do(func() {
		if tor.paused || len(seedLimitAlerts(h)) != 0 {
			fatalf("paused %v below the ratio (alerts %d)", tor.paused, len(seedLimitAlerts(h)))
		}
		tor.totalUp++
	})
	h.tick(time.Second)
	h.do(func() {
		if !tor.paused || other.paused {
			fatalf("paused %v at ratio 2 (other torrent paused %v)", tor.paused, other.paused)
		}
	})
	as := seedLimitAlerts(h)
	if len(as) != 1 || as[0].Reason != "ratio" || as[0].Ratio != 2 || as[0].InfoHash != tor.ih {
		t.Fatalf("alerts %+v, want one ratio alert for the torrent at 2", as)
	}
	paused := 0
	for _, a := range h.alerts.snapshot() {
		if _, ok := a.(*plugin.TorrentPausedAlert); ok {
			paused++
		}
	}
	if paused != 1 {
		t.Fatalf("%d TorrentPausedAlerts, want 1", paused)
	}
	h.do(tor.Resume)
	for range 3 {
		h.tick(time.Second)
	}
	h.do(func() {
		if tor.paused || len(seedLimitAlerts(h)) != 1 {
			fatalf("resumed by hand but paused %v, alerts %d", tor.paused, len(seedLimitAlerts(h)))
		}
	})
}

// TestSeedTimeLimitPauses: seeding time counts only while the torrent is
// complete and running; the limit pauses it with an alert.
func TestSeedTimeLimitPauses(t *testing.T) {
	h := newHarness(t, Settings{SeedTimeLimit: time.Minute, InactivityTimeout: time.Hour, KeepAliveInterval: time.Hour})
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	h.tick(time.Second) // starts the seeding clock
	for range 30 {
		h.tick(time.Second)
	}
	// Ten minutes paused do not count.
	h.do(tor.Pause)
	h.tick(time.Second)
	h.tick(10 * time.Minute)
	h.do(tor.Resume)
	h.tick(time.Second) // restarts the clock
	for range 29 {
		h.tick(time.Second)
	}
	h.do(func() {
		if tor.paused || len(seedLimitAlerts(h)) != 0 {
			fatalf("paused %v after %v seeding", tor.paused, tor.seedingTime(h.clock.now))
		}
	})
	h.tick(time.Second)
	h.do(func() {
		if !tor.paused {
			fatalf("not paused after %v seeding", tor.seedingTime(h.clock.now))
		}
	})
	as := seedLimitAlerts(h)
	if len(as) != 1 || as[0].Reason != "seed time" || as[0].Seeded != 60 {
		t.Fatalf("alerts %+v, want one seed-time alert at 60 s", as)
	}
}

// TestSeedLimitsOffCostNothing: with no limit set the check never runs, so
// the seeding clock never starts.
func TestSeedLimitsOffCostNothing(t *testing.T) {
	h := newHarness(t, Settings{InactivityTimeout: time.Hour, KeepAliveInterval: time.Hour})
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	h.do(func() { tor.totalUp = 100 * int64(seedSize) })
	h.tick(time.Hour)
	h.do(func() {
		if tor.paused || !tor.sl.since.IsZero() {
			fatalf("limits off: paused %v, clock %v", tor.paused, tor.sl.since)
		}
	})
}

// TestSeedChokerSetting: Settings.SeedChoker and unlimited slots reach the
// torrent's choker.
func TestSeedChokerSetting(t *testing.T) {
	for _, alg := range []choker.SeedAlgorithm{choker.RoundRobin, choker.FastestUpload, choker.AntiLeech} {
		h := newHarness(t, Settings{SeedChoker: alg, UnchokeSlots: -1, InactivityTimeout: time.Hour, KeepAliveInterval: time.Hour})
		tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
		h.do(func() {
			cfg := tor.choker.Config()
			if cfg.Seeding != alg || cfg.Slots >= 0 || cfg.NumPieces != tor.info.NumPieces() {
				fatalf("choker config %+v, want algorithm %d, unlimited slots, %d pieces", cfg, alg, tor.info.NumPieces())
			}
		})
		h.close()
	}
}

// TestUnlimitedSlotsUnchokeEveryone: with UnchokeSlots negative every
// interested peer is unchoked at once and stays so through choker rounds.
func TestUnlimitedSlotsUnchokeEveryone(t *testing.T) {
	const npeers = 30
	h := newHarness(t, Settings{UnchokeSlots: -1, InactivityTimeout: time.Hour, KeepAliveInterval: time.Hour})
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	var peers []*tpeer
	h.do(func() {
		for i := range npeers {
			peers = append(peers, h.handshaken(tor, i, simple(wire.HaveNone), simple(wire.Interested)))
		}
	})
	for tick := 0; tick <= 3*unchokeEvery; tick++ {
		h.do(func() {
			if tick > 0 {
				h.clock.now = h.clock.now.Add(time.Second)
				h.s.onTick()
				h.deliverCloses()
			}
			for i, p := range peers {
				if p.fc.closed || p.amChoking {
					fatalf("tick %d: peer %d choked %v, closed %v", tick, i, p.amChoking, p.fc.closed)
				}
			}
		})
	}
}

// TestOwnRatioLimit: a torrent's own ratio limit pauses it though the
// session has none, and RatioUnlimited exempts it from the session's.
func TestOwnRatioLimit(t *testing.T) {
	h := newHarness(t, Settings{InactivityTimeout: time.Hour, KeepAliveInterval: time.Hour})
	own := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	free := h.seed(makeTorrent(t, seedSize+1, seedPieceLen))
	h.do(func() {
		own.SetRatioLimit(RatioOwn, 1)
		own.totalUp = int64(seedSize)
		free.SetRatioLimit(RatioUnlimited, 0)
		free.totalUp = 10 * int64(seedSize)
	})
	h.tick(time.Second)
	h.do(func() {
		if !own.paused || free.paused {
			fatalf("own limit 1 at ratio 1: paused %v; unlimited paused %v", own.paused, free.paused)
		}
		h.s.SetSeedLimits(2, 0) // the session's limit does not reach the unlimited one
	})
	h.tick(time.Second)
	h.do(func() {
		if free.paused {
			fatalf("RatioUnlimited paused by the session's limit")
		}
		free.SetRatioLimit(RatioGlobal, 0)
	})
	h.tick(time.Second)
	h.do(func() {
		if !free.paused {
			fatalf("back to the session's limit 2 at ratio 10: not paused")
		}
		own.Remove()
		free.Remove()
		if h.s.ownRatios != 0 {
			fatalf("ownRatios %d after removing every torrent", h.s.ownRatios)
		}
	})
	if as := seedLimitAlerts(h); len(as) != 2 {
		t.Fatalf("%d seed limit alerts, want 2", len(as))
	}
}
