package storage

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// ErrBudget: a MemoryStorage write needed memory beyond its MemoryBudget.
// Match with errors.Is; the error is a *BudgetError with the numbers.
var ErrBudget = errors.New("storage: memory budget exhausted")

// BudgetError is the error of a write refused by a MemoryBudget: the piece
// it would have started, the bytes it needed, and the budget's use and
// limit at the time. Nothing was evicted to make room, and nothing was
// written.
type BudgetError struct {
	Piece        int
	Need         int64
	Used, Budget int64
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("storage: memory budget exhausted: piece %d needs %d bytes, %d of %d in use", e.Piece, e.Need, e.Used, e.Budget)
}

// Is makes errors.Is(err, ErrBudget) true.
func (e *BudgetError) Is(target error) bool { return target == ErrBudget }

// MemoryBudget bounds the memory of the MemoryStorages that share it: one
// for a whole session's torrents, or one per storage. Safe from any
// goroutine.
type MemoryBudget struct {
	limit int64
	used  atomic.Int64
}

// NewMemoryBudget returns a budget of limit bytes (<= 0: nothing can be
// stored). Safe from any goroutine.
func NewMemoryBudget(limit int64) *MemoryBudget { return &MemoryBudget{limit: limit} }

// Limit is the budget's size in bytes. Safe from any goroutine.
func (b *MemoryBudget) Limit() int64 { return b.limit }

// Used is how many bytes the budget's storages hold now. Safe from any
// goroutine.
func (b *MemoryBudget) Used() int64 { return b.used.Load() }

// take reserves n bytes, or fails with a *BudgetError for piece.
func (b *MemoryBudget) take(piece int, n int64) error {
	for {
		u := b.used.Load()
		if u+n > b.limit {
			return &BudgetError{Piece: piece, Need: n, Used: u, Budget: b.limit}
		}
		if b.used.CompareAndSwap(u, u+n) {
			return nil
		}
	}
}

func (b *MemoryBudget) give(n int64) { b.used.Add(-n) }

// MemoryStorage keeps a torrent's pieces in memory: for caches, tests and
// clients that hand the data on rather than keep it. It is sparse (a
// piece takes memory, its full size, from its first write on, and a piece
// never written takes none) and bounded by a MemoryBudget: a write that
// would exceed it fails with a *FileError (Op "write") wrapping a
// *BudgetError (errors.Is(err, ErrBudget)) and evicts nothing. Its files are never created anywhere, so SetWantedFiles only
// checks its argument. Close and DeleteFiles free the memory.
//
// All methods are safe from any goroutine; none blocks on I/O, so
// TryReadNoWait reads whenever the piece is there.
type MemoryStorage struct {
	layout Layout // with offs filled; immutable
	budget *MemoryBudget

	mu sync.RWMutex
	// Guarded by mu. Invariant: pieces[i] is nil or exactly
	// PieceSize(i) bytes, and the budget holds the sum of their lengths
	// for this storage until Close.
	pieces  [][]byte
	closed  bool
	created bool // CreateEmptyFiles was called: zero-length files "exist"
}

// NewMemory returns an empty MemoryStorage of layout l whose pieces count
// against budget (nil: a budget of its own of l.TotalLength bytes, so
// every piece fits). It checks the layout as Open does. Safe from any
// goroutine.
func NewMemory(l Layout, budget *MemoryBudget) (*MemoryStorage, error) {
	l.Files = append([]FileSpec(nil), l.Files...)
	if _, err := l.validate(); err != nil {
		return nil, err
	}
	if budget == nil {
		budget = NewMemoryBudget(l.TotalLength)
	}
	return &MemoryStorage{layout: l, budget: budget, pieces: make([][]byte, l.NumPieces())}, nil
}

// MemoryOpener returns an Opener of MemoryStorages that share budget (nil:
// each storage gets a budget of its torrent's size). Safe from any
// goroutine.
func MemoryOpener(budget *MemoryBudget) Opener {
	return func(p OpenParams) (Storage, error) { return NewMemory(p.Layout, budget) }
}

// Layout returns the storage's layout. Safe from any goroutine.
func (m *MemoryStorage) Layout() *Layout { return &m.layout }

// missing is the error of a read of a piece never written: a *FileError
// naming the piece's first file, matching ErrMissing, as the file
// storage's read of a file that is not there.
func (m *MemoryStorage) missing(piece int, begin int64) error {
	return &FileError{Op: "read", Path: m.firstFile(piece, begin), Err: ErrMissing}
}

// firstFile is the path of the file holding byte begin of piece.
func (m *MemoryStorage) firstFile(piece int, begin int64) string {
	path := ""
	m.layout.Segments(piece, begin, 1, func(file int, _, _ int64) bool {
		path = m.layout.Files[file].Path
		return false
	})
	return path
}

