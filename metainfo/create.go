package metainfo

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/anacrolix/torrent/bencode"
)

// Automatic piece sizing: a power of two from minAutoPieceLength to
// maxAutoPieceLength, the smallest giving at most maxAutoPieces pieces (so
// big torrents land between 1000 and 2000 pieces: large enough to keep
// .torrent files small, small enough to share early).
const (
	// BlockSize is the wire protocol's request size; piece lengths that
	// Create writes are multiples of it, which clients widely assume.
	BlockSize          = 16 << 10
	minAutoPieceLength = BlockSize
	maxAutoPieceLength = 16 << 20
	maxAutoPieces      = 2000
	// maxHashMemory bounds the piece buffers of all hashing workers
	// together; on many cores with huge pieces it, not NumCPU, sets the
	// worker count.
	maxHashMemory = 1 << 30
)

// CreateOptions controls Create. The zero value makes a public torrent with
// no trackers and an automatic piece length.
type CreateOptions struct {
	// PieceLength is 0 for automatic, else a positive multiple of BlockSize
	// up to MaxPieceLength.
	PieceLength int64
	// Trackers: the first becomes "announce"; all go in "announce-list",
	// one per tier. Empty strings are skipped.
	Trackers []string
	// WebSeeds become the BEP 19 "url-list".
	WebSeeds  []string
	Private   bool
	Source    string // "source" in the info dict; changes the info-hash
	Comment   string
	CreatedBy string
	// CreationDate in Unix seconds; 0 omits it, keeping output
	// deterministic.
	CreationDate int64
	// Name overrides the torrent's name (default: the path's base name).
	// It is sanitised like any torrent name.
	Name string
}

// AutoPieceLength returns the piece length Create picks for totalLength
// bytes when CreateOptions.PieceLength is 0.
func AutoPieceLength(totalLength int64) int64 {
	pl := int64(minAutoPieceLength)
	for pl < maxAutoPieceLength && (totalLength-1)/pl+1 > maxAutoPieces {
		pl *= 2
	}
	return pl
}

// The bencode shapes Create writes. anacrolix's encoder sorts struct fields
// by key, as BEP 3 requires.
type (
	createFile struct {
		Length int64    `bencode:"length"`
		Path   []string `bencode:"path"`
	}
	createInfo struct {
		Files       []createFile `bencode:"files,omitempty"`
		Length      int64        `bencode:"length,omitempty"`
		Name        string       `bencode:"name"`
		PieceLength int64        `bencode:"piece length"`
		Pieces      []byte       `bencode:"pieces"`
		Private     int64        `bencode:"private,omitempty"`
		Source      string       `bencode:"source,omitempty"`
	}
	createTorrent struct {
		Announce     string        `bencode:"announce,omitempty"`
		AnnounceList [][]string    `bencode:"announce-list,omitempty"`
		Comment      string        `bencode:"comment,omitempty"`
		CreatedBy    string        `bencode:"created by,omitempty"`
		CreationDate int64         `bencode:"creation date,omitempty"`
		Info         bencode.Bytes `bencode:"info"`
		URLList      []string      `bencode:"url-list,omitempty"`
	}
)

// diskFile is one file Create hashes.
type diskFile struct {
	osPath string   // where to read it
	rel    []string // components below the root, as written to "path"
	length int64
	offset int64
}

// Create builds a torrent from a regular file or a directory and returns
// the bencoded .torrent with its parsed form. A directory's regular files
// are included, zero-length and hidden ones too, in lexical order of their
// path components (so a directory's contents stay together); empty
// directories vanish. Symlinks, devices, sockets and pipes are refused with
// ErrUnsupportedFile rather than followed or skipped, so the torrent never
// silently differs from what the user sees and never reaches outside path.
// Pieces are hashed in parallel on runtime.NumCPU() goroutines.
func Create(path string, opts CreateOptions) ([]byte, *MetaInfo, error) {
	if opts.PieceLength < 0 || opts.PieceLength > MaxPieceLength || opts.PieceLength%BlockSize != 0 {
		return nil, nil, newErr(ErrBadOption, "PieceLength",
			fmt.Sprintf("%d is not a multiple of %d in (0, %d]", opts.PieceLength, BlockSize, MaxPieceLength))
	}
	files, single, err := collectFiles(path)
	if err != nil {
		return nil, nil, err
	}
	var total int64
	for i := range files {
		if files[i].length > math.MaxInt64-total {
			return nil, nil, newErr(ErrTooLarge, files[i].osPath, "total length overflows")
		}
		files[i].offset = total
		total += files[i].length
	}
	if total == 0 {
		return nil, nil, newErr(ErrEmpty, path, "no data to share")
	}
	pl := opts.PieceLength
	if pl == 0 {
		pl = AutoPieceLength(total)
	}
	pieces, err := hashPieces(files, total, pl)
	if err != nil {
		return nil, nil, err
	}

	name := opts.Name
	if name == "" {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, nil, err
		}
		name = filepath.Base(abs)
	}
	if name = SanitizeComponent(name); name == "" {
		name = "_"
	}
	ci := createInfo{Name: name, PieceLength: pl, Pieces: pieces, Source: opts.Source}
	if opts.Private {
		ci.Private = 1
	}
	if single {
		ci.Length = total
	} else {
		for _, f := range files {
			ci.Files = append(ci.Files, createFile{Length: f.length, Path: f.rel})
		}
	}
	infoBytes, err := bencode.Marshal(ci)
	if err != nil {
		return nil, nil, err
	}
	ct := createTorrent{
		Comment:      opts.Comment,
		CreatedBy:    opts.CreatedBy,
		CreationDate: opts.CreationDate,
		Info:         infoBytes,
	}
	for _, t := range opts.Trackers {
		if t == "" {
			continue
		}
		if ct.Announce == "" {
			ct.Announce = t
		}
		ct.AnnounceList = append(ct.AnnounceList, []string{t})
	}
	for _, w := range opts.WebSeeds {
		if w != "" {
			ct.URLList = append(ct.URLList, w)
		}
	}
	data, err := bencode.Marshal(ct)
	if err != nil {
		return nil, nil, err
	}
	m, err := Parse(data)
	if err != nil {
		return nil, nil, err
	}
	return data, m, nil
}

