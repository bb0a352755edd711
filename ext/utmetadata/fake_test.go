package utmetadata

import (
	"crypto/sha1"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// fakeTorrent implements the part of plugin.TorrentHandle the plugin uses;
// the embedded nil interface panics on anything else, which flags a use the
// fake does not model.
type fakeTorrent struct {
	plugin.TorrentHandle
	ih      [20]byte
	info    []byte // set once the metadata is accepted (or given)
	private bool
	peers   []*fakeConn
	sets    int // SetMetadata calls
}

func (f *fakeTorrent) HasMetadata() bool { return f.info != nil }
func (f *fakeTorrent) InfoBytes() []byte { return f.info }
func (f *fakeTorrent) Private() bool     { return f.private && f.info != nil }
func (f *fakeTorrent) SetMetadata(b []byte) error {
	f.sets++
	if f.info != nil {
		return plugin.ErrHaveMetadata
	}
	if sha1.Sum(b) != f.ih {
		return plugin.ErrMismatchingInfoHash
	}
	f.info = append([]byte(nil), b...)
	return nil
}
func (f *fakeTorrent) Peers() []plugin.PeerConn {
	out := make([]plugin.PeerConn, 0, len(f.peers))
	for _, c := range f.peers {
		out = append(out, c)
	}
	return out
}

// fakeConn implements the part of plugin.PeerConn the plugin uses and
// records what it sends.
type fakeConn struct {
	plugin.PeerConn
	pp       *Peer
	sent     []msg
	disc     error
	closed   bool
	buffered int
}

// msg is one sent ut_metadata message, decoded.
type msg struct {
	extID int
	h     header
	data  []byte
}

func (c *fakeConn) Type() plugin.ConnectionType { return plugin.ConnBitTorrent }
func (c *fakeConn) Valid() bool                 { return !c.closed }
func (c *fakeConn) SendBufferSize() int         { return c.buffered }
func (c *fakeConn) FindPlugin(typ string) plugin.PeerPlugin {
	if typ == ExtensionName && c.pp != nil {
		return c.pp
	}
	return nil
}
func (c *fakeConn) Disconnect(err error, _ plugin.Operation, _ plugin.Severity) {
	if !c.closed {
		c.disc, c.closed = err, true
	}
}
func (c *fakeConn) SendBuffer(b []byte) {
	n := int(binary.BigEndian.Uint32(b))
	if n != len(b)-4 || b[4] != byte(wire.Extended) {
		panic("fakeConn: not one extended frame")
	}
	h, end, err := parseMessage(b[6:])
	if err != nil {
		panic("fakeConn: we sent a bad message: " + err.Error())
	}
	c.sent = append(c.sent, msg{extID: int(b[5]), h: h, data: append([]byte(nil), b[6+end:]...)})
}

// take returns and forgets what was sent.
func (c *fakeConn) take() []msg {
	m := c.sent
	c.sent = nil
	return m
}

// clock is a settable fake clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Unix(1_700_000_000, 0)} }
func testCfg(c *clock) Config        { return Config{Now: c.now, Rand: rand.New(rand.NewPCG(1, 2))} }
func infoOf(n int) []byte            { return makeInfo(n) }
func hashOf(b []byte) [20]byte       { return sha1.Sum(b) }
func peerExtHS(size int) *wire.ExtHandshake {
	return &wire.ExtHandshake{M: map[string]int{ExtensionName: 7}, MetadataSize: size}
}

// makeInfo returns n bytes that stand for an info dictionary (the plugin
// never parses it; the fake torrent only hashes it).
func makeInfo(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// rig is a torrent plugin with peers attached and handshaken.
type rig struct {
	t   *testing.T
	clk *clock
	ft  *fakeTorrent
	tp  *Torrent
}

func newRig(t *testing.T, ft *fakeTorrent) *rig {
	clk := newClock()
	return &rig{t: t, clk: clk, ft: ft, tp: NewTorrent(ft, testCfg(clk))}
}

// connect attaches a peer and runs its extension handshake with size as
// its metadata_size (0: none).
func (r *rig) connect(size int) *fakeConn {
	c := &fakeConn{}
	c.pp = r.tp.NewConnection(c).(*Peer)
	r.ft.peers = append(r.ft.peers, c)
	if !c.pp.OnExtensionHandshake(peerExtHS(size)) {
		r.t.Fatal("plugin removed itself from a ut_metadata peer")
	}
	return c
}

// deliver hands c's plugin one whole message body.
func deliver(c *fakeConn, body []byte) bool {
	return c.pp.OnExtended(len(body), ExtID, body)
}

func dataMsg(piece, total int, data []byte) []byte {
	return append(appendMessage(nil, MsgData, piece, total), data...)
}

func requestsOf(ms []msg) []int {
	var out []int
	for _, m := range ms {
		if m.h.MsgType == MsgRequest {
			out = append(out, m.h.Piece)
		}
	}
	return out
}
