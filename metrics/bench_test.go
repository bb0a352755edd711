package metrics_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/metrics"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/shard"
)

// BenchmarkScrape10k is one whole scrape (Handler.ServeHTTP: Session.Stats
// with one round trip per shard, the Go and process collectors, text
// encoding) of an idle session with 10,000 seeding torrents on 2 shards.
//
//	go test -run XXX -bench Scrape10k -benchmem ./metrics
func BenchmarkScrape10k(b *testing.B) {
	const n = 10000
	dir := b.TempDir()
	ps := make([]shardtorrent.AddTorrentParams, 0, n)
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("f%05d.bin", i))
		if err := os.WriteFile(p, []byte(fmt.Sprintf("torrent %d payload", i)), 0o644); err != nil {
			b.Fatal(err)
		}
		_, mi, err := metainfo.Create(p, metainfo.CreateOptions{PieceLength: 16 << 10})
		if err != nil {
			b.Fatal(err)
		}
		ps = append(ps, shardtorrent.AddTorrentParams{MetaInfo: mi, SavePath: dir, SeedMode: true})
	}
	s, err := shardtorrent.NewSession(context.Background(), shardtorrent.Settings{
		ListenAddr: "127.0.0.1:0", Shards: 2, AlertMask: plugin.CategoryError,
		DisableDHT: true, Tracker: shardtorrent.TrackerSettings{Disable: true},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, errs := s.AddTorrents(ctx, ps); errs[0] != nil {
		b.Fatal(errs[0])
	}
	h := metrics.Handler(s)
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	b.Run("handler", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
	// Totals alone: the agg helper's loop-published aggregates replace
	// the seam's status round trip, whose cost this shows.
	b.Run("totals", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if got := s.Totals(); got.Torrents != n {
				b.Fatalf("Totals: %d torrents, want %d", got.Torrents, n)
			}
		}
	})
	b.Run("stats", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			st, err := s.Stats(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if got := st.Engine.V[shard.MetricTorrents]; got != n {
				b.Fatalf("%d torrents in Stats, want %d", got, n)
			}
		}
	})
}
