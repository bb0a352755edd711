//go:build interop

package interop

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/internal/refpeer"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/tracker"
)

// TestFleet: three nodes with -fleet 0/3 .. 2/3 over one watch directory
// of 30 torrents, all announcing to one opentracker. The tracker lists
// exactly one node for every torrent, the one whose share it falls to,
// and a libtorrent leecher that knows only the tracker downloads three
// torrents that live on three different nodes.
func TestFleet(t *testing.T) {
	ctx := setup(t, testTimeout)
	requireNode(t)
	const count, nodes = 30, 3
	ports := freePorts(t, 1+nodes+nodes)
	base := t.TempDir()
	ot := newOpentracker(t, ctx, base)
	announce := trackerURLs(ot)["http"]
	data := mkdir(t, base, "data")
	watch := mkdir(t, base, "watch")

	// Each torrent is its own fixture (so a leecher's directory can be
	// compared with it alone); its file is linked into the one data
	// directory the nodes share.
	fixtures := make([]fixture, count)
	share := make([]int, count)
	var hashes []string
	for i := range fixtures {
		name := fmt.Sprintf("f%02d.bin", i)
		f := makeFixture(t, filepath.Join(base, name), name, 256<<10+int64(i), nil, 64<<10, announce)
		if err := os.Link(filepath.Join(f.SeedDir, name), filepath.Join(data, name)); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(f.Torrent)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(watch, name+".torrent"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		var ih metainfo.InfoHash
		if _, err := hex.Decode(ih.V1[:], []byte(f.Info.InfoHash)); err != nil {
			t.Fatal(err)
		}
		fixtures[i], share[i] = f, shardtorrent.FleetShare(ih, nodes)
		hashes = append(hashes, f.Info.InfoHash)
	}
	allow(t, ctx, ot, hashes...)

	for i := 0; i < nodes; i++ {
		p := startNode(t, ctx, fmt.Sprintf("fleet-%d", i), "-listen", loopback(ports[1+i]), "-data", data,
			"-watch", watch, "-fleet", fmt.Sprintf("%d/%d", i, nodes), "-status", "0")
		line, err := p.WaitLine(ctx, fmt.Sprintf("fleet %d/%d: serving", i, nodes))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("node %d: %s", i, line)
		want := 0
		for _, s := range share {
			if s == i {
				want++
			}
		}
		if !strings.Contains(line, fmt.Sprintf("serving %d torrents", want)) {
			t.Fatalf("node %d: %q, want %d torrents", i, line, want)
		}
	}

	// Every torrent: its owner seeds it (scrape: one complete peer) and
	// the tracker lists that node and no other.
	pr := newProbe(t, announce)
	for i, f := range fixtures {
		pr.waitScrape(t, ctx, f.Info.InfoHash, f.Name, func(r tracker.ScrapeResult) bool { return r.Complete == 1 })
		ps := pr.peers(t, ctx, f.Info.InfoHash)
		for n := 0; n < nodes; n++ {
			if listed := contains(ps, loopback(ports[1+n])); listed != (n == share[i]) {
				t.Fatalf("%s (share %d): tracker peers %v; node %d listed=%v", f.Name, share[i], ps, n, listed)
			}
		}
	}

	// One torrent from each node, fetched by libtorrent through the
	// tracker alone.
	for n := 0; n < nodes; n++ {
		i := -1
		for j, s := range share {
			if s == n {
				i = j
				break
			}
		}
		if i < 0 {
			t.Fatalf("no torrent falls to node %d", n)
		}
		f := fixtures[i]
		dir := mkdir(t, base, fmt.Sprintf("lt-%d", n))
		l := ltLeech(t, ctx, f, dir, ports[1+nodes+n], refpeer.LTOptions{})
		waitLT(t, ctx, l)
		f.verify(t, fmt.Sprintf("libtorrent leecher of %s (node %d)", f.Name, n), dir)
	}
}
