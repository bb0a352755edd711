package plugin_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// QuotaAlert is a custom alert: its type id is above UserAlertID and its
// category is static.
type QuotaAlert struct{ Used, Limit int64 }

const quotaAlertType = plugin.UserAlertID + 1

func init() { plugin.RegisterAlertType(quotaAlertType, plugin.CategoryStats, "quota") }

func (*QuotaAlert) Type() plugin.AlertType    { return quotaAlertType }
func (*QuotaAlert) Category() plugin.Category { return plugin.CategoryStats }
func (*QuotaAlert) Name() string              { return "quota" }
func (a *QuotaAlert) Message() string {
	return fmt.Sprintf("quota: %d of %d bytes used", a.Used, a.Limit)
}

// A plugin posts a custom alert (from a hook: TorrentHandle.PostAlert or
// SessionHandle.PostAlert); the application filters it by its static
// category and casts it back.
func Example_customAlert() {
	s, _ := shardtorrent.NewSession(context.Background(), shardtorrent.Settings{
		ListenAddr: "off", Shards: 1, AlertMask: plugin.CategoryOf[*QuotaAlert](),
	})
	defer s.Close(context.Background())
	s.PostAlert(&QuotaAlert{Used: 900, Limit: 1000})
	for _, a := range s.PopAlerts() {
		if q, ok := plugin.Cast[*QuotaAlert](a); ok {
			fmt.Println(q.Message())
		}
	}
	c, _ := plugin.CategoryOfType(quotaAlertType)
	fmt.Println(c == plugin.CategoryStats)
	// Output:
	// quota: 900 of 1000 bytes used
	// true
}

// payloadCounter is a torrent plugin that counts the payload each peer
// sent us and we sent it.
type payloadCounter struct {
	mu   sync.Mutex // read by the example's goroutine
	down map[string]int
	up   map[string]int
}

func (c *payloadCounter) NewConnection(pc plugin.PeerConn) plugin.PeerPlugin {
	return &peerCounter{c: c, who: pc.RemoteEndpoint().Addr().String()}
}

type peerCounter struct {
	c   *payloadCounter
	who string
}

func (p *peerCounter) Type() string { return "payload_counter" }

// OnPiece sees each received block before the engine stores it.
func (p *peerCounter) OnPiece(r plugin.Request, b plugin.Block) bool {
	p.c.mu.Lock()
	p.c.down[p.who] += len(b.Data)
	p.c.mu.Unlock()
	return false // not handled: the engine stores it as usual
}

// SentPayload counts the block bytes queued to the peer.
func (p *peerCounter) SentPayload(n int) {
	p.c.mu.Lock()
	p.c.up[p.who] += n
	p.c.mu.Unlock()
}

// A peer plugin counting payload per peer, on both ends of a transfer.
func Example_payloadPerPeer() {
	sw := newSwarm(1 << 20)
	defer sw.close()
	seedCount := &payloadCounter{down: map[string]int{}, up: map[string]int{}}
	leechCount := &payloadCounter{down: map[string]int{}, up: map[string]int{}}
	sw.seed(func(plugin.TorrentHandle, any) plugin.TorrentPlugin { return seedCount })
	sw.leech(func(plugin.TorrentHandle, any) plugin.TorrentPlugin { return leechCount })
	sw.waitFinished()
	leechCount.mu.Lock()
	fmt.Println("downloaded from 127.0.0.1:", leechCount.down["127.0.0.1"])
	leechCount.mu.Unlock()
	seedCount.mu.Lock()
	fmt.Println("uploaded to 127.0.0.1:", seedCount.up["127.0.0.1"])
	seedCount.mu.Unlock()
	// Output:
	// downloaded from 127.0.0.1: 1048576
	// uploaded to 127.0.0.1: 1048576
}

// clientFilter is a torrent plugin refusing peers whose peer id starts
// with a banned client prefix (Azureus style, "-XX1234-").
type clientFilter struct {
	banned  []string
	refused atomic.Int32
}

func (f *clientFilter) NewConnection(pc plugin.PeerConn) plugin.PeerPlugin {
	return &clientCheck{f: f, pc: pc}
}

type clientCheck struct {
	f  *clientFilter
	pc plugin.PeerConn
}

func (c *clientCheck) Type() string { return "client_filter" }

// OnHandshake runs once the peer id is known.
func (c *clientCheck) OnHandshake([8]byte) bool {
	id := c.pc.PeerID()
	for _, b := range c.f.banned {
		if strings.HasPrefix(string(id[:]), b) {
			c.f.refused.Add(1)
			c.pc.Disconnect(fmt.Errorf("client %q is banned", b), plugin.OpPlugin, plugin.SeverityNormal)
			return false
		}
	}
	return false // nothing more to do on this peer: remove the plugin
}

// A torrent plugin refusing peers by client prefix.
func Example_refuseClient() {
	sw := newSwarm(256 << 10)
	defer sw.close()
	f := &clientFilter{banned: []string{"-BD"}}
	sw.leechPrefix = "-BD0001-"
	sw.seed(func(plugin.TorrentHandle, any) plugin.TorrentPlugin { return f })
	sw.leech(nil)
	for f.refused.Load() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("refused:", f.refused.Load() > 0)
	// Output:
	// refused: true
}

