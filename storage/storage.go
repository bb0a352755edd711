// Package storage puts a torrent's pieces onto its files and runs the disk
// and hashing work for the engine's event loops.
//
// Storage (interface.go) is what the engine needs of a torrent's storage,
// in the spirit of libtorrent's disk_interface; an Opener in the add
// parameters supplies one. FileStorage, the default (OpenFiles), maps
// (piece, offset) to (file, offset) and does positional I/O (pread,
// pwrite, pwritev) on descriptors it opens lazily and keeps in a small
// LRU; bytes of unwanted files go to its part file (partfile.go).
// MemoryStorage keeps pieces in memory within a MemoryBudget. Package
// storagetest is the conformance suite both pass.
//
// Disk is a pool of worker goroutines: a loop submits pooled Jobs
// and gets each one back, on the loop, through a Poster it supplies, so the
// loop never waits for the disk. TryReadNoWait lets a loop serve a read
// straight from the page cache when it can, without a worker round trip.
//
// Every file is opened, created, statted and removed relative to a
// descriptor of the save directory, never through a symbolic link
// (confine.go): openat2 with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, or an
// O_NOFOLLOW walk where the kernel lacks it. Measured, a confined open
// costs 1.16 µs against 0.82 µs for a plain open (2.3 µs walking), paid
// only when the descriptor cache misses, never per block.
package storage

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FileStorage is one torrent's files under a save directory: the default
// Storage. All methods are safe from any goroutine; disk workers call them
// concurrently.
type FileStorage struct {
	dir    string
	layout Layout   // private copy, with offs filled; immutable
	rel    []string // file i's cleaned path below dir; "" for pad files
	root   rootDir  // the save directory's descriptor (confine.go)

	// noWait is set once the kernel or filesystem refuses RWF_NOWAIT, so
	// TryReadNoWait stops trying; noCachestat once cachestat(2) is missing.
	noWait      atomic.Bool
	noCachestat atomic.Bool
	// trust > 0 lets TryReadNoWait skip the cachestat(2) probe: once a
	// probed read hit the cache, reads go straight to preadv2(RWF_NOWAIT)
	// (cachestat costs 1.6 µs a block, 18 % of a seeder's CPU). A NOWAIT
	// miss pays for its readahead once and sets trust to -distrustReads,
	// so the next reads probe first again.
	trust atomic.Int32
	// direct is SetDirectWrites; noDirect is set once the filesystem
	// refused direct I/O (direct.go).
	direct   atomic.Bool
	noDirect atomic.Bool
	// faults is SetFaults' (fault.go): nil in production.
	faults atomic.Pointer[faultBox]

	// partial is set while a read or write may need the part file
	// (partfile.go): until the part file has been looked for, and while
	// a file is unwanted or the part file holds a piece. When it is
	// clear, the data path is what it was before part files: one atomic
	// load more per call.
	partial atomic.Bool
	// wmu orders the data path against SetWantedFiles: calls that take
	// the partial path hold it for reading, SetWantedFiles (which moves
	// bytes and frees slots) for writing. wanted (nil: all) and part are
	// guarded by it; part's slot table also by part.mu.
	wmu    sync.RWMutex
	wanted []bool
	part   partFile
	// maskSet is set by the first SetWantedFiles. Guarded by wmu.
	maskSet bool

	mu sync.Mutex
	// Guarded by mu. Invariant: handles[i] is nil or a live, unretired
	// handle of file i linked into lru; open counts them and is at most
	// MaxOpenFiles after every acquire.
	handles []*handle
	lru     handle // sentinel of the LRU list
	open    int
	closed  bool
	// syncErr is the first failure of a sync made when a written handle
	// was evicted (closeRetired); the next Sync returns it.
	syncErr error
}

// Open returns the FileStorage of layout l under dir. It checks the layout (the
// file lengths add up to TotalLength, PieceLength > 0, no two files share a
// path) and that every non-pad path stays inside dir, refusing absolute
// paths and ".." components with an *UnsafePathError. It creates nothing:
// files appear on the first write, or through CreateEmptyFiles. Every file
// is then resolved below dir without following links (confine.go).
func Open(dir string, l Layout) (*FileStorage, error) { return OpenWith(dir, l, Options{}) }

// Options are a FileStorage's settings beyond its directory and layout.
type Options struct {
	// PartFile names the part file in the save directory that holds the
	// bytes of written pieces that fall in unwanted files (partfile.go);
	// "" is ".parts". OpenFiles sets PartFileName(infohash), as
	// libtorrent does; torrents sharing a save directory need distinct
	// names.
	PartFile string
	// DirectWrites starts the storage with SetDirectWrites(true).
	DirectWrites bool
}

