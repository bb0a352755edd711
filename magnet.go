package shardtorrent

import (
	"fmt"
	"net/netip"

	"github.com/shardtorrent/shardtorrent/metainfo"
)

// ParseMagnet turns a magnet URI (BEP 9) into AddTorrentParams for a
// torrent without metadata: InfoHash (v1, v2 or both), Name from "dn",
// Peers from "x.pe" and Trackers from "tr", each its own tier as in
// libtorrent. The caller sets SavePath and anything else. An
// x.pe that is not a numeric host:port is an error, so a typo does not
// silently leave the torrent without peers. Safe from any goroutine.
func ParseMagnet(uri string) (AddTorrentParams, error) {
	m, err := metainfo.ParseMagnet(uri)
	if err != nil {
		return AddTorrentParams{}, err
	}
	p := AddTorrentParams{InfoHash: m.InfoHash, Name: m.Name}
	for _, tr := range m.Trackers {
		p.Trackers = append(p.Trackers, []string{tr})
	}
	for _, s := range m.Peers {
		a, err := netip.ParseAddrPort(s)
		if err != nil {
			return AddTorrentParams{}, fmt.Errorf("shardtorrent: magnet x.pe %q: %w", s, err)
		}
		p.Peers = append(p.Peers, a)
	}
	return p, nil
}
