package shardtorrent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/internal/trackertest"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// BenchmarkTrackerAnnounce10k: a session adds 10,000 seeded torrents whose
// tracker is a local test tracker (in this process), announces started for
// all of them, then closes, sending 10,000 stopped. Reported: announces
// per second and CPU (user+system of the whole process, the tracker's
// side included) per announce for each phase; the add alone is measured
// with the tracker client off for comparison.
//
//	go test -run XXX -bench TrackerAnnounce10k -benchtime 1x .
func BenchmarkTrackerAnnounce10k(b *testing.B) {
	const n = 10000
	srv := trackertest.New()
	defer srv.Close()
	dir := b.TempDir()
	var ps []AddTorrentParams
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("f%05d.bin", i))
		if err := os.WriteFile(p, []byte(fmt.Sprintf("torrent %d payload", i)), 0o644); err != nil {
			b.Fatal(err)
		}
		_, mi, err := metainfo.Create(p, metainfo.CreateOptions{PieceLength: 16 << 10, Trackers: []string{srv.URL()}})
		if err != nil {
			b.Fatal(err)
		}
		ps = append(ps, AddTorrentParams{MetaInfo: mi, SavePath: dir, SeedMode: true})
	}
	for _, disable := range []bool{true, false} {
		name := "announce"
		if disable {
			name = "add_only"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				before := len(srv.Announces())
				s, err := NewSession(context.Background(), Settings{
					ListenAddr: "127.0.0.1:0", Shards: 2, AlertMask: plugin.CategoryError,
					Tracker: TrackerSettings{Disable: disable, AnnounceRate: 1e6, MaxAnnouncesInFlight: 32},
				})
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				cpu0, t0 := cpuTime(), time.Now()
				if _, errs := s.AddTorrents(ctx, ps); errs[0] != nil {
					b.Fatal(errs[0])
				}
				if !disable {
					if err := srv.Wait(ctx, func(as []trackertest.Announce) bool { return len(as)-before >= n }); err != nil {
						b.Fatal(err)
					}
				}
				cpu1, t1 := cpuTime(), time.Now()
				if err := s.Close(ctx); err != nil {
					b.Fatal(err)
				}
				cpu2, t2 := cpuTime(), time.Now()
				cancel()
				if !disable {
					if got := len(srv.Announces()) - before; got != 2*n {
						b.Fatalf("%d announces, want %d started and %d stopped", got, n, n)
					}
					b.ReportMetric(float64(n)/t1.Sub(t0).Seconds(), "started/s")
					b.ReportMetric(float64((cpu1-cpu0).Microseconds())/n, "cpu-µs/started")
					b.ReportMetric(float64(n)/t2.Sub(t1).Seconds(), "stopped/s")
					b.ReportMetric(float64((cpu2-cpu1).Microseconds())/n, "cpu-µs/stopped")
				} else {
					b.ReportMetric(float64((cpu1-cpu0).Microseconds())/n, "cpu-µs/add")
				}
			}
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
