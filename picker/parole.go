package picker

// Parole, as libtorrent's use_parole_mode: a peer that sent blocks of a
// piece that failed its hash check is put on parole by the caller. While
// on parole it only gets blocks of pieces it alone has touched: fresh
// pieces it starts, and partial pieces whose every requested or received
// block is its own (libtorrent's piece_picker::requested_from "exclusive"
// test), such as a piece it was downloading when parole began; without the
// latter such a piece stalls when nobody else has it. The pieces it picks
// become exclusive: no other peer gets their blocks, in end game neither,
// and it gets no end-game duplicates. Its next piece then has a single
// sender, so a failure is its own (the caller bans the sole sender of a
// failed piece) and a pass clears it. Invariant: a download is exclusive
// only to its owner, and only while the owner is connected and unchoked
// (AbortPeer ends it).

// SetParole puts peer on parole or takes it off. Taking it off leaves its
// exclusive downloads open to everyone.
func (p *Picker) SetParole(peer Peer, on bool) {
	i := -1
	for k, q := range p.parole {
		if q == peer {
			i = k
			break
		}
	}
	switch {
	case on && i < 0:
		p.parole = append(p.parole, peer)
	case !on && i >= 0:
		p.Unreserve(peer)
		p.parole[i] = p.parole[len(p.parole)-1]
		p.parole = p.parole[:len(p.parole)-1]
	}
}

// Unreserve opens peer's exclusive downloads to everyone, for when it
// chokes us or stops sending: others may then finish its pieces (which may
// then have several senders). Exclusive downloads only exist for peers on
// parole, so for any other peer this costs one scan of the parole list.
func (p *Picker) Unreserve(peer Peer) {
	if !p.OnParole(peer) {
		return
	}
	for _, d := range p.downloads {
		if d.exclusive && d.owner == peer {
			d.exclusive = false
		}
	}
}

// OnParole reports whether peer is on parole.
func (p *Picker) OnParole(peer Peer) bool {
	for _, q := range p.parole {
		if q == peer {
			return true
		}
	}
	return false
}

// mayShare reports whether peer may get blocks of d: an exclusive
// download only to its owner, and a peer on parole only its own exclusive
// downloads and those it is the sole source of (soleSource).
func (p *Picker) mayShare(d *download, peer Peer, parole bool) bool {
	if d.exclusive {
		return d.owner == peer
	}
	return !parole || soleSource(d, peer)
}

// soleSource reports whether every block of d that is not free was
// requested only by peer or received from it. It costs one pass over d's
// blocks and runs only for peers on parole.
func soleSource(d *download, peer Peer) bool {
	for k := range d.blocks {
		bi := &d.blocks[k]
		switch bi.state {
		case blockRequested:
			if bi.nreq != 1 || bi.req[0] != peer {
				return false
			}
		case blockReceived:
			if bi.from != peer {
				return false
			}
		}
	}
	return true
}
