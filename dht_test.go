package shardtorrent

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/dht"
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
		// The seed's address can reach the leecher only through its DHT
		// lookup (OnPeers, during the traversal): recorded here, before
		// any connection. The lookup's DHTReplyAlert comes when the whole
		// traversal ends, which under load can be after the download.
		srcs := &sourceRec{}
		p.Extensions = []func(plugin.TorrentHandle, any) plugin.TorrentPlugin{
			func(plugin.TorrentHandle, any) plugin.TorrentPlugin { return srcs },
		}
		h, err := leech.AddTorrent(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		waitAlert(t, leech, 60*time.Second, func(a plugin.Alert) bool {
			_, ok := a.(*plugin.TorrentFinishedAlert)
			return ok
		})
		if got := srcs.of(seed.ListenAddr()); got&plugin.SourceDHT == 0 {
			t.Fatalf("leecher %d: the seed's address came from source %v, want the DHT", i, got)
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

// krpcClient is a raw KRPC speaker on 127.0.0.1 for crafted queries.
type krpcClient struct {
	t  *testing.T
	c  *net.UDPConn
	id string
}

func newKRPCClient(t *testing.T) *krpcClient {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &krpcClient{t: t, c: c, id: "abcdefghij0123456789"}
}

// send sends a query q with arguments a (plus our id) and transaction tid.
func (k *krpcClient) send(to netip.AddrPort, tid, q string, a map[string]any) {
	k.t.Helper()
	if a == nil {
		a = map[string]any{}
	}
	if _, ok := a["id"]; !ok {
		a["id"] = k.id
	}
	b, err := bencode.Marshal(map[string]any{"t": tid, "y": "q", "q": q, "a": a})
	if err != nil {
		k.t.Fatal(err)
	}
	if _, err := k.c.WriteToUDPAddrPort(b, to); err != nil {
		k.t.Fatal(err)
	}
}

// recv reads the next message (the deadline only bounds a failure).
func (k *krpcClient) recv() map[string]any {
	k.t.Helper()
	_ = k.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 65536)
	n, _, err := k.c.ReadFromUDPAddrPort(buf)
	if err != nil {
		k.t.Fatalf("no KRPC reply: %v", err)
	}
	var m map[string]any
	if err := bencode.Unmarshal(buf[:n], &m); err != nil {
		k.t.Fatalf("reply %q: %v", buf[:n], err)
	}
	return m
}

// query sends and returns the reply with the same transaction id.
func (k *krpcClient) query(to netip.AddrPort, q string, a map[string]any) map[string]any {
	k.t.Helper()
	k.send(to, "tx", q, a)
	for {
		m := k.recv()
		if m["t"] == "tx" {
			return m
		}
	}
}

// echoPlugin answers "shard_echo" queries (and only those) with the
// query's own "a"."msg" and its length.
type echoPlugin struct {
	mu   sync.Mutex
	seen []string
}

func (*echoPlugin) Features() plugin.Feature { return plugin.FeatureDHTRequest }
func (p *echoPlugin) OnDHTRequest(r *plugin.DHTRequest) bool {
	p.mu.Lock()
	p.seen = append(p.seen, r.Query)
	p.mu.Unlock()
	if r.Query != "shard_echo" {
		return false
	}
	var m struct {
		A struct {
			Msg string `bencode:"msg"`
		} `bencode:"a"`
	}
	if err := bencode.Unmarshal(r.Message, &m); err != nil {
		return false
	}
	r.Response["echo"] = m.A.Msg
	r.Response["from"] = r.Source.String()
	return true
}

func (p *echoPlugin) queries() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

// panicPlugin panics on every query.
type panicPlugin struct{ calls atomic.Int32 }

func (*panicPlugin) Features() plugin.Feature { return plugin.FeatureDHTRequest }
func (p *panicPlugin) OnDHTRequest(*plugin.DHTRequest) bool {
	p.calls.Add(1)
	panic("dht plugin bug")
}

func dhtSession(t *testing.T, set Settings) *Session {
	t.Helper()
	set.ListenAddr, set.Shards, set.AlertMask = "127.0.0.1:0", 1, plugin.CategoryAll
	s, err := NewSession(context.Background(), set)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	if !s.DHTAddr().IsValid() {
		t.Fatalf("no DHT: %v", s.PopAlerts())
	}
	return s
}

func krpcError(m map[string]any) (int64, string) {
	e, _ := m["e"].([]any)
	if m["y"] != "e" || len(e) != 2 {
		return 0, ""
	}
	c, _ := e[0].(int64)
	s, _ := e[1].(string)
	return c, s
}

// TestDHTRequestPlugin: a plugin with FeatureDHTRequest answers a custom
// query (its keys come back with our id and the query's "t"); queries it
// declines get the built-in reply: ping answered, an unknown query error
// 203 "unknown message" as libtorrent 2.0.8, one with a "target" answered
// with nodes.
func TestDHTRequestPlugin(t *testing.T) {
	p := &echoPlugin{}
	s := dhtSession(t, Settings{Extensions: []plugin.Plugin{p}})
	k := newKRPCClient(t)
	to := s.DHTAddr()

	m := k.query(to, "shard_echo", map[string]any{"msg": "hi there"})
	r, _ := m["r"].(map[string]any)
	if m["y"] != "r" || r["echo"] != "hi there" || r["from"] != k.c.LocalAddr().String() {
		t.Fatalf("plugin reply: %v", m)
	}
	if id, _ := r["id"].(string); len(id) != 20 {
		t.Fatalf("reply id %q", r["id"])
	}
	if ip, _ := m["ip"].(string); ip != compactAddr4(k.c.LocalAddr().(*net.UDPAddr).AddrPort()) {
		t.Fatalf("reply ip %q", m["ip"])
	}

	m = k.query(to, "ping", nil)
	if r, _ := m["r"].(map[string]any); m["y"] != "r" || len(r["id"].(string)) != 20 {
		t.Fatalf("ping after a declining plugin: %v", m)
	}
	m = k.query(to, "no_such_query", map[string]any{"x": 1})
	if c, msg := krpcError(m); c != 203 || msg != "unknown message" {
		t.Fatalf("unknown query: %v", m)
	}
	m = k.query(to, "no_such_query", map[string]any{"target": "01234567890123456789"})
	if r, _ := m["r"].(map[string]any); m["y"] != "r" || r["nodes"] == nil {
		t.Fatalf("unknown query with a target: %v", m)
	}
	if q := p.queries(); len(q) != 4 || q[0] != "shard_echo" || q[1] != "ping" {
		t.Fatalf("plugin saw %q", q)
	}
	st, _ := s.DHTStats()
	if st.PluginReplies != 1 || st.UnknownQueries != 2 || st.QueriesIn != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func compactAddr4(a netip.AddrPort) string {
	b := a.Addr().As4()
	return string(append(b[:], byte(a.Port()>>8), byte(a.Port())))
}

// TestDHTRequestPluginPanics: a panicking OnDHTRequest is disabled with a
// PluginDisabledAlert, the built-in handler answers that query, and the
// plugin is never asked again.
func TestDHTRequestPluginPanics(t *testing.T) {
	p := &panicPlugin{}
	s := dhtSession(t, Settings{Extensions: []plugin.Plugin{p}})
	k := newKRPCClient(t)
	m := k.query(s.DHTAddr(), "shard_echo", nil)
	if c, _ := krpcError(m); c != 203 {
		t.Fatalf("reply after the plugin panicked: %v", m)
	}
	waitAlert(t, s, 5*time.Second, func(a plugin.Alert) bool {
		d, ok := a.(*plugin.PluginDisabledAlert)
		return ok && d.Hook == "OnDHTRequest"
	})
	m = k.query(s.DHTAddr(), "ping", nil)
	if m["y"] != "r" || p.calls.Load() != 1 {
		t.Fatalf("second query: %v, plugin calls %d", m, p.calls.Load())
	}
}

// TestDHTQueryRateLimit: a source that sends rate*10 queries within 10 s
// is ignored (libtorrent's dht_block_ratelimit); another source is not.
func TestDHTQueryRateLimit(t *testing.T) {
	s := dhtSession(t, Settings{DHT: dht.Settings{QueryRateLimit: 2}})
	flood, other := newKRPCClient(t), newKRPCClient(t)
	to := s.DHTAddr()
	for i := 0; i < 25; i++ {
		flood.send(to, string(rune('a'+i)), "ping", nil)
	}
	// The node reads its socket in order: once other's ping is answered,
	// every flood ping was counted.
	if m := other.query(to, "ping", nil); m["y"] != "r" {
		t.Fatalf("other source: %v", m)
	}
	st, _ := s.DHTStats()
	if st.QueriesDropped != 25-19 || st.QueriesIn != 19+1 {
		t.Fatalf("stats after 25 pings at a limit of 2/s: %+v", st)
	}
	for i := 0; i < 19; i++ {
		if m := flood.recv(); m["y"] != "r" {
			t.Fatalf("reply %d: %v", i, m)
		}
	}
}

// TestDHTPeerStoreBounds: crafted announce_peer queries fill the peer
// store up to MaxPeers per info-hash and MaxTorrents info-hashes; past
// them announces are refused, and get_peers returns what is stored.
func TestDHTPeerStoreBounds(t *testing.T) {
	s := dhtSession(t, Settings{DHT: dht.Settings{MaxTorrents: 2, MaxPeers: 2}})
	k := newKRPCClient(t)
	to := s.DHTAddr()
	announce := func(ih string, port int) map[string]any {
		m := k.query(to, "get_peers", map[string]any{"info_hash": ih})
		r, _ := m["r"].(map[string]any)
		tok, _ := r["token"].(string)
		if tok == "" {
			t.Fatalf("get_peers gave no token: %v", m)
		}
		return k.query(to, "announce_peer", map[string]any{"info_hash": ih, "port": port, "token": tok})
	}
	ihA, ihB, ihC := "AAAAAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBBBBB", "CCCCCCCCCCCCCCCCCCCC"
	for _, c := range []struct {
		ih   string
		port int
	}{{ihA, 1001}, {ihA, 1002}, {ihA, 1003}, {ihA, 1001}, {ihB, 2001}, {ihC, 3001}} {
		if m := announce(c.ih, c.port); m["y"] != "r" {
			t.Fatalf("announce %x:%d: %v", c.ih, c.port, m)
		}
	}
	// The store is written on the server's goroutines, after the replies:
	// wait for the six announce alerts (one per valid announce, stored or
	// refused, as libtorrent's dht_announce_alert), each posted after the
	// store counted it. waitAlert is not used here: it drops what follows
	// its match in a batch.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for seen := 0; seen < 6; {
		for _, a := range s.PopAlerts() {
			if _, ok := a.(*plugin.DHTAnnounceAlert); ok {
				seen++
			}
		}
		if seen < 6 {
			if err := s.WaitForAlert(ctx); err != nil {
				t.Fatalf("saw %d of 6 announce alerts: %v", seen, err)
			}
		}
	}
	st, _ := s.DHTStats()
	if st.AnnouncesIn+st.StoreRefused != 6 {
		t.Fatalf("stats after 6 announce alerts: %+v", st)
	}
	if st.StoredTorrents != 2 || st.StoredPeers != 3 || st.StoreRefused != 2 {
		t.Fatalf("store after 6 announces with bounds 2/2: %+v", st)
	}
	m := k.query(to, "get_peers", map[string]any{"info_hash": ihA})
	r, _ := m["r"].(map[string]any)
	if vs, _ := r["values"].([]any); len(vs) != 2 {
		t.Fatalf("get_peers values: %v", m)
	}
}

// fakeNode is a DHT node played by the test: it answers ping, find_node
// and get_peers (with a token, no peers, no nodes) and announce_peer, and
// reports every query it gets.
type fakeNode struct {
	k  *krpcClient
	ch chan map[string]any
}

func newFakeNode(t *testing.T) *fakeNode {
	f := &fakeNode{k: newKRPCClient(t), ch: make(chan map[string]any, 256)}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := f.k.c.ReadFromUDPAddrPort(buf)
			if err != nil {
				close(f.ch)
				return
			}
			var m map[string]any
			if bencode.Unmarshal(buf[:n], &m) != nil || m["y"] != "q" {
				continue
			}
			r := map[string]any{"id": f.k.id}
			if m["q"] == "get_peers" {
				r["token"] = "tok"
				r["nodes"] = ""
			}
			if m["q"] == "find_node" {
				r["nodes"] = ""
			}
			b, _ := bencode.Marshal(map[string]any{"t": m["t"], "y": "r", "r": r})
			_, _ = f.k.c.WriteToUDPAddrPort(b, from)
			f.ch <- m
		}
	}()
	return f
}

