package picker

import (
	"fmt"
	"sort"
	"time"

	"github.com/shardtorrent/shardtorrent/bitfield"
)

// Piece deadlines, libtorrent's set_piece_deadline (torrent.cpp's
// time-critical pieces, docs/streaming.rst):
//
//   - A piece with a deadline is picked before every priority group, the
//     soonest deadline first, whatever its priority (libtorrent raises such
//     a piece to top_priority; here the stored priority is left alone, so a
//     file priority set meanwhile is not overwritten, and dropping the
//     deadline restores nothing). Even a DontDownload piece is fetched.
//   - PickDeadline hands out the free blocks of the deadline pieces; the
//     caller decides which peers ask (the fastest first, see shard's
//     deadline.go), and the regular Pick serves the rest of the pipeline.
//   - End game for deadline pieces alone: a piece whose deadline has passed
//     and whose first request is older than the caller's piece time (the
//     torrent's average piece download time plus half its deviation,
//     libtorrent's time-out of a time-critical piece) is "late"; its
//     requested blocks may then go to a second peer (MaxRequesters), never
//     twice to one peer. Other pieces get duplicates only in the torrent's
//     own end game (InEndgame).
//
// A had piece has no deadline: SetHave drops it.
//
// Invariants (checked by checkDeadlines from check): deadlines is sorted by
// (at, piece), holds each piece at most once, and none of its pieces is had.

// deadline is one time-critical piece.
type deadline struct {
	at    time.Time // when the piece is needed
	first time.Time // PickDeadline's first request of it; zero before
	piece uint32
}

// late reports whether d is past its deadline and has been downloading for
// longer than pieceTime (any time at all if pieceTime <= 0).
func (d *deadline) late(now time.Time, pieceTime time.Duration) bool {
	return !d.first.IsZero() && !now.Before(d.at) && now.Sub(d.first) >= pieceTime
}

// findDeadline returns the index of piece in p.deadlines, or -1. The list
// is the few pieces a player reads ahead (tens), so a scan is cheapest.
func (p *Picker) findDeadline(piece int) int {
	for i := range p.deadlines {
		if p.deadlines[i].piece == uint32(piece) {
			return i
		}
	}
	return -1
}

// SetDeadline makes piece time-critical: it is to be had by at (on the
// caller's clock, the one given to PickDeadline). Setting it again moves
// the deadline and keeps the time of its first request. A had piece is
// ignored.
func (p *Picker) SetDeadline(piece int, at time.Time) {
	if piece < 0 || piece >= p.numPieces || p.pieces[piece].have {
		return
	}
	var first time.Time
	if i := p.findDeadline(piece); i >= 0 {
		first = p.deadlines[i].first
		p.deadlines = append(p.deadlines[:i], p.deadlines[i+1:]...)
	}
	i := sort.Search(len(p.deadlines), func(k int) bool {
		d := &p.deadlines[k]
		return d.at.After(at) || (d.at.Equal(at) && d.piece > uint32(piece))
	})
	p.deadlines = append(p.deadlines, deadline{})
	copy(p.deadlines[i+1:], p.deadlines[i:])
	p.deadlines[i] = deadline{at: at, first: first, piece: uint32(piece)}
}

// ClearDeadline drops piece's deadline (libtorrent's reset_piece_deadline).
// Its blocks already requested stay requested.
func (p *Picker) ClearDeadline(piece int) {
	if i := p.findDeadline(piece); i >= 0 {
		p.deadlines = append(p.deadlines[:i], p.deadlines[i+1:]...)
	}
}

// Deadline returns piece's deadline and the time PickDeadline first
// requested a block of it (zero if not yet); ok is false if it has none.
func (p *Picker) Deadline(piece int) (at, firstRequest time.Time, ok bool) {
	if i := p.findDeadline(piece); i >= 0 {
		d := &p.deadlines[i]
		return d.at, d.first, true
	}
	return time.Time{}, time.Time{}, false
}

// NumDeadlines returns the number of pieces with a deadline.
func (p *Picker) NumDeadlines() int { return len(p.deadlines) }

