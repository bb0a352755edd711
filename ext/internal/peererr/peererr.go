// Package peererr is what the ext/ plugins do with bad peer input: post a
// PeerErrorAlert carrying the plugin's typed error and disconnect that peer,
// through the public plugin API only.
package peererr

import (
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// Disconnect reports err for pc (a PeerErrorAlert) and closes the
// connection with it; the engine's PeerDisconnectedAlert carries it too.
// Loop only.
func Disconnect(pc plugin.PeerConn, err error) {
	if !pc.Valid() || pc.IsDisconnecting() {
		return
	}
	if th := pc.AssociatedTorrent(); th != nil {
		th.PostAlert(&plugin.PeerErrorAlert{
			PeerAlert: plugin.PeerAlert{
				TorrentAlert: plugin.TorrentAlert{InfoHash: metainfo.InfoHash{V1: th.InfoHash()}, Torrent: th.Name()},
				Addr:         pc.RemoteEndpoint(),
				PeerID:       pc.PeerID(),
			},
			Err: err,
		})
	}
	pc.Disconnect(err, plugin.OpBitTorrent, plugin.SeverityPeerError)
}
