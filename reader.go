package shardtorrent

import (
	"context"
	"errors"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardtorrent/shardtorrent/bitfield"
	"github.com/shardtorrent/shardtorrent/shard"
	"github.com/shardtorrent/shardtorrent/storage"
)

// DefaultReadahead is a new Reader's readahead: the bytes past the read
// position whose pieces get deadlines.
const DefaultReadahead = 4 << 20

// Errors of readers and piece deadlines.
var (
	// ErrReaderClosed is returned by a Reader's methods after Close.
	ErrReaderClosed = errors.New("shardtorrent: reader closed")
	// ErrMetadataPending: the torrent's metadata (a magnet's info
	// dictionary) has not arrived yet, so it has no pieces to read.
	ErrMetadataPending = errors.New("shardtorrent: torrent metadata not received yet")
	// ErrNoSuchFile: a file index outside Torrent.Files (pad files are
	// not counted).
	ErrNoSuchFile = errors.New("shardtorrent: no such file in the torrent")
	// ErrNoSuchPiece: a piece index outside the torrent.
	ErrNoSuchPiece = errors.New("shardtorrent: no such piece in the torrent")
	// ErrNegativeOffset: a Seek to before the start.
	ErrNegativeOffset = errors.New("shardtorrent: seek to a negative offset")
	// ErrBadWhence: a Seek whence other than io.SeekStart, io.SeekCurrent
	// and io.SeekEnd.
	ErrBadWhence = errors.New("shardtorrent: invalid seek whence")
)

// shardErr turns the shard's errors into the root package's.
func shardErr(err error) error {
	switch {
	case errors.Is(err, shard.ErrNoMetadata):
		return ErrMetadataPending
	case errors.Is(err, shard.ErrPieceRange):
		return ErrNoSuchPiece
	case errors.Is(err, shard.ErrUnknownTorrent):
		return ErrTorrentGone
	case errors.Is(err, shard.ErrStreamClosed):
		return ErrReaderClosed
	}
	return err
}

// SetPieceDeadline asks for piece within d, as libtorrent's
// set_piece_deadline: pieces with a deadline are requested before all
// others, the soonest first, from the fastest peers, and a late one
// (past its deadline and slower than the torrent's usual piece time) is
// requested from a second peer as well. Setting it again moves it; a piece
// already had is left alone; the deadline goes when the piece passes or
// with ResetPieceDeadline. Safe from any goroutine.
func (t *Torrent) SetPieceDeadline(ctx context.Context, piece int, d time.Duration) error {
	var err error
	if derr := t.do(ctx, func(x *shard.Torrent) { err = x.SetPieceDeadline(piece, d) }); derr != nil {
		return derr
	}
	return shardErr(err)
}

// ResetPieceDeadline drops the deadline SetPieceDeadline gave piece (a
// Reader's readahead may still hold one). Safe from any goroutine.
func (t *Torrent) ResetPieceDeadline(ctx context.Context, piece int) error {
	var err error
	if derr := t.do(ctx, func(x *shard.Torrent) { err = x.ResetPieceDeadline(piece) }); derr != nil {
		return derr
	}
	return shardErr(err)
}

// NewReader returns a Reader over the torrent's whole data, the files
// end to end (pad files read as zeros). See Reader. Safe from any
// goroutine; it does not block (the reader opens on its first use).
func (t *Torrent) NewReader() *Reader { return newReader(t, -1) }

// NewFileReader returns a Reader over file number file of Files: the
// numbering of SetFilePriority and the RPC, which leaves BEP 47 pad files
// out (so it is not metainfo.Info.Files' index once a torrent has pads).
// An index out of range fails the first read or seek with ErrNoSuchFile.
// File.NewReader is the same for a File that Files returned. See Reader.
// Safe from any goroutine; it does not block.
func (t *Torrent) NewFileReader(file int) *Reader {
	if file < 0 {
		file = math.MaxInt // -1 means the whole torrent to newReader
	}
	return newReader(t, file)
}

// newReader makes a Reader over file of t's Files, -1 for the whole
// torrent; with t nil, one whose open fails with ErrNoSuchFile.
func newReader(t *Torrent, file int) *Reader {
	r := &Reader{t: t, file: file, closed: make(chan struct{})}
	r.readahead.Store(DefaultReadahead)
	return r
}

