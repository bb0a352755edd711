package storage

import (
	"fmt"
	"sync/atomic"
)

// checkBatch is how many bytes of pieces a worker claims per turn of a
// JobCheck. After each turn the job goes back to the tail of the queue, so
// other torrents' reads and writes wait at most one batch (about 10 ms at
// SHA-1 speed) behind a check, and Progress reports come at that pace.
const checkBatch = 16 << 20

// checkState is a JobCheck's shared progress. A check runs as up to
// Disk.Workers "turns" of the same Job in the queue; each turn claims the
// next batch of pieces, hashes it, and requeues the job or retires.
type checkState struct {
	// Written by the first worker before any other turn is queued (the
	// queue's lock orders it before the other workers' reads); read-only
	// afterwards.
	started bool
	sizes   []int64 // file sizes on disk, -1 for missing
	batch   int     // pieces per turn
	n       int     // pieces
	// fs is the Storage when it is a *FileStorage with no part file in
	// play: its pieces are checked with the size snapshot and reads that
	// cross pieces. Nil: every piece is read through Storage.ReadAt.
	fs *FileStorage

	next    atomic.Int64 // first piece not yet claimed
	checked atomic.Int64 // pieces finished
	turns   atomic.Int32 // turns queued or running; the last to retire finishes the job
	err     atomic.Pointer[error]
}

func (c *checkState) reset(sizes []int64) {
	c.started, c.sizes, c.batch, c.n, c.fs = false, sizes, 0, 0, nil
	c.next.Store(0)
	c.checked.Store(0)
	c.turns.Store(0)
	c.err.Store(nil)
}

// check runs one turn of a JobCheck.
func (w *worker) check(j *Job) {
	c := &j.check
	if !c.started {
		if !w.startCheck(j) {
			w.d.finish(j)
			return
		}
	}
	n := int64(c.n)
	a := c.next.Add(int64(c.batch)) - int64(c.batch)
	if a < n {
		b := min(a+int64(c.batch), n)
		if c.fs != nil {
			w.checkPieces(j, int(a), int(b))
		} else {
			w.checkPiecesRead(j, int(a), int(b))
		}
		c.checked.Add(b - a)
		if j.Progress != nil {
			if j.Poster != nil {
				j.Poster.Post(runProgress, j)
			} else {
				runProgress(j)
			}
		}
		if c.next.Load() < n {
			w.d.requeue(j, 1)
			return
		}
	}
	if c.turns.Add(-1) == 0 {
		if e := c.err.Load(); e != nil {
			j.Err = *e
		}
		w.d.finish(j)
	}
}

func runProgress(arg any) {
	j := arg.(*Job)
	j.Progress(j, int(j.check.checked.Load()))
}

// startCheck validates a check, snapshots the file sizes (so that pieces of
// missing or short files fail without a read) and queues the other turns.
func (w *worker) startCheck(j *Job) bool {
	s, c := j.Storage, &j.check
	if s == nil {
		j.Err = fmt.Errorf("storage: %v job without a Storage", j.Kind)
		return false
	}
	l := s.Layout()
	n := l.NumPieces()
	if len(j.Hashes) != n {
		j.Err = fmt.Errorf("%w: %d hashes for %d pieces", ErrLayout, len(j.Hashes), n)
		return false
	}
	if len(j.Have) < n {
		j.Have = make([]bool, n)
	}
	j.Have = j.Have[:n]
	if fs, ok := s.(*FileStorage); ok {
		if err := fs.ensurePart(); err != nil {
			j.Err = err
			return false
		}
		if !fs.partial.Load() {
			c.fs = fs
			c.sizes = fs.fileSizes(c.sizes)
		}
	}
	c.n = n
	c.batch = int(max(1, checkBatch/l.PieceLength))
	turns := min(w.d.workers, (n+c.batch-1)/c.batch)
	c.started = true
	if turns == 0 { // no pieces: this turn retires at once
		turns = 1
	}
	c.turns.Store(int32(turns))
	if turns > 1 {
		w.d.requeue(j, turns-1)
	}
	return true
}

// checkPieces hashes pieces [a, b). Reads stream through w.buf in hashChunk
// preads that cross piece boundaries, so small pieces cost no extra system
// calls, but never run into a piece whose files are missing or short.
func (w *worker) checkPieces(j *Job, a, b int) {
	c := &j.check
	s := c.fs
	l := &s.layout
	if w.buf == nil {
		w.buf = make([]byte, hashChunk)
	}
	// Window of the torrent held in w.buf.
	var winStart, winEnd int64
	runEnd := int64(-1) // end of the run of present pieces from the current one
	for p := a; p < b; p++ {
		ps := int64(p) * l.PieceLength
		pe := ps + l.PieceSize(p)
		if !piecePresent(l, p, c.sizes) {
			j.Have[p] = false
			runEnd = -1
			continue
		}
		if runEnd < pe {
			runEnd = pe
			for q := p + 1; q < b && piecePresent(l, q, c.sizes); q++ {
				runEnd += l.PieceSize(q)
			}
		}
		w.sha.Reset()
		ok := true
		for pos := ps; pos < pe; {
			if pos < winStart || pos >= winEnd {
				winStart, winEnd = 0, 0
				n := min(hashChunk, runEnd-pos)
				_, err := s.readAbs(w.buf[:n], pos)
				if err != nil && pos+n > pe { // the failure may lie in a later piece
					n = pe - pos
					_, err = s.readAbs(w.buf[:n], pos)
				}
				if err == nil {
					w.stats.readBytes.Add(uint64(n))
				}
				if err != nil {
					if !errIsMissing(err) {
						first := err // its own variable: &err would move err to the heap on every read
						c.err.CompareAndSwap(nil, &first)
					}
					ok = false
					break
				}
				winStart, winEnd = pos, pos+n
			}
			e := min(pe, winEnd)
			w.sha.Write(w.buf[pos-winStart : e-winStart])
			pos = e
		}
		j.Have[p] = ok && [20]byte(w.sha.Sum(w.sum[:0])) == j.Hashes[p]
	}
}

// piecePresent reports whether every file under piece exists and is long
// enough, by the sizes snapshot.
func piecePresent(l *Layout, piece int, sizes []int64) bool {
	ok := true
	l.Segments(piece, 0, l.PieceSize(piece), func(file int, off, n int64) bool {
		ok = sizes[file] >= off+n
		return ok
	})
	return ok
}

// checkPiecesRead hashes pieces [a, b) of any Storage, each read through
// ReadAt in hashChunk reads. Missing data fails the piece; any other error
// is the check's error.
func (w *worker) checkPiecesRead(j *Job, a, b int) {
	c := &j.check
	for p := a; p < b; p++ {
		ok, err := w.hashPiece(j.Storage, p, &j.Hashes[p])
		if err != nil && !errIsMissing(err) {
			first := err
			c.err.CompareAndSwap(nil, &first)
		}
		j.Have[p] = ok && err == nil
	}
}
