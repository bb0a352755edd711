package shardtorrent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// BenchmarkStatsCounters10k is what Stats adds to Totals and the plugin
// costs (counters: one round trip per shard copying its engine counters
// and walking its torrents and peers for the gauges, plus the loops',
// disk's and listener's atomics) on an idle session with 10,000 seeding
// torrents on 2 shards. metrics.BenchmarkScrape10k measures a whole
// scrape.
//
//	go test -run XXX -bench StatsCounters10k -benchmem .
func BenchmarkStatsCounters10k(b *testing.B) {
	const n = 10000
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
	s, err := NewSession(context.Background(), Settings{
		ListenAddr: "127.0.0.1:0", Shards: 2, AlertMask: plugin.CategoryError,
		DisableDHT: true, Tracker: TrackerSettings{Disable: true},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	ctx := context.Background()
	if _, errs := s.AddTorrents(ctx, ps); errs[0] != nil {
		b.Fatal(errs[0])
	}
	b.ReportAllocs()
	for b.Loop() {
		var st SessionStats
		if err := s.counters(ctx, &st); err != nil {
			b.Fatal(err)
		}
		if got := st.Shards[0].Torrents + st.Shards[1].Torrents; got != n {
			b.Fatalf("%d torrents, want %d", got, n)
		}
	}
}