// TestDHTPrivateNeverAnnounced: a private torrent (BEP 27) is never looked
// up nor announced: the session's only DHT node sees get_peers and
// announce_peer for a public torrent added after it, and nothing about the
// private one.
func TestDHTPrivateNeverAnnounced(t *testing.T) {
	f := newFakeNode(t)
	s := dhtSession(t, Settings{})
	if err := s.AddDHTNode(f.k.c.LocalAddr().String()); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	writeFiles(t, src, map[string]int{"priv.bin": 70000, "pub.bin": 70001})
	_, priv, err := metainfo.Create(filepath.Join(src, "priv.bin"), metainfo.CreateOptions{PieceLength: 16 << 10, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	_, pub, err := metainfo.Create(filepath.Join(src, "pub.bin"), metainfo.CreateOptions{PieceLength: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, mi := range []*metainfo.MetaInfo{priv, pub} {
		if _, err := s.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src, SeedMode: true}); err != nil {
			t.Fatal(err)
		}
	}
	privIH, pubIH := priv.InfoHash.Short(), pub.InfoHash.Short()
	var gotGetPeers, gotAnnounce bool
	timeout := time.After(30 * time.Second)
	for !gotGetPeers || !gotAnnounce {
		var m map[string]any
		select {
		case m = <-f.ch:
		case <-timeout:
			t.Fatalf("no lookup of the public torrent (get_peers %v, announce_peer %v)", gotGetPeers, gotAnnounce)
		}
		a, _ := m["a"].(map[string]any)
		for _, key := range []string{"info_hash", "target"} {
			if v, _ := a[key].(string); v == string(privIH[:]) {
				t.Fatalf("the DHT was asked about the private torrent: %v", m)
			}
		}
		if v, _ := a["info_hash"].(string); v == string(pubIH[:]) {
			gotGetPeers = gotGetPeers || m["q"] == "get_peers"
			gotAnnounce = gotAnnounce || m["q"] == "announce_peer"
		}
	}
	if st, _ := s.DHTStats(); st.Torrents != 1 {
		t.Fatalf("DHT torrents %d, want 1 (the public one)", st.Torrents)
	}
}

// TestDHTStateRestored: SaveState holds the DHT's node id and routing
// table ("dht." keys); a session started with them as ExtensionState has
// the same id and starts with those nodes, and bootstraps from them with
// no AddDHTNode.
func TestDHTStateRestored(t *testing.T) {
	ss := dhtSwarm(t, 3, nil)
	st := ss[0].SaveState()
	if len(st["dht.id"]) != 40 || st["dht.nodes"] == "" {
		t.Fatalf("saved state %v", st)
	}
	s := dhtSession(t, Settings{ExtensionState: st})
	if got := s.SaveState()["dht.id"]; got != st["dht.id"] {
		t.Fatalf("node id %s after restore, saved %s", got, st["dht.id"])
	}
	waitAlert(t, s, 20*time.Second, func(a plugin.Alert) bool {
		b, ok := a.(*plugin.DHTBootstrapAlert)
		return ok && b.Nodes >= 2
	})
	bad := dhtSession(t, Settings{ExtensionState: map[string]string{"dht.nodes": "%%%"}})
	waitAlert(t, bad, 5*time.Second, func(a plugin.Alert) bool {
		e, ok := a.(*plugin.DHTErrorAlert)
		return ok && errors.Is(e.Err, dht.ErrBadState)
	})
}

// sourceRec is a torrent plugin that records the sources each address was
// offered from (OnAddPeer runs on the torrent's loop; the test reads from
// its own goroutine).
type sourceRec struct {
	mu  sync.Mutex
	got map[netip.AddrPort]plugin.PeerSource
}

func (r *sourceRec) OnAddPeer(a netip.AddrPort, src plugin.PeerSource, _ plugin.AddPeerFlags) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.got == nil {
		r.got = map[netip.AddrPort]plugin.PeerSource{}
	}
	r.got[a] |= src
}

func (r *sourceRec) of(a netip.AddrPort) plugin.PeerSource {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[a]
}
