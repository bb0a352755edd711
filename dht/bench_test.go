package dht

import (
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/plugin"
)

// BenchmarkLookups measures what announcing many torrents costs: b.N
// torrents (run with -benchtime=10000x for 10,000) are started on one node
// of a loopback DHT of 8 and each is looked up and announced once (get_peers
// traversal, then announce_peer to the closest nodes). Pacing is off
// (AnnounceInterval and MinAnnounceGap 1 ns: each torrent is looked up
// again as soon as its lookup ends) so the figures are per lookup: process CPU (all 8
// nodes: the queries and their answers), queries sent by the announcing
// node, and lookups/s at the SendRate bound (default: 100 packets/s) and
// without it.
//
//	go test -run '^$' -bench Lookups -benchtime=10000x ./dht
func BenchmarkLookups(b *testing.B) {
	for _, c := range []struct {
		name string
		rate int
	}{{"sendrate=default", 0}, {"sendrate=unlimited", 1 << 30}} {
		b.Run(c.name, func(b *testing.B) { benchLookups(b, c.rate) })
	}
}

func benchLookups(b *testing.B, sendRate int) {
	const size = 8
	done := make(chan struct{}, 1024)
	nodes := make([]*Node, size)
	for i := range nodes {
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		cfg := Config{
			Settings: Settings{AnnounceInterval: 1, MinAnnounceGap: 1, MaxInFlight: 16, SendRate: sendRate, QueryRateLimit: -1,
				MaxTorrents: 1 << 20},
			Conn: conn, Port: 6881,
		}
		if i == 0 {
			cfg.Alert = func(a plugin.Alert) {
				if _, ok := a.(*DHTReplyAlertAlias); ok {
					done <- struct{}{}
				}
			}
		}
		n, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		nodes[i] = n
		defer n.Close()
	}
	for i, n := range nodes {
		for j, o := range nodes {
			if i != j {
				if err := n.AddNode(o.Addr().String()); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	// Wait for node 0's table to hold the others.
	for nodes[0].Stats().Nodes < size-1 {
		time.Sleep(10 * time.Millisecond) // harness set-up only, not measured
	}
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	q0 := nodes[0].Stats().QueriesOut
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		var ih [20]byte
		copy(ih[:], strconv.Itoa(i))
		ih[19] = 0xee
		nodes[0].Start(ih, plugin.TorrentAlert{})
	}
	for i := 0; i < b.N; i++ {
		<-done
	}
	el := time.Since(start)
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(syscall.TimevalToNsec(ru1.Utime)-syscall.TimevalToNsec(ru0.Utime)) +
		time.Duration(syscall.TimevalToNsec(ru1.Stime)-syscall.TimevalToNsec(ru0.Stime))
	q := nodes[0].Stats().QueriesOut - q0
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/lookup")
	b.ReportMetric(float64(q)/float64(b.N), "queries/lookup")
	b.ReportMetric(float64(b.N)/el.Seconds(), "lookups/s")
	b.ReportMetric(float64(q)/el.Seconds(), "queries/s")
}

// DHTReplyAlertAlias keeps the benchmark's alert match short.
type DHTReplyAlertAlias = plugin.DHTReplyAlert
