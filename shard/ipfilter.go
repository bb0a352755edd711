package shard

// The session's IP filter on the dial side (issue 13): an address the
// filter blocks never enters a torrent's peer list (offerPeer), a
// candidate that became blocked since it entered is dropped instead of
// dialled (dialCandidate), and when the session installs a new filter each
// shard closes its connections to addresses it now blocks
// (ApplyIPFilter). The incoming side is refused on the listening loop
// (the root package's accept.go). The filter itself is shared by every
// loop through an atomic pointer, read once per offer or dial.

import (
	"net/netip"

	"github.com/shardtorrent/shardtorrent/plugin"
)

// ipBlocked reports whether the session's IP filter blocks a. Loop only.
func (s *Shard) ipBlocked(a netip.Addr) bool {
	return s.ipf != nil && s.ipf.Load().IsBlocked(a)
}

// blockedPeer counts an address the filter kept us from dialling and
// posts a PeerBlockedAlert within the loop's alert budget. Loop only.
func (t *Torrent) blockedPeer(a netip.AddrPort, closed bool) {
	if closed {
		t.s.count(MetricIPFilterClosed, 1)
	} else {
		t.s.count(MetricIPFilterDialSkipped, 1)
	}
	if t.s.alerts == nil || !t.s.alerts.Wants(plugin.CategoryIPBlock) {
		return
	}
	if ok, sup := t.s.blockAlerts.Allow(t.s.now()); ok {
		t.s.post(&plugin.PeerBlockedAlert{TorrentAlert: t.alertBase(), Addr: a, Reason: plugin.BlockIPFilter,
			Closed: closed, Suppressed: sup})
	}
}

// ApplyIPFilter closes the shard's connections to addresses the
// session's current IP filter blocks and drops such addresses from the
// peer lists, as libtorrent does on set_ip_filter. The session calls it
// once per shard after swapping the filter. Loop only.
func (s *Shard) ApplyIPFilter() {
	if s.ipf == nil || s.ipf.Load() == nil {
		return
	}
	for _, t := range s.torrents {
		for ap := range t.cands {
			if s.ipBlocked(ap.Addr()) && !t.cands[ap].connected {
				delete(t.cands, ap)
			}
		}
		// disconnect may run closedWith at once, which edits t.peers:
		// collect first.
		var victims []*peer
		for _, p := range t.peers {
			if !p.closed && !p.closing && s.ipBlocked(p.addr.Addr().Unmap()) {
				victims = append(victims, p)
			}
		}
		for _, p := range victims {
			t.blockedPeer(p.addr, true)
			p.disconnect(ReasonBanned, plugin.ErrIPFiltered)
		}
	}
}