// collectFiles lists the files under root; single reports that root is
// itself a regular file.
func collectFiles(root string) (files []diskFile, single bool, err error) {
	st, err := os.Lstat(root)
	if err != nil {
		return nil, false, err
	}
	if st.Mode().IsRegular() {
		return []diskFile{{osPath: root, length: st.Size()}}, true, nil
	}
	if !st.IsDir() {
		return nil, false, newErr(ErrUnsupportedFile, root, st.Mode().Type().String())
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return newErr(ErrUnsupportedFile, p, d.Type().String())
		}
		if len(files) >= MaxFiles {
			return newErr(ErrTooLarge, root, fmt.Sprintf("more than %d files", MaxFiles))
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		files = append(files, diskFile{
			osPath: p,
			rel:    strings.Split(filepath.ToSlash(rel), "/"),
			length: info.Size(),
		})
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	// WalkDir already visits in this order; sorting states the contract
	// instead of relying on it.
	sort.SliceStable(files, func(i, j int) bool { return slices.Compare(files[i].rel, files[j].rel) < 0 })
	return files, false, nil
}

// errChanged reports a file that shrank or grew while it was hashed.
var errChanged = errors.New("file changed while hashing")

// hashPieces returns the concatenated SHA-1 of every piece. Workers claim
// piece indices from a shared counter, so consecutive pieces, and mostly the
// same file, go to whichever worker is free; each keeps one file open.
func hashPieces(files []diskFile, total, pl int64) ([]byte, error) {
	n := int((total-1)/pl + 1)
	out := make([]byte, n*sha1.Size)
	workers := max(1, min(runtime.NumCPU(), n, int(maxHashMemory/pl)))
	var (
		next     atomic.Int64
		failed   atomic.Bool
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err })
		failed.Store(true)
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := pieceReader{files: files}
			defer r.close()
			buf := make([]byte, pl)
			for !failed.Load() {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				off := i * pl
				b := buf[:min(pl, total-off)]
				if err := r.readAt(b, off); err != nil {
					fail(err)
					return
				}
				sum := sha1.Sum(b)
				copy(out[i*sha1.Size:], sum[:])
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	// A file that grew would hash consistently yet no longer match the
	// torrent; catch it.
	for _, f := range files {
		st, err := os.Stat(f.osPath)
		if err != nil {
			return nil, err
		}
		if st.Size() != f.length {
			return nil, fmt.Errorf("%s: %w", f.osPath, errChanged)
		}
	}
	return out, nil
}

// pieceReader reads the concatenation of files; owned by one worker.
type pieceReader struct {
	files []diskFile
	cur   int // index of the open file, valid when f != nil
	f     *os.File
}

func (r *pieceReader) readAt(b []byte, off int64) error {
	// The first file that ends after off (zero-length files never do).
	i := sort.Search(len(r.files), func(i int) bool {
		return r.files[i].offset+r.files[i].length > off
	})
	for len(b) > 0 {
		if i >= len(r.files) {
			return errChanged
		}
		df := &r.files[i]
		if df.length == 0 {
			i++
			continue
		}
		if r.f == nil || r.cur != i {
			r.close()
			f, err := os.Open(df.osPath)
			if err != nil {
				return err
			}
			r.f, r.cur = f, i
		}
		n := min(int64(len(b)), df.offset+df.length-off)
		if _, err := r.f.ReadAt(b[:n], off-df.offset); err != nil {
			if err == io.EOF {
				err = errChanged
			}
			return fmt.Errorf("%s: %w", df.osPath, err)
		}
		b, off, i = b[n:], off+n, i+1
	}
	return nil
}

func (r *pieceReader) close() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}
