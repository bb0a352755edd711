//go:build interop

package interop

import (
	"testing"

	"github.com/shardtorrent/shardtorrent/internal/refpeer"
)

// magnetOf returns the magnet URI of a v1 fixture (no peers, no trackers).
func magnetOf(f fixture) string { return "magnet:?xt=urn:btih:" + f.Info.InfoHash + "&dn=" + f.Name }

// magnetFixtures: a multi-file torrent whose metadata is one ut_metadata
// piece, and one with 16 KiB pieces whose metadata needs two (the second
// shorter), so both piece handling paths meet libtorrent.
var magnetFixtures = []struct {
	name      string
	size      int64
	files     map[string]int64
	pieceSize int
	viaPeer   bool // node: peer from -peer rather than the magnet's x.pe
}{
	{"multi_file_one_metadata_piece", 0, oddFiles, singlePiece, false},
	{"two_metadata_pieces", 20 << 20, nil, 16 << 10, true},
}

// 4a. libtorrent seeds, our node fetches the metadata from a magnet URI
// (ut_metadata) and completes the download.
func TestMagnetNodeFetchesFromLibtorrent(t *testing.T) {
	for _, c := range magnetFixtures {
		t.Run(c.name, func(t *testing.T) {
			ctx := setup(t, testTimeout)
			requireNode(t)
			dir := t.TempDir()
			name := "data"
			if c.files == nil {
				name = "single.bin"
			}
			f := makeFixture(t, dir, name, c.size, c.files, c.pieceSize)
			if c.name == "two_metadata_pieces" && f.Info.NumPieces*20 <= 16<<10 {
				t.Fatalf("fixture has %d pieces: its metadata fits one ut_metadata piece", f.Info.NumPieces)
			}
			ports := freePorts(t, 2)
			seed := ltSeed(t, ctx, f, ports[0], refpeer.LTOptions{})
			leechDir := mkdir(t, dir, "node")
			args := []string{"-listen", loopback(ports[1]), "-data", leechDir, "-exit-when-complete"}
			uri := magnetOf(f)
			if c.viaPeer {
				args = append(args, "-peer", seed.Addr())
			} else {
				uri += "&x.pe=" + seed.Addr()
			}
			n := startNode(t, ctx, "node-magnet", append(args, uri)...)
			if _, err := n.WaitLine(ctx, "metadata "+f.Name); err != nil {
				t.Fatalf("node never reported the metadata: %v", err)
			}
			waitNode(t, ctx, n)
			f.verify(t, "node (magnet)", leechDir)
		})
	}
}

// 4b. Our node seeds, libtorrent fetches the metadata from a magnet URI
// and completes the download.
func TestMagnetLibtorrentFetchesFromNode(t *testing.T) {
	for _, c := range magnetFixtures {
		t.Run(c.name, func(t *testing.T) {
			ctx := setup(t, testTimeout)
			requireNode(t)
			dir := t.TempDir()
			name := "data"
			if c.files == nil {
				name = "single.bin"
			}
			f := makeFixture(t, dir, name, c.size, c.files, c.pieceSize)
			ports := freePorts(t, 2)
			nodeSeed(t, ctx, "node-seed", f, ports[0])
			leechDir := mkdir(t, dir, "lt")
			l, err := refpeer.StartLT(ctx, refpeer.LTOptions{Mode: "leech", Magnet: magnetOf(f), SaveDir: leechDir,
				ListenPort: ports[1], Peers: []string{loopback(ports[0])}, Log: t.Output(), Name: "lt-magnet"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Stop() })
			waitLT(t, ctx, l)
			f.verify(t, "libtorrent (magnet)", leechDir)
		})
	}
}