// Reader reads a torrent's data, or one file's, while it downloads: a read
// blocks until the pieces it covers have passed their hash check, so it
// only ever returns verified bytes. The pieces from the read position to
// the readahead past it (SetReadahead; DefaultReadahead) get deadlines
// (Torrent.SetPieceDeadline), the nearest soonest, so a player reading in order gets its bytes in order
// without waiting for the whole torrent; Seek moves them, Close drops them.
// Several readers may read one torrent at once; a piece wanted by two gets
// the sooner deadline.
//
// A Reader implements io.ReadSeekCloser. The bytes are read from the
// torrent's storage by the reading goroutine, never on the torrent's loop.
// It opens lazily: the first Read or Seek needs the torrent's metadata
// (ErrMetadataPending before it) and fails with ErrTorrentGone once the
// torrent is removed, ErrClosed once the session is.
//
// Threading: Read, ReadContext and Seek are for one goroutine at a time;
// SetReadahead and Close are safe from any goroutine, and Close unblocks a
// Read waiting for a piece (it returns ErrReaderClosed).
type Reader struct {
	t    *Torrent // nil: a File.NewReader of a File not from Files
	file int      // in Torrent.Files' numbering; -1: the whole torrent

	readahead atomic.Int64
	closed    chan struct{}

	mu         sync.Mutex    // guards st and isClosed against Close
	st         *shard.Stream // nil until opened
	isClosed   bool
	closeOnce  sync.Once
	closeError error

	// The reading goroutine's state.
	base, length int64              // the range read, in torrent offsets
	pieceLen     int64              // piece length
	pos          int64              // read position, relative to base
	verified     *bitfield.Bitfield // pieces known to have passed
	winPiece     int                // the piece the window was last set from, -1 if none
	winAhead     int64              // the readahead it was set with
}

// SetReadahead sets how many bytes past the read position get piece
// deadlines (at least the rest of the current piece is always wanted); it
// applies from the next Read. n <= 0 asks for no deadlines beyond the
// piece being read. Safe from any goroutine.
func (r *Reader) SetReadahead(n int64) { r.readahead.Store(max(n, 0)) }

// open opens the stream on the torrent's loop once.
func (r *Reader) open(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.isClosed {
		return ErrReaderClosed
	}
	if r.st != nil {
		return nil
	}
	if r.t == nil {
		return ErrNoSuchFile // File.NewReader of a File made by hand
	}
	var st *shard.Stream
	var err error
	if derr := r.t.do(ctx, func(x *shard.Torrent) { st, err = x.OpenStream() }); derr != nil {
		return derr
	}
	if err != nil {
		return shardErr(err)
	}
	l := st.Layout()
	base, length := int64(0), l.TotalLength
	if r.file >= 0 {
		full := visibleFile(l.Files, r.file)
		if full < 0 {
			r.t.sh.Loop().Post(func(any) { st.Close() }, nil)
			return ErrNoSuchFile
		}
		for _, f := range l.Files[:full] {
			base += f.Length
		}
		length = l.Files[full].Length
	}
	r.st, r.base, r.length, r.pieceLen = st, base, length, l.PieceLength
	r.verified = bitfield.New(l.NumPieces())
	r.winPiece = -1
	return nil
}

// visibleFile returns the index in files of file v of the pad-free
// numbering (Torrent.Files), or -1 if there is no such file.
func visibleFile(files []storage.FileSpec, v int) int {
	if v < 0 {
		return -1
	}
	for i, f := range files {
		if f.Pad {
			continue
		}
		if v == 0 {
			return i
		}
		v--
	}
	return -1
}

// Read reads into p as ReadContext does, without a deadline. One goroutine
// at a time (see Reader).
func (r *Reader) Read(p []byte) (int, error) { return r.ReadContext(context.Background(), p) }

