package shard

// The core's hash-failure ban, as libtorrent applies it before any plugin
// (torrent::piece_failed): the address that alone sent every block of a
// piece that failed its hash check is banned at once (BanPeer: all its
// connections closed with ErrPeerBanned, future ones refused, one
// PeerBannedAlert). Pieces with several senders are smart_ban's to judge
// (ext/smartban), which sees the failure first.
//
// libtorrent also keeps trust points per address (-2 for each failed piece
// an address took part in, +1 for each passed one, a ban at -7). That rule
// depends on its parole mode, which makes a suspected peer download whole
// pieces alone so the next failure has a single sender; without parole an
// honest peer sharing pieces with a hostile one loses the same points (our
// loopback smart_ban swarm banned its honest seeder that way), so we have
// neither yet. Settings.KeepPeersOnHashFailure turns this rule off.

// banSoleSender bans the sender of a failed piece when there was one
// address only. contrib lists the connections that sent stored blocks.
func (t *Torrent) banSoleSender(contrib []*peer) {
	if t.s.set.KeepPeersOnHashFailure || len(contrib) == 0 {
		return
	}
	a := contrib[0].addr.Addr().Unmap()
	for _, p := range contrib[1:] {
		if p.addr.Addr().Unmap() != a {
			return
		}
	}
	t.banPeer(a)
}