// helloExt is a custom extended message, "x_hello", negotiated through the
// BEP 10 handshake: we advertise the id we want to receive it on, and send
// it on the id the peer advertised.
type helloExt struct {
	greeting string
	got      chan string
}

const helloID = 20 // our id for x_hello; ids are ours to choose

func (e *helloExt) NewConnection(pc plugin.PeerConn) plugin.PeerPlugin {
	return &helloPeer{e: e, pc: pc}
}

type helloPeer struct {
	e  *helloExt
	pc plugin.PeerConn
}

func (p *helloPeer) Type() string { return "x_hello" }

func (p *helloPeer) AddHandshake(h *wire.ExtHandshake) { h.M["x_hello"] = helloID }

func (p *helloPeer) OnExtensionHandshake(h *wire.ExtHandshake) bool {
	id := h.M["x_hello"]
	if id == 0 {
		return false // the peer does not speak x_hello: drop the plugin
	}
	p.pc.SendBuffer(wire.AppendExtended(nil, uint8(id), []byte(p.e.greeting)))
	return true
}

// OnExtended is called per fragment; parse once the body is complete.
func (p *helloPeer) OnExtended(length, msg int, body []byte) bool {
	if msg != helloID {
		return false
	}
	if len(body) == length {
		p.e.got <- string(body)
	}
	return true
}

// A custom extended message negotiated through the extension handshake,
// between two sessions over loopback.
func Example_extendedMessage() {
	sw := newSwarm(256 << 10)
	defer sw.close()
	seedExt := &helloExt{greeting: "hello from the seed", got: make(chan string, 1)}
	leechExt := &helloExt{greeting: "hello from the leech", got: make(chan string, 1)}
	sw.seed(func(plugin.TorrentHandle, any) plugin.TorrentPlugin { return seedExt })
	sw.leech(func(plugin.TorrentHandle, any) plugin.TorrentPlugin { return leechExt })
	fmt.Println("leech got:", <-leechExt.got)
	fmt.Println("seed got:", <-seedExt.got)
	// Output:
	// leech got: hello from the seed
	// seed got: hello from the leech
}

// swarm is two sessions over loopback sharing one torrent.
type swarm struct {
	dir             string
	mi              *metainfo.MetaInfo
	seeder, leecher *shardtorrent.Session
	leechPrefix     string
}

func newSwarm(size int) *swarm {
	dir, err := os.MkdirTemp("", "plugin-example")
	if err != nil {
		panic(err)
	}
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	path := filepath.Join(dir, "seed", "data.bin")
	_ = os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		panic(err)
	}
	_, mi, err := metainfo.Create(path, metainfo.CreateOptions{PieceLength: 64 << 10})
	if err != nil {
		panic(err)
	}
	return &swarm{dir: dir, mi: mi}
}

type ctor = func(plugin.TorrentHandle, any) plugin.TorrentPlugin

func session(prefix string) *shardtorrent.Session {
	s, err := shardtorrent.NewSession(context.Background(), shardtorrent.Settings{
		ListenAddr: "127.0.0.1:0", Shards: 1, PeerIDPrefix: prefix,
	})
	if err != nil {
		panic(err)
	}
	return s
}

func exts(c ctor) []ctor {
	if c == nil {
		return nil
	}
	return []ctor{c}
}

func (sw *swarm) seed(c ctor) {
	sw.seeder = session("-ST0001-")
	_, err := sw.seeder.AddTorrent(context.Background(), shardtorrent.AddTorrentParams{
		MetaInfo: sw.mi, SavePath: filepath.Join(sw.dir, "seed"), SeedMode: true, Extensions: exts(c),
	})
	if err != nil {
		panic(err)
	}
}

func (sw *swarm) leech(c ctor) {
	prefix := sw.leechPrefix
	if prefix == "" {
		prefix = "-ST0001-"
	}
	sw.leecher = session(prefix)
	_, err := sw.leecher.AddTorrent(context.Background(), shardtorrent.AddTorrentParams{
		MetaInfo: sw.mi, SavePath: filepath.Join(sw.dir, "leech"), Extensions: exts(c),
		Peers: []netip.AddrPort{sw.seeder.ListenAddr()},
	})
	if err != nil {
		panic(err)
	}
}

func (sw *swarm) waitFinished() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sw.leecher.SetAlertMask(plugin.CategoryStatus)
	for {
		for _, a := range sw.leecher.PopAlerts() {
			if _, ok := plugin.Cast[*plugin.TorrentFinishedAlert](a); ok {
				return
			}
		}
		if err := sw.leecher.WaitForAlert(ctx); err != nil {
			panic("transfer did not finish")
		}
	}
}

func (sw *swarm) close() {
	ctx := context.Background()
	if sw.leecher != nil {
		_ = sw.leecher.Close(ctx)
	}
	if sw.seeder != nil {
		_ = sw.seeder.Close(ctx)
	}
	_ = os.RemoveAll(sw.dir)
}
