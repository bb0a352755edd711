package shardtorrent

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// dhtSwarm starts n sessions on 127.0.0.1 whose DHTs know each other
// (every one AddDHTNode's every other) and waits for every bootstrap.
func dhtSwarm(t *testing.T, n int, tweak func(i int, s *Settings)) []*Session {
	t.Helper()
	ss := make([]*Session, n)
	for i := range ss {
		set := Settings{ListenAddr: "127.0.0.1:0", Shards: 1, Pool: bufpool.New(), AlertMask: plugin.CategoryAll}
		if tweak != nil {
			tweak(i, &set)
		}
		s, err := NewSession(context.Background(), set)
		if err != nil {
			t.Fatal(err)
		}
		if !s.DHTAddr().IsValid() {
			t.Fatalf("session %d has no DHT: %v", i, s.PopAlerts())
		}
		ss[i] = s
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = s.Close(ctx)
		})
	}
	for i, s := range ss {
		for j, o := range ss {
			if i != j {
				if err := s.AddDHTNode(o.DHTAddr().String()); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, s := range ss {
		waitAlert(t, s, 20*time.Second, func(a plugin.Alert) bool {
			_, ok := a.(*plugin.DHTBootstrapAlert)
			return ok
		})
	}
	return ss
}

// TestDHTSwarmFindsSeed: in a loopback DHT of 8 sessions, a torrent
// seeded by one is found through the DHT alone (no peers given, no
// trackers) and downloaded, verified, by another; and a third fetches it
// from a bare magnet (info-hash only) the same way.
func TestDHTSwarmFindsSeed(t *testing.T) {
	ss := dhtSwarm(t, 8, nil)
	src := t.TempDir()
	writeFiles(t, src, map[string]int{"dht.bin": 1<<20 + 4321})
	_, mi, err := metainfo.Create(filepath.Join(src, "dht.bin"), metainfo.CreateOptions{PieceLength: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	seed := ss[0]
	if _, err := seed.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src, SeedMode: true}); err != nil {
		t.Fatal(err)
	}
	// The seed's first lookup ends after its announce_peer step: from
	// then on the nodes closest to the info-hash store it.
	waitAlert(t, seed, 30*time.Second, func(a plugin.Alert) bool {
		r, ok := a.(*plugin.DHTReplyAlert)
		return ok && r.InfoHash == mi.InfoHash
	})
	if st, _ := seed.DHTStats(); st.Lookups == 0 || st.Nodes == 0 {
		t.Fatalf("seed DHT stats after its lookup: %+v", st)
	}
	for i, p := range []AddTorrentParams{
		{MetaInfo: mi, SavePath: t.TempDir()},
		{InfoHash: mi.InfoHash, SavePath: t.TempDir()}, // a bare magnet
	} {
		leech := ss[5+i]
		h, err := leech.AddTorrent(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		seen := waitAlert(t, leech, 60*time.Second, func(a plugin.Alert) bool {
			_, ok := a.(*plugin.TorrentFinishedAlert)
			return ok
		})
		found := false
		for _, a := range seen {
			if r, ok := a.(*plugin.DHTReplyAlert); ok && r.NumPeers > 0 {
				found = true
			}
		}
		if !found {
			// The lookup may still be in its announce step; the peers
			// came from it all the same (nothing else knows the seed).
			waitAlert(t, leech, 30*time.Second, func(a plugin.Alert) bool {
				r, ok := a.(*plugin.DHTReplyAlert)
				return ok && r.NumPeers > 0
			})
		}
		st, err := h.Status(ctx)
		if err != nil || st.Progress != 1 {
			t.Fatalf("leecher %d: status %+v, %v", i, st, err)
		}
		want, got := hashTree(t, src), hashTree(t, p.SavePath)
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("leecher %d: %s differs", i, k)
			}
		}
	}
}
