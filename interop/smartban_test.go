//go:build interop

package interop

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/internal/refpeer"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// blockCounter counts received blocks per sender and signals the first
// block from each address.
type blockCounter struct {
	mu    sync.Mutex
	n     map[netip.AddrPort]int
	first map[netip.Addr]chan struct{}
}

func newBlockCounter() *blockCounter {
	return &blockCounter{n: map[netip.AddrPort]int{}, first: map[netip.Addr]chan struct{}{}}
}

func (c *blockCounter) NewConnection(pc plugin.PeerConn) plugin.PeerPlugin {
	return &blockCounterPeer{c: c, ap: pc.RemoteEndpoint()}
}

// firstBlock is closed once a block from a arrived.
func (c *blockCounter) firstBlock(a netip.Addr) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.firstLocked(a)
}

func (c *blockCounter) firstLocked(a netip.Addr) chan struct{} {
	ch, ok := c.first[a]
	if !ok {
		ch = make(chan struct{})
		c.first[a] = ch
	}
	return ch
}

// from counts the blocks from a, or from every endpoint of a's address
// but except when a has port 0.
func (c *blockCounter) from(a netip.AddrPort, except ...netip.AddrPort) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a.Port() != 0 {
		return c.n[a]
	}
	n := 0
	for ap, k := range c.n {
		if ap.Addr() == a.Addr() && !slices.Contains(except, ap) {
			n += k
		}
	}
	return n
}

type blockCounterPeer struct {
	c  *blockCounter
	ap netip.AddrPort
}

func (p *blockCounterPeer) Type() string { return "block_counter" }
func (p *blockCounterPeer) OnPiece(plugin.Request, plugin.Block) bool {
	p.c.mu.Lock()
	if p.c.n[p.ap]++; p.c.n[p.ap] == 1 {
		ch := p.c.firstLocked(p.ap.Addr())
		select {
		case <-ch:
		default:
			close(ch)
		}
	}
	p.c.mu.Unlock()
	return false
}

