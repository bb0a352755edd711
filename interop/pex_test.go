//go:build interop

package interop

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/internal/refpeer"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// Peer exchange (ext/utpex) against libtorrent 2.0.8's ut_pex, both ways.
// The peers told to stay put carry pexStall, so nobody finishes (a
// finished leecher is dropped by seeds as redundant) and the swarm keeps
// the shape the test needs while PEX runs.

// pexStall is a torrent plugin whose peers swallow every unchoke and
// allowed-fast piece: its
// torrent never requests a block.
type pexStall struct{}

func (pexStall) NewConnection(plugin.PeerConn) plugin.PeerPlugin { return pexStallPeer{} }

type pexStallPeer struct{}

func (pexStallPeer) Type() string    { return "stall" }
func (pexStallPeer) OnUnchoke() bool { return true }

// OnAllowedFast: no BEP 6 allowed-fast requests while choked either.
func (pexStallPeer) OnAllowedFast(int) bool { return true }

// pexSeen records addresses offered to the peer list by PEX, and the
// sources of the outgoing connections we made, and the peer ids of
// incoming connections past the handshake.
type pexSeen struct {
	mu      sync.Mutex
	pex     map[netip.AddrPort]bool
	out     map[netip.AddrPort]plugin.PeerSource // outgoing connections
	inPeers []string                             // peer ids of incoming connections
}

func newPexSeen() *pexSeen {
	return &pexSeen{pex: map[netip.AddrPort]bool{}, out: map[netip.AddrPort]plugin.PeerSource{}}
}

func (s *pexSeen) OnAddPeer(a netip.AddrPort, src plugin.PeerSource, _ plugin.AddPeerFlags) {
	if src&plugin.SourcePEX != 0 {
		s.mu.Lock()
		s.pex[a] = true
		s.mu.Unlock()
	}
}

func (s *pexSeen) NewConnection(pc plugin.PeerConn) plugin.PeerPlugin { return &pexSeenPeer{s, pc} }

type pexSeenPeer struct {
	s  *pexSeen
	pc plugin.PeerConn
}

func (p *pexSeenPeer) Type() string { return "pexseen" }

// OnConnected records an outgoing connection once TCP is up. It is the
// proof that we dialled: when both ends learn each other from PEX and dial
// at once, the duplicate rule may keep the other end's connection.
func (p *pexSeenPeer) OnConnected() {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	p.s.out[p.pc.RemoteEndpoint()] = p.pc.PeerInfo().Source
}

func (p *pexSeenPeer) OnHandshake([8]byte) bool {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if !p.pc.IsOutgoing() {
		id := p.pc.PeerID()
		p.s.inPeers = append(p.s.inPeers, string(id[:8]))
	}
	return true
}

// poll waits until cond (run under s.mu) holds; it fails loudly at the
// deadline.
func (s *pexSeen) poll(t *testing.T, ctx context.Context, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		s.mu.Lock()
		ok := cond()
		s.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("%s: not seen within %v", what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pexSession starts an in-process session on port with one torrent of f.
func pexSession(t *testing.T, ctx context.Context, port int, p shardtorrent.AddTorrentParams) *shardtorrent.Session {
	t.Helper()
	s, err := shardtorrent.NewSession(ctx, shardtorrent.Settings{ListenAddr: loopback(port), Shards: 1, AlertMask: plugin.CategoryAll})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Close(cctx)
	})
	if _, err := s.AddTorrent(ctx, p); err != nil {
		t.Fatal(err)
	}
	return s
}

func exts(tps ...plugin.TorrentPlugin) []func(plugin.TorrentHandle, any) plugin.TorrentPlugin {
	var out []func(plugin.TorrentHandle, any) plugin.TorrentPlugin
	for _, tp := range tps {
		out = append(out, func(plugin.TorrentHandle, any) plugin.TorrentPlugin { return tp })
	}
	return out
}

// TestPEXFromLibtorrent: libtorrent seed B knows our A (A dialled it and
// sent its listen port) and our C; C, told only about B, learns A from
// libtorrent's ut_pex and connects to it with the PEX source flag.
func TestPEXFromLibtorrent(t *testing.T) {
	ctx := setup(t, testTimeout)
	dir := t.TempDir()
	f := makeFixture(t, dir, "single.bin", 4<<20, nil, singlePiece)
	ports := freePorts(t, 3)
	b := ltSeed(t, ctx, f, ports[0], refpeer.LTOptions{Name: "lt-pex-sender"})
	bAddr, err := netip.ParseAddrPort(b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	pexSession(t, ctx, ports[1], shardtorrent.AddTorrentParams{TorrentFile: f.Torrent, SavePath: mkdir(t, dir, "a"),
		Peers: []netip.AddrPort{bAddr}, Extensions: exts(pexStall{})})
	aAddr := addrPort(ports[1])
	seen := newPexSeen()
	pexSession(t, ctx, ports[2], shardtorrent.AddTorrentParams{TorrentFile: f.Torrent, SavePath: mkdir(t, dir, "c"),
		Peers: []netip.AddrPort{bAddr}, Extensions: exts(pexStall{}, seen)})
	start := time.Now()
	seen.poll(t, ctx, 90*time.Second, "A offered to C by libtorrent's PEX", func() bool { return seen.pex[aAddr] })
	seen.poll(t, ctx, 60*time.Second, "C's connection to A", func() bool { _, ok := seen.out[aAddr]; return ok })
	seen.mu.Lock()
	defer seen.mu.Unlock()
	if src := seen.out[aAddr]; src&plugin.SourcePEX == 0 {
		t.Fatalf("connection to A has source %v, want SourcePEX", src)
	}
	t.Logf("C learned A from libtorrent's ut_pex and connected in %v", time.Since(start).Round(time.Millisecond))
}

// TestPEXToLibtorrent: our seed A, our B (knows A, downloads nothing) and
// a libtorrent leecher C told only about B. C can only get the data from
// A, which only B's ut_pex names: C finishing, and A seeing libtorrent
// connect, prove libtorrent took our PEX message.
func TestPEXToLibtorrent(t *testing.T) {
	ctx := setup(t, testTimeout)
	dir := t.TempDir()
	f := makeFixture(t, dir, "single.bin", 4<<20, nil, singlePiece)
	ports := freePorts(t, 3)
	seenA := newPexSeen()
	pexSession(t, ctx, ports[0], shardtorrent.AddTorrentParams{TorrentFile: f.Torrent, SavePath: f.SeedDir, SeedMode: true,
		Extensions: exts(seenA)})
	pexSession(t, ctx, ports[1], shardtorrent.AddTorrentParams{TorrentFile: f.Torrent, SavePath: mkdir(t, dir, "b"),
		Peers: []netip.AddrPort{addrPort(ports[0])}, Extensions: exts(pexStall{})})
	leechDir := mkdir(t, dir, "lt")
	start := time.Now()
	c := ltLeech(t, ctx, f, leechDir, ports[2], refpeer.LTOptions{Peers: []string{loopback(ports[1])}, Name: "lt-pex-learner"})
	seenA.poll(t, ctx, 90*time.Second, "libtorrent connecting to A", func() bool {
		for _, id := range seenA.inPeers {
			if strings.HasPrefix(id, "-LT") {
				return true
			}
		}
		return false
	})
	waitLT(t, ctx, c)
	f.verify(t, "libtorrent learner", leechDir)
	t.Logf("libtorrent learned A from our ut_pex and downloaded everything from it in %v", time.Since(start).Round(time.Millisecond))
}
