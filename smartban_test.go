package shardtorrent

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/shard"
	"github.com/shardtorrent/shardtorrent/wire"
)

// The smart_ban scenario: an honest seeder and a hostile one whose copy of
// the data has corrupt blocks in every third piece (its copy is corrupted
// after its check passed, as bit rot would: it serves verified pieces
// without hashing them again; seed mode would catch it, seedmode.go). Each
// listens on its own
// loopback address, because bans are by IP. The downloader fetches from
// both.
const (
	// 128 blocks a piece, twice the initial request pipeline: the first
	// seeder to unchoke us is asked for half a piece and the picker, which
	// finishes partial pieces first, gives the other seeder the rest. So
	// pieces mix both senders by construction, not by luck.
	sbPieceLen  = 2 << 20
	sbPieces    = 8
	honestHost  = "127.0.0.1"
	hostileHost = "127.0.0.2"
	rescueHost  = "127.0.0.3"
)

// sbCorrupt reports whether the hostile copy of this block is corrupt:
// every eighth block of every third piece, spread so that any share of a
// piece the hostile seeder serves likely holds one.
func sbCorrupt(piece, block int) bool { return piece%3 == 1 && block%8 == 3 }

// mixRecorder is a test torrent plugin on the downloader: for every piece
// that fails it notes whether the failed attempt mixed blocks from both
// seeders, which is what smart_ban exists to sort out.
type mixRecorder struct {
	mu      sync.Mutex
	senders map[int]map[netip.Addr]bool // the current attempt's senders per piece
	failed  int
	mixed   int                // failed attempts with blocks from more than one address
	blocks  map[netip.Addr]int // blocks received per address
	// first holds a channel per address, closed when its first block
	// arrives (see firstBlock).
	first map[netip.Addr]chan struct{}
}

// firstBlock returns a channel closed once a block from addr arrived.
func (m *mixRecorder) firstBlock(addr netip.Addr) <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.firstLocked(addr)
}

func (m *mixRecorder) firstLocked(addr netip.Addr) chan struct{} {
	ch := m.first[addr]
	if ch == nil {
		ch = make(chan struct{})
		m.first[addr] = ch
	}
	return ch
}

func (m *mixRecorder) NewConnection(pc plugin.PeerConn) plugin.PeerPlugin {
	return &mixPeer{m: m, ip: pc.RemoteEndpoint().Addr()}
}

func (m *mixRecorder) OnPieceFailed(piece int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failed++
	if len(m.senders[piece]) > 1 {
		m.mixed++
	}
	delete(m.senders, piece)
}

func (m *mixRecorder) OnPiecePass(piece int) {
	m.mu.Lock()
	delete(m.senders, piece)
	m.mu.Unlock()
}

type mixPeer struct {
	m  *mixRecorder
	ip netip.Addr
}

func (p *mixPeer) Type() string { return "mix_recorder" }

func (p *mixPeer) OnPiece(r plugin.Request, _ plugin.Block) bool {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	s := p.m.senders[r.Piece]
	if s == nil {
		s = map[netip.Addr]bool{}
		p.m.senders[r.Piece] = s
	}
	s[p.ip] = true
	p.m.blocks[p.ip]++
	if p.m.blocks[p.ip] == 1 {
		close(p.m.firstLocked(p.ip))
	}
	return false
}