// TestSmartBanWithLibtorrentSeeder: libtorrent 2.0.8 is the honest source
// (127.0.0.1), an in-process session on a corrupted copy the hostile one
// (127.0.0.2, every eighth block of pieces 1, 4 and 7 of eight 2 MiB
// pieces flipped). Our downloader with SmartBan completes with correct
// data, bans the hostile address once and never libtorrent's.
//
// Deterministic by construction, not by luck: with both seeders holding
// everything, the random picker gave the hostile seeder no corrupt piece
// before libtorrent finished in about one run in eight ("finished=true
// bans=0 hash failures=0"). Now libtorrent lacks piece 1, so the hostile
// seeder is its only source and the first failure of piece 1 has it as sole
// sender: a ban (the core's rule, or smart_ban's if a failure of piece 4 or
// 7, which both hold and which may mix their blocks, comes first). A full
// libtorrent seeder joins once the ban is posted, so the download can end.
// libtorrent connects first, and the hostile seeder only once libtorrent
// sent a block, so libtorrent always serves part of the download.
func TestSmartBanWithLibtorrentSeeder(t *testing.T) {
	ctx := setup(t, testTimeout)
	dir := t.TempDir()
	const pieceLen = 2 << 20 // 128 blocks: pieces mix both seeders (see the root smart_ban test)
	const hostileOnly = 1    // the corrupt piece libtorrent lacks
	f := makeFixture(t, dir, "single.bin", 16<<20, nil, pieceLen)
	ports := freePorts(t, 2)
	rescuer := ltSeed(t, ctx, f, ports[1], refpeer.LTOptions{Name: "lt-rescuer"})

	data, err := os.ReadFile(filepath.Join(f.SeedDir, f.Name))
	if err != nil {
		t.Fatal(err)
	}
	// libtorrent's copy: all but piece hostileOnly (zeroed; its check
	// finds it missing).
	honestDir := mkdir(t, dir, "honest")
	partial := append([]byte(nil), data...)
	clear(partial[hostileOnly*pieceLen : (hostileOnly+1)*pieceLen])
	if err := os.WriteFile(filepath.Join(honestDir, f.Name), partial, 0o644); err != nil {
		t.Fatal(err)
	}
	badDir := mkdir(t, dir, "hostile")
	// The hostile copy is checked good, then corrupted in place, as bit
	// rot would: verified pieces are served without a second hash (seed
	// mode would hash them, and never serve the corrupt ones).
	if err := os.WriteFile(filepath.Join(badDir, f.Name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	for p := 0; p*pieceLen < len(data); p++ {
		if p%3 != 1 {
			continue
		}
		for b := 3; b < pieceLen/wire.BlockSize; b += 8 {
			off := p*pieceLen + b*wire.BlockSize
			for i := off; i < off+wire.BlockSize && i < len(data); i += 97 {
				data[i] ^= 0x5a
			}
		}
	}
	hostile, err := shardtorrent.NewSession(ctx, shardtorrent.Settings{ListenAddr: "127.0.0.2:0", Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer hostile.Close(ctx)
	if _, err := hostile.AddTorrent(ctx, shardtorrent.AddTorrentParams{TorrentFile: f.Torrent, SavePath: badDir}); err != nil {
		t.Fatal(err)
	}
	for seeding := false; !seeding; {
		if err := hostile.WaitForAlert(ctx); err != nil {
			t.Fatalf("the hostile seeder's check: %v", err)
		}
		for _, a := range hostile.PopAlerts() {
			if sc, ok := a.(*plugin.StateChangedAlert); ok && sc.To == plugin.StateSeeding {
				seeding = true
			}
		}
	}
	bf, err := os.OpenFile(filepath.Join(badDir, f.Name), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bf.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := bf.Close(); err != nil {
		t.Fatal(err)
	}

	down, err := shardtorrent.NewSession(ctx, shardtorrent.Settings{ListenAddr: "127.0.0.1:0", Shards: 1, SmartBan: true})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close(ctx)
	cnt := newBlockCounter()
	bAddr := hostile.ListenAddr()
	rAddr, err := netip.ParseAddrPort(rescuer.Addr())
	if err != nil {
		t.Fatal(err)
	}
	leechDir := mkdir(t, dir, "leech")
	h, err := down.AddTorrent(ctx, shardtorrent.AddTorrentParams{
		TorrentFile: f.Torrent, SavePath: leechDir,
		Extensions: []func(plugin.TorrentHandle, any) plugin.TorrentPlugin{
			func(plugin.TorrentHandle, any) plugin.TorrentPlugin { return cnt },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// libtorrent with a partial copy runs as a leecher that stays; it
	// refuses connections while it checks, so it dials us once checked.
	// Rate-limited so the hostile seeder gets a share of the pieces both
	// hold.
	ltLeech(t, ctx, f, honestDir, ports[0], refpeer.LTOptions{
		Name: "lt-honest", Stay: true, Peers: []string{down.ListenAddr().String()},
		UploadRateLimit: 4 << 20,
	})
	select {
	case <-cnt.firstBlock(rAddr.Addr()): // libtorrent's address; the rescuer is not connected yet
	case <-ctx.Done():
		t.Fatal("libtorrent sent no block")
	}
	if err := h.ConnectPeer(ctx, bAddr); err != nil {
		t.Fatal(err)
	}
	var bans []*plugin.PeerBannedAlert
	failed := 0
	for finished := false; !finished || len(bans) == 0; {
		for _, a := range down.PopAlerts() {
			switch a := a.(type) {
			case *plugin.TorrentFinishedAlert:
				finished = true
			case *plugin.PeerBannedAlert:
				bans = append(bans, a)
				if len(bans) == 1 {
					// Piece hostileOnly has a good source now.
					if err := h.ConnectPeer(ctx, rAddr); err != nil {
						t.Fatal(err)
					}
				}
			case *plugin.HashFailedAlert:
				failed++
			}
		}
		if finished && len(bans) > 0 {
			break
		}
		if err := down.WaitForAlert(ctx); err != nil {
			t.Fatalf("finished=%v bans=%d hash failures=%d: %v", finished, len(bans), failed, err)
		}
	}
	f.verify(t, "smart_ban downloader", leechDir)
	honestAll := netip.AddrPortFrom(rAddr.Addr(), 0)
	t.Logf("hash failures %d; blocks from libtorrent %d, hostile %d, libtorrent rescuer %d",
		failed, cnt.from(honestAll, rAddr), cnt.from(netip.AddrPortFrom(bAddr.Addr(), 0)), cnt.from(rAddr))
	if failed == 0 {
		t.Error("no hash failure, yet a ban")
	}
	for _, b := range bans {
		if b.Addr.Addr() != bAddr.Addr() {
			t.Errorf("banned %s, want only %v", b.Message(), bAddr.Addr())
		}
	}
	if len(bans) != 1 {
		t.Errorf("%d ban alerts, want 1", len(bans))
	}
}