// OpenWith is Open with options. It touches no disk. Safe from any
// goroutine.
func OpenWith(dir string, l Layout, o Options) (*FileStorage, error) {
	part := o.PartFile
	if part == "" {
		part = ".parts"
	}
	if _, err := localPath(part); err != nil || filepath.Base(part) != part {
		return nil, &UnsafePathError{Path: part}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	l.Files = append([]FileSpec(nil), l.Files...) // the caller keeps its slice
	rel, err := l.validate()
	if err != nil {
		return nil, err
	}
	for i, r := range rel {
		if r == part {
			return nil, fmt.Errorf("%w: file %d is the part file %q", ErrLayout, i, part)
		}
	}
	s := &FileStorage{dir: abs, layout: l, rel: rel, handles: make([]*handle, len(l.Files))}
	s.root.init(abs)
	s.lru.prev, s.lru.next = &s.lru, &s.lru
	s.part.init(part)
	s.partial.Store(true) // until the part file has been looked for
	s.direct.Store(o.DirectWrites)
	return s, nil
}

// Layout returns the storage's layout. The caller must not modify it.
// Safe from any goroutine.
func (s *FileStorage) Layout() *Layout { return &s.layout }

// Dir returns the absolute save directory. Safe from any goroutine.
func (s *FileStorage) Dir() string { return s.dir }

// checkRange validates a request a peer may control before any work is
// done for it.
func (s *FileStorage) checkRange(piece int, begin int64, n int) error {
	return checkRange(&s.layout, piece, begin, n)
}

// checkRange fails with ErrRange unless [begin, begin+n) lies inside
// piece of l. Every Storage checks its ranges with it.
func checkRange(l *Layout, piece int, begin int64, n int) error {
	size := l.PieceSize(piece)
	if size == 0 || begin < 0 || n < 0 || begin > size || int64(n) > size-begin {
		return fmt.Errorf("%w: piece %d [%d, +%d) of %d", ErrRange, piece, begin, n, l.NumPieces())
	}
	return nil
}

// CheckRange fails with an error matching ErrRange unless the n bytes at
// begin lie inside piece of l: the check every Storage makes before a read
// or a write. Safe from any goroutine; allocates only for the error.
func CheckRange(l *Layout, piece int, begin int64, n int) error {
	return checkRange(l, piece, begin, n)
}

// ReadAt reads len(p) bytes of piece starting at begin, with pread. Pad
// files read as zeros. A file that does not exist fails with ErrMissing and
// one too short with io.ErrUnexpectedEOF (both wrapped in *FileError).
// Safe from any goroutine; blocks on the disk.
func (s *FileStorage) ReadAt(p []byte, piece int, begin int64) (int, error) {
	if err := s.checkRange(piece, begin, len(p)); err != nil {
		return 0, err
	}
	if part, err := s.usePart(); err != nil || part {
		if err != nil {
			return 0, err
		}
		return s.readPartial(p, piece, begin)
	}
	return s.readAbs(p, int64(piece)*s.layout.PieceLength+begin)
}

// readAbs reads p at torrent offset off, which the caller has checked.
func (s *FileStorage) readAbs(p []byte, off int64) (int, error) {
	var n int
	var err error
	s.layout.segmentsAbs(off, int64(len(p)), func(file int, off, sz int64) bool {
		buf := p[n : n+int(sz)]
		if s.layout.Files[file].Pad {
			clear(buf)
			n += len(buf)
			return true
		}
		var m int
		m, err = s.readFile(file, buf, off)
		n += m
		return err == nil
	})
	return n, err
}

func (s *FileStorage) readFile(file int, p []byte, off int64) (int, error) {
	h, err := s.acquire(file, false)
	if err != nil {
		return 0, err
	}
	defer s.release(h)
	n := 0
	for n < len(p) {
		if _, err := s.fault(FaultRead, file, len(p)-n); err != nil {
			return n, s.fileError("read", file, err)
		}
		m, err := unix.Pread(h.fd, p[n:], off+int64(n))
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return n, s.fileError("read", file, err)
		case m == 0:
			return n, s.fileError("read", file, io.ErrUnexpectedEOF)
		}
		n += m
	}
	return n, nil
}

