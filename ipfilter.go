package shardtorrent

// The session-wide IP filter (issue 13, libtorrent's ip_filter): the
// current filter sits in an atomic pointer that the listening loop reads
// when it accepts a connection and every shard reads when a peer address
// is offered or about to be dialled (shard/ipfilter.go), so a new filter
// takes effect for the next accept and the next dial without a lock.
// Torrent.BanPeer stays per torrent.

import (
	"context"

	"github.com/shardtorrent/shardtorrent/ipfilter"
	"github.com/shardtorrent/shardtorrent/loop"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// SetIPFilter replaces the session's IP filter (nil removes it), as
// libtorrent's set_ip_filter: new connections from and to blocked
// addresses are refused from now on, and every shard then closes, in one
// round on its loop, its connections to addresses the new filter blocks
// (counted in MetricIPFilterClosed, each with a PeerBlockedAlert within the
// loop's alert budget). It returns when every shard has done so, or with
// ctx's error. The session keeps f: do not modify it afterwards. Safe from
// any goroutine.
func (s *Session) SetIPFilter(ctx context.Context, f *ipfilter.Filter) error {
	return s.modifySettings(ctx, func(set *Settings) { set.IPFilter = f })
}

// IPFilter returns the session's current IP filter (nil: none). Safe from
// any goroutine.
func (s *Session) IPFilter() *ipfilter.Filter { return s.ipf.Load() }

// ipFiltered refuses an accepted connection whose remote address the
// filter blocks, before a byte of it is read: it is counted
// (IncomingStats.IPFilter), alerted within the listening loop's budget
// (PeerBlockedAlert, category ip_block, with Incoming set) and closed.
// Listening loop only.
func (s *Session) ipFiltered(c *loop.Conn) bool {
	ap := c.RemoteAddr()
	if !s.ipf.Load().IsBlocked(ap.Addr()) {
		return false
	}
	s.incoming.refused(plugin.ErrIPFiltered)
	if s.alerts.Wants(plugin.CategoryIPBlock) {
		if ok, sup := s.acceptBlockAlerts.Allow(c.Loop().Now()); ok {
			s.alerts.Post(&plugin.PeerBlockedAlert{Addr: ap, Reason: plugin.BlockIPFilter, Incoming: true, Suppressed: sup})
		}
	}
	c.Close(plugin.ErrIPFiltered)
	return true
}
