package plugin

import (
	"errors"
	"fmt"
)

// This file holds the part of the API that smart_ban (ext/smartban) needs
// and that any ban-style plugin can use: reading verified blocks back
// (TorrentHandle.ReadBlock), banning an address (TorrentHandle.BanPeer)
// and the alert and errors they produce.

// MaxReadBlock is the largest read TorrentHandle.ReadBlock accepts: the
// largest block a peer may send us, so a plugin can read back any block it
// saw in PieceHook.
const MaxReadBlock = 128 << 10

// ErrPeerBanned is the reason a connection closed by TorrentHandle.BanPeer
// carries (in its DisconnectHook and PeerDisconnectedAlert, matched with
// errors.Is), and the reason an incoming connection from a banned address
// is refused.
var ErrPeerBanned = errors.New("plugin: peer banned")

// ErrBlockRange is ReadBlock's answer to a range outside the piece, a
// non-positive length or one above MaxReadBlock.
var ErrBlockRange = errors.New("plugin: block range outside the piece")

// PeerBannedAlert: an address was banned from a torrent (libtorrent's
// peer_ban_alert). Addr is the endpoint of a connection from it if one was
// open (with its PeerID), else the address with port 0.
type PeerBannedAlert struct {
	PeerAlert
}

func (*PeerBannedAlert) Type() AlertType    { return TypePeerBanned }
func (*PeerBannedAlert) Category() Category { return CategoryPeer }
func (*PeerBannedAlert) Name() string       { return "peer_ban" }
func (a *PeerBannedAlert) Message() string {
	return fmt.Sprintf("%s banned", a.prefix())
}

func init() {
	a := (*PeerBannedAlert)(nil)
	alertTypes[a.Type()] = alertTypeInfo{a.Category(), a.Name()}
}
