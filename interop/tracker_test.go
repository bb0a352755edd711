//go:build interop

package interop

import (
	"context"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/internal/refpeer"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/tracker"
)

// Trackers against Debian's opentracker: our node announces, libtorrent
// finds it there (and the other way round), scrape and stopped work, and
// a dead first tier and a magnet's tr= lead to the peers.

// trackerURLs are ot's HTTP and UDP announce URLs, by scheme.
func trackerURLs(ot *refpeer.Opentracker) map[string]string {
	return map[string]string{"http": ot.HTTPAnnounce(), "udp": ot.UDPAnnounce()}
}

// allow whitelists infohashes on ot.
func allow(t *testing.T, ctx context.Context, ot *refpeer.Opentracker, infohashes ...string) {
	t.Helper()
	if err := ot.Allow(ctx, infohashes...); err != nil {
		t.Fatal(err)
	}
}

// probe is a tracker client of our own, as a third party asking the
// tracker about a swarm.
type probe struct {
	u  *url.URL
	tp tracker.Transport
}

func newProbe(t *testing.T, raw string) probe {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	var tp tracker.Transport = tracker.NewHTTPTransport(nil, 0, "")
	if u.Scheme == "udp" {
		tp = tracker.NewUDPTransport()
	}
	t.Cleanup(tp.Close)
	return probe{u, tp}
}

// waitScrape asks the tracker until pred holds for the swarm's figures
// (opentracker has no event to wait on).
func (p probe) waitScrape(t *testing.T, ctx context.Context, ihHex string, what string, pred func(tracker.ScrapeResult) bool) tracker.ScrapeResult {
	t.Helper()
	var ih [20]byte
	if _, err := hex.Decode(ih[:], []byte(ihHex)); err != nil {
		t.Fatal(err)
	}
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		r, err := p.tp.Scrape(rctx, p.u, ih)
		cancel()
		if err == nil && pred(r) {
			return r
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: scrape never showed it (last %+v, %v)", what, r, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// peers announces as a third party (port 1, wants 200) and returns the
// swarm's peers.
func (p probe) peers(t *testing.T, ctx context.Context, ihHex string) []string {
	t.Helper()
	var r tracker.Request
	hex.Decode(r.InfoHash[:], []byte(ihHex))
	copy(r.PeerID[:], "-PR0001-probeprobe00")
	r.Port, r.NumWant, r.Left = 1, 200, 1
	resp, err := p.tp.Announce(ctx, p.u, r, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range resp.Peers {
		out = append(out, a.String())
	}
	return out
}

// TestTrackerLibtorrentFindsNodeSeed: our node seeds a torrent whose
// announce is opentracker; a libtorrent leecher that knows nothing but the
// tracker downloads all of it; scrape counts our seed; stopping our node
// takes it off the tracker's peer list. Over HTTP and UDP.
func TestTrackerLibtorrentFindsNodeSeed(t *testing.T) {
	for _, scheme := range []string{"http", "udp"} {
		t.Run(scheme, func(t *testing.T) {
			ctx := setup(t, testTimeout)
			requireNode(t)
			ports := freePorts(t, 3)
			dir := t.TempDir()
			ot := newOpentracker(t, ctx, dir)
			announce := trackerURLs(ot)[scheme]
			f := makeFixture(t, dir, "single.bin", 8<<20, nil, singlePiece, announce)
			allow(t, ctx, ot, f.Info.InfoHash)
			pr := newProbe(t, announce)

			node := startNode(t, ctx, "node-seed", "-listen", loopback(ports[1]), "-data", f.SeedDir, "-log", "debug", "-status", "0", f.Torrent)
			waitNodeSeeding(t, ctx, node, ports[1])
			pr.waitScrape(t, ctx, f.Info.InfoHash, "our seed", func(r tracker.ScrapeResult) bool { return r.Complete == 1 })

			leechDir := mkdir(t, dir, "lt")
			l := ltLeech(t, ctx, f, leechDir, ports[2], refpeer.LTOptions{})
			began := time.Now()
			waitLT(t, ctx, l)
			t.Logf("libtorrent leecher done and exited in %v", time.Since(began).Round(time.Millisecond))
			f.verify(t, "libtorrent leecher (tracker only)", leechDir)

			if ps := pr.peers(t, ctx, f.Info.InfoHash); !contains(ps, loopback(ports[1])) {
				t.Fatalf("tracker's peers %v lack our node %s", ps, loopback(ports[1]))
			}
			// The node sends stopped before it exits, and opentracker has
			// processed it once it answered. (The libtorrent leecher may
			// stay listed: it exits without waiting for its own stopped.)
			began = time.Now()
			if _, err := node.Stop(); err != nil {
				t.Logf("node stop: %v", err)
			}
			t.Logf("node stopped in %v", time.Since(began).Round(time.Millisecond))
			if ps := pr.peers(t, ctx, f.Info.InfoHash); contains(ps, loopback(ports[1])) {
				t.Fatalf("tracker still lists our stopped node: %v", ps)
			}
		})
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestTrackerNodeFindsLibtorrentSeed: our node downloads from a
// libtorrent seeder it finds only through a tracker: an announce-list
// whose first tier is dead and whose second is opentracker, and a magnet
// whose only source is tr=.
func TestTrackerNodeFindsLibtorrentSeed(t *testing.T) {
	for _, how := range []string{"dead_first_tier", "magnet_tr"} {
		t.Run(how, func(t *testing.T) {
			ctx := setup(t, testTimeout)
			requireNode(t)
			ports := freePorts(t, 4) // tracker, dead tracker, seed, node
			dir := t.TempDir()
			ot := newOpentracker(t, ctx, dir)
			live := trackerURLs(ot)["http"]
			dead := "http://" + loopback(ports[1]) + "/announce"
			f := makeFixture(t, dir, "single.bin", 8<<20, nil, singlePiece)
			// Our own .torrent of the same data: metainfo.Create puts each
			// tracker in a tier of its own.
			raw, mi, err := metainfo.Create(filepath.Join(f.SeedDir, f.Name), metainfo.CreateOptions{PieceLength: int64(f.Info.PieceSize), Trackers: []string{dead, live}})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f.Torrent, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			f.Info.InfoHash = hex.EncodeToString(mi.InfoHash.V1[:])
			allow(t, ctx, ot, f.Info.InfoHash)
			pr := newProbe(t, live)

			ltSeed(t, ctx, f, ports[2], refpeer.LTOptions{})
			pr.waitScrape(t, ctx, f.Info.InfoHash, "libtorrent seed", func(r tracker.ScrapeResult) bool { return r.Complete == 1 })

			leechDir := mkdir(t, dir, "node")
			args := []string{"-listen", loopback(ports[3]), "-data", leechDir, "-exit-when-complete"}
			if how == "magnet_tr" {
				args = append(args, "magnet:?xt=urn:btih:"+f.Info.InfoHash+"&tr="+url.QueryEscape(live))
			} else {
				args = append(args, f.Torrent)
			}
			n := startNode(t, ctx, "node-leech", args...)
			waitNode(t, ctx, n)
			f.verify(t, "node ("+how+")", leechDir)
		})
	}
}