// WriteAt writes p into piece at begin, with pwrite, creating parent
// directories and files (sparse) as needed. Writes to pad files are dropped.
// Safe from any goroutine; blocks on the disk.
func (s *FileStorage) WriteAt(p []byte, piece int, begin int64) (int, error) {
	if err := s.checkRange(piece, begin, len(p)); err != nil {
		return 0, err
	}
	if part, err := s.usePart(); err != nil || part {
		if err != nil {
			return 0, err
		}
		if err := s.WriteBlocks([]BlockRef{{Data: p}}, piece, begin); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	var n int
	var err error
	s.layout.Segments(piece, begin, int64(len(p)), func(file int, off, sz int64) bool {
		buf := p[n : n+int(sz)]
		if s.layout.Files[file].Pad {
			n += len(buf)
			return true
		}
		var m int
		m, err = s.writeFile(file, buf, off)
		n += m
		return err == nil
	})
	return n, err
}

func (s *FileStorage) writeFile(file int, p []byte, off int64) (int, error) {
	h, err := s.acquire(file, true)
	if err != nil {
		return 0, err
	}
	defer s.release(h)
	return s.pwriteFull(h.fd, file, p, off)
}

// maxIovecs is the most iovecs one pwritev takes (Linux's IOV_MAX).
const maxIovecs = 1024

// iovPool holds iovec scratch for WriteBlocks calls that come without a
// worker's (a custom caller's): pooled pointers, so a call allocates
// nothing once the pool is warm.
var iovPool = sync.Pool{New: func() any { v := make([]unix.Iovec, 0, maxIovecs); return &v }}

// WriteBlocks writes blocks back to back into piece from begin, one
// pwritev per file segment. The blocks' spans stay the caller's. Safe from
// any goroutine; blocks on the disk.
func (s *FileStorage) WriteBlocks(blocks []BlockRef, piece int, begin int64) error {
	iov := iovPool.Get().(*[]unix.Iovec)
	err := s.writeBlocks(blocks, piece, begin, (*iov)[:0])
	iovPool.Put(iov)
	return err
}

// writeBlocks writes blocks back to back into piece from begin, one
// pwritev per file segment (more if a segment spans over maxIovecs blocks).
// iov is the caller's scratch, of capacity maxIovecs.
func (s *FileStorage) writeBlocks(blocks []BlockRef, piece int, begin int64, iov []unix.Iovec) error {
	total := 0
	for _, b := range blocks {
		total += len(b.Data)
	}
	if err := s.checkRange(piece, begin, total); err != nil {
		return err
	}
	if part, err := s.usePart(); err != nil || part {
		if err != nil {
			return err
		}
		return s.writePartial(blocks, piece, begin, total, iov)
	}
	return s.writeFiles(blocks, piece, begin, total, nil, iov)
}

// writeFiles writes blocks (total bytes) into the files under piece from
// begin, skipping pad files and the files wanted marks false (nil: none).
func (s *FileStorage) writeFiles(blocks []BlockRef, piece int, begin int64, total int, wanted []bool, iov []unix.Iovec) error {
	bi, bo := 0, 0 // cursor: block index and offset inside it
	var err error
	s.layout.Segments(piece, begin, int64(total), func(file int, off, sz int64) bool {
		if s.layout.Files[file].Pad || wanted != nil && !wanted[file] {
			for sz > 0 { // skip sz bytes of blocks
				k := min(int64(len(blocks[bi].Data)-bo), sz)
				sz -= k
				if bo += int(k); bo == len(blocks[bi].Data) {
					bi, bo = bi+1, 0
				}
			}
			return true
		}
		var h *handle
		if h, err = s.acquire(file, true); err != nil {
			return false
		}
		defer s.release(h)
		for sz > 0 {
			iov = iov[:0]
			var batch int64
			for sz-batch > 0 && len(iov) < maxIovecs {
				d := blocks[bi].Data[bo:]
				k := min(int64(len(d)), sz-batch)
				if k > 0 {
					iov = append(iov, unix.Iovec{Base: &d[0]})
					iov[len(iov)-1].SetLen(int(k))
				}
				batch += k
				if bo += int(k); bo == len(blocks[bi].Data) {
					bi, bo = bi+1, 0
				}
			}
			if err = s.pwritevFull(h.fd, file, iov, off); err != nil {
				return false
			}
			off += batch
			sz -= batch
		}
		return true
	})
	return err
}

// pwritevFull writes every byte of iov at off, resuming after short writes.
func (s *FileStorage) pwritevFull(fd, file int, iov []unix.Iovec, off int64) error {
	for len(iov) > 0 {
		var n int
		var err error
		if s.faults.Load() != nil {
			n, err = s.pwritevFault(fd, file, iov, off)
		} else {
			n, err = pwritev(fd, iov, off)
		}
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return s.fileError("write", file, err)
		case n == 0:
			return s.fileError("write", file, io.ErrShortWrite)
		}
		off += int64(n)
		for n > 0 { // drop what was written
			if l := int(iov[0].Len); n >= l {
				n -= l
				iov = iov[1:]
				continue
			}
			iov[0].Base = (*byte)(unsafe.Add(unsafe.Pointer(iov[0].Base), n))
			iov[0].SetLen(int(iov[0].Len) - n)
			n = 0
		}
	}
	return nil
}