// ReadContext reads up to len(p) bytes at the read position and advances
// it. It waits until the piece at the read position has passed its hash
// check, or until ctx ends (then it returns ctx's error and the reader
// stays usable), or until the torrent stops on a disk error (it returns
// that error, Status.Err; after Torrent.Resume the reader reads on). It
// returns fewer bytes than asked rather than wait for a
// second piece; at the end of the range it returns io.EOF. One goroutine
// at a time (see Reader).
func (r *Reader) ReadContext(ctx context.Context, p []byte) (int, error) {
	if err := r.open(ctx); err != nil {
		return 0, err
	}
	if r.pos >= r.length {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	off := r.base + r.pos
	piece := int(off / r.pieceLen)
	r.moveWindow(piece)
	if !r.verified.Has(piece) {
		if err := r.wait(ctx, piece); err != nil {
			return 0, err
		}
		r.verified.Set(piece)
	}
	n := min(int64(len(p)), r.length-r.pos)
	// Run on into the next pieces only while they are known to be verified.
	limit := int64(piece+1) * r.pieceLen
	for limit < off+n && r.verified.Has(int(limit/r.pieceLen)) {
		limit += r.pieceLen
	}
	n = min(n, limit-off)
	m, err := r.st.ReadAt(p[:n], off)
	r.pos += int64(m)
	if err != nil {
		return m, shardErr(err)
	}
	return m, nil
}

// moveWindow gives the pieces from piece on the reader's deadlines, if the
// window moved or the readahead changed since they were set.
func (r *Reader) moveWindow(piece int) {
	ahead := r.readahead.Load()
	if piece == r.winPiece && ahead == r.winAhead {
		return
	}
	r.winPiece, r.winAhead = piece, ahead
	// From the read position to readahead past it, within the range.
	off := r.base + r.pos
	n := min(max(ahead, 1), r.base+r.length-off)
	r.postWindow(off, n)
}

// postWindow sets the stream's window on the loop without waiting: the
// loop runs tasks in order, so a wait posted next sees it in place.
func (r *Reader) postWindow(off, n int64) {
	st := r.st
	r.t.sh.Loop().TryPost(func(any) { st.SetWindow(off, n) }, nil)
}

// wait blocks until piece has passed, ctx ends, the reader is closed or
// the session stops.
func (r *Reader) wait(ctx context.Context, piece int) error {
	st := r.st
	done := make(chan error, 1)
	loop := r.t.sh.Loop()
	if !loop.TryPost(func(any) { st.WaitPiece(piece, done) }, nil) {
		return ErrClosed
	}
	var err error
	select {
	case err = <-done:
		if err != nil && r.t.s.closed.Load() {
			return ErrClosed
		}
		return shardErr(err)
	case <-ctx.Done():
		err = ctx.Err()
	case <-r.closed:
		err = ErrReaderClosed
	case <-r.t.s.stopped:
		return ErrClosed
	}
	// Drop the wait (its answer goes to done, which nobody reads).
	loop.TryPost(func(any) { st.CancelWait(shard.ErrStreamClosed) }, nil)
	return err
}

// Seek sets the read position for the next Read, as io.Seeker: relative
// to the start of the range (io.SeekStart), the current position
// (io.SeekCurrent) or its end (io.SeekEnd). Seeking past the end is
// allowed (reads then return io.EOF); before the start fails with
// ErrNegativeOffset, a bad whence with ErrBadWhence. The readahead window moves with the position at once,
// so the pieces left behind lose this reader's deadlines. One goroutine at
// a time (see Reader).
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	if err := r.open(context.Background()); err != nil {
		return 0, err
	}
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.length + offset
	default:
		return 0, ErrBadWhence
	}
	if abs < 0 {
		return 0, ErrNegativeOffset
	}
	if abs == r.pos {
		return abs, nil
	}
	r.pos = abs
	if abs >= r.length {
		r.winPiece = -1
		r.postWindow(0, 0) // nothing left to read ahead
		return abs, nil
	}
	r.moveWindow(int((r.base + abs) / r.pieceLen))
	return abs, nil
}

// Close drops the reader's deadlines and unblocks a pending Read. Later
// calls return ErrReaderClosed; Close itself may be called more than once
// and from any goroutine.
func (r *Reader) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.isClosed = true
		st := r.st
		r.mu.Unlock()
		close(r.closed)
		if st == nil {
			return
		}
		err := r.t.s.onLoop(context.Background(), r.t.sh, st.Close)
		if err != nil && !errors.Is(err, ErrClosed) {
			r.closeError = err
		}
	})
	return r.closeError
}

var _ io.ReadSeekCloser = (*Reader)(nil)
