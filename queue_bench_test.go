package shardtorrent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// BenchmarkQueueRecalc: one recalculation of the queue over 10,000 seeds
// on two shards with 200 active seeds (steady state: nothing to start or
// stop; the cost is the gather over the loops and the walk).
func BenchmarkQueueRecalc(b *testing.B) {
	const n = 10000
	old := startQueueLoop
	startQueueLoop = false
	defer func() { startQueueLoop = old }()
	set := Settings{ListenAddr: "off", Shards: 2, Pool: bufpool.New(), AlertMask: plugin.CategoryError, ActiveSeeds: LimitTo(200),
		DisableDHT: true, Tracker: TrackerSettings{Disable: true}}
	set.Engine.AutoManageInactiveTime = time.Hour
	s, err := NewSession(context.Background(), set)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	dir := b.TempDir()
	ps := make([]AddTorrentParams, 0, n)
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("f%05d.bin", i))
		if err := os.WriteFile(p, []byte(fmt.Sprintf("torrent %d payload", i)), 0o644); err != nil {
			b.Fatal(err)
		}
		_, mi, err := metainfo.Create(p, metainfo.CreateOptions{PieceLength: 16 << 10})
		if err != nil {
			b.Fatal(err)
		}
		ps = append(ps, AddTorrentParams{MetaInfo: mi, SavePath: dir, SeedMode: true})
	}
	_, errs := s.AddTorrents(context.Background(), ps)
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	if err := s.recalcQueue(ctx); err != nil { // the first pauses 9,800
		b.Fatal(err)
	}
	hs, _ := s.Torrents(ctx)
	if got := len(running(b, hs)); got != 200 {
		b.Fatalf("%d running, want 200", got)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := s.recalcQueue(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
