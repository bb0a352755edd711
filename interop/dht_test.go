//go:build interop

package interop

import (
	"context"
	"encoding/hex"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/dht"
	"github.com/shardtorrent/shardtorrent/internal/refpeer"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// The DHT (BEP 5) against libtorrent 2.0.8: a loopback DHT of 8 of our
// sessions and 2 libtorrent nodes, seeded with add_dht_node / AddDHTNode
// (no routers), where
//   - a torrent our session seeds is found through the DHT alone and
//     downloaded by libtorrent;
//   - a bare magnet (no tr=, no x.pe) that libtorrent seeds is fetched by
//     our session;
//   - OnDHTRequest: Debian's python bindings of libtorrent 2.0.8 have no
//     dht_direct_request (nor dht_direct_response_alert), so the custom
//     query libtorrent sends is BEP 51 sample_infohashes
//     (session.dht_sample_infohashes to one endpoint), which our DHT does
//     not implement: a plugin answers it and libtorrent's
//     dht_sample_infohashes_alert carries the plugin's sample;
//   - without a plugin, the built-in handler's reply to an unknown query
//     is the same error as libtorrent's own node gives (203 "unknown
//     message"), both asked by a raw KRPC client.

// sampleAnswer answers sample_infohashes with one sample.
type sampleAnswer struct{ ih [20]byte }

func (*sampleAnswer) Features() plugin.Feature { return plugin.FeatureDHTRequest }
func (p *sampleAnswer) OnDHTRequest(r *plugin.DHTRequest) bool {
	if r.Query != "sample_infohashes" {
		return false
	}
	r.Response["samples"] = string(p.ih[:])
	r.Response["num"] = int64(1)
	r.Response["interval"] = int64(60)
	r.Response["nodes"] = ""
	return true
}

func TestDHTWithLibtorrent(t *testing.T) {
	ctx := setup(t, testTimeout)
	dir := t.TempDir()
	ours := makeFixture(t, mkdir(t, dir, "ours"), "ours.bin", 3<<20+777, nil, 0)
	theirs := makeFixture(t, mkdir(t, dir, "theirs"), "theirs.bin", 2<<20+555, nil, 0)
	ports := freePorts(t, 10)
	sample := &sampleAnswer{}
	copy(sample.ih[:], "shardtorrent-sample!")

	const n = 8
	ss := make([]*shardtorrent.Session, n)
	var nodes []string
	for i := range ss {
		set := shardtorrent.Settings{ListenAddr: loopback(ports[i]), Shards: 1, AlertMask: plugin.CategoryAll}
		switch i {
		case 0:
			set.Extensions = []plugin.Plugin{sample}
		case n - 1:
			// The magnet leecher looks up again every 2 s until libtorrent's
			// announce reached the DHT.
			set.DHT = dht.Settings{AnnounceInterval: 2 * time.Second}
		}
		s, err := shardtorrent.NewSession(ctx, set)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = s.Close(cctx)
		})
		if !s.DHTAddr().IsValid() {
			t.Fatalf("session %d has no DHT: %v", i, s.PopAlerts())
		}
		ss[i] = s
		nodes = append(nodes, s.DHTAddr().String())
	}
	for i, s := range ss {
		for j, a := range nodes {
			if i != j {
				if err := s.AddDHTNode(a); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, s := range ss {
		waitFor(t, s, 20*time.Second, func(a plugin.Alert) bool { _, ok := a.(*plugin.DHTBootstrapAlert); return ok })
	}

	// Our session 2 seeds "ours" and announces it.
	mi, err := metainfo.Load(ours.Torrent)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ss[2].AddTorrent(ctx, shardtorrent.AddTorrentParams{MetaInfo: mi, SavePath: ours.SeedDir, SeedMode: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ss[2], 30*time.Second, func(a plugin.Alert) bool { _, ok := a.(*plugin.DHTReplyAlert); return ok })

	// libtorrent seeds "theirs"; its sample_infohashes goes to session 0,
	// whose plugin answers.
	ltSeeder := ltSeed(t, ctx, theirs, ports[8], refpeer.LTOptions{DHT: true, DHTNodes: nodes, DHTSample: nodes[0]})
	st, err := ltSeeder.WaitDHTSample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(sample.ih[:]); !slices.Contains(st.Samples, want) || st.NumSamples != 1 {
		t.Fatalf("libtorrent's dht_sample_infohashes_alert from the plugin: %+v, want sample %s", st, want)
	}

	// A libtorrent leecher that knows only DHT nodes downloads "ours".
	leechDir := mkdir(t, dir, "lt-leech")
	ltL := ltLeech(t, ctx, ours, leechDir, ports[9], refpeer.LTOptions{
		DHT: true, DHTNodes: append(slices.Clone(nodes), loopback(ports[8])),
	})
	waitLT(t, ctx, ltL)
	ours.verify(t, "libtorrent (found us through the DHT)", leechDir)

	// Our session 7 fetches "theirs" from a bare magnet.
	ih, err := metainfo.ParseMagnet("magnet:?xt=urn:btih:" + theirs.Info.InfoHash)
	if err != nil {
		t.Fatal(err)
	}
	nodeDir := mkdir(t, dir, "node-magnet")
	if _, err := ss[n-1].AddTorrent(ctx, shardtorrent.AddTorrentParams{InfoHash: ih.InfoHash, SavePath: nodeDir}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ss[n-1], 90*time.Second, func(a plugin.Alert) bool { _, ok := a.(*plugin.TorrentFinishedAlert); return ok })
	theirs.verify(t, "node (bare magnet, peers from the DHT)", nodeDir)

	// The same unknown query to libtorrent and to us: the same error.
	ltErr := unknownQueryError(t, addrPort(ports[8]))
	ourErr := unknownQueryError(t, ss[1].DHTAddr())
	if ltErr != "203 unknown message" || ourErr != ltErr {
		t.Fatalf("unknown query: libtorrent replied %q, we replied %q", ltErr, ourErr)
	}
}

// unknownQueryError sends {"q":"shard_unknown"} to a DHT node and returns
// its error reply as "CODE MESSAGE".
func unknownQueryError(t *testing.T, to netip.AddrPort) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, _ := bencode.Marshal(map[string]any{"t": "uq", "y": "q", "q": "shard_unknown", "a": map[string]any{"id": "abcdefghij0123456789"}})
	if _, err := c.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2048)
	k, _, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("%s did not answer the unknown query: %v", to, err)
	}
	var m map[string]any
	err = bencode.Unmarshal(buf[:k], &m)
	e, _ := m["e"].([]any)
	if err != nil || m["y"] != "e" || len(e) != 2 {
		t.Fatalf("%s: reply %q is not a KRPC error (%v)", to, buf[:k], err)
	}
	code, _ := e[0].(int64)
	msg, _ := e[1].(string)
	return strconv.FormatInt(code, 10) + " " + msg
}

// waitFor pops s's alerts until match holds, or fails after d.
func waitFor(t *testing.T, s *shardtorrent.Session, d time.Duration, match func(plugin.Alert) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var seen []string
	for {
		for _, a := range s.PopAlerts() {
			if match(a) {
				return
			}
			seen = append(seen, a.Message())
		}
		if err := s.WaitForAlert(ctx); err != nil {
			t.Fatalf("alert not seen within %v; saw %q", d, seen)
		}
	}
}
