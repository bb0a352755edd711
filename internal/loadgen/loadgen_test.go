package loadgen

import (
	"context"
	"crypto/sha1"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/shard"
	"github.com/shardtorrent/shardtorrent/wire"
)

// seedSession starts an in-process session seeding a generated torrent of
// size bytes and returns its address and the torrent.
func seedSession(t *testing.T, size, pieceLen int64) (string, *metainfo.MetaInfo) {
	t.Helper()
	return seedSessionWith(t, size, pieceLen, shard.Settings{})
}

// seedSessionWith is seedSession with engine settings.
func seedSessionWith(t *testing.T, size, pieceLen int64, eng shard.Settings) (string, *metainfo.MetaInfo) {
	t.Helper()
	dir := t.TempDir()
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	path := filepath.Join(dir, "payload.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, mi, err := metainfo.Create(path, metainfo.CreateOptions{PieceLength: pieceLen})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sess, err := shardtorrent.NewSession(ctx, shardtorrent.Settings{
		ListenAddr: "127.0.0.1:0", Shards: 1, Engine: eng,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sess.Close(cctx)
	})
	if _, err := sess.AddTorrent(ctx, shardtorrent.AddTorrentParams{MetaInfo: mi, SavePath: dir, SeedMode: true}); err != nil {
		t.Fatal(err)
	}
	return sess.ListenAddr().String(), mi
}

// TestDownloadsAndVerifies loads an in-process seeder in each piece order
// and checks that pieces arrive, verify, and are counted.
func TestDownloadsAndVerifies(t *testing.T) {
	addr, mi := seedSession(t, 8<<20, 256<<10)
	for _, tr := range transports {
		for _, order := range []Order{Random, Sequential, Spread} {
			t.Run(tr.String()+"/"+order.String(), func(t *testing.T) { testDownloadsAndVerifies(t, addr, mi, tr, order) })
		}
	}
}

// transports are the transports every test runs over.
var transports = []Transport{Goroutines, Gnet}

func testDownloadsAndVerifies(t *testing.T, addr string, mi *metainfo.MetaInfo, tr Transport, order Order) {
	var readyCalled, progress bool
	res, err := Run(context.Background(), Config{
		Addr: addr, Torrents: []Torrent{FromMetaInfo(mi)}, Conns: 3, Pipeline: 64,
		Order: order, Transport: tr, Verify: true, Duration: 400 * time.Millisecond,
		Ready:         func(Snapshot) { readyCalled = true },
		Progress:      func(Snapshot) { progress = true },
		ProgressEvery: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if !readyCalled || !progress {
		t.Errorf("ready called %v, progress called %v", readyCalled, progress)
	}
	if res.Connected != 3 || res.Failed != 0 {
		t.Errorf("connected %d failed %d, want 3 and 0", res.Connected, res.Failed)
	}
	if len(res.Errors) > 0 {
		t.Errorf("errors: %v", res.Errors)
	}
	if res.Bytes <= 0 || res.Blocks <= 0 || res.TotalBlocks < res.Blocks || res.MBps <= 0 {
		t.Errorf("counters: bytes %d blocks %d total %d MB/s %.1f", res.Bytes, res.Blocks, res.TotalBlocks, res.MBps)
	}
	if res.TotalBytes != res.TotalBlocks*wire.BlockSize {
		t.Errorf("total bytes %d for %d blocks", res.TotalBytes, res.TotalBlocks)
	}
	if res.Verified == 0 || res.HashFails != 0 {
		t.Errorf("verified %d pieces, %d hash failures", res.Verified, res.HashFails)
	}
	if res.LatencyP50 <= 0 || res.LatencyP99 < res.LatencyP50 || res.LatencyMax < res.LatencyP99 {
		t.Errorf("latency p50 %.3f p99 %.3f max %.3f ms", res.LatencyP50, res.LatencyP99, res.LatencyMax)
	}
	if res.Served != 3 || res.Unchokes < 3 {
		t.Errorf("served %d conns, %d unchokes", res.Served, res.Unchokes)
	}
	if res.Unchoked != 3 || res.JainAll <= 0 || res.JainAll > 1 || res.JainUnchoked != res.JainAll {
		t.Errorf("%d conns unchoked, Jain %v over all and %v over the unchoked", res.Unchoked, res.JainAll, res.JainUnchoked)
	}
	if res.Transport != tr.String() {
		t.Errorf("result transport %q, want %q", res.Transport, tr)
	}
}

// TestBlocksPerConnThenIdle checks the many-torrents mode: each connection
// gets exactly its blocks, Ready fires, and the connections stay up idle.
func TestBlocksPerConnThenIdle(t *testing.T) {
	addr, mi := seedSession(t, 1<<20, 64<<10)
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) { testBlocksPerConnThenIdle(t, addr, mi, tr) })
	}
}

