package shardtorrent

import (
	"errors"
	"net"
	"net/netip"

	"github.com/shardtorrent/shardtorrent/dht"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/shard"
)

// The DHT (BEP 5, package dht): one node per session, on a UDP socket
// bound to the listen address and port. It is an announcer (discovery.go):
// every torrent that is not private is looked up and announced from its
// EventStarted to its EventStopped, and a magnet whose metadata says it is
// private is dropped at EventMetadata (BEP 27: private torrents never use
// the DHT). Peers found go to the torrent with plugin.SourceDHT. Incoming
// queries reach the session plugins with FeatureDHTRequest first
// (OnDHTRequest), on the goroutine that reads the socket.
//
// Without a listener (ListenAddr "off") there is no DHT.

// dhtAnnouncer is the DHT's shard.Events.
type dhtAnnouncer struct{ n *dht.Node }

// TorrentEvent implements shard.Events: it only records (Start and Stop do
// not block). Loop only (the torrent's).
func (d dhtAnnouncer) TorrentEvent(t *shard.Torrent, ev shard.Event) {
	ih := t.InfoHash()
	switch ev {
	case shard.EventStarted:
		if !t.Private() {
			d.n.Start(ih.Short(), t.AlertBase())
		}
	case shard.EventMetadata:
		if t.Private() {
			d.n.Stop(ih.Short())
		}
	case shard.EventStopped:
		d.n.Stop(ih.Short())
	}
}

// startDHT binds the DHT's socket on the listen address and starts the
// node, as an announcer. A socket that cannot be bound is reported with a
// DHTErrorAlert and the session runs without a DHT. Called by NewSession
// after the listener, before the shards.
func (s *Session) startDHT() {
	if s.set.DisableDHT || !s.listenAddr.IsValid() {
		return
	}
	la := net.UDPAddrFromAddrPort(s.listenAddr)
	conn, err := net.ListenUDP("udp", la)
	if err != nil {
		s.alerts.Post(&plugin.DHTErrorAlert{Op: "listen", Err: &dht.Error{Kind: dht.ErrSocket, Op: "listen", Err: err}})
		return
	}
	cfg := dht.Config{
		Settings: s.set.DHT,
		Conn:     conn,
		Port:     int(s.listenAddr.Port()),
		State:    s.set.ExtensionState,
		OnRequest: func(r *plugin.DHTRequest) bool {
			return s.ext.DispatchDHTRequest(r)
		},
		OnPeers: func(ih [20]byte, peers []netip.AddrPort) { s.addPeers(ih, peers, plugin.SourceDHT) },
		Alert:   s.alerts.Post,
		Logger:  s.log,
	}
	if s.set.DHTBootstrap != nil {
		cfg.Bootstrap = s.set.DHTBootstrap
	}
	if !s.listenAddr.Addr().IsUnspecified() {
		cfg.Self = s.listenAddr
	}
	n, err := dht.New(cfg)
	if err != nil {
		_ = conn.Close()
		s.alerts.Post(&plugin.DHTErrorAlert{Op: "start", Err: err})
		return
	}
	s.dht = n
	s.announcers = append(s.announcers, dhtAnnouncer{n})
}

// ErrNoDHT is returned by the DHT methods of a session without a DHT
// (Settings.DisableDHT, no listener, or a socket that could not be bound).
var ErrNoDHT = errors.New("shardtorrent: the session has no DHT")

// AddDHTNode adds a DHT node ("host:port") to the routing table and to the
// nodes lookups start from; it is what seeds a DHT whose nodes know no
// router (libtorrent's add_dht_node). A host name is resolved before it
// returns. After Close it returns ErrClosed. Safe from any goroutine.
func (s *Session) AddDHTNode(addr string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if s.dht == nil {
		return ErrNoDHT
	}
	return s.dht.AddNode(addr)
}

// DHTStats returns the DHT's counters (nodes, queries in and out, peers
// stored ...). After Close it returns ErrClosed. Safe from any goroutine.
func (s *Session) DHTStats() (dht.Stats, error) {
	if s.closed.Load() {
		return dht.Stats{}, ErrClosed
	}
	if s.dht == nil {
		return dht.Stats{}, ErrNoDHT
	}
	return s.dht.Stats(), nil
}

// DHTAddr returns the DHT's UDP address (invalid without a DHT). Safe from
// any goroutine.
func (s *Session) DHTAddr() netip.AddrPort {
	if s.dht == nil {
		return netip.AddrPort{}
	}
	return s.dht.Addr()
}

// saveDHTState adds the DHT's routing table and node id to m (SaveState).
func (s *Session) saveDHTState(m map[string]string) {
	if s.dht != nil {
		s.dht.SaveState(m)
	}
}

// closeDHT stops the DHT (Close), after the torrents sent their
// EventStopped.
func (s *Session) closeDHT() {
	if s.dht != nil {
		s.dht.Close()
	}
}
