package shard

import (
	"net/netip"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

type tickCounter struct{ n int }

func (c *tickCounter) Tick() { c.n++ }

// TestIdleTorrentsSkipTheirTick: as libtorrent's want_tick, an idle seed
// (no connections, nothing moving) and a paused torrent skip the
// once-a-second tick, plugins' Tick included; a seed with a connection and
// an incomplete torrent without any keep ticking.
func TestIdleTorrentsSkipTheirTick(t *testing.T) {
	h := newHarness(t, Settings{})
	defer h.close()
	tf := makeTorrent(t, seedSize, seedPieceLen)
	seed := h.seed(tf)
	leech := h.leech(makeTorrent(t, dlSize, dlPieceLen))
	var cs, cl tickCounter
	h.do(func() {
		seed.AddExtension(func(plugin.TorrentHandle, any) plugin.TorrentPlugin { return &cs }, nil)
		leech.AddExtension(func(plugin.TorrentHandle, any) plugin.TorrentPlugin { return &cl }, nil)
	})
	h.waitFor("the seed's check", func() bool { return seed.isSeed() && !seed.checking })
	h.waitFor("the leech's check", func() bool { return !leech.checking })
	for range 3 {
		h.tick(time.Second)
	}
	h.do(func() {
		if cs.n != 0 || cl.n != 3 {
			fatalf("idle: seed ticked %d times, leech %d; want 0 and 3", cs.n, cl.n)
		}
		h.handshaken(seed, 1, simple(wire.HaveNone))
	})
	h.tick(time.Second)
	var before int
	h.do(func() {
		if cs.n != 1 || cl.n != 4 {
			fatalf("seed with a connection ticked %d times, leech %d; want 1 and 4", cs.n, cl.n)
		}
		leech.Pause()
		before = cl.n
	})
	h.tick(time.Second)
	h.do(func() {
		if cl.n != before {
			fatalf("paused leech without connections ticked: %d, want %d", cl.n, before)
		}
	})
}

// TestSeedTicksOnlyWhenADialIsDue: a seed with candidates ticks when one
// is due, not every second while they wait out a back-off, and not at all
// once they are given up: idle seeds with stale peer lists stay free.
func TestSeedTicksOnlyWhenADialIsDue(t *testing.T) {
	h := newHarness(t, Settings{MinReconnectTime: 10 * time.Second, MaxFailCount: 2})
	seed := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	var cs tickCounter
	a := netip.MustParseAddrPort("10.7.1.1:6881")
	h.do(func() {
		seed.AddExtension(func(plugin.TorrentHandle, any) plugin.TorrentPlugin { return &cs }, nil)
		seed.AddPeerFrom(a, plugin.SourceTracker)
		h.refuseDial(h.dialsTo(a)[0]) // one failure: due again in 20 s
	})
	for range 19 {
		h.tick(time.Second)
		h.checkPeerLists()
	}
	h.do(func() {
		if cs.n != 0 || len(h.dials) != 1 {
			fatalf("waiting out a back-off: %d ticks, %d dials; want 0 and 1", cs.n, len(h.dials))
		}
	})
	h.tick(time.Second)
	h.do(func() {
		if cs.n != 1 || len(h.dials) != 2 {
			fatalf("when the dial is due: %d ticks, %d dials; want 1 and 2", cs.n, len(h.dials))
		}
		h.refuseDial(h.dials[1]) // the second failure: given up
	})
	for range 120 {
		h.tick(time.Second)
		h.checkPeerLists()
	}
	h.do(func() {
		if cs.n != 1 || len(h.dials) != 2 {
			fatalf("given up: %d ticks, %d dials; want 1 and 2", cs.n, len(h.dials))
		}
	})
}
