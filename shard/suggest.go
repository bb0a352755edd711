package shard

import "github.com/shardtorrent/shardtorrent/wire"

// Suggest-piece (BEP 6) in libtorrent's suggest_read_cache mode: a seeder
// tells peers which pieces it has just read, so that several leechers ask
// for pieces the page cache still holds rather than each pulling a
// different one from the disk.
//
// Invariants: the ring holds at most maxSuggest distinct pieces, each one
// served from the page cache or read by a disk worker (and so cached) since
// it entered; nothing here runs unless Settings.SuggestReadCache is set,
// and nothing is suggested to a peer without the fast extension or one that
// has the piece.

// maxSuggest is how many recently read pieces are remembered and, at most,
// suggested at an unchoke (libtorrent's max_suggest_pieces, 16).
const maxSuggest = 16

// suggestRing is the torrent's recently read pieces, oldest overwritten.
type suggestRing struct {
	pieces [maxSuggest]uint32
	n      int // filled entries
	next   int // slot the next new piece takes
}

func (r *suggestRing) has(piece uint32) bool {
	for _, p := range r.pieces[:r.n] {
		if p == piece {
			return true
		}
	}
	return false
}

// add records piece and reports whether it is new to the ring.
func (r *suggestRing) add(piece uint32) bool {
	if r.has(piece) {
		return false
	}
	r.pieces[r.next] = piece
	r.next = (r.next + 1) % maxSuggest
	r.n = min(r.n+1, maxSuggest)
	return true
}

// noteRead is called for every block served to reader: a piece new to the
// ring is suggested at once to the other unchoked, interested peers that
// lack it.
func (t *Torrent) noteRead(piece uint32, reader *peer) {
	if !t.s.set.SuggestReadCache || !t.suggest.add(piece) {
		return
	}
	for _, p := range t.peers {
		if p != reader && p.active() && p.fast && !p.amChoking && p.peerInterested && !p.hasPiece(piece) {
			p.sendSuggest(piece)
		}
	}
}

// suggestCached sends p the remembered pieces it lacks; called when p is
// unchoked.
func (p *peer) suggestCached() {
	t := p.t
	if !t.s.set.SuggestReadCache || !p.fast {
		return
	}
	for _, piece := range t.suggest.pieces[:t.suggest.n] {
		if !p.hasPiece(piece) {
			p.sendSuggest(piece)
		}
	}
}

// hasPiece reports whether the peer said it has piece.
func (p *peer) hasPiece(piece uint32) bool {
	return p.seedCounted || (p.bf != nil && p.bf.Has(int(piece)))
}

func (p *peer) sendSuggest(piece uint32) {
	p.write(wire.AppendSuggest(p.scratch[:0], piece))
	p.sent(wire.Suggest, piece, 0, 0)
}
