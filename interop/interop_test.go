//go:build interop

package interop

import (
	"path/filepath"
	"testing"

	"github.com/shardtorrent/shardtorrent/internal/refpeer"
)

const (
	singleSize  = 32 << 20  // bytes of the single-file fixture
	singlePiece = 256 << 10 // its piece size
)

// oddFiles is the multi-file fixture: nested dirs, an empty file, files
// smaller than a piece, files straddling piece boundaries, and a total
// (5_300_001 bytes) that is not a multiple of the piece size (the last of
// its 21 pieces of 256 KiB is 57_761 bytes).
var oddFiles = map[string]int64{
	"top.bin":            4_000_037,
	"docs/readme.txt":    1_000,
	"docs/deep/er/empty": 0,
	"docs/deep/mid.bin":  1_298_947,
	"z/tiny":             17,
}

// 1. libtorrent seeds, our node downloads.
func TestLibtorrentSeedsNodeDownloads(t *testing.T) {
	ctx := setup(t, testTimeout)
	requireNode(t)
	dir := t.TempDir()
	f := makeFixture(t, dir, "single.bin", singleSize, nil, singlePiece)
	ports := freePorts(t, 2)
	seed := ltSeed(t, ctx, f, ports[0], refpeer.LTOptions{})
	leechDir := mkdir(t, dir, "node")
	n := startNode(t, ctx, "node-leech", nodeLeechArgs(f, leechDir, ports[1], seed.Addr())...)
	waitNode(t, ctx, n)
	f.verify(t, "node", leechDir)
}

// 2. Our node seeds, libtorrent downloads.
func TestNodeSeedsLibtorrentDownloads(t *testing.T) {
	ctx := setup(t, testTimeout)
	requireNode(t)
	dir := t.TempDir()
	f := makeFixture(t, dir, "single.bin", singleSize, nil, singlePiece)
	ports := freePorts(t, 2)
	nodeSeed(t, ctx, "node-seed", f, ports[0])
	leechDir := mkdir(t, dir, "lt")
	l := ltLeech(t, ctx, f, leechDir, ports[1], refpeer.LTOptions{Peers: []string{loopback(ports[0])}})
	waitLT(t, ctx, l)
	f.verify(t, "libtorrent", leechDir)
}

// 3. Our node seeds, aria2 downloads (it finds the node through a tracker).
func TestNodeSeedsAria2Downloads(t *testing.T) {
	ctx := setup(t, testTimeout)
	requireAria2(t)
	requireNode(t)
	dir := t.TempDir()
	ports := freePorts(t, 2)
	url, stop, err := refpeer.StartTracker(addrPort(ports[0]))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	f := makeFixture(t, dir, "single.bin", singleSize, nil, singlePiece, url)
	nodeSeed(t, ctx, "node-seed", f, ports[0])
	leechDir := mkdir(t, dir, "aria2")
	a, err := refpeer.StartAria2(ctx, refpeer.Aria2Options{Torrent: f.Torrent, Dir: leechDir, ListenPort: ports[1], Log: t.Output()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Stop() })
	if _, err := a.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	f.verify(t, "aria2", leechDir)
}

// 4. Multi-file torrent with odd sizes, both directions.
func TestMultiFileOddLastPiece(t *testing.T) {
	t.Run("libtorrent_to_node", func(t *testing.T) {
		ctx := setup(t, testTimeout)
		requireNode(t)
		dir := t.TempDir()
		f := makeFixture(t, dir, "odd", 0, oddFiles, singlePiece)
		ports := freePorts(t, 2)
		seed := ltSeed(t, ctx, f, ports[0], refpeer.LTOptions{})
		leechDir := mkdir(t, dir, "node")
		n := startNode(t, ctx, "node-leech", nodeLeechArgs(f, leechDir, ports[1], seed.Addr())...)
		waitNode(t, ctx, n)
		f.verify(t, "node", leechDir)
	})
	t.Run("node_to_libtorrent", func(t *testing.T) {
		ctx := setup(t, testTimeout)
		requireNode(t)
		dir := t.TempDir()
		f := makeFixture(t, dir, "odd", 0, oddFiles, singlePiece)
		ports := freePorts(t, 2)
		nodeSeed(t, ctx, "node-seed", f, ports[0])
		leechDir := mkdir(t, dir, "lt")
		l := ltLeech(t, ctx, f, leechDir, ports[1], refpeer.LTOptions{Peers: []string{loopback(ports[0])}})
		waitLT(t, ctx, l)
		f.verify(t, "libtorrent", leechDir)
	})
}

// 5. One libtorrent seeder, three node leechers and one libtorrent leecher,
// all told about the seeder and about each other.
func TestSwarm(t *testing.T) {
	ctx := setup(t, testTimeout)
	requireNode(t)
	dir := t.TempDir()
	f := makeFixture(t, dir, "single.bin", singleSize, nil, singlePiece)
	ports := freePorts(t, 5) // seeder, node1..3, lt leecher
	all := make([]string, len(ports))
	for i, p := range ports {
		all[i] = loopback(p)
	}
	others := func(i int) []string { // everyone but i
		var o []string
		for j, a := range all {
			if j != i {
				o = append(o, a)
			}
		}
		return o
	}
	ltSeed(t, ctx, f, ports[0], refpeer.LTOptions{})
	var nodes []*refpeer.Process
	var nodeDirs []string
	for i := 1; i <= 3; i++ {
		d := mkdir(t, dir, "node"+string(rune('0'+i)))
		nodeDirs = append(nodeDirs, d)
		nodes = append(nodes, startNode(t, ctx, "node"+string(rune('0'+i)), nodeLeechArgs(f, d, ports[i], others(i)...)...))
	}
	ltDir := mkdir(t, dir, "lt")
	l := ltLeech(t, ctx, f, ltDir, ports[4], refpeer.LTOptions{Peers: others(4), Name: "lt-leech"})
	for _, n := range nodes {
		waitNode(t, ctx, n)
	}
	waitLT(t, ctx, l)
	for _, d := range nodeDirs {
		f.verify(t, filepath.Base(d), d)
	}
	f.verify(t, "libtorrent leecher", ltDir)
}
