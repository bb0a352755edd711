package storage

import (
	"errors"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"
)

// FileStat is a file's size and modification time (nanoseconds since the
// Unix epoch), as resume data records them. Size is -1 for a file that does
// not exist.
type FileStat struct {
	Size  int64
	MTime int64
}

// Stat returns the size and modification time of every file of the layout,
// in order; pad files report their length and time 0. A missing file (or
// save directory) has Size -1. A file that is a link, or whose path runs
// through one, fails with a *FileError matching ErrUnsafePath, as does one
// that is not a regular file; any other failure is a *FileError too. Works
// after Close. Safe from any goroutine; blocks on the disk.
func (s *FileStorage) Stat() ([]FileStat, error) {
	out := make([]FileStat, len(s.layout.Files))
	dfd := -1
	d, err := s.root.acquire(false)
	switch {
	case err == unix.ENOENT: // no save directory: every file is missing
	case err != nil:
		return nil, &FileError{Op: "stat", Path: ".", Err: err}
	default:
		defer s.root.release(d)
		dfd = d.fd
	}
	for i, f := range s.layout.Files {
		if f.Pad {
			out[i] = FileStat{Size: f.Length}
			continue
		}
		if dfd < 0 {
			out[i] = FileStat{Size: -1}
			continue
		}
		var st unix.Stat_t
		if err := statBeneath(dfd, s.rel[i], &st); err != nil {
			if err == unix.ENOENT {
				out[i] = FileStat{Size: -1}
				continue
			}
			return nil, s.fileError("stat", i, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return nil, s.fileError("stat", i, unsafePath(unix.EINVAL))
		}
		out[i] = FileStat{Size: st.Size, MTime: st.Mtim.Nano()}
	}
	return out, nil
}

// DeleteFiles closes the storage and removes the torrent's files, then the
// directories on their paths that this leaves empty, deepest first; the
// save directory itself stays. Every removal is an unlinkat relative to
// the parent's descriptor, reached without following links, so nothing
// outside the save directory is touched: a file that is now a link (or not
// a regular file) is left in place and reported as a *FileError matching
// ErrUnsafePath, as is one whose path runs through a link. Files that do
// not exist are not an error. Returns the first error, after trying every
// file. Safe from any goroutine; blocks on the disk.
func (s *FileStorage) DeleteFiles() error {
	d, err := s.root.acquire(false) // before Close, so the same descriptor
	_ = s.Close()
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return &FileError{Op: "delete", Path: ".", Err: err}
	}
	defer s.root.release(d)
	dfd := d.fd
	var first error
	dirs := map[string]bool{}
	for i, f := range s.layout.Files {
		if f.Pad {
			continue
		}
		if err := unlinkBeneath(dfd, s.rel[i], false); err != nil && !errors.Is(err, unix.ENOENT) && first == nil {
			first = s.fileError("delete", i, err)
		}
		for d := filepath.Dir(s.rel[i]); d != "."; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	if err := unlinkBeneath(dfd, s.part.name, false); err != nil && !errors.Is(err, unix.ENOENT) && first == nil {
		first = &FileError{Op: "delete", Path: s.part.name, Err: err}
	}
	// Deepest first (a longer path sorts first among its ancestors); one
	// still holding other files stays (ENOTEMPTY), as does a link (ENOTDIR).
	order := make([]string, 0, len(dirs))
	for d := range dirs {
		order = append(order, d)
	}
	sort.Slice(order, func(a, b int) bool { return len(order[a]) > len(order[b]) })
	for _, d := range order {
		_ = unlinkBeneath(dfd, d, true)
	}
	return first
}
