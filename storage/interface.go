package storage

import (
	"path/filepath"
	"strings"

	"github.com/shardtorrent/shardtorrent/metainfo"
)

// Storage is where one torrent's pieces live: the engine's disk interface,
// in the spirit of libtorrent's disk_interface, shaped for the zero-copy
// path. The disk workers (Disk) are its only callers on the data path, plus
// a loop's TryReadNoWait; a custom Storage plugs in through an Opener
// (OpenParams, AddTorrentParams.Storage).
//
// Buffers: blocks arrive as pooled spans (WriteBlocks gets a vector of
// BlockRef, views into spans the caller keeps the references of: the
// implementation reads Data during the call and never keeps or releases
// them); reads fill a buffer the caller owns (a span from the Disk's pool),
// which the implementation must not keep after the call returns. Nothing
// of the data path boxes a value or allocates per block: a call through
// this interface costs one indirect call.
//
// Every method must be safe from any goroutine: disk workers call them
// concurrently, for different pieces and for the same one. Ranges are
// always inside one piece (0 <= begin, begin+len <= PieceSize(piece)); an
// implementation still checks them and fails with an error matching
// ErrRange. Errors of missing data (a piece never written, a file not
// there) match ErrMissing; the engine treats those as "not downloaded"
// rather than as a disk failure.
//
// The file storage (FileStorage, from Open or OpenFiles) is the default; a
// MemoryStorage (NewMemory) is the second implementation. Both pass the
// conformance suite in package storagetest.
type Storage interface {
	// Layout returns the torrent's pieces and files. The caller must not
	// modify it; it does not change for the storage's lifetime.
	Layout() *Layout

	// ReadAt reads len(p) bytes of piece starting at begin into p. Pad
	// files read as zeros. Blocks until the data is read.
	ReadAt(p []byte, piece int, begin int64) (n int, err error)

	// TryReadNoWait is ReadAt for a loop: it reads only if it can without
	// blocking (the page cache, memory) and otherwise returns ok == false
	// at once ("not now"), after which p's contents are unspecified and
	// the caller submits a JobRead. It never blocks on I/O.
	TryReadNoWait(p []byte, piece int, begin int64) (n int, ok bool)

	// WriteBlocks writes blocks back to back into piece from begin.
	// Writes to pad files are dropped. The caller keeps its span
	// references; the implementation must not retain Data after the call.
	WriteBlocks(blocks []BlockRef, piece int, begin int64) error

	// SetWantedFiles says which files the engine wants (file priority
	// above 0): wanted[i] for file i; len(wanted) must be the number of
	// files. A storage never creates a file that is not wanted; bytes of
	// written pieces that fall in one are kept elsewhere (the file
	// storage's part file) and still read back. A file that becomes
	// wanted gets those bytes. All files are wanted until the first call,
	// which the engine makes before the torrent's first read or write
	// (at add, from its resume data's priorities), and again on every
	// change; repeating a mask is cheap. May block on the disk (moving
	// bytes), so call it from a disk worker or another goroutine that may
	// block, never from a loop.
	SetWantedFiles(wanted []bool) error

	// CreateEmptyFiles creates the wanted zero-length files, which no
	// write ever touches, and puts every byte of the wanted files where
	// it belongs (the file storage moves what its part file holds of
	// them); the engine calls it once the torrent completes.
	CreateEmptyFiles() error

	// Stat returns each file's size and modification time, as resume data
	// records them (FileStat, Size -1 for a file that does not exist).
	// Works after Close.
	Stat() ([]FileStat, error)

	// Sync makes every write that returned before it durable.
	Sync() error

	// Close releases the storage's resources after making writes durable
	// where it can. Later data calls fail with ErrClosed; Close again is a
	// no-op.
	Close() error

	// DeleteFiles closes the storage and removes the torrent's data.
	DeleteFiles() error
}

// OpenParams is what an Opener gets to open a torrent's storage.
type OpenParams struct {
	// InfoHash is the torrent's info-hash.
	InfoHash metainfo.InfoHash
	// Info is the torrent's metadata. The Opener must not modify it.
	Info *metainfo.Info
	// Layout is Info's pieces and files as storage sees them: paths
	// joined with the OS separator, pad files marked (BEP 47).
	Layout Layout
	// Dir is the torrent's save directory (AddTorrentParams.SavePath).
	Dir string
}

// Opener opens the storage of one torrent. The engine calls it on a
// shard's loop when the torrent's metadata is known (at add, or when a
// magnet's metadata arrives), so it must not block on the disk: open
// lazily, on the first read or write. Each call returns a new Storage,
// which the engine closes. Safe from any goroutine.
type Opener func(p OpenParams) (Storage, error)

// LayoutOf returns the storage layout of info: its files end to end, paths
// joined with the OS separator, BEP 47 pad files (attribute "p") marked.
// Safe from any goroutine.
func LayoutOf(info *metainfo.Info) Layout {
	l := Layout{PieceLength: info.PieceLength, TotalLength: info.TotalLength}
	l.Files = make([]FileSpec, 0, len(info.Files))
	for _, f := range info.Files {
		l.Files = append(l.Files, FileSpec{
			Path:   filepath.Join(f.Path...),
			Length: f.Length,
			Pad:    strings.Contains(f.Attr, "p"),
		})
	}
	return l
}

// OpenFiles is the default Opener: a FileStorage under p.Dir whose part
// file (for bytes of unwanted files, partfile.go) is PartFileName(p.InfoHash).
// It touches no disk. Safe from any goroutine.
func OpenFiles(p OpenParams) (Storage, error) {
	s, err := OpenWith(p.Dir, p.Layout, Options{PartFile: PartFileName(p.InfoHash)})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// PartFileName is the name of a torrent's part file in its save directory,
// as libtorrent names it: "." followed by the info-hash in hex and
// ".parts". Safe from any goroutine.
func PartFileName(ih metainfo.InfoHash) string { return "." + ih.String() + ".parts" }

// The implementations.
var (
	_ Storage = (*FileStorage)(nil)
	_ Storage = (*MemoryStorage)(nil)
)
