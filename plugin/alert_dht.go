package plugin

import (
	"fmt"
	"net/netip"
)

// Alert type ids of the DHT alerts (dht/). They are outside the iota block
// of alert.go, as alert_metadata.go's are, and are libtorrent 2.0.8's own
// ids except TypeDHTReply: libtorrent's dht_reply_alert is 16, which
// alert.go's TypeIncomingRefused holds, so it is 100+16.
const (
	TypeDHTAnnounce  AlertType = 55
	TypeDHTGetPeers  AlertType = 56
	TypeDHTBootstrap AlertType = 62
	TypeDHTError     AlertType = 73
	TypeDHTReply     AlertType = 116
)

// DHTReplyAlert: a DHT lookup for a torrent (get_peers, then announce_peer
// to the closest nodes) finished and found NumPeers distinct peers, which
// were offered to the torrent's peer list (libtorrent's dht_reply_alert).
type DHTReplyAlert struct {
	TorrentAlert
	NumPeers int
}

func (*DHTReplyAlert) Type() AlertType    { return TypeDHTReply }
func (*DHTReplyAlert) Category() Category { return CategoryDHT | CategoryTracker }
func (*DHTReplyAlert) Name() string       { return "dht_reply" }
func (a *DHTReplyAlert) Message() string {
	return fmt.Sprintf("%s received DHT peers: %d", a.prefix(), a.NumPeers)
}

// DHTAnnounceAlert: a node announced a peer to us for an info-hash
// (incoming announce_peer with a valid token; libtorrent's
// dht_announce_alert), whether the peer store kept it or refused it for
// a bound. Addr is the peer: the sender's address with the port it
// announced.
type DHTAnnounceAlert struct {
	Addr     netip.AddrPort
	InfoHash [20]byte // the info-hash announced
}

func (*DHTAnnounceAlert) Type() AlertType    { return TypeDHTAnnounce }
func (*DHTAnnounceAlert) Category() Category { return CategoryDHT }
func (*DHTAnnounceAlert) Name() string       { return "dht_announce" }
func (a *DHTAnnounceAlert) Message() string {
	return fmt.Sprintf("incoming dht announce: %s (%x)", a.Addr, a.InfoHash)
}

// DHTGetPeersAlert: a node asked us for the peers of an info-hash (incoming
// get_peers; libtorrent's dht_get_peers_alert).
type DHTGetPeersAlert struct {
	InfoHash [20]byte // the info-hash asked about
}

func (*DHTGetPeersAlert) Type() AlertType    { return TypeDHTGetPeers }
func (*DHTGetPeersAlert) Category() Category { return CategoryDHT }
func (*DHTGetPeersAlert) Name() string       { return "dht_get_peers" }
func (a *DHTGetPeersAlert) Message() string {
	return fmt.Sprintf("incoming dht get_peers: %x", a.InfoHash)
}

// DHTBootstrapAlert: the DHT's bootstrap finished with Nodes nodes in its
// routing table (libtorrent's dht_bootstrap_alert).
type DHTBootstrapAlert struct {
	Nodes int
}

func (*DHTBootstrapAlert) Type() AlertType    { return TypeDHTBootstrap }
func (*DHTBootstrapAlert) Category() Category { return CategoryDHT }
func (*DHTBootstrapAlert) Name() string       { return "dht_bootstrap" }
func (a *DHTBootstrapAlert) Message() string {
	return fmt.Sprintf("DHT bootstrap complete (%d nodes)", a.Nodes)
}

// DHTErrorAlert: the DHT failed at Op (libtorrent's dht_error_alert). Err
// is a *dht.Error, matchable with errors.Is against the dht.Err* kinds.
type DHTErrorAlert struct {
	Op  string
	Err error
}

func (*DHTErrorAlert) Type() AlertType    { return TypeDHTError }
func (*DHTErrorAlert) Category() Category { return CategoryError | CategoryDHT }
func (*DHTErrorAlert) Name() string       { return "dht_error" }
func (a *DHTErrorAlert) Message() string {
	return fmt.Sprintf("DHT error [%s] %v", a.Op, a.Err)
}

func init() {
	for _, a := range []Alert{(*DHTReplyAlert)(nil), (*DHTAnnounceAlert)(nil), (*DHTGetPeersAlert)(nil),
		(*DHTBootstrapAlert)(nil), (*DHTErrorAlert)(nil)} {
		if old, dup := alertTypes[a.Type()]; dup {
			panic(fmt.Sprintf("plugin: alert type %d of %s is taken by %s", a.Type(), a.Name(), old.name))
		}
		alertTypes[a.Type()] = alertTypeInfo{a.Category(), a.Name()}
	}
}
