package rpc_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/metainfo"
)

// peerSession is a second real session on 127.0.0.1 with mi added from
// dir (which may be empty: then it has nothing).
func peerSession(t *testing.T, mi *metainfo.MetaInfo, dir string) (*shardtorrent.Session, *shardtorrent.Torrent) {
	t.Helper()
	s, err := shardtorrent.NewSession(context.Background(), shardtorrent.Settings{
		ListenAddr: "127.0.0.1:0", Shards: 1, Pool: bufpool.New(), DisableDHT: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	h, err := s.AddTorrent(context.Background(), shardtorrent.AddTorrentParams{MetaInfo: mi, SavePath: dir})
	if err != nil {
		t.Fatal(err)
	}
	return s, h
}

// TestTransferFields: a torrent added over RPC downloads from a real peer
// session over 127.0.0.1; peers, peersConnected, percentDone,
// downloadedEver, files and fileStats follow it.
func TestTransferFields(t *testing.T) {
	f := newFixture(t, "127.0.0.1:0")
	src := t.TempDir()
	const size = 300_000
	_, mi := f.makeTorrent(src, "x.bin", size, 16<<10)
	tor := filepath.Join(f.root, "x.bin.torrent")
	dl := filepath.Join(f.root, "dl")
	if err := os.Mkdir(dl, 0o755); err != nil {
		t.Fatal(err)
	}
	var a specAdded
	f.c.mustCall("torrent-add", map[string]any{"filename": tor, "download-dir": dl}, &a)
	id := a.Added.ID
	f.waitFor("checked, nothing had", func() bool {
		ts := f.get(id, "status")
		return *ts[0].Status == 4
	})

	// A peer with nothing either: connected, neither side interested.
	_, empty := peerSession(t, mi, t.TempDir())
	if err := empty.ConnectPeer(context.Background(), f.sess.ListenAddr()); err != nil {
		t.Fatal(err)
	}
	f.waitFor("one peer", func() bool {
		ts := f.get(id, "peersConnected")
		return *ts[0].PeersConnected == 1
	})
	ts := f.get(id, "peers", "peersConnected", "peersSendingToUs", "peersGettingFromUs", "percentDone", "leftUntilDone", "eta")
	p := ts[0].Peers
	if len(p) != 1 || p[0].Address != "127.0.0.1" || p[0].Port == 0 || !p[0].IsIncoming || p[0].Progress != 0 {
		t.Fatalf("peers %+v", p)
	}
	if *ts[0].PercentDone != 0 || *ts[0].LeftUntilDone != size || *ts[0].PeersSendingToUs != 0 || *ts[0].Eta != -2 {
		t.Fatalf("before the transfer: %+v", ts[0])
	}

	// The seed.
	_, seed := peerSession(t, mi, src)
	if err := seed.ConnectPeer(context.Background(), f.sess.ListenAddr()); err != nil {
		t.Fatal(err)
	}
	f.waitFor("download complete", func() bool {
		ts := f.get(id, "percentDone")
		return *ts[0].PercentDone == 1
	})
	ts = f.get(id, "status", "downloadedEver", "uploadedEver", "leftUntilDone", "files", "fileStats", "doneDate", "addedDate", "haveValid", "eta")
	g := ts[0]
	if *g.Status != 6 || *g.DownloadedEver != size || *g.LeftUntilDone != 0 || *g.DoneDate < *g.AddedDate || *g.DoneDate == 0 || *g.Eta != -1 {
		t.Fatalf("after the transfer: status %d down %d left %d done %d added %d eta %d", *g.Status, *g.DownloadedEver, *g.LeftUntilDone, *g.DoneDate, *g.AddedDate, *g.Eta)
	}
	if len(g.Files) != 1 || g.Files[0].BytesCompleted != size || len(g.FileStats) != 1 || g.FileStats[0].BytesCompleted != size || !g.FileStats[0].Wanted {
		t.Fatalf("files %+v fileStats %+v", g.Files, g.FileStats)
	}
	got, err := os.ReadFile(filepath.Join(dl, "x.bin"))
	if err != nil || len(got) != size {
		t.Fatalf("downloaded file: %d bytes, %v", len(got), err)
	}
}
