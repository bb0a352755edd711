//go:build interop

package interop

import (
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/internal/refpeer"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// blockCounter counts received blocks per sender address.
type blockCounter struct {
	mu sync.Mutex
	n  map[netip.Addr]int
}

func (c *blockCounter) NewConnection(pc plugin.PeerConn) plugin.PeerPlugin {
	return &blockCounterPeer{c: c, ip: pc.RemoteEndpoint().Addr()}
}

func (c *blockCounter) get(a netip.Addr) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[a]
}

type blockCounterPeer struct {
	c  *blockCounter
	ip netip.Addr
}

func (p *blockCounterPeer) Type() string { return "block_counter" }
func (p *blockCounterPeer) OnPiece(plugin.Request, plugin.Block) bool {
	p.c.mu.Lock()
	p.c.n[p.ip]++
	p.c.mu.Unlock()
	return false
}

// TestSmartBanWithLibtorrentSeeder: libtorrent 2.0.8 is the honest seeder
// (127.0.0.1), an in-process seed-mode session on a corrupted copy the
// hostile one (127.0.0.2, every eighth block of every third 2 MiB piece
// flipped). Our downloader with SmartBan completes with correct data, bans
// the hostile address once and never libtorrent's.
func TestSmartBanWithLibtorrentSeeder(t *testing.T) {
	ctx := setup(t, testTimeout)
	dir := t.TempDir()
	const pieceLen = 2 << 20 // 128 blocks: pieces mix both seeders (see the root smart_ban test)
	f := makeFixture(t, dir, "single.bin", 16<<20, nil, pieceLen)
	ports := freePorts(t, 1)
	lt := ltSeed(t, ctx, f, ports[0], refpeer.LTOptions{})

	data, err := os.ReadFile(filepath.Join(f.SeedDir, f.Name))
	if err != nil {
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
	cnt := &blockCounter{n: map[netip.Addr]int{}}
	bAddr := hostile.ListenAddr()
	ltAddr, err := netip.ParseAddrPort(lt.Addr())
	if err != nil {
		t.Fatal(err)
	}
	leechDir := mkdir(t, dir, "leech")
	h, err := down.AddTorrent(ctx, shardtorrent.AddTorrentParams{
		TorrentFile: f.Torrent, SavePath: leechDir, Peers: []netip.AddrPort{bAddr},
		Extensions: []func(plugin.TorrentHandle, any) plugin.TorrentPlugin{
			func(plugin.TorrentHandle, any) plugin.TorrentPlugin { return cnt },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// libtorrent joins once the hostile seeder is sending, so both serve.
	for cnt.get(bAddr.Addr()) == 0 {
		if ctx.Err() != nil {
			t.Fatal("the hostile seeder sent nothing")
		}
		time.Sleep(time.Millisecond)
	}
	if err := h.ConnectPeer(ctx, ltAddr); err != nil {
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
	t.Logf("hash failures %d; blocks from libtorrent %d, hostile %d", failed, cnt.get(ltAddr.Addr()), cnt.get(bAddr.Addr()))
	if cnt.get(ltAddr.Addr()) == 0 {
		t.Error("libtorrent sent nothing: the swarm did not mix")
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
