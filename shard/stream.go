package shard

import (
	"errors"
	"time"

	"github.com/shardtorrent/shardtorrent/storage"
)

// Errors a Stream's wait is answered with.
var (
	// ErrStreamClosed: the stream was closed (or its torrent went away
	// while the wait was being posted).
	ErrStreamClosed = errors.New("shard: stream closed")
	// ErrStreamWaitReplaced: a newer WaitPiece of the same stream
	// replaced the wait.
	ErrStreamWaitReplaced = errors.New("shard: stream wait replaced by a newer one")
)

// StreamStep is how far apart the deadlines of a Stream's window are: the
// piece at the read position is due at once, the next one StreamStep
// later, and so on. Only their order matters to the picker; the first
// piece is late (duplicates allowed) once it has downloaded for longer than
// a piece usually takes.
const StreamStep = 100 * time.Millisecond

// Stream is one reader's claim on a torrent (the root package's Reader
// sits on it): a window of pieces it will read next, which get deadlines
// (deadline.go), and at most one wait for a piece to pass its hash check.
// The reader reads the verified bytes itself, off the loop, with ReadAt.
//
// Threading: ReadAt and Layout are safe from any goroutine; every other
// method is loop only (the loop of the torrent that opened it).
type Stream struct {
	t  *Torrent
	st storage.Storage // the torrent's; its reads are safe from any goroutine

	// The window (loop only): pieces [first, end) have deadlines counted
	// from at; empty when first == end.
	first, end int
	at         time.Time
	closed     bool
}

// pieceWaiter is a stream blocked until piece passes; done gets nil then,
// or an error if the stream or the torrent goes away first.
type pieceWaiter struct {
	s     *Stream
	piece int
	done  chan<- error
}

// OpenStream opens a stream over the torrent's data. It needs the
// metadata (ErrNoMetadata before it arrives). Loop only.
func (t *Torrent) OpenStream() (*Stream, error) {
	if t.removed {
		return nil, ErrUnknownTorrent
	}
	if t.info == nil || t.st == nil {
		return nil, ErrNoMetadata
	}
	s := &Stream{t: t, st: t.st}
	t.stream.streams = append(t.stream.streams, s)
	return s, nil
}

// Layout returns the torrent's piece and file geometry. The caller must not
// modify it. Safe from any goroutine.
func (s *Stream) Layout() *storage.Layout { return s.st.Layout() }