// ReadAt copies len(p) bytes of piece at begin into p. A piece never
// written fails with a *FileError matching ErrMissing. Safe from any
// goroutine; never blocks on I/O.
func (m *MemoryStorage) ReadAt(p []byte, piece int, begin int64) (int, error) {
	if err := checkRange(&m.layout, piece, begin, len(p)); err != nil {
		return 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return 0, ErrClosed
	}
	b := m.pieces[piece]
	if b == nil {
		return 0, m.missing(piece, begin)
	}
	return copy(p, b[begin:]), nil
}

// TryReadNoWait is ReadAt, reporting ok == false instead of an error.
// Safe from any goroutine.
func (m *MemoryStorage) TryReadNoWait(p []byte, piece int, begin int64) (int, bool) {
	n, err := m.ReadAt(p, piece, begin)
	return n, err == nil
}

// WriteBlocks copies blocks back to back into piece from begin. The first
// write of a piece takes its size from the budget, or fails with a
// *FileError wrapping a *BudgetError. Safe from any goroutine.
func (m *MemoryStorage) WriteBlocks(blocks []BlockRef, piece int, begin int64) error {
	total := 0
	for _, b := range blocks {
		total += len(b.Data)
	}
	if err := checkRange(&m.layout, piece, begin, total); err != nil {
		return err
	}
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return ErrClosed
	}
	buf := m.pieces[piece]
	m.mu.RUnlock()
	if buf == nil {
		var err error
		if buf, err = m.allocate(piece); err != nil {
			return err
		}
	}
	// Copied under the read lock, so Close (which returns the memory to
	// the budget) waits for writes in progress.
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	off := int(begin)
	for _, b := range blocks {
		off += copy(buf[off:], b.Data)
	}
	return nil
}

// allocate gives piece its buffer, charged to the budget.
func (m *MemoryStorage) allocate(piece int) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if b := m.pieces[piece]; b != nil { // another writer won
		return b, nil
	}
	size := m.layout.PieceSize(piece)
	if err := m.budget.take(piece, size); err != nil {
		// As a full disk is for the file storage: a write error naming
		// the piece's first file, so the engine's disk-error path
		// (FileErrorAlert, the torrent's error state) reports it.
		return nil, &FileError{Op: "write", Path: m.firstFile(piece, 0), Err: err}
	}
	b := make([]byte, size) // per piece, on its first write; never per block
	m.pieces[piece] = b
	return b, nil
}

// SetWantedFiles checks that wanted has one flag per file; a
// MemoryStorage creates no files, so there is nothing else to do. Safe
// from any goroutine.
func (m *MemoryStorage) SetWantedFiles(wanted []bool) error {
	if len(wanted) != len(m.layout.Files) {
		return fmt.Errorf("%w: %d wanted flags for %d files", ErrLayout, len(wanted), len(m.layout.Files))
	}
	return nil
}

// CreateEmptyFiles makes the zero-length files count as present for Stat.
// Safe from any goroutine.
func (m *MemoryStorage) CreateEmptyFiles() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.created = true
	return nil
}

// Stat reports each file as the file storage would: its length once any
// piece over it has been written (zero-length files once
// CreateEmptyFiles ran, pad files always), -1 before; MTime is 0. After
// Close every file is missing. Safe from any goroutine.
func (m *MemoryStorage) Stat() ([]FileStat, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]FileStat, len(m.layout.Files))
	for i, f := range m.layout.Files {
		out[i].Size = -1
		switch {
		case f.Pad:
			out[i].Size = f.Length
		case f.Length == 0:
			if m.created && !m.closed {
				out[i].Size = 0
			}
		case !m.closed:
			start := m.layout.offs[i]
			first := int(start / m.layout.PieceLength)
			last := int((start + f.Length - 1) / m.layout.PieceLength)
			for p := first; p <= last; p++ {
				if m.pieces[p] != nil {
					out[i].Size = f.Length
					break
				}
			}
		}
	}
	return out, nil
}

// Sync has nothing to make durable: memory is as durable as it gets.
// Fails with ErrClosed after Close. Safe from any goroutine.
func (m *MemoryStorage) Sync() error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	return nil
}

// Close frees every piece and returns its memory to the budget. Safe from
// any goroutine.
func (m *MemoryStorage) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	var n int64
	for i, b := range m.pieces {
		n += int64(len(b))
		m.pieces[i] = nil
	}
	m.budget.give(n)
	return nil
}

// DeleteFiles is Close: the data exists nowhere else. Safe from any
// goroutine.
func (m *MemoryStorage) DeleteFiles() error { return m.Close() }
