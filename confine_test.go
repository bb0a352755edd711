package shardtorrent

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/storage"
)

// TestSessionRefusesToWriteThroughPlantedLinks downloads torrents from a
// real seeder over 127.0.0.1 into save directories where a symbolic link
// sits on the torrent's path. The session must refuse the write with an
// error matching storage.ErrUnsafePath, and everything outside the save
// directory must stay as it was, byte for byte.
func TestSessionRefusesToWriteThroughPlantedLinks(t *testing.T) {
	src := t.TempDir()
	writeFiles(t, src, map[string]int{
		"one.bin": 200_000, "multi/a.bin": 70_000, "multi/sub/b.bin": 90_000, "multi/sub/c.bin": 1, "multi/d.bin": 40_000,
	})
	metas := map[string]*metainfo.MetaInfo{}
	for _, root := range []string{"one.bin", "multi"} {
		_, mi, err := metainfo.Create(filepath.Join(src, root), metainfo.CreateOptions{PieceLength: 32 << 10})
		if err != nil {
			t.Fatal(err)
		}
		metas[root] = mi
	}

	ctx := context.Background()
	seeder := newTestSession(t, bufpool.New(), 1)
	defer seeder.Close(ctx)
	for _, mi := range metas {
		if _, err := seeder.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src}); err != nil {
			t.Fatal(err)
		}
	}
	seeding := 0
	waitAlert(t, seeder, 20*time.Second, func(a plugin.Alert) bool {
		if sc, ok := a.(*plugin.StateChangedAlert); ok && sc.To == plugin.StateSeeding {
			seeding++
		}
		return seeding == len(metas)
	})

	cases := []struct {
		name    string
		torrent string
		plant   func(t *testing.T, save, out string)
	}{
		{"single-file torrent is a link to a file outside", "one.bin", func(t *testing.T, save, out string) {
			mustLink(t, filepath.Join(out, "secret"), filepath.Join(save, "one.bin"))
		}},
		{"multi-file torrent's root is a link to a directory outside", "multi", func(t *testing.T, save, out string) {
			mustLink(t, filepath.Join(out, "dir"), filepath.Join(save, "multi"))
		}},
		{"directory link inside the torrent", "multi", func(t *testing.T, save, out string) {
			if err := os.Mkdir(filepath.Join(save, "multi"), 0o755); err != nil {
				t.Fatal(err)
			}
			mustLink(t, filepath.Join(out, "dir"), filepath.Join(save, "multi", "sub"))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			save, out := t.TempDir(), t.TempDir()
			// What the links aim at: a file the size of one.bin, and a
			// directory shaped like multi's, holding files it would write.
			for name, size := range map[string]int{"secret": 200_000, "dir/sub/b.bin": 90_000, "dir/a.bin": 1000} {
				p := filepath.Join(out, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, bytes.Repeat([]byte("outside\n"), size/8), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			tc.plant(t, save, out)
			before := hashTree(t, out)

			leecher := newTestSession(t, bufpool.New(), 1)
			defer leecher.Close(ctx)
			mi := metas[tc.torrent]
			if _, err := leecher.AddTorrent(ctx, AddTorrentParams{
				MetaInfo: mi, SavePath: save, Peers: []netip.AddrPort{seeder.ListenAddr()},
			}); err != nil {
				t.Fatal(err)
			}
			// Today the refusal fails the torrent (TorrentErrorAlert with the
			// *storage.FileError); with the disk-fault error state it is a
			// FileErrorAlert naming the file and operation. Either must say
			// "create" and match storage.ErrUnsafePath.
			var refused error
			var op string
			seen := waitAlert(t, leecher, 30*time.Second, func(a plugin.Alert) bool {
				switch a := a.(type) {
				case *plugin.FileErrorAlert:
					refused, op = a.Err, a.Op
				case *plugin.TorrentErrorAlert:
					refused = a.Err
					if fe := (*storage.FileError)(nil); errors.As(a.Err, &fe) {
						op = fe.Op
					}
				case *plugin.StateChangedAlert:
					return a.To == plugin.StateSeeding
				}
				return refused != nil
			})
			if !errors.Is(refused, storage.ErrUnsafePath) || op != "create" {
				t.Errorf("torrent error %v in %q, want a create error matching storage.ErrUnsafePath", refused, op)
			}
			if sc, ok := seen[len(seen)-1].(*plugin.StateChangedAlert); ok {
				t.Errorf("the torrent reached %v through a planted link", sc.To)
			}
			after := hashTree(t, out)
			if len(after) != len(before) {
				t.Errorf("outside the save directory: %d files before, %d after", len(before), len(after))
			}
			for name, h := range before {
				if after[name] != h {
					t.Errorf("outside the save directory: %s changed", name)
				}
			}
		})
	}
}

func mustLink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// TestSessionDoesNotSeedThroughPlantedLinks: the other direction. A save
// directory whose torrent file is a link to data outside it, even the
// right data, is not read: the check finds no piece on disk, so the
// session never offers a byte of the link's target to peers.
func TestSessionDoesNotSeedThroughPlantedLinks(t *testing.T) {
	src := t.TempDir()
	writeFiles(t, src, map[string]int{"one.bin": 100_000, "multi/a.bin": 50_000, "multi/b.bin": 50_000})
	cases := []struct {
		root  string
		plant func(t *testing.T, save string)
	}{
		{"one.bin", func(t *testing.T, save string) {
			mustLink(t, filepath.Join(src, "one.bin"), filepath.Join(save, "one.bin"))
		}},
		{"multi", func(t *testing.T, save string) {
			mustLink(t, filepath.Join(src, "multi"), filepath.Join(save, "multi"))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.root, func(t *testing.T) {
			_, mi, err := metainfo.Create(filepath.Join(src, tc.root), metainfo.CreateOptions{PieceLength: 16 << 10})
			if err != nil {
				t.Fatal(err)
			}
			save := t.TempDir()
			tc.plant(t, save)
			s := newTestSession(t, bufpool.New(), 1)
			defer s.Close(context.Background())
			if _, err := s.AddTorrent(context.Background(), AddTorrentParams{MetaInfo: mi, SavePath: save}); err != nil {
				t.Fatal(err)
			}
			var checked *plugin.TorrentCheckedAlert
			waitAlert(t, s, 20*time.Second, func(a plugin.Alert) bool {
				checked, _ = a.(*plugin.TorrentCheckedAlert)
				return checked != nil
			})
			if checked.Have != 0 {
				t.Fatalf("check found %d of %d pieces through a link", checked.Have, checked.Total)
			}
		})
	}
}