// TryReadNoWait reads len(p) bytes of piece at begin only if the page cache
// holds all of them, with preadv2(RWF_NOWAIT) on descriptors already open.
// ok is false when any byte would need the disk (EAGAIN), when a file is not
// open yet (opening may touch the disk), or when the kernel or filesystem
// does not support the flag (remembered, so later calls return at once).
// Then p may hold part of the data and the caller submits a JobRead instead.
// It never blocks on disk I/O, so a loop may call it; a miss costs about a
// microsecond and starts no I/O (see cached). Safe from any goroutine.
func (s *FileStorage) TryReadNoWait(p []byte, piece int, begin int64) (n int, ok bool) {
	if s.noWait.Load() || s.faults.Load() != nil || s.checkRange(piece, begin, len(p)) != nil {
		return 0, false
	}
	if s.partial.Load() {
		// A piece in the part file, a part file not looked for yet, or
		// SetWantedFiles at work: a worker reads it (partfile.go).
		if !s.part.loaded.Load() || !s.wmu.TryRLock() {
			return 0, false
		}
		defer s.wmu.RUnlock()
		if !s.part.mu.TryLock() {
			return 0, false
		}
		slot := s.part.slots[piece]
		s.part.mu.Unlock()
		if slot >= 0 {
			return 0, false
		}
	}
	ok = true
	s.layout.Segments(piece, begin, int64(len(p)), func(file int, off, sz int64) bool {
		buf := p[n : n+int(sz)]
		if s.layout.Files[file].Pad {
			clear(buf)
			n += len(buf)
			return true
		}
		h := s.peek(file)
		if h == nil {
			ok = false
			return false
		}
		defer s.release(h)
		probed := s.trust.Load() <= 0
		if probed && !s.cached(h.fd, off, sz) {
			ok = false
			return false
		}
		for len(buf) > 0 {
			m, err := preadNoWait(h.fd, buf, off)
			switch {
			case err == unix.EINTR:
				continue
			case err == unix.EAGAIN:
				s.trust.Store(-distrustReads)
				ok = false
			case err != nil: // EOPNOTSUPP, ENOSYS, EINVAL: no support here
				s.noWait.Store(true)
				ok = false
			case m == 0: // short file
				ok = false
			}
			if !ok {
				return false
			}
			n += m
			off += int64(m)
			buf = buf[m:]
		}
		if probed {
			s.trust.Add(1)
		}
		return true
	})
	return n, ok
}

// distrustReads is how many reads probe with cachestat after a NOWAIT miss
// before TryReadNoWait trusts the page cache again.
const distrustReads = 64

// cached reports whether the page cache may hold all of [off, off+n) of fd.
// It asks cachestat(2) first because a preadv2(RWF_NOWAIT) that misses
// still starts the kernel's readahead before failing with EAGAIN: measured
// here, about 47 µs of page allocation and I/O submission on the caller's
// thread, against about 1 µs for cachestat. Without cachestat (Linux < 6.5)
// it answers true and the read finds out.
func (s *FileStorage) cached(fd int, off, n int64) bool {
	if s.noCachestat.Load() {
		return true
	}
	full, err := pagesCached(fd, off, n)
	if err != nil {
		if err == unix.ENOSYS {
			s.noCachestat.Store(true)
		}
		return true
	}
	return full
}

