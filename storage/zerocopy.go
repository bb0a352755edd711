package storage

import (
	"fmt"
	"io"
	"time"

	"golang.org/x/sys/unix"
)

// Ref keeps a file descriptor returned by CachedFileRange open until
// Release. Release exactly once; it never blocks on the disk except to
// fdatasync and close a written descriptor the cache evicted meanwhile,
// which a seeding torrent's read-only descriptors never are.
type Ref interface {
	Release()
}

// zeroCopyProbe bounds how far past a block CachedFileRange asks
// cachestat(2) about, so one probe covers the rest of the block's piece (up
// to this many bytes) instead of costing a syscall a block.
const zeroCopyProbe = 1 << 20

// zeroCopyMemo is how long a probe's answer is trusted: a piece served block
// by block is served well within it, and pages evicted long after a probe
// (a piece requested again minutes later) are probed again rather than
// read by sendfile from the disk on the loop.
//
// Why a memo at all, and why this one (decided, issue 15): no probe closes
// the window. Linux has no sendfile that fails on a page-cache miss
// (SPLICE_F_NONBLOCK is about the pipe, not the file), and the send runs
// when the conn's queue reaches the entry, which can be later than the
// probe by the queue's drain time (up to HighWater bytes at the peer's
// rate) whether the probe was made for this block or for its piece. So a
// per-block probe (one more syscall a block, about 1.6 us, a third of the
// path's cost) would shrink a window it cannot remove, and the memo adds at
// most 250 ms to it. Eviction of a page probed cached within that time
// needs memory pressure that evicts pages just used (the serving keeps them
// on the active list), and what it costs when it happens is bounded: the
// loop waits for one block's read (readahead included) from the disk, as
// it would on a major fault, once. Shortening the memo below a piece's
// serving time would bring the probes back for every block.
const zeroCopyMemo = 250 * time.Millisecond

// monoBase is the zero of the probes' monotonic clock.
var monoBase = time.Now()

// CachedFileRange returns where the n bytes of piece at begin lie on disk,
// for a loop to send them with sendfile(2) without reading them: fd, a
// descriptor of the one file that holds all of them, and off, their offset
// there, with ref holding fd open until the caller releases it. ok is false,
// and nothing is held, unless the range lies inside one non-pad file whose
// descriptor is already open and cachestat(2) says the page cache holds
// every page of it: a range across files, a piece in the part file, fault
// injection, a kernel without cachestat and a page-cache miss all decline,
// and the caller reads the block another way (TryReadNoWait, a JobRead), as
// does a file written since its last Sync (see the dirty check below).
//
// A probe covers the rest of the block's piece within the file (at most
// zeroCopyProbe bytes) and is remembered per descriptor, so serving a
// piece block by block asks the kernel once; the memo is trusted for
// zeroCopyMemo. The answer can go stale within that: pages evicted between
// the probe and the send are read from the disk by sendfile, on the
// caller's thread. Safe from any goroutine.
func (s *FileStorage) CachedFileRange(piece int, begin int64, n int) (fd int, off int64, ref Ref, ok bool) {
	if s.noCachestat.Load() || s.faults.Load() != nil || s.checkRange(piece, begin, n) != nil {
		return -1, 0, nil, false
	}
	if s.partial.Load() && !s.notInPart(piece) {
		return -1, 0, nil, false
	}
	file, segs := -1, 0
	s.layout.Segments(piece, begin, int64(n), func(f int, o, _ int64) bool {
		file, off = f, o
		segs++
		return segs < 2
	})
	if segs != 1 || s.layout.Files[file].Pad {
		return -1, 0, nil, false
	}
	s.mu.Lock()
	h := s.handles[file]
	if h == nil || s.closed || h.dirty.Load() {
		// A dirty handle (written since its last sync) declines: if the
		// LRU retired it while a queued send holds the ref, the last
		// Release, on the loop, would fdatasync it there. A clean one
		// only closes. (A write after this call can still make it dirty;
		// that narrow window is the one TryReadNoWait's peek has too.)
		s.mu.Unlock()
		return -1, 0, nil, false
	}
	h.refs++
	s.touchLocked(h)
	now := int64(time.Since(monoBase))
	hit := off >= h.cachedLo && off+int64(n) <= h.cachedHi && now-h.cachedAt < int64(zeroCopyMemo)
	s.mu.Unlock()
	if hit {
		return h.fd, off, h, true
	}
	// Probe to the end of the piece inside this file, within zeroCopyProbe
	// and the file's size now: cachestat answers for pages past the end of
	// a truncated file as if they were cached, and sendfile would send
	// nothing there.
	pieceEnd := off + s.layout.PieceSize(piece) - begin
	hi := min(pieceEnd, s.layout.Files[file].Length, off+zeroCopyProbe)
	var st unix.Stat_t
	if unix.Fstat(h.fd, &st) != nil || st.Size < off+int64(n) {
		s.release(h)
		return -1, 0, nil, false
	}
	hi = min(hi, st.Size)
	full, err := pagesCached(h.fd, off, hi-off)
	if err == nil && !full && hi > off+int64(n) {
		hi = off + int64(n)
		full, err = pagesCached(h.fd, off, int64(n))
	}
	if err != nil || !full {
		if err == unix.ENOSYS {
			s.noCachestat.Store(true)
		}
		s.release(h)
		return -1, 0, nil, false
	}
	s.mu.Lock()
	h.cachedLo, h.cachedHi, h.cachedAt = off, hi, now
	s.mu.Unlock()
	return h.fd, off, h, true
}

// notInPart reports that piece's bytes are in the wanted files, not the
// part file, as TryReadNoWait decides it: false when the part file is not
// looked for yet or SetWantedFiles is at work.
func (s *FileStorage) notInPart(piece int) bool {
	if !s.part.loaded.Load() || !s.wmu.TryRLock() {
		return false
	}
	defer s.wmu.RUnlock()
	if !s.part.mu.TryLock() {
		return false
	}
	slot := s.part.slots[piece]
	s.part.mu.Unlock()
	return slot < 0
}

// Release drops the reference CachedFileRange took (Ref). Safe from any
// goroutine.
func (h *handle) Release() { h.s.release(h) }

// ShortSendError is the error a send of a CachedFileRange range that met
// the end of its file (truncated after the probe) stands for: a read of
// ref's file past its end, as ReadAt reports one, a *FileError with Op
// "read", the file's path and Err wrapping io.ErrUnexpectedEOF and cause.
// ref may already be released: only the file it named is used. A ref that
// is not one of this storage's gives cause unchanged. Safe from any
// goroutine.
func (s *FileStorage) ShortSendError(ref Ref, cause error) error {
	h, ok := ref.(*handle)
	if !ok || h.s != s {
		return cause
	}
	return s.fileError("read", h.file, fmt.Errorf("%w (%w)", io.ErrUnexpectedEOF, cause))
}
