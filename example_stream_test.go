package shardtorrent_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/metainfo"
)

// Stream the second file of a torrent while it downloads: a media player
// would hand the Reader to its demuxer and seek around in it.
func ExampleTorrent_NewFileReader() {
	ctx := context.Background()
	mi, seeder, want, cleanup := exampleSwarm() // a seeder on 127.0.0.1 and the file's bytes
	defer cleanup()

	s, err := shardtorrent.NewSession(ctx, shardtorrent.Settings{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(ctx)
	dir, _ := os.MkdirTemp("", "stream-example")
	defer os.RemoveAll(dir)
	t, err := s.AddTorrent(ctx, shardtorrent.AddTorrentParams{MetaInfo: mi, SavePath: dir, Peers: []netip.AddrPort{seeder}})
	if err != nil {
		log.Fatal(err)
	}

	files, err := t.Files(ctx) // pad files left out: Files()[i] is file i everywhere
	if err != nil {
		log.Fatal(err)
	}
	r := files[1].NewReader() // the same as t.NewFileReader(1): an io.ReadSeekCloser
	defer r.Close()
	r.SetReadahead(1 << 20) // pieces of the next MiB get deadlines
	size, _ := r.Seek(0, io.SeekEnd)
	r.Seek(size/2, io.SeekStart) // start in the middle: those pieces come first
	tail, err := io.ReadAll(r)   // blocks until each piece is verified
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("file %s: %d bytes, read the last %d, same as the seeder's: %v\n",
		files[1].Path, size, len(tail), bytes.Equal(tail, want[size/2:]))
	// Output: file movie/b.mkv: 3000000 bytes, read the last 1500000, same as the seeder's: true
}

// exampleSwarm makes a two-file torrent over generated data and seeds it
// from a session on 127.0.0.1. It returns the torrent, the seeder's
// address, the second file's bytes and a cleanup.
func exampleSwarm() (*metainfo.MetaInfo, netip.AddrPort, []byte, func()) {
	ctx := context.Background()
	src, err := os.MkdirTemp("", "stream-example-seed")
	if err != nil {
		log.Fatal(err)
	}
	var second []byte
	for i, name := range []string{"a.srt", "b.mkv"} {
		h := sha256.Sum256([]byte(name))
		b := bytes.Repeat(h[:], 3_000_000/len(h)+1)[:(i+1)*1_500_000]
		if i == 1 {
			second = b
		}
		_ = os.MkdirAll(filepath.Join(src, "movie"), 0o755)
		if err := os.WriteFile(filepath.Join(src, "movie", name), b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	_, mi, err := metainfo.Create(filepath.Join(src, "movie"), metainfo.CreateOptions{PieceLength: 64 << 10})
	if err != nil {
		log.Fatal(err)
	}
	seed, err := shardtorrent.NewSession(ctx, shardtorrent.Settings{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := seed.AddTorrent(ctx, shardtorrent.AddTorrentParams{MetaInfo: mi, SavePath: src, SeedMode: true}); err != nil {
		log.Fatal(err)
	}
	return mi, seed.ListenAddr(), second, func() {
		seed.Close(ctx)
		os.RemoveAll(src)
	}
}