func sbSession(t *testing.T, host string, smartBan, core bool) (*Session, *bufpool.Pool) {
	t.Helper()
	pool := bufpool.New()
	s, err := NewSession(context.Background(), Settings{
		ListenAddr: host + ":0",
		Shards:     1,
		Pool:       pool,
		AlertMask:  plugin.CategoryAll &^ plugin.CategoryPeerLog,
		SmartBan:   smartBan,
		// The core bans the sole sender of a failed piece and paroles
		// the others (shard/hashfail.go); off unless core, so the smart_ban
		// tests see smart_ban's decisions alone.
		Engine: shard.Settings{KeepPeersOnHashFailure: !core},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, pool
}

// sbResult is what the downloader saw.
type sbResult struct {
	bans       []*plugin.PeerBannedAlert
	hashFailed int
	mixed      int
	failed     int
	// blocks received from each seeder
	fromHonest, fromHostile int
	// clean: the download finished with no hash failure, so no ban
	// could come (see runUntilContested).
	clean bool
}

// sbOptions choose the downloader's rules and the swarm's shape.
type sbOptions struct {
	smartBan, core bool
	waitBan        bool // return only once a ban was seen
	// hostileOnly: the honest seeder lacks every piece the hostile one
	// corrupts, so the hostile seeder is their only source and, whatever
	// the picker chooses, the first failed piece has it as sole sender.
	// A third, honest seeder on rescueHost joins after the first ban, so
	// the download can complete. Otherwise both seeders have everything
	// and who serves what is the picker's (random) choice.
	hostileOnly bool
}

// runSmartBanSwarm runs the scenario and returns once the download finished
// with correct data (and, when waitBan, once a ban was seen).
func runSmartBanSwarm(t *testing.T, o sbOptions) (sbResult, netip.AddrPort, netip.AddrPort) {
	t.Helper()
	smartBan, core, waitBan := o.smartBan, o.core, o.waitBan

	ctx := context.Background()
	src := t.TempDir()
	writeFiles(t, src, map[string]int{"payload.bin": sbPieces * sbPieceLen})
	_, mi, err := metainfo.Create(filepath.Join(src, "payload.bin"), metainfo.CreateOptions{PieceLength: sbPieceLen})
	if err != nil {
		t.Fatal(err)
	}
	// The hostile copy.
	bad := t.TempDir()
	data, err := os.ReadFile(filepath.Join(src, "payload.bin"))
	if err != nil {
		t.Fatal(err)
	}
	corrupt := append([]byte(nil), data...)
	for p := range sbPieces {
		for b := range sbPieceLen / wire.BlockSize {
			if !sbCorrupt(p, b) {
				continue
			}
			off := p*sbPieceLen + b*wire.BlockSize
			for i := off; i < off+wire.BlockSize; i += 97 {
				corrupt[i] ^= 0x5a
			}
		}
	}
	if err := os.WriteFile(filepath.Join(bad, "payload.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}

	// The honest copy: the source, or without the pieces the hostile
	// seeder corrupts.
	honestDir := src
	wantHave := sbPieces
	if o.hostileOnly {
		honestDir = t.TempDir()
		partial := append([]byte(nil), data...)
		for p := range sbPieces {
			if sbCorrupt(p, 3) {
				clear(partial[p*sbPieceLen : (p+1)*sbPieceLen])
				wantHave--
			}
		}
		if err := os.WriteFile(filepath.Join(honestDir, "payload.bin"), partial, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	honest, honestPool := sbSession(t, honestHost, false, false)
	hostile, hostilePool := sbSession(t, hostileHost, false, false)
	down, downPool := sbSession(t, honestHost, smartBan, core)
	sessions := []*Session{down, honest, hostile}
	pools := map[string]*bufpool.Pool{"downloader": downPool, "honest": honestPool, "hostile": hostilePool}
	var rescue *Session
	if o.hostileOnly {
		var rescuePool *bufpool.Pool
		rescue, rescuePool = sbSession(t, rescueHost, false, false)
		sessions = append(sessions, rescue)
		pools["rescuer"] = rescuePool
	}
	defer func() {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		for _, s := range sessions {
			if err := s.Close(cctx); err != nil {
				t.Error(err)
			}
		}
		for name, p := range pools {
			if n := p.Outstanding(); n != 0 {
				t.Errorf("%s leaked %d spans", name, n)
			}
		}
	}()
	if _, err := honest.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: honestDir}); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, honest, 60*time.Second, func(a plugin.Alert) bool {
		c, ok := a.(*plugin.TorrentCheckedAlert)
		if ok && c.Have != wantHave {
			t.Fatalf("honest seeder checked %d of %d pieces, want %d", c.Have, c.Total, wantHave)
		}
		return ok
	})
	var rAddr netip.AddrPort
	if rescue != nil {
		if _, err := rescue.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src}); err != nil {
			t.Fatal(err)
		}
		waitAlert(t, rescue, 60*time.Second, func(a plugin.Alert) bool {
			sc, ok := a.(*plugin.StateChangedAlert)
			return ok && sc.To == plugin.StateSeeding
		})
		rAddr = rescue.ListenAddr()
	}
	if _, err := hostile.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: bad}); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, hostile, 60*time.Second, func(a plugin.Alert) bool {
		sc, ok := a.(*plugin.StateChangedAlert)
		return ok && sc.To == plugin.StateSeeding
	})
	// Checked: now corrupt its copy in place (same size, no truncation);
	// seed mode would hash each piece before serving it.
	f, err := os.OpenFile(filepath.Join(bad, "payload.bin"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(corrupt, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	hAddr, bAddr := honest.ListenAddr(), hostile.ListenAddr()
	if hAddr.Addr() == bAddr.Addr() {
		t.Fatalf("seeders share the address %v: bans by IP could not tell them apart", hAddr.Addr())
	}
	rec := &mixRecorder{senders: map[int]map[netip.Addr]bool{}, blocks: map[netip.Addr]int{}, first: map[netip.Addr]chan struct{}{}}
	dst := t.TempDir()
	// The hostile seeder first, and the honest one once the hostile one
	// sends blocks: otherwise the honest seeder may serve everything before
	// the other connection is up, and the test would prove nothing.
	dh, err := down.AddTorrent(ctx, AddTorrentParams{
		MetaInfo: mi, SavePath: dst, Peers: []netip.AddrPort{bAddr},
		Extensions: []func(plugin.TorrentHandle, any) plugin.TorrentPlugin{
			func(plugin.TorrentHandle, any) plugin.TorrentPlugin { return rec },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-rec.firstBlock(bAddr.Addr()):
	case <-time.After(60 * time.Second):
		t.Fatal("the hostile seeder sent no block within 60 s")
	}
	if err := dh.ConnectPeer(ctx, hAddr); err != nil {
		t.Fatal(err)
	}

	// Generous: the machine is shared; the transfer takes well under a
	// second when idle.
	var res sbResult
	finished := false
	wctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	for !finished || (waitBan && len(res.bans) == 0) {
		for _, a := range down.PopAlerts() {
			switch a := a.(type) {
			case *plugin.PeerBannedAlert:
				res.bans = append(res.bans, a)
				if rescue != nil && len(res.bans) == 1 {
					// The hostile-only piece has a good source now.
					if err := dh.ConnectPeer(ctx, rAddr); err != nil {
						t.Fatal(err)
					}
				}
			case *plugin.HashFailedAlert:
				res.hashFailed++
			case *plugin.TorrentFinishedAlert:
				finished = true
			}
		}
		if finished && (!waitBan || len(res.bans) > 0) {
			break
		}
		if finished && res.hashFailed == 0 && !o.hostileOnly {
			// Both seeders hold every piece and the picker is random:
			// now and then (about 1 run in 30) the hostile seeder's
			// blocks all land in pieces it does not corrupt. No ban
			// can come; the caller runs the swarm again.
			res.clean = true
			return res, netip.AddrPort{}, netip.AddrPort{}
		}
		if err := down.WaitForAlert(wctx); err != nil {
			t.Fatalf("finished=%v bans=%d hash failures=%d after 120 s", finished, len(res.bans), res.hashFailed)
		}
	}
	got, err := os.ReadFile(filepath.Join(dst, "payload.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(data) {
		t.Fatal("the downloaded file differs from the source")
	}
	rec.mu.Lock()
	res.mixed, res.failed = rec.mixed, rec.failed
	res.fromHonest, res.fromHostile = rec.blocks[hAddr.Addr()], rec.blocks[bAddr.Addr()]
	rec.mu.Unlock()
	return res, hAddr, bAddr
}

// TestSmartBanBansHostilePeer: with SmartBan the download completes with
// correct data, the hostile seeder is banned (PeerBannedAlert) and the
// honest one never is, and at least one failed piece mixed blocks of both.
func TestSmartBanBansHostilePeer(t *testing.T) {
	res, hAddr, bAddr := runUntilContested(t, sbOptions{smartBan: true, waitBan: true})
	t.Logf("hash failures %d, failed attempts mixing both seeders %d of %d, bans %d", res.hashFailed, res.mixed, res.failed, len(res.bans))
	if res.hashFailed == 0 {
		t.Fatal("no piece failed: the hostile seeder sent nothing")
	}
	if res.mixed == 0 {
		t.Fatal("no failed piece mixed blocks of both seeders: smart_ban had nothing to decide")
	}
	for _, b := range res.bans {
		if b.Addr.Addr() == hAddr.Addr() {
			t.Fatalf("the honest seeder was banned: %s", b.Message())
		}
	}
	if len(res.bans) != 1 || res.bans[0].Addr.Addr() != bAddr.Addr() {
		t.Fatalf("bans %v, want one of %v", res.bans, bAddr.Addr())
	}
}

// TestWithoutSmartBanNobodyIsBanned is the control: the same swarm without
// SmartBan completes, pieces fail, and nobody is banned.
func TestWithoutSmartBanNobodyIsBanned(t *testing.T) {
	res, _, _ := runUntilContested(t, sbOptions{})
	t.Logf("hash failures %d, failed attempts mixing both seeders %d of %d, blocks from honest %d hostile %d", res.hashFailed, res.mixed, res.failed, res.fromHonest, res.fromHostile)
	if res.hashFailed == 0 {
		t.Fatal("no piece failed: the hostile seeder sent nothing")
	}
	if len(res.bans) != 0 {
		t.Fatalf("banned without smart_ban: %v", res.bans[0].Message())
	}
}

// TestCoreBansHostileSeeder: without smart_ban, the engine's own rule
// (shard/hashfail.go: a ban for the sole sender of a failed piece) bans the
// hostile seeder, never the honest one that served the other pieces beside
// it, and the download completes with correct data.
//
// The honest seeder lacks the pieces the hostile one corrupts. With both
// holding everything, the random picker gave the hostile seeder no corrupt
// block in about one run in 20-40 (2 hangs in 60 runs), and the test waited
// 120 s for a ban that could not come. Leaving the honest seeder only the
// missing piece (7) was not enough either (1 hang in 30): a mixed failure
// of piece 1 or 4 put the hostile seeder on parole while it had started
// piece 7, and the picker gives a peer on parole no block of a shared
// download, so piece 7, which no one else had, stalled (see
// picker/parole.go; parole itself is unit-tested in picker/parole_test.go).
// Now the first failed piece is always the hostile seeder's alone.
func TestCoreBansHostileSeeder(t *testing.T) {
	res, hAddr, bAddr := runSmartBanSwarm(t, sbOptions{core: true, waitBan: true, hostileOnly: true})
	t.Logf("hash failures %d, failed attempts mixing both seeders %d of %d, bans %d", res.hashFailed, res.mixed, res.failed, len(res.bans))
	for _, b := range res.bans {
		if b.Addr.Addr() == hAddr.Addr() {
			t.Fatalf("the honest seeder was banned: %s", b.Message())
		}
	}
	if len(res.bans) != 1 || res.bans[0].Addr.Addr() != bAddr.Addr() {
		t.Fatalf("bans %v, want one of %v", res.bans, bAddr.Addr())
	}
}

// runUntilContested runs the swarm until the hostile seeder sent at least
// one corrupt block (a hash failure) and, for smart_ban, a failed piece
// mixed blocks of both seeders: the preconditions of the assertions, which
// the random picker meets in most runs but not all. Five runs that all
// miss them (odds about 1 in 10^7) fail the test.
func runUntilContested(t *testing.T, o sbOptions) (sbResult, netip.AddrPort, netip.AddrPort) {
	t.Helper()
	for i := 1; ; i++ {
		res, h, b := runSmartBanSwarm(t, o)
		if !res.clean && res.hashFailed > 0 && (!o.smartBan || res.mixed > 0) {
			return res, h, b
		}
		if i == 5 {
			t.Fatalf("5 swarms without a contested piece (last: hash failures %d, mixed %d)", res.hashFailed, res.mixed)
		}
		t.Logf("run %d: no contested piece (hash failures %d, mixed %d); again", i, res.hashFailed, res.mixed)
	}
}
