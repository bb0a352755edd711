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
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// TestSeedDialsLeecher: two real sessions on 127.0.0.1. The seeder is told
// the leecher's address (ConnectPeer, or a tracker reply) and dials it; the
// leecher, which knows no peer, downloads everything over that incoming
// connection.
func TestSeedDialsLeecher(t *testing.T) {
	cases := []struct {
		name string
		tell func(ctx context.Context, seeder *Session, h *Torrent, ih metainfo.InfoHash, leecher netip.AddrPort) error
	}{
		{"connect peer", func(ctx context.Context, _ *Session, h *Torrent, _ metainfo.InfoHash, a netip.AddrPort) error {
			return h.ConnectPeer(ctx, a)
		}},
		{"tracker", func(_ context.Context, s *Session, _ *Torrent, ih metainfo.InfoHash, a netip.AddrPort) error {
			s.addPeers(ih.Short(), []netip.AddrPort{a}, plugin.SourceTracker)
			return nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			src := t.TempDir()
			writeFiles(t, src, map[string]int{"p.bin": 3<<20 + 12345})
			_, mi, err := metainfo.Create(filepath.Join(src, "p.bin"), metainfo.CreateOptions{PieceLength: 64 << 10})
			if err != nil {
				t.Fatal(err)
			}
			seeder := newTestSession(t, bufpool.New(), 2)
			leecher := newTestSession(t, bufpool.New(), 1)
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = leecher.Close(ctx)
				_ = seeder.Close(ctx)
			})
			sh, err := seeder.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src})
			if err != nil {
				t.Fatal(err)
			}
			waitAlert(t, seeder, 10*time.Second, func(a plugin.Alert) bool {
				sc, ok := a.(*plugin.StateChangedAlert)
				return ok && sc.To == plugin.StateSeeding
			})
			dst := t.TempDir()
			if _, err := leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: dst}); err != nil {
				t.Fatal(err)
			}
			waitAlert(t, leecher, 10*time.Second, func(a plugin.Alert) bool { _, ok := a.(*plugin.TorrentCheckedAlert); return ok })
			if err := tc.tell(ctx, seeder, sh, mi.InfoHash, leecher.ListenAddr()); err != nil {
				t.Fatal(err)
			}
			seen := waitAlert(t, leecher, 30*time.Second, func(a plugin.Alert) bool { _, ok := a.(*plugin.TorrentFinishedAlert); return ok })
			for _, a := range seen {
				if pc, ok := a.(*plugin.PeerConnectedAlert); ok && !pc.Incoming {
					t.Fatalf("the leecher dialled %v; it knows no peer", pc.Addr)
				}
			}
			want, err := os.ReadFile(filepath.Join(src, "p.bin"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(dst, "p.bin"))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("the leecher's file differs from the seeder's (%v)", err)
			}
		})
	}
}
