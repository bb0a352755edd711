package smartban

import (
	"net/netip"
)

// rec is one copy of a block a peer sent us.
type rec struct {
	begin, length int32
	ip            netip.Addr
	fp            uint64 // fingerprint of the bytes; see fingerprinter
}

// recKey names "this peer's copy of this block" for the two-versions check.
type recKey struct {
	begin int32
	ip    netip.Addr
}

// pieceRecs are the records of one piece.
type pieceRecs struct {
	// pending: copies received since the piece's last verdict.
	pending []rec
	// failed: copies that were part of a failed attempt (at most one per
	// peer and block: a second, different one triggers a ban instead).
	failed []rec
}

// ledger is smart_ban's bookkeeping, free of any I/O so that it can be
// tested alone: the torrent plugin feeds it blocks and verdicts and acts on
// the bans it returns. Loop only (it belongs to one torrent plugin).
//
// Invariant: n == the sum of len(pending)+len(failed) over pieces, and
// n <= max.
type ledger struct {
	pieces map[int]*pieceRecs
	free   []*pieceRecs // recycled, with their pending capacity
	// pendingCap is the most records a piece collected before its verdict
	// so far: a new piece's pending slice starts at that capacity, so it
	// is allocated once, not grown through seven sizes (64 blocks).
	pendingCap int
	n, max     int
	dropped    int64 // copies not recorded because the ledger was full
}

func newLedger(max int) *ledger {
	return &ledger{pieces: make(map[int]*pieceRecs), max: max}
}

// received records a copy of (piece, begin, length) from ip. It allocates
// nothing once the piece's record slices have grown (they are recycled).
func (l *ledger) received(piece, begin, length int, ip netip.Addr, fp uint64) {
	if l.n >= l.max {
		l.dropped++
		return
	}
	pr := l.pieces[piece]
	if pr == nil {
		if k := len(l.free); k > 0 {
			pr = l.free[k-1]
			l.free = l.free[:k-1]
		} else {
			pr = &pieceRecs{pending: make([]rec, 0, l.pendingCap)}
		}
		l.pieces[piece] = pr
	}
	pr.pending = append(pr.pending, rec{begin: int32(begin), length: int32(length), ip: ip, fp: fp})
	l.n++
}

// failed turns piece's pending records into failed ones and returns the
// addresses that sent two different versions of one block (each once).
func (l *ledger) failed(piece int) (ban []netip.Addr) {
	pr := l.pieces[piece]
	if pr == nil || len(pr.pending) == 0 {
		return nil
	}
	// A map only here, on the rare failure path, keeps this linear however
	// many copies a piece collected.
	idx := make(map[recKey]int, len(pr.failed)+len(pr.pending))
	for i, r := range pr.failed {
		idx[recKey{r.begin, r.ip}] = i
	}
	for _, r := range pr.pending {
		k := recKey{r.begin, r.ip}
		i, seen := idx[k]
		if !seen {
			idx[k] = len(pr.failed)
			pr.failed = append(pr.failed, r)
			continue
		}
		l.n-- // the copy is not kept: either the same again, or proof
		if o := pr.failed[i]; o.fp != r.fp || o.length != r.length {
			ban = appendOnce(ban, r.ip)
		}
	}
	pr.pending = pr.pending[:0]
	return ban
}

// passed forgets piece and returns its failed records, which the caller
// checks against the verified data. The slice is the caller's.
func (l *ledger) passed(piece int) []rec {
	pr := l.pieces[piece]
	if pr == nil {
		return nil
	}
	delete(l.pieces, piece)
	l.pendingCap = max(l.pendingCap, len(pr.pending))
	out := pr.failed
	l.n -= len(pr.pending) + len(pr.failed)
	pr.pending, pr.failed = pr.pending[:0], nil
	l.free = append(l.free, pr)
	return out
}

// reset drops every record (the torrent is a seed: nothing left to judge).
func (l *ledger) reset() {
	clear(l.pieces)
	l.free = nil
	l.n = 0
}

// appendOnce appends a to s unless it is there already.
func appendOnce(s []netip.Addr, a netip.Addr) []netip.Addr {
	for _, x := range s {
		if x == a {
			return s
		}
	}
	return append(s, a)
}

// differing returns, in first-seen order, the addresses among recs whose
// copy of the block at (begin, length) is not good (the fingerprint of the
// verified data).
func differing(recs []rec, begin, length int32, good uint64, out []netip.Addr) []netip.Addr {
	for _, r := range recs {
		if r.begin == begin && r.length == length && r.fp != good {
			out = appendOnce(out, r.ip)
		}
	}
	return out
}
