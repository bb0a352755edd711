package shard

// The core's hash-failure ban, as libtorrent applies it before any plugin
// (torrent::piece_failed): the address that alone sent every block of a
// piece that failed its hash check is banned at once (BanPeer: all its
// connections closed with ErrPeerBanned, future ones refused, one
// PeerBannedAlert). Pieces with several senders are smart_ban's to judge
// (ext/smartban), which sees the failure first.
//
// Parole (libtorrent's use_parole_mode, picker/parole.go): every other
// sender of a failed piece goes on parole, so its next pieces are its own
// (exclusive in the picker: fresh ones, or partial ones it alone has sent
// or been asked for blocks of) and a second failure has a single sender; a
// piece it sent alone that passes takes it off parole. libtorrent lifts
// parole from every sender of a passed piece (torrent::piece_passed); we
// lift it only from a sole sender, so a paroled peer's honest block in a
// shared piece that was in flight when parole began does not clear it.
//
// libtorrent also keeps trust points per address (-2 for each failed piece
// an address took part in, +1 for each passed one, a ban at -7); we do not:
// on their own they banned the honest seeder of our loopback smart_ban
// swarm, which had shared pieces with the hostile one, and with parole the
// sole-sender rule catches the hostile peer anyway.
// Settings.KeepPeersOnHashFailure turns the ban and parole off.

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
	if !t.isBanned(a) {
		t.s.count(MetricBansHashFailure, 1)
	}
	t.banPeer(a)
}

// paroleSenders puts the senders of a failed piece that were not banned on
// parole.
func (t *Torrent) paroleSenders(contrib []*peer) {
	if t.s.set.KeepPeersOnHashFailure {
		return
	}
	for _, p := range contrib {
		if !p.closed && !p.closing {
			t.pk.SetParole(p.pid, true)
		}
	}
}

// endParole takes the sole sender of a passed piece off parole.
func (t *Torrent) endParole(contrib []*peer) {
	if len(contrib) == 1 && t.pk.OnParole(contrib[0].pid) {
		t.pk.SetParole(contrib[0].pid, false)
	}
}
