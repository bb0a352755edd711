package shard

import (
	"github.com/shardtorrent/shardtorrent/plugin"
)

// The session's side of a torrent (AddParams.Owner and OnInfo): the
// application's handle, which the shard puts in every alert it posts about
// the torrent (plugin.TorrentAlert.Handle), and the hook that tells the
// session the metadata is known.

// AlertBase returns the TorrentAlert that begins every alert about the
// torrent (info-hash, name, handle), for alerts posted outside the shard
// (the DHT's, the trackers'). Loop only.
func (t *Torrent) AlertBase() plugin.TorrentAlert { return t.alertBase() }

// gotInfo runs AddParams.OnInfo now that t.info is set. Loop only.
func (t *Torrent) gotInfo() {
	if t.onInfo != nil {
		t.onInfo(t.info)
	}
}

// fillOwner gives a plugin's alert about this torrent, posted through its
// TorrentHandle without a handle, the torrent's owner. Loop only.
func (t *Torrent) fillOwner(a plugin.Alert) {
	if t.owner == nil {
		return
	}
	if ta := plugin.TorrentAlertOf(a); ta != nil && ta.Handle == nil && ta.InfoHash.Short() == t.wireIH {
		ta.Handle = t.owner
	}
}