// CreateEmptyFiles creates the torrent's wanted zero-length files (and
// their directories), which no write ever touches, after moving into the
// wanted files whatever bytes of theirs a part file left by an earlier run
// holds, when SetWantedFiles was not called since Open (partfile.go). Call
// it once the download completes. Safe from any goroutine; blocks on the
// disk.
func (s *FileStorage) CreateEmptyFiles() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	// The torrent is complete: whatever the part file holds of wanted
	// files goes into them now (partfile.go). Once SetWantedFiles has
	// run, it moved those bytes and every later write of a slotted piece
	// also went to the wanted files, so there is nothing to move (and no
	// disk work for the loop that calls this); only a part file left by
	// an earlier run, with no mask set since, has.
	if err := s.ensurePartLocked(); err != nil {
		return err
	}
	if s.part.n > 0 && !s.maskSet {
		if err := s.settleLocked(nil); err != nil {
			return err
		}
	}
	for i, f := range s.layout.Files {
		if f.Length != 0 || f.Pad || s.wanted != nil && !s.wanted[i] {
			continue
		}
		fd, err := s.openData("create", i, unix.O_WRONLY|unix.O_CREAT)
		if err != nil {
			return err
		}
		unix.Close(fd)
	}
	return nil
}

// Sync makes every write that returned before it durable: it fdatasyncs
// each file written since its last sync (files the descriptor cache
// evicted meanwhile were synced when evicted; a failure there is returned
// here). Files not written are not touched. Safe from any goroutine;
// blocks on the disk.
func (s *FileStorage) Sync() error {
	var open []*handle
	s.mu.Lock()
	for h := s.lru.next; h != &s.lru; h = h.next {
		if h.writable && h.dirty.Load() {
			h.refs++
			open = append(open, h)
		}
	}
	// Failures of syncs done when evicting written handles (closeRetired).
	first := s.syncErr
	s.syncErr = nil
	s.mu.Unlock()
	if err := s.part.sync(); err != nil && first == nil {
		first = err
	}
	for _, h := range open {
		// Cleared before the sync: a write racing with it sets it again.
		if !h.dirty.Swap(false) {
			s.release(h) // synced by a concurrent Sync meanwhile
			continue
		}
		if err := s.syncHandle(h); err != nil {
			h.dirty.Store(true)
			if first == nil {
				first = err
			}
		}
		s.release(h)
	}
	return first
}

// syncHandle fdatasyncs one handle's file.
func (s *FileStorage) syncHandle(h *handle) error {
	if _, err := s.fault(FaultSync, h.file, 0); err != nil {
		return s.fileError("sync", h.file, err)
	}
	if err := fdatasync(h.fd); err != nil {
		return s.fileError("sync", h.file, err)
	}
	return nil
}

// Close closes every descriptor; one still in use by a concurrent call is
// closed when that call returns. Later calls fail with ErrClosed. A handle
// written since its last sync is synced before it is closed (the eviction
// rule, files.go), so a Close after a failed or skipped Sync still leaves
// the data durable or reports why not. Safe from any goroutine.
func (s *FileStorage) Close() error {
	var dead []*handle
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for s.lru.next != &s.lru {
		h := s.lru.next
		if s.retireLocked(h) {
			dead = append(dead, h)
		}
	}
	s.mu.Unlock()
	// With wmu held no part-file read or write is in flight, so none
	// uses the descriptor after it is closed (or its number reused).
	s.wmu.Lock()
	first := s.part.close()
	s.wmu.Unlock()
	s.root.close()
	for _, h := range dead {
		if h.dirty.Swap(false) {
			if err := s.syncHandle(h); err != nil && first == nil {
				first = err
			}
		}
		if err := h.close(); err != nil && first == nil {
			first = s.fileError("close", h.file, err)
		}
	}
	return first
}

// fileSizes stats every non-pad file for a check: sizes[i] is file i's size
// on disk, or -1 if it does not exist, cannot be statted or is not a
// regular file below the save directory reached without links (confine.go).
func (s *FileStorage) fileSizes(sizes []int64) []int64 {
	sizes = sizes[:0]
	d, derr := s.root.acquire(false)
	if derr == nil {
		defer s.root.release(d)
	}
	for i, f := range s.layout.Files {
		size := int64(-1)
		if f.Pad || f.Length == 0 {
			size = f.Length
		} else if derr == nil {
			var st unix.Stat_t
			if err := statBeneath(d.fd, s.rel[i], &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
				size = st.Size
			}
		}
		sizes = append(sizes, size)
	}
	return sizes
}

// errIsMissing reports whether err means the data is simply not there (a
// missing or short file), as opposed to an I/O failure.
func errIsMissing(err error) bool {
	return errors.Is(err, ErrMissing) || errors.Is(err, io.ErrUnexpectedEOF)
}
