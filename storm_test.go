package shardtorrent

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/internal/stormgen"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// stormSeeder is a two-shard seeder (upload limited, loopback included, so
// a download spans the storms) of a torrent on shard 0, the accepting loop,
// where the storm's handshakes run; and a leecher already downloading it.
func stormSeeder(t *testing.T, mseWorkers int) (seeder, leecher *Session, f *encFixture, lt *Torrent, dst string) {
	t.Helper()
	var err error
	seeder, err = NewSession(context.Background(), Settings{ListenAddr: "127.0.0.1:0", Shards: 2, Pool: bufpool.New(),
		AlertMask: plugin.CategoryAll, UploadRateLimit: LimitTo(1 << 20), LimitLocal: true, MSEWorkers: mseWorkers})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; f == nil || seeder.shardFor(f.mi.InfoHash.Short()) != seeder.shards[0]; i++ {
		if i == 32 {
			t.Fatal("no torrent landed on shard 0")
		}
		f = newEncFixture(t, 3<<20+i*1000)
	}
	seedFixture(t, seeder, f)
	leecher = newTestSession(t, bufpool.New(), 1)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = leecher.Close(ctx)
		_ = seeder.Close(ctx)
	})
	dst = t.TempDir()
	lt, err = leecher.AddTorrent(context.Background(), AddTorrentParams{MetaInfo: f.mi, SavePath: dst,
		Peers: []netip.AddrPort{seeder.ListenAddr()}})
	if err != nil {
		t.Fatal(err)
	}
	waitAlert(t, leecher, 20*time.Second, func(a plugin.Alert) bool {
		_, ok := a.(*plugin.PieceFinishedAlert)
		return ok
	})
	return seeder, leecher, f, lt, dst
}

// runStorm runs n handshakes against s with 16 dialers and requires every
// one to complete.
func runStorm(t *testing.T, s *Session, ih [20]byte, n int64, mse bool) {
	t.Helper()
	res, err := stormgen.Run(context.Background(), stormgen.Config{Addr: s.ListenAddr().String(), InfoHash: ih,
		Dialers: 16, Handshakes: n, MSE: mse, Duration: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Handshakes != n || res.Failures != 0 {
		t.Fatalf("MSE %v: %d of %d handshakes completed, %d failed: %v", mse, res.Handshakes, n, res.Failures, res.Errors)
	}
}

// TestStormWhileServing: storms of MSE and plaintext handshakes against a
// seeder all complete, their DH work on the accepting loop (the default)
// or through the pool, and a leecher already downloading from a torrent on
// the accepting loop's shard keeps going through them and finishes with
// the right bytes.
func TestStormWhileServing(t *testing.T) {
	for _, workers := range []int{0, 1} {
		t.Run(map[bool]string{true: "inline", false: "pool"}[workers == 0], func(t *testing.T) {
			stormWhileServing(t, workers)
		})
	}
}

func stormWhileServing(t *testing.T, workers int) {
	pooled := workers > 0
	seeder, leecher, f, lt, dst := stormSeeder(t, workers)
	ctx := context.Background()
	before, err := lt.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if before.TotalDone == 0 || before.TotalDone == int64(len(f.data)) {
		t.Fatalf("the download is not under way before the storm: %d of %d bytes", before.TotalDone, len(f.data))
	}
	ih := f.mi.InfoHash.Short()
	runStorm(t, seeder, ih, 300, true)
	runStorm(t, seeder, ih, 300, false)
	after, err := lt.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.TotalDone <= before.TotalDone {
		t.Fatalf("the download made no progress during the storms: %d then %d bytes", before.TotalDone, after.TotalDone)
	}
	if p := seeder.dh.pooled.Load(); pooled && p < 300 || !pooled && p != 0 {
		t.Fatalf("%d DH jobs went through the pool (pool on: %v)", p, pooled)
	}
	waitAlert(t, leecher, 30*time.Second, func(a plugin.Alert) bool {
		_, ok := a.(*plugin.TorrentFinishedAlert)
		return ok
	})
	got, err := os.ReadFile(filepath.Join(dst, "enc.bin"))
	if err != nil || !bytes.Equal(got, f.data) {
		t.Fatalf("the download differs (%v)", err)
	}
}

// TestStormDHQueueFull: with one worker and a queue of one, a storm of MSE
// handshakes still completes: the jobs that find the queue full are
// computed on the accepting loop, so the work queued never exceeds the
// bound.
func TestStormDHQueueFull(t *testing.T) {
	defer func(d int) { dhQueueCap = d }(dhQueueCap)
	dhQueueCap = 1
	seeder, err := NewSession(context.Background(), Settings{ListenAddr: "127.0.0.1:0", Shards: 2, Pool: bufpool.New(),
		AlertMask: plugin.CategoryAll, MSEWorkers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close(context.Background())
	f := newEncFixture(t, 256<<10)
	seedFixture(t, seeder, f)
	runStorm(t, seeder, f.mi.InfoHash.Short(), 200, true)
	pooled, inline := seeder.dh.pooled.Load(), seeder.dh.inline.Load()
	if pooled == 0 || inline == 0 || pooled+inline < 200 {
		t.Fatalf("%d jobs pooled, %d inline: want both, 200 at least in all", pooled, inline)
	}
	if c := cap(seeder.dh.jobs); c != 1 {
		t.Fatalf("queue capacity %d, want 1", c)
	}
}
