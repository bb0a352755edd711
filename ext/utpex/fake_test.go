package utpex

import (
	"net/netip"
	"time"

	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// fakeTorrent is the part of plugin.TorrentHandle the plugin uses; the
// embedded nil interface panics on anything else, so a test notices.
type fakeTorrent struct {
	plugin.TorrentHandle
	private bool
	peers   []*fakeConn
	added   []netip.AddrPort
	srcs    []plugin.PeerSource
	alerts  []plugin.Alert
}

func (t *fakeTorrent) Private() bool      { return t.private }
func (t *fakeTorrent) InfoHash() [20]byte { return [20]byte{1} }
func (t *fakeTorrent) Name() string       { return "fake" }
func (t *fakeTorrent) PostAlert(a plugin.Alert) {
	t.alerts = append(t.alerts, a)
}
func (t *fakeTorrent) AddPeer(a netip.AddrPort, src plugin.PeerSource) {
	t.added = append(t.added, a)
	t.srcs = append(t.srcs, src)
}

// Status counts the peers past the handshake, as the engine does.
func (t *fakeTorrent) Status() plugin.TorrentStatus {
	n := 0
	for _, p := range t.peers {
		if !p.gone && !p.handshaking {
			n++
		}
	}
	return plugin.TorrentStatus{NumPeers: n}
}

func (t *fakeTorrent) Peers() []plugin.PeerConn {
	out := make([]plugin.PeerConn, 0, len(t.peers))
	for _, p := range t.peers {
		if !p.gone {
			out = append(out, p)
		}
	}
	return out
}

// fakeConn is the part of plugin.PeerConn the plugin uses.
type fakeConn struct {
	plugin.PeerConn
	t           *fakeTorrent
	id          uint64
	addr        netip.AddrPort
	port        uint16
	handshaking bool
	seed, enc   bool
	gone        bool
	sent        [][]byte
	discErr     error
}

func (c *fakeConn) ID() uint64                              { return c.id }
func (c *fakeConn) Valid() bool                             { return !c.gone }
func (c *fakeConn) IsDisconnecting() bool                   { return c.discErr != nil }
func (c *fakeConn) InHandshake() bool                       { return c.handshaking }
func (c *fakeConn) IsConnecting() bool                      { return false }
func (c *fakeConn) ListenPort() uint16                      { return c.port }
func (c *fakeConn) Encrypted() bool                         { return c.enc }
func (c *fakeConn) IsSeed() bool                            { return c.seed }
func (c *fakeConn) UploadOnly() bool                        { return c.seed }
func (c *fakeConn) RemoteEndpoint() netip.AddrPort          { return c.addr }
func (c *fakeConn) OnLocalNetwork() bool                    { return isLocal(c.addr.Addr()) }
func (c *fakeConn) PeerID() [20]byte                        { return [20]byte{} }
func (c *fakeConn) AssociatedTorrent() plugin.TorrentHandle { return c.t }
func (c *fakeConn) SendBuffer(b []byte)                     { c.sent = append(c.sent, append([]byte(nil), b...)) }
func (c *fakeConn) Disconnect(err error, _ plugin.Operation, _ plugin.Severity) {
	c.discErr = err
}

// clock is a fake time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

// rig is one torrent with the plugin attached and peers connected.
type rig struct {
	clk *clock
	ft  *fakeTorrent
	tp  *Torrent
	pps map[*fakeConn]*peer
}

func newRig() *rig {
	clk := newClock()
	ft := &fakeTorrent{}
	tp := NewWithOptions(Options{Now: clk.now}).NewTorrent(ft, nil).(*Torrent)
	return &rig{clk: clk, ft: ft, tp: tp, pps: map[*fakeConn]*peer{}}
}

// connect adds a peer past its handshake that speaks ut_pex with id 9.
func (r *rig) connect(addr string, port uint16) *fakeConn {
	c := &fakeConn{t: r.ft, id: uint64(len(r.ft.peers) + 1), addr: netip.MustParseAddrPort(addr), port: port}
	r.ft.peers = append(r.ft.peers, c)
	pp := r.tp.NewConnection(c).(*peer)
	pp.OnExtensionHandshake(&wire.ExtHandshake{M: map[string]int{Name: 9}})
	r.pps[c] = pp
	return c
}

// lastMsg decodes the last ut_pex message sent to c.
func lastMsg(c *fakeConn) (Message, bool) {
	if len(c.sent) == 0 {
		return Message{}, false
	}
	var d wire.Decoder
	d.MaxLen = 1 << 20
	m, _, err := d.Next(c.sent[len(c.sent)-1])
	if err != nil || m.ExtID != 9 {
		panic("not a ut_pex frame")
	}
	pm, err := Parse(m.Payload)
	if err != nil {
		panic(err)
	}
	return pm, true
}
