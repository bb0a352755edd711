package shardtorrent

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/internal/noopplugin"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// TestPluginCostsOfATransfer: after a transfer between two sessions with
// the no-op plugins, the seeder's costs count every served block's
// SentPayload, one call in PluginCostSampleEvery timed, and the session
// and torrent plugins' construction hooks.
func TestPluginCostsOfATransfer(t *testing.T) {
	src, mi := makeSeed(t, "c.bin", map[string]int{"c.bin": 1 << 20}, 64<<10)
	ctx := context.Background()
	newSess := func(listen string) *Session {
		s, err := NewSession(ctx, Settings{ListenAddr: listen, Shards: 1, Pool: bufpool.New(), AlertMask: plugin.CategoryAll,
			DisableDHT: true, Extensions: []plugin.Plugin{noopplugin.Session{}}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	seeder, leecher := newSess("127.0.0.1:0"), newSess("off")
	defer func() {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = leecher.Close(cctx)
		_ = seeder.Close(cctx)
	}()
	if _, err := seeder.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src, SeedMode: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: t.TempDir(), Peers: []netip.AddrPort{seeder.ListenAddr()}}); err != nil {
		t.Fatal(err)
	}
	lw := &alertWaiter{t: t, s: leecher}
	lw.until(60*time.Second, "the download", finishedFor(mi.InfoHash))

	costs, err := seeder.pluginCosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	find := func(p, h string) PluginCost {
		for _, c := range costs {
			if c.Plugin == p && c.Hook == h {
				return c
			}
		}
		t.Fatalf("no cost for %s %s in %+v", p, h, costs)
		return PluginCost{}
	}
	const blocks = 1 << 20 / (16 << 10)
	if c := find("noopplugin.Peer", "SentPayload"); c.Calls < blocks || c.Timed != c.Calls/PluginCostSampleEvery || (c.Timed == 0) != (c.Time == 0) {
		t.Fatalf("SentPayload: %+v, want at least %d calls, one in %d timed", c, blocks, PluginCostSampleEvery)
	}
	if c := find("noopplugin.Session", "NewTorrent"); c.Calls != 1 {
		t.Fatalf("NewTorrent: %+v, want 1 call", c)
	}
	if c := find("noopplugin.Torrent", "NewConnection"); c.Calls != 1 {
		t.Fatalf("NewConnection: %+v, want 1 call", c)
	}
	if lc, _ := leecher.pluginCosts(ctx); len(lc) == 0 {
		t.Fatal("the leecher counted no plugin call")
	}
}

func TestScaleCost(t *testing.T) {
	for _, c := range []struct {
		sampled      time.Duration
		calls, timed uint64
		want         time.Duration
	}{{0, 10, 0, 0}, {100, 64, 1, 6400}, {300, 130, 2, 19500}} {
		if got := scaleCost(c.sampled, c.calls, c.timed); got != c.want {
			t.Errorf("scaleCost(%v, %d, %d) = %v, want %v", c.sampled, c.calls, c.timed, got, c.want)
		}
	}
}
