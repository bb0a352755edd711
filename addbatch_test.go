package shardtorrent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/metainfo"
)

// batchTorrents writes n small distinct torrents' data under dir and
// returns their metainfo.
func batchTorrents(t *testing.T, dir string, n int) []*metainfo.MetaInfo {
	t.Helper()
	var mis []*metainfo.MetaInfo
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("f%03d.bin", i))
		if err := os.WriteFile(p, []byte(fmt.Sprintf("torrent %d payload", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		_, mi, err := metainfo.Create(p, metainfo.CreateOptions{PieceLength: 16 << 10})
		if err != nil {
			t.Fatal(err)
		}
		mis = append(mis, mi)
	}
	return mis
}

// TestAddTorrents: results come back in order over two shards, a repeat
// within the batch and one already in the session are ErrDuplicateTorrent, a bad
// params fails alone, and every added torrent is in the session.
func TestAddTorrents(t *testing.T) {
	s := newTestSession(t, bufpool.New(), 2)
	defer s.Close(context.Background())
	ctx := context.Background()
	dir := t.TempDir()
	mis := batchTorrents(t, dir, 40)
	if _, err := s.AddTorrent(ctx, AddTorrentParams{MetaInfo: mis[0], SavePath: dir, SeedMode: true}); err != nil {
		t.Fatal(err)
	}
	var ps []AddTorrentParams
	for _, mi := range mis {
		ps = append(ps, AddTorrentParams{MetaInfo: mi, SavePath: dir, SeedMode: true})
	}
	ps = append(ps, AddTorrentParams{MetaInfo: mis[5], SavePath: dir}) // repeat within the batch
	ps = append(ps, AddTorrentParams{MetaInfo: mis[1]})                // no save path
	hs, errs := s.AddTorrents(ctx, ps)
	for i := range ps {
		var want error
		switch {
		case i == 0, i == len(mis):
			want = ErrDuplicateTorrent
		case i == len(mis)+1:
			want = ErrNeedSavePath
		}
		if !errors.Is(errs[i], want) {
			t.Errorf("params %d: err %v, want %v", i, errs[i], want)
		}
		// A duplicate comes back with the existing torrent's handle.
		if (hs[i] == nil) != (want != nil && want != ErrDuplicateTorrent) {
			t.Errorf("params %d: handle %v with err %v", i, hs[i], errs[i])
		}
		if hs[i] != nil && hs[i].InfoHash() != ps[i].MetaInfo.InfoHash {
			t.Errorf("params %d: handle for %v, want %v", i, hs[i].InfoHash(), ps[i].MetaInfo.InfoHash)
		}
	}
	if h0, _ := s.Torrent(mis[0].InfoHash); hs[0] != h0 || hs[len(mis)] != hs[5] {
		t.Errorf("duplicates' handles %p, %p; want %p, %p", hs[0], hs[len(mis)], h0, hs[5])
	}
	all, err := s.Torrents(ctx)
	if err != nil || len(all) != len(mis) {
		t.Fatalf("session has %d torrents (%v), want %d", len(all), err, len(mis))
	}
	shards := map[int]bool{}
	for _, h := range hs[1:len(mis)] {
		shards[h.Shard()] = true
	}
	if len(shards) != 2 {
		t.Errorf("the batch used shards %v, want both", shards)
	}
}

// TestAddTorrentsCancelled: with ctx already done nothing is added, every
// params gets ctx's error, and the info-hashes are free to add again.
func TestAddTorrentsCancelled(t *testing.T) {
	s := newTestSession(t, bufpool.New(), 2)
	defer s.Close(context.Background())
	dir := t.TempDir()
	mis := batchTorrents(t, dir, 8)
	var ps []AddTorrentParams
	for _, mi := range mis {
		ps = append(ps, AddTorrentParams{MetaInfo: mi, SavePath: dir, SeedMode: true})
	}
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	hs, errs := s.AddTorrents(cctx, ps)
	for i := range ps {
		// A shard's loop may win the race with the cancellation; then that
		// batch is added. Either way the result and the session agree.
		if errs[i] != nil && !errors.Is(errs[i], context.Canceled) {
			t.Fatalf("params %d: err %v", i, errs[i])
		}
		if (errs[i] == nil) != (hs[i] != nil) {
			t.Fatalf("params %d: handle %v, err %v", i, hs[i], errs[i])
		}
	}
	all, err := s.Torrents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, h := range hs {
		if h != nil {
			n++
		}
	}
	if len(all) != n {
		t.Fatalf("session has %d torrents, results say %d were added", len(all), n)
	}
	_, errs = s.AddTorrents(context.Background(), ps)
	for i := range ps {
		if (hs[i] == nil) != (errs[i] == nil) {
			t.Fatalf("re-adding params %d after a cancelled batch: %v (first result %v)", i, errs[i], hs[i])
		}
	}
}