func testBlocksPerConnThenIdle(t *testing.T, addr string, mi *metainfo.MetaInfo, tr Transport) {
	var atReady Snapshot
	res, err := Run(context.Background(), Config{
		Addr: addr, Torrents: []Torrent{FromMetaInfo(mi)}, Conns: 4, BlocksPerConn: 5, Order: Sequential, Transport: tr,
		Verify: true, Duration: 200 * time.Millisecond, Ready: func(s Snapshot) { atReady = s },
	})
	if err != nil {
		t.Fatal(err)
	}
	if atReady.Blocks != 20 || atReady.Connected != 4 || atReady.Failed != 0 {
		t.Errorf("at ready: %+v, want 20 blocks on 4 live conns", atReady)
	}
	if res.TotalBlocks != 20 || res.Blocks != 0 {
		t.Errorf("total blocks %d, in window %d; want 20 and 0 (idle)", res.TotalBlocks, res.Blocks)
	}
	if res.Verified != 4 { // 5 blocks of 16 KiB cover one 64 KiB piece each
		t.Errorf("verified %d pieces, want 4", res.Verified)
	}
}

func TestNoSeeder(t *testing.T) {
	_, mi := seedSession(t, 1<<20, 64<<10)
	for _, tr := range transports {
		_, err := Run(context.Background(), Config{Addr: "127.0.0.1:1", Torrents: []Torrent{FromMetaInfo(mi)}, Conns: 2, Duration: time.Second, Transport: tr})
		if err == nil {
			t.Fatalf("%v: no error with nothing listening", tr)
		}
	}
}

// TestSteadyStateAllocs feeds a connection its own requests answered as
// piece messages, in memory, and requires no allocation per block.
func TestSteadyStateAllocs(t *testing.T) {
	for _, verify := range []bool{false, true} {
		tor := Torrent{PieceLength: 256 << 10, TotalLength: 64 << 20}
		block := make([]byte, wire.BlockSize)
		tor.Pieces = make([]metainfo.HashV1, tor.numPieces())
		for i := range tor.Pieces {
			tor.Pieces[i] = sha1.Sum(make([]byte, tor.PieceLength))
		}
		g := &gen{cfg: Config{Torrents: []Torrent{tor}, Verify: verify}, start: time.Now()}
		if err := g.cfg.fill(); err != nil {
			t.Fatal(err)
		}
		c := newConn(g, 0, 0, 0)
		c.ring = make([]outReq, 2*g.cfg.Pipeline)
		c.wbuf = make([]byte, 0, 17*g.cfg.Pipeline)
		c.peerChoking = false
		var dec wire.Decoder
		round := func() {
			c.fill()
			reqs := c.wbuf
			c.wbuf = c.wbuf[:0]
			for len(reqs) > 0 {
				m, n, err := dec.Next(reqs)
				if err != nil || n == 0 {
					t.Fatalf("bad request stream: %v", err)
				}
				reqs = reqs[n:]
				pm := wire.Message{ID: wire.Piece, Index: m.Index, Begin: m.Begin, Payload: block[:m.Length]}
				if err := c.handle(&pm, time.Millisecond); err != nil {
					t.Fatal(err)
				}
			}
		}
		for range 10 { // warm up: slots and their buffers
			round()
		}
		allocs := testing.AllocsPerRun(50, round)
		if allocs != 0 {
			t.Errorf("verify=%v: %.1f allocations per %d blocks", verify, allocs, g.cfg.Pipeline)
		}
		if verify && (c.verified.Load() == 0 || c.hashFails.Load() != 0) {
			t.Errorf("verified %d, hash fails %d", c.verified.Load(), c.hashFails.Load())
		}
	}
}

func TestHistogram(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.record(int64(i) * int64(time.Microsecond))
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}} {
		got := h.quantile(tc.q)
		if d := float64(got-tc.want) / float64(tc.want); d > 0.07 || d < -0.07 {
			t.Errorf("q%.2f = %v, want about %v", tc.q, got, tc.want)
		}
	}
	for v := uint64(0); v < 1<<20; v = v*3/2 + 1 {
		i := bucketOf(v)
		if lo := bucketLow(i); lo > v || (i+1 < histBuckets && bucketLow(i+1) <= v) {
			t.Fatalf("value %d in bucket %d [%d, %d)", v, i, lo, bucketLow(i+1))
		}
	}
}

