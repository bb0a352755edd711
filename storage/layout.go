package storage

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// FileSpec is one file of a torrent as storage sees it: a path the caller has
// already sanitised and a length. Storage checks the path again in Open.
type FileSpec struct {
	// Path is relative to the save directory and uses OS separators.
	Path string
	// Length is the file's size in bytes; zero-length files are created by
	// CreateEmptyFiles but never appear in a segment.
	Length int64
	// Pad marks a BEP 47 pad file: it is never created on disk, reads as
	// zeros and writes to it are discarded.
	Pad bool
}

// Layout maps pieces onto files. Files are laid end to end in order: file i
// starts where file i-1 ends. A Layout is immutable once handed to Open and
// may then be read from any goroutine.
type Layout struct {
	PieceLength int64
	TotalLength int64
	Files       []FileSpec

	// offs[i] is the torrent offset where file i starts and offs[len(Files)]
	// is TotalLength. Filled by Open (on its private copy) so that Segments
	// finds the first file by binary search; a Layout built by hand leaves it
	// nil and Segments scans from the first file instead.
	offs []int64
}

// NumPieces is the number of pieces, the last one possibly short.
// Safe from any goroutine.
func (l *Layout) NumPieces() int {
	if l.PieceLength <= 0 || l.TotalLength <= 0 {
		return 0
	}
	return int((l.TotalLength + l.PieceLength - 1) / l.PieceLength)
}

// PieceSize is the length of piece: PieceLength, except for the last piece,
// which holds the remainder. It is 0 for a piece out of range.
// Safe from any goroutine.
func (l *Layout) PieceSize(piece int) int64 {
	if piece < 0 || piece >= l.NumPieces() {
		return 0
	}
	start := int64(piece) * l.PieceLength
	return min(l.PieceLength, l.TotalLength-start)
}

// Segments calls fn for each (file index, offset in file, length) that the
// torrent byte range [piece*PieceLength+begin, +length) covers, in file
// order, until fn returns false. The range is clipped to TotalLength.
// Zero-length files never appear; pad files do (the caller decides what a
// pad segment means). fn does not escape, so a closure costs no allocation.
// Safe from any goroutine.
func (l *Layout) Segments(piece int, begin int64, length int64, fn func(file int, off int64, n int64) bool) {
	if piece < 0 || begin < 0 || length <= 0 {
		return
	}
	l.segmentsAbs(int64(piece)*l.PieceLength+begin, length, fn)
}

// segmentsAbs is Segments over an absolute torrent offset.
func (l *Layout) segmentsAbs(start, length int64, fn func(file int, off int64, n int64) bool) {
	end := min(start+length, l.TotalLength)
	if start >= end {
		return
	}
	i, fileStart := 0, int64(0)
	if len(l.offs) == len(l.Files)+1 {
		// First file whose end lies beyond start; zero-length files have
		// offs[i] == offs[i+1] and are skipped by the same test.
		i = sort.Search(len(l.Files), func(k int) bool { return l.offs[k+1] > start })
		if i == len(l.Files) {
			return
		}
		fileStart = l.offs[i]
	}
	for ; i < len(l.Files) && fileStart < end; i++ {
		fileEnd := fileStart + l.Files[i].Length
		if fileEnd <= start || fileEnd == fileStart { // before the range, or empty
			fileStart = fileEnd
			continue
		}
		lo, hi := max(start, fileStart), min(end, fileEnd)
		if !fn(i, lo-fileStart, hi-lo) {
			return
		}
		fileStart = fileEnd
	}
}

// validate checks the layout's arithmetic and every non-pad path, and fills
// offs. It returns every file's path cleaned and relative to the save
// directory ("" for pads), which is how storage resolves it (confine.go).
func (l *Layout) validate() ([]string, error) {
	if l.PieceLength <= 0 {
		return nil, fmt.Errorf("%w: piece length %d", ErrLayout, l.PieceLength)
	}
	offs := make([]int64, len(l.Files)+1)
	paths := make([]string, len(l.Files))
	seen := make(map[string]int, len(l.Files))
	var sum int64
	for i, f := range l.Files {
		if f.Length < 0 || sum+f.Length < sum {
			return nil, fmt.Errorf("%w: file %d has length %d", ErrLayout, i, f.Length)
		}
		offs[i] = sum
		sum += f.Length
		if f.Pad {
			continue
		}
		p, err := localPath(f.Path)
		if err != nil {
			return nil, err
		}
		if j, dup := seen[p]; dup {
			return nil, fmt.Errorf("%w: files %d and %d are both %q", ErrLayout, j, i, f.Path)
		}
		seen[p] = i
		paths[i] = p
	}
	offs[len(l.Files)] = sum
	if sum != l.TotalLength {
		return nil, fmt.Errorf("%w: files add up to %d, total length is %d", ErrLayout, sum, l.TotalLength)
	}
	l.offs = offs
	return paths, nil
}

// localPath checks a file's path and returns it cleaned. It refuses
// anything that names a place other than a file strictly below the save
// directory: absolute paths, ".." components (even ones that cancel out),
// the save directory itself ("", "."), and NUL bytes. The caller sanitised
// the path already; this is the second lock on the door, and resolving the
// result without following links (confine.go) is the third.
func localPath(rel string) (string, error) {
	if rel == "" || strings.IndexByte(rel, 0) >= 0 || filepath.IsAbs(rel) || !filepath.IsLocal(rel) {
		return "", &UnsafePathError{Path: rel}
	}
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		if part == ".." {
			return "", &UnsafePathError{Path: rel}
		}
	}
	p := filepath.Clean(rel)
	if p == "." {
		return "", &UnsafePathError{Path: rel}
	}
	return p, nil
}
