package shardtorrent

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// BenchmarkDHTManyTorrents measures the DHT's steady cost in a session
// that announces 10,000 torrents with the default settings (one lookup
// started a second at most, libtorrent's pacing): session 0 of a loopback
// DHT of 8 holds 10,000 torrents (magnets: every one wants peers); each op
// is one second of running. Reported: process CPU per second (all 8
// sessions), lookups finished and queries sent per second by session 0;
// the dht=off run is the same without session 0's DHT.
//
//	go test -run '^$' -bench DHTManyTorrents -benchtime=30x .
func BenchmarkDHTManyTorrents(b *testing.B) {
	for _, off := range []bool{false, true} {
		name := "dht=on"
		if off {
			name = "dht=off" // the baseline: the same sessions and torrents, session 0 without a DHT
		}
		b.Run(name, func(b *testing.B) { benchDHTMany(b, off) })
	}
}

func benchDHTMany(b *testing.B, off bool) {
	ss := make([]*Session, 8)
	for i := range ss {
		s, err := NewSession(context.Background(), Settings{ListenAddr: "127.0.0.1:0", Shards: 1, AlertMask: plugin.CategoryError,
			DisableDHT: off && i == 0})
		if err != nil {
			b.Fatal(err)
		}
		ss[i] = s
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = s.Close(ctx)
		}()
	}
	for i, s := range ss {
		for j, o := range ss {
			if i != j && o.DHTAddr().IsValid() {
				_ = s.AddDHTNode(o.DHTAddr().String())
			}
		}
	}
	dir := b.TempDir()
	ps := make([]AddTorrentParams, 10000)
	for i := range ps {
		var h metainfo.HashV1
		h[0], h[1], h[2] = byte(i), byte(i>>8), 0xdd
		ps[i] = AddTorrentParams{InfoHash: metainfo.InfoHash{V1: h}, SavePath: dir}
	}
	if _, errs := ss[0].AddTorrents(context.Background(), ps); errs[0] != nil {
		b.Fatal(errs[0])
	}
	st0, _ := ss[0].DHTStats()
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	start := time.Now()
	tick := time.NewTicker(time.Second)
	for i := 0; i < b.N; i++ {
		<-tick.C // the op is one second of running
	}
	tick.Stop()
	el := time.Since(start)
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	st1, _ := ss[0].DHTStats()
	cpu := time.Duration(syscall.TimevalToNsec(ru1.Utime)-syscall.TimevalToNsec(ru0.Utime)) +
		time.Duration(syscall.TimevalToNsec(ru1.Stime)-syscall.TimevalToNsec(ru0.Stime))
	b.ReportMetric(float64(cpu.Milliseconds())/el.Seconds(), "cpu-ms/s")
	b.ReportMetric(float64(st1.Lookups-st0.Lookups)/el.Seconds(), "lookups/s")
	b.ReportMetric(float64(st1.QueriesOut-st0.QueriesOut)/el.Seconds(), "queries/s")
	b.ReportMetric(float64(st1.Torrents), "torrents")
}
