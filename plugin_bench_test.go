package shardtorrent

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/internal/noopplugin"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// BenchmarkSeedLoopback seeds a 64 MiB torrent over loopback from one
// in-process session to a fresh one per iteration, with no plugins and with
// four no-op peer plugins on every connection of both sessions.
func BenchmarkSeedLoopback(b *testing.B) {
	const size = 64 << 20
	src := b.TempDir()
	writeFiles(&testing.T{}, src, map[string]int{"bench.bin": size})
	_, mi, err := metainfo.Create(filepath.Join(src, "bench.bin"), metainfo.CreateOptions{PieceLength: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{0, 4} {
		b.Run(fmt.Sprintf("plugins=%d", n), func(b *testing.B) {
			var exts []func(plugin.TorrentHandle, any) plugin.TorrentPlugin
			for range n {
				exts = append(exts, noopplugin.NewTorrentPlugin)
			}
			ctx := context.Background()
			seeder, err := NewSession(ctx, Settings{ListenAddr: "127.0.0.1:0", Shards: 1, Pool: bufpool.New()})
			if err != nil {
				b.Fatal(err)
			}
			defer seeder.Close(ctx)
			if _, err := seeder.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src, SeedMode: true, Extensions: exts}); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				leecher, err := NewSession(ctx, Settings{ListenAddr: "off", Shards: 1, Pool: bufpool.New(), AlertMask: plugin.CategoryStatus})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: b.TempDir(), Extensions: exts,
					Peers: []netip.AddrPort{seeder.ListenAddr()}}); err != nil {
					b.Fatal(err)
				}
				wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
				done := false
				for !done {
					for _, a := range leecher.PopAlerts() {
						if _, ok := a.(*plugin.TorrentFinishedAlert); ok {
							done = true
						}
					}
					if !done {
						if err := leecher.WaitForAlert(wctx); err != nil {
							b.Fatal("transfer did not finish")
						}
					}
				}
				cancel()
				b.StopTimer()
				_ = leecher.Close(ctx)
				b.StartTimer()
			}
		})
	}
}