// TestHistogramQuantiles: quantiles of known distributions, within the
// buckets' 1/16 resolution (the midpoint of a bucket is at most 1/32 of
// its bound away from any value in it, plus the rank's rounding).
func TestHistogramQuantiles(t *testing.T) {
	us := func(n int) int64 { return int64(n) * int64(time.Microsecond) }
	for _, tc := range []struct {
		name   string
		values []int64
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.99, 0},
		{"one value", []int64{us(700)}, 0.99, 700 * time.Microsecond},
		{"one value p50", []int64{us(700)}, 0.5, 700 * time.Microsecond},
		{"small exact values", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.5, 5},
		{"small exact p99", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.99, 10},
		{"99 fast, 1 slow: p99 is fast", append(repeat(us(100), 99), us(50_000)), 0.99, 100 * time.Microsecond},
		{"98 fast, 2 slow: p99 is slow", append(repeat(us(100), 98), us(50_000), us(50_000)), 0.99, 50 * time.Millisecond},
		{"p100 is the max", append(repeat(us(100), 9), us(3_000)), 1, 3 * time.Millisecond},
		{"uniform 1..1000 µs p90", seq(1000, us(1)), 0.9, 900 * time.Microsecond},
		{"beyond the last bucket", []int64{int64(200 * time.Second)}, 0.5, 200 * time.Second},
		{"negative counts as zero", []int64{-5}, 0.5, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h histogram
			for _, v := range tc.values {
				h.record(v)
			}
			got := h.quantile(tc.q)
			tol := float64(tc.want) / 16
			if d := float64(got - tc.want); d > tol || d < -tol {
				t.Errorf("q%.2f = %v, want %v (within %v)", tc.q, got, tc.want, time.Duration(tol))
			}
		})
	}
}

func repeat(v int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// seq returns step, 2*step, ..., n*step.
func seq(n int, step int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i+1) * step
	}
	return out
}

func TestJain(t *testing.T) {
	for _, tc := range []struct {
		name string
		xs   []float64
		want float64
	}{
		{"none", nil, 0},
		{"all zero", []float64{0, 0, 0}, 0},
		{"one", []float64{5}, 1},
		{"equal", []float64{3, 3, 3, 3}, 1},
		{"one of four has all", []float64{0, 0, 8, 0}, 0.25},
		{"half served equally", []float64{1, 1, 0, 0}, 0.5},
		{"1 and 3", []float64{1, 3}, 16.0 / 20}, // (1+3)^2 / (2 * (1+9))
		{"1, 2, 3", []float64{1, 2, 3}, 36.0 / 42},
		{"9 of 2000 equal", append(make([]float64, 1991), 7, 7, 7, 7, 7, 7, 7, 7, 7), 9.0 / 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Jain(tc.xs); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("Jain(%v) = %v, want %v", tc.xs, got, tc.want)
			}
		})
	}
}

func TestParseTransport(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Transport
		ok   bool
	}{{"", Auto, true}, {"auto", Auto, true}, {"net", Goroutines, true}, {"goroutines", Goroutines, true}, {"GNET", Gnet, true}, {"epoll", 0, false}} {
		got, err := ParseTransport(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseTransport(%q) = %v, %v", tc.in, got, err)
		}
		if tc.ok && got.String() != map[Transport]string{Auto: "auto", Goroutines: "goroutines", Gnet: "gnet"}[tc.want] {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
	// Auto resolves by connection count in Config.fill; the others stay.
	for _, tc := range []struct {
		tr    Transport
		conns int
		want  Transport
	}{{Auto, 0, Goroutines}, {Auto, 64, Goroutines}, {Auto, AutoGnetConns - 1, Goroutines}, {Auto, AutoGnetConns, Gnet},
		{Auto, 10000, Gnet}, {Gnet, 8, Gnet}, {Goroutines, 10000, Goroutines}} {
		cfg := Config{Torrents: []Torrent{{PieceLength: 1, TotalLength: 1}}, Conns: tc.conns, Transport: tc.tr}
		if err := cfg.fill(); err != nil {
			t.Fatal(err)
		}
		if cfg.Transport != tc.want {
			t.Errorf("%v with %d conns: %v, want %v", tc.tr, tc.conns, cfg.Transport, tc.want)
		}
	}
}