// HasDeadline reports whether piece has a deadline.
func (p *Picker) HasDeadline(piece int) bool { return p.findDeadline(piece) >= 0 }

// FreeDeadlineBlocks counts the blocks of pieces due by before that a
// peer with peerHas (or a seed) could be given and nobody has requested
// yet.
func (p *Picker) FreeDeadlineBlocks(peerHas *bitfield.Bitfield, isSeed bool, before time.Time) int {
	n := 0
	for i := range p.deadlines {
		if p.deadlines[i].at.After(before) {
			break // sorted: the rest are due later
		}
		piece := int(p.deadlines[i].piece)
		pc := &p.pieces[piece]
		switch {
		case pc.have || !peerHasPiece(peerHas, isSeed, piece):
		case pc.dl >= 0:
			n += p.downloads[pc.dl].free
		default:
			n += p.BlocksInPiece(piece)
		}
	}
	return n
}

// PickDeadline appends to dst up to max blocks of deadline pieces to
// request from peer, soonest deadline first, and records them as requested
// by it (as Pick does). Blocks nobody has requested come first within a
// piece; a late piece (see the package's deadline notes) then also yields
// blocks already requested from one other peer. A peer on parole gets only
// pieces it may have alone, and no duplicates. now and pieceTime decide
// lateness. With a dst of enough capacity it does not allocate.
func (p *Picker) PickDeadline(dst []Block, peer Peer, peerHas *bitfield.Bitfield, isSeed bool, max int, now time.Time, pieceTime time.Duration) []Block {
	if max <= 0 || len(p.deadlines) == 0 || (!isSeed && (peerHas == nil || peerHas.None())) {
		return dst
	}
	want := max
	parole := p.OnParole(peer)
	for i := 0; i < len(p.deadlines) && want > 0; i++ {
		e := &p.deadlines[i]
		piece := int(e.piece)
		pc := &p.pieces[piece]
		if pc.have || !peerHasPiece(peerHas, isSeed, piece) {
			continue
		}
		var d *download
		if pc.dl >= 0 {
			d = p.downloads[pc.dl]
			if !p.mayShare(d, peer, parole) {
				continue
			}
		} else {
			d = p.start(piece)
		}
		if parole {
			d.exclusive, d.owner = true, peer
		}
		n := len(dst)
		dst, want = p.pickFree(dst, d, peer, want)
		if want > 0 && !parole && e.late(now, pieceTime) {
			dst, want = p.pickBusyIn(dst, d, peer, want)
		}
		if len(dst) > n && e.first.IsZero() {
			e.first = now
		}
	}
	return dst
}

// pickBusyIn hands out duplicates of d's requested blocks that have fewer
// than MaxRequesters requesters, none of them peer (end game: pickBusy for
// every piece, pickDeadline for a late deadline piece).
func (p *Picker) pickBusyIn(dst []Block, d *download, peer Peer, want int) ([]Block, int) {
blocks:
	for k := range d.blocks {
		if want == 0 {
			break
		}
		bi := &d.blocks[k]
		if bi.state != blockRequested || int(bi.nreq) >= MaxRequesters {
			continue
		}
		for _, r := range bi.req[:bi.nreq] {
			if r == peer {
				continue blocks
			}
		}
		dst = append(dst, p.request(d, k, peer))
		want--
	}
	return dst, want
}

// checkDeadlines verifies the deadline invariants above.
func (p *Picker) checkDeadlines() error {
	for i := range p.deadlines {
		d := &p.deadlines[i]
		if int(d.piece) >= p.numPieces {
			return fmt.Errorf("deadline %d: piece %d out of range", i, d.piece)
		}
		if p.pieces[d.piece].have {
			return fmt.Errorf("deadline %d: piece %d is had", i, d.piece)
		}
		if i > 0 {
			prev := &p.deadlines[i-1]
			if d.at.Before(prev.at) || (d.at.Equal(prev.at) && d.piece <= prev.piece) {
				return fmt.Errorf("deadlines %d and %d out of order or repeated", i-1, i)
			}
		}
		if p.findDeadline(int(d.piece)) != i {
			return fmt.Errorf("piece %d has two deadlines", d.piece)
		}
	}
	return nil
}
