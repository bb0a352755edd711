package storage

import (
	"errors"
	"strconv"
)

// Sentinel errors. Match them with errors.Is: storage wraps them in
// *FileError (with the file's path) or in a formatted error.
var (
	// ErrMissing: a file that should hold the data does not exist. Checks
	// count its pieces as failed without reading.
	ErrMissing = errors.New("storage: file missing")
	// ErrClosed: the Storage or Disk was closed.
	ErrClosed = errors.New("storage: closed")
	// ErrRange: a piece index, offset or length outside the torrent, or a
	// write job whose blocks do not add up to its length.
	ErrRange = errors.New("storage: range outside the piece")
	// ErrLayout: a Layout whose numbers do not add up.
	ErrLayout = errors.New("storage: inconsistent layout")
	// ErrUnsafePath: a file path that would land outside the save directory,
	// lexically (Open) or through a symbolic link or a non-regular file met
	// on disk (any operation; see confine.go).
	ErrUnsafePath = errors.New("storage: path escapes the save directory")
)

// FileError records the file and operation behind an I/O failure. A read of
// a file that does not exist has Err == ErrMissing; a read past the end of a
// file that is too short has Err == io.ErrUnexpectedEOF.
type FileError struct {
	Op   string // "open", "read", "write", "sync", "create", "close", "stat", "delete"
	Path string // relative path, as in the FileSpec
	Err  error
}

func (e *FileError) Error() string { return "storage: " + e.Op + " " + e.Path + ": " + e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// UnsafePathError is returned by Open for a FileSpec whose path is absolute,
// empty, contains a ".." component or otherwise escapes the save directory.
type UnsafePathError struct {
	Path string
}

func (e *UnsafePathError) Error() string { return "storage: unsafe file path " + strconv.Quote(e.Path) }

// Is makes errors.Is(err, ErrUnsafePath) true.
func (e *UnsafePathError) Is(target error) bool { return target == ErrUnsafePath }
