package nodecmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/metainfo"
)

// TestMagnetDownloads: the node fetches a torrent from a magnet URI, given
// as an argument (peer from -peer) or as a .magnet file in -watch (peer
// from x.pe), and the data lands under -data as for a .torrent.
func TestMagnetDownloads(t *testing.T) {
	src := t.TempDir()
	payload := bytes.Repeat([]byte("shardtorrent magnet "), 20_000) // 400 KB
	if err := os.MkdirAll(filepath.Join(src, "mag"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "mag", "p.bin"), payload, 0o644); err != nil {
		t.Fatal(err)
	}
	_, mi, err := metainfo.Create(filepath.Join(src, "mag"), metainfo.CreateOptions{PieceLength: 32 << 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	seeder, err := shardtorrent.NewSession(ctx, shardtorrent.Settings{ListenAddr: "127.0.0.1:0", Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close(ctx)
	if _, err := seeder.AddTorrent(ctx, shardtorrent.AddTorrentParams{MetaInfo: mi, SavePath: src, SeedMode: true}); err != nil {
		t.Fatal(err)
	}
	peer := seeder.ListenAddr().String()
	uri := mi.Magnet().String()
	cases := []struct {
		name  string
		setup func(t *testing.T, data string) []string // returns the arguments
	}{
		{"argument with -peer", func(t *testing.T, data string) []string {
			return []string{"-peer", peer, uri}
		}},
		{"watch .magnet with x.pe", func(t *testing.T, data string) []string {
			watch := t.TempDir()
			if err := os.WriteFile(filepath.Join(watch, "m.magnet"), []byte(uri+"&x.pe="+peer+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return []string{"-watch", watch}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			args := append([]string{"-listen", "127.0.0.1:0", "-data", data, "-exit-when-complete", "-status", "0", "-shards", "1"},
				tc.setup(t, data)...)
			var out, errb bytes.Buffer
			done := make(chan int, 1)
			go func() { done <- Run(args, &out, &errb) }()
			select {
			case code := <-done:
				if code != 0 {
					t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out.String(), errb.String())
				}
			case <-time.After(60 * time.Second):
				t.Fatal("node did not complete the magnet within 60s")
			}
			for _, want := range []string{"added magnet", "metadata " + mi.Info.Name, "all torrents complete"} {
				if !strings.Contains(out.String(), want) {
					t.Fatalf("stdout lacks %q:\n%s", want, out.String())
				}
			}
			got, err := os.ReadFile(filepath.Join(data, "mag", "p.bin"))
			if err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("downloaded data differs (err %v)", err)
			}
		})
	}
}