// ReadAt reads len(p) bytes at torrent offset off from the storage. The
// caller makes sure the pieces it covers passed (WaitPiece): ReadAt does
// not check. Safe from any goroutine; blocks on the disk.
func (s *Stream) ReadAt(p []byte, off int64) (int, error) {
	l := s.st.Layout()
	n := 0
	for n < len(p) {
		piece := int((off + int64(n)) / l.PieceLength)
		begin := (off + int64(n)) - int64(piece)*l.PieceLength
		chunk := min(int64(len(p)-n), l.PieceSize(piece)-begin)
		if chunk <= 0 {
			return n, storage.ErrRange
		}
		m, err := s.st.ReadAt(p[n:n+int(chunk)], piece, begin)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// SetWindow sets the stream's readahead window to the pieces covering
// [off, off+n) of the torrent: they get deadlines, the piece holding off
// due now and each next one StreamStep later, and the pieces that left the
// window lose the deadlines this stream gave them. n <= 0 empties the
// window. Loop only.
func (s *Stream) SetWindow(off, n int64) {
	if s.closed {
		return
	}
	t := s.t
	oldFirst, oldEnd := s.first, s.end
	s.first, s.end = 0, 0
	if l := s.st.Layout(); n > 0 && off >= 0 && off < l.TotalLength {
		s.first = int(off / l.PieceLength)
		s.end = int(min((off+n+l.PieceLength-1)/l.PieceLength, int64(l.NumPieces())))
	}
	s.at = t.s.now()
	if t.pk == nil || t.removed {
		return
	}
	for i := oldFirst; i < oldEnd; i++ {
		if i < s.first || i >= s.end {
			t.applyDeadline(i)
		}
	}
	for i := s.first; i < s.end; i++ {
		if !t.have.Has(i) {
			t.applyDeadline(i)
		}
	}
	t.requestDeadlines()
}

// Window returns the stream's window of pieces [first, end). Loop only.
func (s *Stream) Window() (first, end int) { return s.first, s.end }

// deadlineOf returns the deadline s's window gives piece, if it covers it.
func (s *Stream) deadlineOf(piece int) (time.Time, bool) {
	if s.closed || piece < s.first || piece >= s.end {
		return time.Time{}, false
	}
	return s.at.Add(time.Duration(piece-s.first) * StreamStep), true
}

// WaitPiece sends nil on done once piece has passed its hash check: at once
// if it has, or from the piece-passed path later. done gets an error
// instead if the stream is closed or the torrent removed first, or the
// torrent's disk error if it is stopped by one (now or later). done needs
// room for one value; it gets exactly one. A stream waits for one piece at
// a time: a new wait replaces (and answers with ErrStreamWaitReplaced) the
// previous one. Loop only.
func (s *Stream) WaitPiece(piece int, done chan<- error) {
	t := s.t
	switch {
	case s.closed:
		done <- ErrStreamClosed
		return
	case t.removed:
		done <- ErrUnknownTorrent
		return
	case piece < 0 || piece >= s.st.Layout().NumPieces():
		done <- ErrPieceRange
		return
	case t.have.Has(piece):
		done <- nil
		return
	case t.err != nil:
		done <- t.err // stopped by a disk error (diskerror.go) until Resume
		return
	}
	s.CancelWait(ErrStreamWaitReplaced)
	t.stream.waiters = append(t.stream.waiters, pieceWaiter{s: s, piece: piece, done: done})
}

// CancelWait drops the stream's wait, if any, answering it with err. Loop
// only.
func (s *Stream) CancelWait(err error) {
	ws := s.t.stream.waiters
	for i := range ws {
		if ws[i].s == s {
			ws[i].done <- err
			s.t.stream.waiters = append(ws[:i], ws[i+1:]...)
			ws[len(ws)-1] = pieceWaiter{}
			return
		}
	}
}

// Close drops the stream's deadlines and its wait (answered with
// ErrStreamClosed). Loop only; closing twice is harmless.
func (s *Stream) Close() {
	if s.closed {
		return
	}
	s.SetWindow(0, 0)
	s.closed = true
	s.CancelWait(ErrStreamClosed)
	t := s.t
	for i, x := range t.stream.streams {
		if x == s {
			last := len(t.stream.streams) - 1
			t.stream.streams[i] = t.stream.streams[last]
			t.stream.streams[last] = nil
			t.stream.streams = t.stream.streams[:last]
			break
		}
	}
}

// wakeWaiters answers every wait for piece with err (nil: it passed).
func (t *Torrent) wakeWaiters(piece int, err error) {
	ws := t.stream.waiters
	if len(ws) == 0 {
		return
	}
	kept := ws[:0]
	for _, w := range ws {
		if w.piece == piece {
			w.done <- err
			continue
		}
		kept = append(kept, w)
	}
	clear(ws[len(kept):])
	t.stream.waiters = kept
}

// wakeHad answers the waits for pieces that are had now (a check or
// resume data found them). Loop only.
func (t *Torrent) wakeHad() {
	ws := t.stream.waiters
	if len(ws) == 0 {
		return
	}
	kept := ws[:0]
	for _, w := range ws {
		if t.have.Has(w.piece) {
			w.done <- nil
			continue
		}
		kept = append(kept, w)
	}
	clear(ws[len(kept):])
	t.stream.waiters = kept
}

// failWaits answers every wait with err and keeps the streams open: the
// torrent stopped on a disk error (diskerror.go), which Resume may clear;
// a read after that waits again. Loop only.
func (t *Torrent) failWaits(err error) {
	for _, w := range t.stream.waiters {
		w.done <- err
	}
	clear(t.stream.waiters)
	t.stream.waiters = t.stream.waiters[:0]
}

// failStreams answers every wait with err and closes the streams: the
// torrent is going away. Loop only.
func (t *Torrent) failStreams(err error) {
	t.failWaits(err)
	for _, s := range t.stream.streams {
		s.closed = true
		s.first, s.end = 0, 0
	}
	clear(t.stream.streams)
	t.stream.streams = t.stream.streams[:0]
}
