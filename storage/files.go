package storage

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// MaxOpenFiles bounds the descriptors a FileStorage keeps open between
// operations; the least recently used one is closed to make room. A handle
// in use when it is evicted stays open until its last user lets go, so the
// true peak is MaxOpenFiles plus the number of concurrent operations.
const MaxOpenFiles = 64

// handle is one open descriptor of one file.
type handle struct {
	fd       int
	file     int
	writable bool // opened O_RDWR; a read-only handle is replaced on the first write
	// dirty is set whenever the handle is acquired for writing and cleared
	// just before an fdatasync of it: a handle closed while dirty is
	// synced first (closeRetired), so Sync's promise covers files whose
	// descriptors the LRU evicted since their last write.
	dirty atomic.Bool
	// dfd is the O_DIRECT descriptor plus one (0: not open; -1: never, the
	// path no longer leads to this file), opened by the first direct write
	// (direct.go); align is its alignment.
	dfd   atomic.Int32
	align atomic.Int32

	s *FileStorage // owner, for Release (zerocopy.go)

	// Guarded by Storage.mu.
	refs int // operations using fd right now
	// [cachedLo, cachedHi) of the file was all in the page cache at
	// CachedFileRange's last probe, made at cachedAt on the monoBase
	// clock (zerocopy.go).
	cachedLo, cachedHi, cachedAt int64
	retired                      bool // out of the table and the LRU; closed when refs reaches 0
	prev                         *handle
	next                         *handle
}

// acquire returns an open handle for file with one reference, opening it if
// need be: O_RDWR|O_CREAT (and parent directories) for writes, O_RDONLY for
// reads, where a missing file is ErrMissing. No I/O happens under s.mu, so
// TryReadNoWait never waits behind a slow open.
func (s *FileStorage) acquire(file int, write bool) (*handle, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	if h := s.handles[file]; h != nil && (h.writable || !write) {
		h.refs++
		s.touchLocked(h)
		s.mu.Unlock()
		if write {
			h.dirty.Store(true)
		}
		return h, nil
	}
	s.mu.Unlock()

	if _, err := s.fault(FaultOpen, file, 0); err != nil { // fault.go
		op := "open"
		if write {
			op = "create"
		}
		return nil, s.fileError(op, file, err)
	}
	fd, err := s.openFile(file, write)
	if err != nil {
		return nil, err
	}

	var dead [2]*handle // at most the read-only handle replaced and one evicted
	nd := 0
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		unix.Close(fd)
		return nil, ErrClosed
	}
	if h := s.handles[file]; h != nil {
		if h.writable || !write { // another goroutine opened it meanwhile
			h.refs++
			s.touchLocked(h)
			s.mu.Unlock()
			unix.Close(fd)
			if write {
				h.dirty.Store(true)
			}
			return h, nil
		}
		if s.retireLocked(h) {
			dead[nd] = h
			nd++
		}
	}
	h := &handle{fd: fd, file: file, writable: write, refs: 1, s: s}
	h.dirty.Store(write)
	s.handles[file] = h
	s.pushFrontLocked(h)
	if s.open > MaxOpenFiles {
		if v := s.lru.prev; s.retireLocked(v) {
			dead[nd] = v
			nd++
		}
	}
	s.mu.Unlock()
	for _, d := range dead[:nd] {
		s.closeRetired(d)
	}
	return h, nil
}

// peek returns the open handle for file with one reference, or nil if none
// is open. It never opens anything, so it never touches the disk.
func (s *FileStorage) peek(file int) *handle {
	s.mu.Lock()
	h := s.handles[file]
	if h != nil && !s.closed {
		h.refs++
		s.touchLocked(h)
	} else {
		h = nil
	}
	s.mu.Unlock()
	return h
}

// release drops a reference from acquire or peek.
func (s *FileStorage) release(h *handle) {
	s.mu.Lock()
	h.refs--
	last := h.retired && h.refs == 0
	s.mu.Unlock()
	if last {
		s.closeRetired(h)
	}
}

// closeRetired closes a handle taken out of the table, syncing it first if
// it was written since its last sync; a failure of that sync is kept for
// the next Sync to return, so no piece is called durable on its word.
func (s *FileStorage) closeRetired(h *handle) {
	if h.dirty.Swap(false) {
		if err := s.syncHandle(h); err != nil {
			s.mu.Lock()
			if s.syncErr == nil {
				s.syncErr = err
			}
			s.mu.Unlock()
		}
	}
	h.close()
}

// openFile opens file's data for reading, or for writing (creating it and
// its directories), under the save directory and never through a link
// (confine.go).
func (s *FileStorage) openFile(file int, write bool) (int, error) {
	if !write {
		return s.openData("open", file, unix.O_RDONLY)
	}
	return s.openData("create", file, unix.O_RDWR|unix.O_CREAT)
}

func (s *FileStorage) fileError(op string, file int, err error) error {
	return &FileError{Op: op, Path: s.filePath(file), Err: err}
}

// filePath is file's path as its FileSpec gives it, or the part file's
// name for partFileIndex.
func (s *FileStorage) filePath(file int) string {
	if file == partFileIndex {
		return s.part.name
	}
	return s.layout.Files[file].Path
}

// The LRU is a circular doubly linked list through s.lru, most recent first.

func (s *FileStorage) pushFrontLocked(h *handle) {
	h.prev, h.next = &s.lru, s.lru.next
	s.lru.next.prev = h
	s.lru.next = h
	s.open++
}

func (s *FileStorage) touchLocked(h *handle) {
	if s.lru.next == h {
		return
	}
	h.prev.next, h.next.prev = h.next, h.prev
	h.prev, h.next = &s.lru, s.lru.next
	s.lru.next.prev = h
	s.lru.next = h
}

// retireLocked takes h out of the table and the LRU and reports whether the
// caller must close its descriptor now (no one is using it).
func (s *FileStorage) retireLocked(h *handle) bool {
	h.prev.next, h.next.prev = h.next, h.prev
	h.prev, h.next = nil, nil
	s.handles[h.file] = nil
	s.open--
	h.retired = true
	return h.refs == 0
}
