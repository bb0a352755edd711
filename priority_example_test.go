package shardtorrent_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// Download two files of a three-file torrent: the middle one is skipped
// (PriorityDontDownload), the first fetched before anything else
// (PriorityTop). The torrent is finished, not seeding, once the files it
// wants are complete.
func ExampleTorrent_SetFilePriority() {
	ctx := context.Background()
	mi, seeder, cleanup := exampleSeeder(ctx) // a second session over 127.0.0.1 seeds the torrent
	defer cleanup()

	s, err := shardtorrent.NewSession(ctx, shardtorrent.Settings{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(ctx)
	dir, _ := os.MkdirTemp("", "prio-example")
	defer os.RemoveAll(dir)
	t, err := s.AddTorrent(ctx, shardtorrent.AddTorrentParams{
		MetaInfo: mi, SavePath: dir, Peers: []netip.AddrPort{seeder.ListenAddr()},
		// By file index, as Torrent.Files lists them; the rest keep
		// PriorityDefault. Torrent.SetFilePriority changes them later.
		FilePriorities: []shardtorrent.Priority{shardtorrent.PriorityTop, shardtorrent.PriorityDontDownload},
	})
	if err != nil {
		log.Fatal(err)
	}
	for done := false; !done; {
		if err := s.WaitForAlert(ctx); err != nil {
			log.Fatal(err)
		}
		for _, a := range s.PopAlerts() {
			if _, ok := a.(*plugin.TorrentFinishedAlert); ok {
				done = true
			}
		}
	}
	st, _ := t.Status(ctx)
	fmt.Println("state:", st.State)
	files, _ := t.Files(ctx)
	for _, f := range files {
		fmt.Printf("%s: priority %d, complete %v\n", f.Path, f.Priority, f.Completed == f.Size)
	}
	// Output:
	// state: finished
	// data/a.bin: priority 7, complete true
	// data/b.bin: priority 0, complete false
	// data/c.bin: priority 4, complete true
}

// exampleSeeder writes three files, makes a torrent of them and seeds it
// from a session listening on 127.0.0.1; cleanup closes it and removes
// the files.
func exampleSeeder(ctx context.Context) (mi *metainfo.MetaInfo, seeder *shardtorrent.Session, cleanup func()) {
	src, _ := os.MkdirTemp("", "prio-example-seed")
	root := filepath.Join(src, "data")
	_ = os.Mkdir(root, 0o755)
	for i, size := range []int{100_000, 150_000, 80_000} {
		b := make([]byte, size)
		for j := range b {
			b[j] = byte(j*7 + i)
		}
		_ = os.WriteFile(filepath.Join(root, fmt.Sprintf("%c.bin", 'a'+i)), b, 0o644)
	}
	_, mi, err := metainfo.Create(root, metainfo.CreateOptions{PieceLength: 32 << 10})
	if err != nil {
		log.Fatal(err)
	}
	seeder, err = shardtorrent.NewSession(ctx, shardtorrent.Settings{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := seeder.AddTorrent(ctx, shardtorrent.AddTorrentParams{MetaInfo: mi, SavePath: src}); err != nil {
		log.Fatal(err)
	}
	for seeding := false; !seeding; {
		if err := seeder.WaitForAlert(ctx); err != nil {
			log.Fatal(err)
		}
		for _, a := range seeder.PopAlerts() {
			if sc, ok := a.(*plugin.StateChangedAlert); ok && sc.To == plugin.StateSeeding {
				seeding = true
			}
		}
	}
	return mi, seeder, func() {
		seeder.Close(ctx)
		os.RemoveAll(src)
	}
}
