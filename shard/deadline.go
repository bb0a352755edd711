package shard

import (
	"errors"
	"slices"
	"time"

	"github.com/shardtorrent/shardtorrent/bitfield"
	"github.com/shardtorrent/shardtorrent/picker"
	"github.com/shardtorrent/shardtorrent/wire"
)

// Piece deadlines, libtorrent's set_piece_deadline and
// request_time_critical_pieces (torrent.cpp; docs/streaming.rst):
//
//   - A piece gets a deadline from SetPieceDeadline or from a Stream's
//     readahead window (stream.go); the picker (picker/deadline.go) hands
//     out deadline blocks before any other, soonest deadline first.
//   - From the fastest peers: every peer's pipeline takes deadline blocks
//     first (fillRequests), except the slowest tenth of the peers
//     (slowRate), which libtorrent leaves out of its time-critical peer
//     list too; when deadlines change and once a second the peers are
//     topped up fastest first (requestDeadlines), so the fast ones take the
//     soonest pieces.
//   - End game for late deadline pieces alone: a deadline piece past its
//     deadline whose first request is older than the average piece download
//     time plus half its deviation (pieceTime; libtorrent's time-out) may
//     have its blocks requested from a second peer. When a block of such a
//     piece arrives, the other copy is cancelled (cancelDuplicates).
//
// The per-block path costs one length test while no piece has a deadline.

// defaultPieceTime is the piece time used before a deadline piece has been
// timed: a deadline piece is late once it is past due and has been
// downloading this long.
const defaultPieceTime = time.Second

// ErrPieceRange is returned for a piece index outside the torrent.
var ErrPieceRange = errors.New("shard: piece index out of range")

// streamState is a torrent's deadlines and readers (this file and
// stream.go). Loop only.
type streamState struct {
	// explicit holds SetPieceDeadline's deadlines; nil until the first.
	explicit map[uint32]time.Time
	// streams are the open readers; waiters the ones blocked on a piece.
	// Invariant: every waiter's stream is in streams.
	streams []*Stream
	waiters []pieceWaiter
	// pieceAvg and pieceDev are running averages of how long a deadline
	// piece took from its first request to passing, and of the deviation
	// from that mean; timed counts the samples.
	pieceAvg, pieceDev time.Duration
	timed              int
	// slowRate: peers downloading slower than this (the tenth percentile,
	// refreshed each tick) get no deadline blocks. 0 lets every peer.
	slowRate int64
	// scratch for requestDeadlines, deadlineTick and cancelDuplicates
	order []*peer
	rates []int64
	pids  []picker.Peer
}

// SetPieceDeadline asks for piece to be had within d: it is requested
// before any piece without a deadline, the soonest deadline first, from the
// fastest peers (see the top of this file). Setting it again moves the
// deadline. A piece already had is left alone. Loop only.
func (t *Torrent) SetPieceDeadline(piece int, d time.Duration) error {
	if t.info == nil || t.pk == nil {
		return ErrNoMetadata
	}
	if piece < 0 || piece >= t.info.NumPieces() {
		return ErrPieceRange
	}
	if t.have.Has(piece) {
		return nil
	}
	if t.stream.explicit == nil {
		t.stream.explicit = make(map[uint32]time.Time)
	}
	t.stream.explicit[uint32(piece)] = t.s.now().Add(d)
	t.applyDeadline(piece)
	t.requestDeadlines()
	return nil
}

// ResetPieceDeadline drops the deadline SetPieceDeadline gave piece; a
// reader's readahead may still hold one for it. Loop only.
func (t *Torrent) ResetPieceDeadline(piece int) error {
	if t.info == nil || t.pk == nil {
		return ErrNoMetadata
	}
	if piece < 0 || piece >= t.info.NumPieces() {
		return ErrPieceRange
	}
	if _, ok := t.stream.explicit[uint32(piece)]; ok {
		delete(t.stream.explicit, uint32(piece))
		t.applyDeadline(piece)
	}
	return nil
}

// applyDeadline gives piece the soonest of its deadlines (SetPieceDeadline's
// and the windows of the streams covering it) in the picker, or clears it.
func (t *Torrent) applyDeadline(piece int) {
	at, ok := t.stream.explicit[uint32(piece)]
	for _, s := range t.stream.streams {
		if a, in := s.deadlineOf(piece); in && (!ok || a.Before(at)) {
			at, ok = a, true
		}
	}
	if ok {
		t.pk.SetDeadline(piece, at)
		t.wantDeadlinePiece(piece) // a skipped piece becomes wanted (priority.go)
	} else {
		t.pk.ClearDeadline(piece)
	}
}

// pieceTime is how long a deadline piece may download before it is late.
func (t *Torrent) pieceTime() time.Duration {
	if t.stream.timed == 0 {
		return defaultPieceTime
	}
	return t.stream.pieceAvg + t.stream.pieceDev/2
}

// pickDeadline appends deadline blocks for p to dst (fillRequests' first
// step), unless p is among the slowest peers.
func (t *Torrent) pickDeadline(p *peer, dst []picker.Block, has *bitfield.Bitfield, seed bool, want int) []picker.Block {
	if p.downRate < t.stream.slowRate {
		return dst
	}
	return t.pk.PickDeadline(dst, p.pid, has, seed, want, t.s.now(), t.pieceTime())
}

