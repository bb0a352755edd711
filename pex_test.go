package shardtorrent

import (
	"context"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// stall is a test torrent plugin whose peers swallow every unchoke and
// allowed-fast piece, so
// its torrent never requests anything: the swarm keeps its shape (a
// leecher that finished would be dropped by the seed as redundant).
type stall struct{}

func (stall) NewConnection(plugin.PeerConn) plugin.PeerPlugin { return stallPeer{} }

type stallPeer struct{}

func (stallPeer) Type() string    { return "stall" }
func (stallPeer) OnUnchoke() bool { return true }

// OnAllowedFast: no BEP 6 allowed-fast requests while choked either.
func (stallPeer) OnAllowedFast(int) bool { return true }

// pexWatch records, on its torrent, what the peer list was offered from
// PEX and the sources of the outgoing connections that completed.
type pexWatch struct {
	th    plugin.TorrentHandle
	mu    sync.Mutex
	pex   map[netip.AddrPort]bool
	conns map[netip.AddrPort]plugin.PeerSource
	ch    chan struct{}
}

func newPexWatch() *pexWatch {
	return &pexWatch{pex: map[netip.AddrPort]bool{}, conns: map[netip.AddrPort]plugin.PeerSource{}, ch: make(chan struct{}, 64)}
}

func (w *pexWatch) poke() {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

func (w *pexWatch) OnAddPeer(a netip.AddrPort, src plugin.PeerSource, _ plugin.AddPeerFlags) {
	if src&plugin.SourcePEX != 0 {
		w.mu.Lock()
		w.pex[a] = true
		w.mu.Unlock()
		w.poke()
	}
}

func (w *pexWatch) NewConnection(pc plugin.PeerConn) plugin.PeerPlugin { return &pexWatchPeer{w, pc} }

type pexWatchPeer struct {
	w  *pexWatch
	pc plugin.PeerConn
}

func (p *pexWatchPeer) Type() string { return "pexwatch" }

// OnHandshake: the connection is up and past the BitTorrent handshake.
func (p *pexWatchPeer) OnHandshake([8]byte) bool {
	if p.pc.IsOutgoing() {
		p.w.mu.Lock()
		p.w.conns[p.pc.RemoteEndpoint()] = p.pc.PeerInfo().Source
		p.w.mu.Unlock()
		p.w.poke()
	}
	return true
}

// wait polls cond until it holds or d passes.
func (w *pexWatch) wait(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(d)
	for {
		w.mu.Lock()
		ok := cond()
		w.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-w.ch:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%s not seen within %v", what, d)
		}
	}
}

// pexSwarm starts A (seed, no PEX), B (a leecher that knows A and never
// downloads) and C (knows only B, watched); set tweaks B's settings.
func pexSwarm(t *testing.T, private bool, bset func(*Settings)) (a *Session, w *pexWatch) {
	t.Helper()
	ctx := context.Background()
	src := t.TempDir()
	writeFiles(t, src, map[string]int{"x.bin": 1 << 20})
	_, mi, err := metainfo.Create(filepath.Join(src, "x.bin"), metainfo.CreateOptions{PieceLength: 64 << 10, Private: private})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(tweak func(*Settings)) *Session {
		set := Settings{ListenAddr: "127.0.0.1:0", Shards: 1, Pool: bufpool.New(), AlertMask: plugin.CategoryAll}
		if tweak != nil {
			tweak(&set)
		}
		s, err := NewSession(ctx, set)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = s.Close(ctx)
		})
		return s
	}
	// A takes no PEX: a seed dials the leechers it learns of, so A told
	// of C would race C's own dial to A, and the connection that survives
	// the duplicate check may be A's (seen by C as incoming).
	a, b, c := mk(func(s *Settings) { s.DisablePEX = true }), mk(bset), mk(nil)
	if _, err := a.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src, SeedMode: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: t.TempDir(), Peers: []netip.AddrPort{a.ListenAddr()},
		Extensions: []func(plugin.TorrentHandle, any) plugin.TorrentPlugin{func(plugin.TorrentHandle, any) plugin.TorrentPlugin { return stall{} }}}); err != nil {
		t.Fatal(err)
	}
	w = newPexWatch()
	if _, err := c.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: t.TempDir(), Peers: []netip.AddrPort{b.ListenAddr()},
		Extensions: []func(plugin.TorrentHandle, any) plugin.TorrentPlugin{func(th plugin.TorrentHandle, _ any) plugin.TorrentPlugin { w.th = th; return w }}}); err != nil {
		t.Fatal(err)
	}
	return a, w
}

// TestPEXSwarm: C, told only about B, learns A from B's ut_pex (the PEX
// source flag on the peer list) and connects to it.
func TestPEXSwarm(t *testing.T) {
	a, w := pexSwarm(t, false, nil)
	w.wait(t, 30*time.Second, "A offered to C's peer list by PEX", func() bool { return w.pex[a.ListenAddr()] })
	w.wait(t, 30*time.Second, "C's connection to A", func() bool { _, ok := w.conns[a.ListenAddr()]; return ok })
	w.mu.Lock()
	defer w.mu.Unlock()
	if src := w.conns[a.ListenAddr()]; src&plugin.SourcePEX == 0 {
		t.Fatalf("connection to A has source %v, want SourcePEX", src)
	}
}

// TestPEXOff: with PEX disabled on B, or a private torrent, C never
// learns A.
func TestPEXOff(t *testing.T) {
	cases := []struct {
		name    string
		private bool
		bset    func(*Settings)
	}{
		{"disabled on B", false, func(s *Settings) { s.DisablePEX = true }},
		{"private torrent", true, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, w := pexSwarm(t, c.private, c.bset)
			// B's first message would go out within about two ticks.
			time.Sleep(3 * time.Second)
			w.mu.Lock()
			defer w.mu.Unlock()
			if len(w.pex) != 0 || len(w.conns) != 1 {
				t.Fatalf("learned %v, connected to %v; want only B", w.pex, w.conns)
			}
		})
	}
}
