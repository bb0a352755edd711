package shardtorrent_test

import (
	"context"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// quickstartSeeder starts a session on 127.0.0.1 seeding a generated
// two-file torrent named "quickstart", and returns a magnet URI for it
// that names the seeder (x.pe), an empty directory to download into, and
// a function that stops the seeder and removes both directories.
func quickstartSeeder() (magnet, dir string, stop func()) {
	src, err := os.MkdirTemp("", "shardtorrent-example-src")
	if err != nil {
		log.Fatal(err)
	}
	dir, err = os.MkdirTemp("", "shardtorrent-example-dst")
	if err != nil {
		log.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for name, size := range map[string]int{"quickstart/video.bin": 1_000_000, "quickstart/notes.txt": 300_000} {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		path := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	_, mi, err := metainfo.Create(filepath.Join(src, "quickstart"), metainfo.CreateOptions{PieceLength: 64 << 10})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := shardtorrent.NewSession(ctx, shardtorrent.Settings{ListenAddr: "127.0.0.1:0", Shards: 1, DisableDHT: true})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := s.AddTorrent(ctx, shardtorrent.AddTorrentParams{MetaInfo: mi, SavePath: src}); err != nil {
		log.Fatal(err)
	}
	for seeding := false; !seeding; { // the check of the source files
		if err := s.WaitForAlert(ctx); err != nil {
			log.Fatal("seeder: ", err)
		}
		for _, a := range s.PopAlerts() {
			if sc, ok := a.(*plugin.StateChangedAlert); ok && sc.To == plugin.StateSeeding {
				seeding = true
			}
		}
	}
	magnet = mi.Magnet().String() + "&x.pe=" + s.ListenAddr().String()
	return magnet, dir, func() {
		_ = s.Close(context.Background())
		_ = os.RemoveAll(src)
		_ = os.RemoveAll(dir)
	}
}
