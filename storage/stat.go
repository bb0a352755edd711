package storage

import (
	"errors"
	"os"
	"path/filepath"

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
// in order; pad files report their length and time 0. A missing file has
// Size -1; any other failure is a *FileError. Safe from any goroutine;
// blocks on the disk.
func (s *Storage) Stat() ([]FileStat, error) {
	out := make([]FileStat, len(s.layout.Files))
	for i, f := range s.layout.Files {
		if f.Pad {
			out[i] = FileStat{Size: f.Length}
			continue
		}
		var st unix.Stat_t
		if err := unix.Lstat(s.paths[i], &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				out[i] = FileStat{Size: -1}
				continue
			}
			return nil, s.fileError("stat", i, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return nil, s.fileError("stat", i, ErrUnsafePath)
		}
		out[i] = FileStat{Size: st.Size, MTime: st.Mtim.Nano()}
	}
	return out, nil
}

// DeleteFiles closes the storage and removes the torrent's files, then the
// directories under the save directory they leave empty. Files that do not
// exist are not an error. Safe from any goroutine; blocks on the disk.
func (s *Storage) DeleteFiles() error {
	_ = s.Close()
	var first error
	dirs := map[string]bool{}
	for i, f := range s.layout.Files {
		if f.Pad {
			continue
		}
		if err := os.Remove(s.paths[i]); err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
			first = s.fileError("delete", i, err)
		}
		for d := filepath.Dir(s.paths[i]); d != s.dir && len(d) > len(s.dir); d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	// Deepest first; a directory still holding other files stays.
	for len(dirs) > 0 {
		deepest := ""
		for d := range dirs {
			if len(d) > len(deepest) {
				deepest = d
			}
		}
		delete(dirs, deepest)
		_ = os.Remove(deepest)
	}
	return first
}
