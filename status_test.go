package shardtorrent

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// addSyntheticSeeds adds n one-piece seed-mode torrents (no data is read
// in seed mode until a peer asks) and returns their info-hashes.
func addSyntheticSeeds(tb testing.TB, s *Session, n int) map[metainfo.InfoHash]bool {
	tb.Helper()
	ps := make([]AddTorrentParams, n)
	want := make(map[metainfo.InfoHash]bool, n)
	dir := tb.TempDir()
	for i := range ps {
		var ih metainfo.InfoHash
		binary.LittleEndian.PutUint64(ih.V1[:], uint64(i)+1)
		name := fmt.Sprintf("s%05d.bin", i)
		info := &metainfo.Info{Name: name, PieceLength: 16 << 10, Pieces: make([]metainfo.HashV1, 1),
			Files: []metainfo.File{{Path: []string{name}, Length: 1000}}, TotalLength: 1000}
		ps[i] = AddTorrentParams{Info: info, InfoHash: ih, SavePath: dir, SeedMode: true}
		want[ih] = true
	}
	_, errs := s.AddTorrents(context.Background(), ps)
	for _, err := range errs {
		if err != nil {
			tb.Fatal(err)
		}
	}
	return want
}

// TestTorrentStatusesCoversEveryTorrent: one call returns each torrent of
// every shard once, with its state.
func TestTorrentStatusesCoversEveryTorrent(t *testing.T) {
	s := newTestSession(t, bufpool.New(), 3)
	defer s.Close(context.Background())
	want := addSyntheticSeeds(t, s, 300)
	sts, err := s.TorrentStatuses(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != len(want) {
		t.Fatalf("%d statuses, want %d", len(sts), len(want))
	}
	for _, st := range sts {
		if !want[st.InfoHash] || st.State != plugin.StateSeeding || st.Err != nil {
			t.Fatalf("status %+v", st)
		}
		delete(want, st.InfoHash)
	}
}

// BenchmarkTorrentStatuses10k is the node's once-a-second poll of 10,000
// torrents over two shards.
func BenchmarkTorrentStatuses10k(b *testing.B) {
	s, err := NewSession(context.Background(), Settings{ListenAddr: "off", Shards: 2, Pool: bufpool.New(), DisableDHT: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	addSyntheticSeeds(b, s, 10000)
	b.ReportAllocs()
	var buf []Status
	for b.Loop() {
		var err error
		if buf, err = s.TorrentStatuses(context.Background(), buf); err != nil {
			b.Fatal(err)
		}
	}
}
