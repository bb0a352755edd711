package shardtorrent

import (
	"context"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/shard"
	"github.com/shardtorrent/shardtorrent/wire"
)

// A crypto plugin switched in on a live connection through the peer handle:
// both sides agree over a custom extended message, then every later byte in
// both directions goes through Encrypt and Decrypt in place. The transfer
// must complete with identical data, which only happens if the switch
// applies exactly at the message boundary on both ends.

const (
	xorExtName = "test_xor"
	xorLocalID = 42
)

// xorCipher is a position-dependent XOR keystream: a byte encrypted or
// decrypted at the wrong stream offset comes out wrong.
type xorCipher struct {
	pos   int
	bytes *atomic.Int64
}

func (x *xorCipher) key(i int) byte            { return byte(i*7+3) ^ byte(i>>9) }
func (x *xorCipher) SetOutgoingKey(key []byte) {}
func (x *xorCipher) SetIncomingKey(key []byte) {}

func (x *xorCipher) Encrypt(vecs [][]byte) {
	for _, v := range vecs {
		for i := range v {
			v[i] ^= x.key(x.pos)
			x.pos++
		}
		x.bytes.Add(int64(len(v)))
	}
}

func (x *xorCipher) Decrypt(vecs [][]byte) (consume, produce, packetSize int) {
	for _, v := range vecs {
		for i := range v {
			v[i] ^= x.key(x.pos)
			x.pos++
		}
		produce += len(v)
	}
	x.bytes.Add(int64(produce))
	return 0, produce, 0
}

type xorStats struct {
	encrypted, decrypted atomic.Int64
	switches             atomic.Int32
}

type xorTorrent struct{ st *xorStats }

func (x *xorTorrent) NewConnection(pc plugin.PeerConn) plugin.PeerPlugin {
	return &xorPeer{pc: pc, st: x.st}
}

type xorPeer struct {
	pc       plugin.PeerConn
	st       *xorStats
	remoteID int
	sent     bool
}

func (*xorPeer) Type() string { return xorExtName }

func (x *xorPeer) AddHandshake(h *wire.ExtHandshake) {
	if h.M == nil {
		h.M = map[string]int{}
	}
	h.M[xorExtName] = xorLocalID
}

func (x *xorPeer) OnExtensionHandshake(h *wire.ExtHandshake) bool {
	x.remoteID = h.M[xorExtName]
	if x.remoteID == 0 {
		return false
	}
	if x.pc.IsOutgoing() {
		x.start()
	}
	return true
}

// start tells the peer that what follows is encrypted, and switches.
func (x *xorPeer) start() {
	x.pc.SendBuffer(wire.AppendExtended(nil, uint8(x.remoteID), []byte("go")))
	if err := x.pc.SwitchSendCrypto(&xorCipher{bytes: &x.st.encrypted}); err != nil {
		panic(err)
	}
	x.sent = true
	x.st.switches.Add(1)
}

func (x *xorPeer) OnExtended(length, msg int, body []byte) bool {
	if msg != xorLocalID {
		return false
	}
	if len(body) < length {
		return true // a fragment; act on the whole message
	}
	if err := x.pc.SwitchRecvCrypto(&xorCipher{bytes: &x.st.decrypted}); err != nil {
		panic(err)
	}
	x.st.switches.Add(1)
	if !x.sent {
		x.start()
	}
	return true
}

func TestCryptoPluginSwitchOnLiveConnection(t *testing.T) {
	src := t.TempDir()
	const size = 3<<20 + 777
	writeFiles(t, src, map[string]int{"enc.bin": size})
	_, mi, err := metainfo.Create(filepath.Join(src, "enc.bin"), metainfo.CreateOptions{PieceLength: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	var seedSt, leechSt xorStats
	ext := func(st *xorStats) []func(plugin.TorrentHandle, any) plugin.TorrentPlugin {
		return []func(plugin.TorrentHandle, any) plugin.TorrentPlugin{
			func(plugin.TorrentHandle, any) plugin.TorrentPlugin { return &xorTorrent{st: st} },
		}
	}
	seedPool, leechPool := bufpool.New(), bufpool.New()
	// Plaintext connections: the plugin's cipher replaces, not stacks on,
	// MSE's RC4 (as in libtorrent), so the test keeps MSE out of the way.
	plain := shard.Settings{OutEncPolicy: EncDisabled, InEncPolicy: EncDisabled}
	seeder := newEncSession(t, seedPool, 1, plain)
	leecher := newEncSession(t, leechPool, 2, plain)
	ctx := context.Background()
	if _, err := seeder.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src, Extensions: ext(&seedSt)}); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, seeder, 10*time.Second, func(a plugin.Alert) bool {
		sc, ok := a.(*plugin.StateChangedAlert)
		return ok && sc.To == plugin.StateSeeding
	})
	dst := t.TempDir()
	if _, err := leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: dst, Extensions: ext(&leechSt),
		Peers: []netip.AddrPort{seeder.ListenAddr()}}); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, leecher, 30*time.Second, func(a plugin.Alert) bool { _, ok := a.(*plugin.TorrentFinishedAlert); return ok })
	want, got := hashTree(t, src), hashTree(t, dst)
	if got["enc.bin"] != want["enc.bin"] {
		t.Fatal("downloaded data differs")
	}
	// Both sides switched both directions, and the payload went through
	// the ciphers (the seeder encrypted at least the whole torrent).
	if seedSt.switches.Load() != 2 || leechSt.switches.Load() != 2 {
		t.Fatalf("switches: seeder %d leecher %d, want 2 each", seedSt.switches.Load(), leechSt.switches.Load())
	}
	if seedSt.encrypted.Load() < size || leechSt.decrypted.Load() < size {
		t.Fatalf("seeder encrypted %d, leecher decrypted %d bytes; want >= %d", seedSt.encrypted.Load(), leechSt.decrypted.Load(), size)
	}
	if leechSt.encrypted.Load() == 0 || seedSt.decrypted.Load() == 0 {
		t.Fatal("the leecher's requests were not encrypted")
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = leecher.Close(cctx)
	_ = seeder.Close(cctx)
	if seedPool.Outstanding() != 0 || leechPool.Outstanding() != 0 {
		t.Fatalf("spans outstanding: seeder %d leecher %d", seedPool.Outstanding(), leechPool.Outstanding())
	}
}
