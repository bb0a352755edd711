package shardtorrent_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/storage"
)

// Example_customStorage downloads a torrent into memory rather than onto
// the disk: AddTorrentParams.Storage takes any storage.Opener, here the
// memory storage's, bounded by a budget shared by every torrent that uses
// it. A seeding session on 127.0.0.1 serves the torrent.
func Example_customStorage() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// A seeder for a 1 MiB file, so the example is self-contained.
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "movie.bin"), make([]byte, 1<<20), 0o644)
	_, mi, err := metainfo.Create(filepath.Join(dir, "movie.bin"), metainfo.CreateOptions{})
	if err != nil {
		log.Fatal(err)
	}
	seeder, _ := shardtorrent.NewSession(ctx, shardtorrent.Settings{ListenAddr: "127.0.0.1:0"})
	defer seeder.Close(ctx)
	seeder.AddTorrent(ctx, shardtorrent.AddTorrentParams{MetaInfo: mi, SavePath: dir})

	// The client: pieces live in memory, at most 64 MiB of them.
	budget := storage.NewMemoryBudget(64 << 20)
	var stored storage.Storage
	s, err := shardtorrent.NewSession(ctx, shardtorrent.Settings{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(ctx)
	_, err = s.AddTorrent(ctx, shardtorrent.AddTorrentParams{
		MetaInfo: mi,
		SavePath: "unused", // nothing is written there
		Peers:    []netip.AddrPort{seeder.ListenAddr()},
		Storage: func(p storage.OpenParams) (storage.Storage, error) {
			st, err := storage.MemoryOpener(budget)(p)
			stored = st // to read the data back below
			return st, err
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	for done := false; !done; {
		if err := s.WaitForAlert(ctx); err != nil {
			log.Fatal(err)
		}
		for _, a := range s.PopAlerts() {
			_, done = a.(*plugin.TorrentFinishedAlert)
			if done {
				break
			}
		}
	}
	first := make([]byte, 16)
	if _, err := stored.ReadAt(first, 0, 0); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d bytes in memory, first bytes %x\n", budget.Used(), first[:4])
	// Output: 1048576 bytes in memory, first bytes 00000000
}