// requestDeadlines tops up the peers' pipelines, fastest first, so that
// the fast peers take the soonest deadline blocks.
func (t *Torrent) requestDeadlines() {
	if t.pk == nil || t.pk.NumDeadlines() == 0 {
		return
	}
	order := t.stream.order[:0]
	for _, p := range t.peers {
		if p.active() && p.amInterested {
			order = append(order, p)
		}
	}
	slices.SortStableFunc(order, func(a, b *peer) int {
		switch {
		case a.downRate > b.downRate:
			return -1
		case a.downRate < b.downRate:
			return 1
		}
		return 0
	})
	for _, p := range order {
		if t.pk.NumDeadlines() == 0 {
			break
		}
		p.fillRequests()
		t.makeRoom(p)
	}
	clear(order)
	t.stream.order = order[:0]
}

// makeRoom makes urgent deadline pieces skip p's queue. A peer serves
// requests in the order they came, so a deadline block asked for behind a
// full pipeline waits for all of it (up to RequestQueueTime of download).
// When blocks of pieces due within a piece time are unrequested and p could
// send them, makeRoom cancels p's newest requests for pieces without a
// deadline, as many as the deadline pieces (urgent or not) have blocks
// nobody asked for, and refills the pipeline, deadline blocks first. A
// window's far end, due later, waits for room as usual, so a reader moving
// on piece by piece cancels little; a seek cancels a window's worth. The
// peer drops a cancelled request it has not started (BEP 6 peers REJECT
// it); a block it sent anyway is kept if its piece is in progress.
// Measured against libtorrent (PERF.md): cancelling the window's worth
// halves a seek's wait; cancelling only the urgent pieces' worth leaves it
// unchanged, and cancelling the whole pipeline gains nothing more.
func (t *Torrent) makeRoom(p *peer) {
	if !p.active() || !p.amInterested || p.peerChoking || p.downRate < t.stream.slowRate || t.pk.OnParole(p.pid) {
		return
	}
	has, seed := p.bf, p.seedCounted
	if t.pk.FreeDeadlineBlocks(has, seed, t.s.now().Add(t.pieceTime())) == 0 {
		return
	}
	want := t.pk.FreeDeadlineBlocks(has, seed, farFuture)
	out := p.outstanding
	cancelled := 0
	for i := len(out) - 1; i >= 0 && cancelled < want; i-- {
		b := out[i]
		if t.pk.HasDeadline(int(b.Piece)) {
			continue
		}
		p.write(wire.AppendCancel(p.scratch[:0], b.Piece, b.Begin, b.Length))
		p.sent(wire.Cancel, b.Piece, b.Begin, b.Length)
		t.pk.Abort(b, p.pid)
		out = append(out[:i], out[i+1:]...)
		cancelled++
	}
	clear(p.outstanding[len(out):])
	p.outstanding = out
	if cancelled > 0 {
		p.fillRequests()
	}
}

// farFuture is later than any deadline.
var farFuture = time.Unix(1<<62, 0)

// deadlineTick runs once a second: it finds the slowest tenth of the peers
// and, with deadlines pending, tops the pipelines up again (libtorrent
// calls request_time_critical_pieces from its second tick too).
func (t *Torrent) deadlineTick() {
	if t.pk == nil || t.pk.NumDeadlines() == 0 {
		t.stream.slowRate = 0
		return
	}
	rates := t.stream.rates[:0]
	for _, p := range t.peers {
		if p.active() {
			rates = append(rates, p.downRate)
		}
	}
	t.stream.slowRate = 0
	if len(rates) >= 10 {
		slices.Sort(rates)
		t.stream.slowRate = rates[len(rates)/10]
	}
	t.stream.rates = rates[:0]
	t.requestDeadlines()
}

// deadlinePiecePassed runs when piece passed its hash check, before the
// picker forgets its deadline: it times a deadline piece, drops
// SetPieceDeadline's deadline and wakes the streams waiting for the piece.
func (t *Torrent) deadlinePiecePassed(piece int) {
	if _, first, ok := t.pk.Deadline(piece); ok && !first.IsZero() {
		t.timePiece(t.s.now().Sub(first))
	}
	if t.stream.explicit != nil {
		delete(t.stream.explicit, uint32(piece))
	}
	t.wakeWaiters(piece, nil)
}

// timePiece adds one piece download time to the running averages (weights
// 1/4 once warm, as libtorrent's sliding_average).
func (t *Torrent) timePiece(d time.Duration) {
	st := &t.stream
	if st.timed == 0 {
		st.pieceAvg, st.pieceDev = d, 0
		st.timed = 1
		return
	}
	w := time.Duration(min(st.timed+1, 4))
	dev := d - st.pieceAvg
	if dev < 0 {
		dev = -dev
	}
	st.pieceAvg += (d - st.pieceAvg) / w
	st.pieceDev += (dev - st.pieceDev) / w
	st.timed++
}

// cancelDuplicates cancels the copies of b that peers other than from still
// have outstanding: a late deadline piece's end-game duplicates. onPiece
// calls it outside the torrent's end game while deadlines exist.
func (t *Torrent) cancelDuplicates(b picker.Block, from *peer) {
	pids := t.pk.OtherRequesters(b, from.pid, t.stream.pids[:0])
	for _, pid := range pids {
		for _, q := range t.peers {
			if q.pid == pid && q.active() && q.removeOutstanding(b) {
				q.write(wire.AppendCancel(q.scratch[:0], b.Piece, b.Begin, b.Length))
				q.sent(wire.Cancel, b.Piece, b.Begin, b.Length)
				break
			}
		}
	}
	t.stream.pids = pids[:0]
}
