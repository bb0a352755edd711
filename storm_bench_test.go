package shardtorrent

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/internal/stormgen"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// BenchmarkMSEStormLoop0 measures what a storm of MSE handshakes costs the
// accepting loop, with the DH work computed on that loop (inline: the pool
// at depth 0, as before dhpool.go) and on the pool. Each iteration is a
// storm of stormWindow against a one-shard session; the loop's busy share
// is read from the last complete Loop.Load window, which lies inside the
// storm (the loop iterates all through it and the window is 1 s). Run with
// -benchtime 1x; the metrics are loop0-us/hs (the loop's busy time per
// handshake) and hs/s.
func BenchmarkMSEStormLoop0(b *testing.B) {
	const stormWindow = 3500 * time.Millisecond
	for _, c := range []struct {
		name    string
		workers int
	}{{"inline", 0}, {"pool", 1}} {
		b.Run(c.name, func(b *testing.B) {
			s, ih := benchSeeder(b, c.workers)
			defer s.Close(context.Background())
			var us, rate float64
			for range b.N {
				res, err := stormgen.Run(context.Background(), stormgen.Config{Addr: s.ListenAddr().String(), InfoHash: ih,
					Dialers: 32, MSE: true, Duration: stormWindow})
				if err != nil || res.Handshakes == 0 {
					b.Fatalf("storm: %+v, %v", res, err)
				}
				ld := s.loops[0].Load()
				rate += res.PerSecond
				us += ld.Busy * 1e6 / res.PerSecond
			}
			b.ReportMetric(us/float64(b.N), "loop0-us/hs")
			b.ReportMetric(rate/float64(b.N), "hs/s")
			if c.workers == 0 && s.dh.pooled.Load() != 0 {
				b.Fatal("the pool ran jobs with no workers")
			}
		})
	}
}

// benchSeeder is a one-shard session seeding a 1 MiB torrent.
func benchSeeder(b *testing.B, mseWorkers int) (*Session, [20]byte) {
	b.Helper()
	dir := b.TempDir()
	data := make([]byte, 1<<20)
	r := rand.NewChaCha8([32]byte{7})
	_, _ = r.Read(data)
	path := filepath.Join(dir, "b.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	_, mi, err := metainfo.Create(path, metainfo.CreateOptions{PieceLength: 64 << 10})
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewSession(context.Background(), Settings{ListenAddr: "127.0.0.1:0", Shards: 1, Pool: bufpool.New(), AlertMask: plugin.CategoryAll, MSEWorkers: mseWorkers})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.AddTorrent(context.Background(), AddTorrentParams{MetaInfo: mi, SavePath: dir}); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		for _, a := range s.PopAlerts() {
			if sc, ok := a.(*plugin.StateChangedAlert); ok && sc.To == plugin.StateSeeding {
				return s, mi.InfoHash.Short()
			}
		}
		if err := s.WaitForAlert(ctx); err != nil {
			b.Fatal("not seeding:", err)
		}
	}
}
