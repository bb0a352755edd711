//go:build interop

package interop

import (
	"net/netip"
	"slices"
	"sync"
	"testing"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/internal/refpeer"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// ltRecorder is a torrent plugin whose peer plugins record, per hook, the
// first call and whether every call ran on the torrent's loop.
type ltRecorder struct {
	th      plugin.TorrentHandle
	mu      sync.Mutex
	order   []string
	offLoop []string
	extKeys map[string]int // the m dict of libtorrent's extension handshake
	bytes   int
	passed  int
}

func (r *ltRecorder) rec(hook string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.th.InLoop() {
		r.offLoop = append(r.offLoop, hook)
	}
	if !slices.Contains(r.order, hook) {
		r.order = append(r.order, hook)
	}
}

func (r *ltRecorder) NewConnection(pc plugin.PeerConn) plugin.PeerPlugin {
	r.rec("NewConnection")
	return &ltPeer{r: r, pc: pc}
}
func (r *ltRecorder) OnFilesChecked() { r.rec("OnFilesChecked") }
func (r *ltRecorder) OnPiecePass(int) {
	r.rec("torrent.OnPiecePass")
	r.mu.Lock()
	r.passed++
	r.mu.Unlock()
}

type ltPeer struct {
	r  *ltRecorder
	pc plugin.PeerConn
}

func (p *ltPeer) Type() string                 { return "lt_recorder" }
func (p *ltPeer) OnConnected()                 { p.r.rec("OnConnected") }
func (p *ltPeer) OnHandshake(res [8]byte) bool { p.r.rec("OnHandshake"); return true }
func (p *ltPeer) AddHandshake(h *wire.ExtHandshake) {
	p.r.rec("AddHandshake")
}
func (p *ltPeer) OnExtensionHandshake(h *wire.ExtHandshake) bool {
	p.r.rec("OnExtensionHandshake")
	p.r.mu.Lock()
	p.r.extKeys = h.M
	p.r.mu.Unlock()
	return true
}
func (p *ltPeer) OnUnchoke() bool { p.r.rec("OnUnchoke"); return false }
func (p *ltPeer) OnPiece(r plugin.Request, b plugin.Block) bool {
	p.r.rec("OnPiece")
	p.r.mu.Lock()
	p.r.bytes += len(b.Data)
	p.r.mu.Unlock()
	return false
}
func (p *ltPeer) SentRequest(plugin.Request) { p.r.rec("SentRequest") }
func (p *ltPeer) OnPiecePass(int)            { p.r.rec("peer.OnPiecePass") }
func (p *ltPeer) OnDisconnect(error)         { p.r.rec("OnDisconnect") }

// TestPluginsAgainstLibtorrent downloads from a libtorrent 2.0.8 seeder
// with an in-process session and a recording plugin: the hooks fire in the
// order of the protocol, on the torrent's loop, and see libtorrent's
// extension handshake (ut_metadata and ut_pex in its m dictionary); our
// lt_donthave id and the plugin path do not upset libtorrent.
func TestPluginsAgainstLibtorrent(t *testing.T) {
	ctx := setup(t, testTimeout)
	dir := t.TempDir()
	f := makeFixture(t, dir, "single.bin", 8<<20, nil, singlePiece)
	ports := freePorts(t, 2)
	seed := ltSeed(t, ctx, f, ports[0], refpeer.LTOptions{})
	s, err := shardtorrent.NewSession(ctx, shardtorrent.Settings{ListenAddr: loopback(ports[1]), Shards: 2, AlertMask: plugin.CategoryAll})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	rec := &ltRecorder{}
	leechDir := mkdir(t, dir, "plugin")
	seedAddr, err := netip.ParseAddrPort(seed.Addr())
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.AddTorrent(ctx, shardtorrent.AddTorrentParams{
		TorrentFile: f.Torrent, SavePath: leechDir, Peers: []netip.AddrPort{seedAddr},
		Extensions: []func(plugin.TorrentHandle, any) plugin.TorrentPlugin{
			func(th plugin.TorrentHandle, _ any) plugin.TorrentPlugin { rec.th = th; return rec },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for done := false; !done; {
		for _, a := range s.PopAlerts() {
			if _, ok := a.(*plugin.TorrentFinishedAlert); ok {
				done = true
			}
			if e, ok := a.(*plugin.PeerErrorAlert); ok {
				t.Errorf("peer error: %v", e.Message())
			}
		}
		if !done {
			if err := s.WaitForAlert(ctx); err != nil {
				t.Fatal("download from libtorrent did not finish")
			}
		}
	}
	f.verify(t, "plugin session", leechDir)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	t.Logf("hook order: %q; libtorrent's m: %v", rec.order, rec.extKeys)
	if !slices.Contains(rec.order, "OnFilesChecked") {
		t.Errorf("OnFilesChecked never ran")
	}
	if len(rec.offLoop) > 0 {
		t.Errorf("hooks off the torrent's loop: %q", rec.offLoop)
	}
	want := []string{"NewConnection", "OnConnected", "OnHandshake", "AddHandshake", "OnExtensionHandshake", "OnPiece", "peer.OnPiecePass", "torrent.OnPiecePass"}
	for i := 1; i < len(want); i++ {
		a, b := slices.Index(rec.order, want[i-1]), slices.Index(rec.order, want[i])
		if a < 0 || b < 0 || a > b {
			t.Errorf("%s not before %s in %q", want[i-1], want[i], rec.order)
		}
	}
	if rec.extKeys["ut_metadata"] == 0 {
		t.Errorf("libtorrent's extension handshake lacks ut_metadata: %v", rec.extKeys)
	}
	if rec.bytes != int(f.Info.TotalSize) || rec.passed != f.Info.NumPieces {
		t.Errorf("OnPiece saw %d bytes, OnPiecePass %d pieces; want %d and %d", rec.bytes, rec.passed, f.Info.TotalSize, f.Info.NumPieces)
	}
}
