package resume

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/shardtorrent/shardtorrent/internal/crashpoint"
	"github.com/shardtorrent/shardtorrent/metainfo"
)

// Ext is the extension of a resume file in a Store: "<40 hex>.fastresume",
// the name qBittorrent gives the same data in its BT_backup directory.
const Ext = ".fastresume"

// tmpSuffix ends the name of a temporary file WriteFileAtomic writes before
// renaming it into place. A file with it that outlives its writer was left by
// a crash; LoadAll deletes it.
const tmpSuffix = ".tmp"

// WriteFileAtomic replaces path with b so that after a crash at any moment
// path holds either its old content or b, whole: it writes b to a new
// temporary file in path's directory ("<base>.<random>.tmp", mode 0600),
// fsyncs it, renames it over path and fsyncs the directory so the rename
// itself is durable. The crash point "resume-save" (internal/crashpoint)
// sits between the file's fsync and the rename. On error the temporary file
// is removed and path is unchanged. Safe from any goroutine; concurrent
// writers of one path each write their own temporary file and the last
// rename wins.
func WriteFileAtomic(path string, b []byte) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+".*"+tmpSuffix)
	if err != nil {
		return err
	}
	tmp := f.Name()
	if err := writeSync(f, b); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	crashpoint.Hit("resume-save")
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// writeSync writes b to f, fsyncs and closes it, returning the first error.
func writeSync(f *os.File, b []byte) error {
	_, err := f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir fsyncs a directory, making renames and removals in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &fs.PathError{Op: "fsync", Path: dir, Err: err}
	}
	return nil
}

// Store is a directory of resume files, one "<40 hex info-hash>.fastresume"
// per torrent, each replaced atomically by Save. It holds no state but its
// path: every method is safe from any goroutine, but LoadAll deletes
// temporary files and so must not run while a Save is in flight (it is meant
// for start-up).
type Store struct {
	dir string
}

// OpenStore opens the store in dir, creating the directory (and its
// parents) with mode 0700 if it does not exist. Safe from any goroutine.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &Store{dir: dir}, nil
}

// Dir returns the store's directory. Safe from any goroutine.
func (s *Store) Dir() string { return s.dir }

// Path returns the file that holds ih's resume data:
// DIR/<hex of ih.V1>.fastresume. Safe from any goroutine.
func (s *Store) Path(ih metainfo.InfoHash) string {
	return filepath.Join(s.dir, hex.EncodeToString(ih.V1[:])+Ext)
}

// errWrongTorrent: Save was given Data of another torrent than ih.
var errWrongTorrent = errors.New("resume: Data.InfoHash is not the info-hash saved under")

// Save encodes d (with d.Info inside, if set) and writes it atomically to
// Path(ih). d.InfoHash must be ih. Safe from any goroutine; d is only read.
func (s *Store) Save(ih metainfo.InfoHash, d *Data) error {
	if d == nil || d.InfoHash.V1 != ih.V1 {
		return fmt.Errorf("%s: %w", s.Path(ih), errWrongTorrent)
	}
	b, err := Encode(d)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Path(ih), err)
	}
	return WriteFileAtomic(s.Path(ih), b)
}

// Remove deletes ih's resume file, durably (the directory is fsynced). A
// file that does not exist is not an error. Safe from any goroutine.
func (s *Store) Remove(ih metainfo.InfoHash) error {
	if err := os.Remove(s.Path(ih)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return syncDir(s.dir)
}

// LoadAll reads every resume file in the store, in file-name order. A file
// that cannot be read or decoded, or whose info-hash is not its name, gives
// an *fs.PathError naming it (Op "load"; its Err is the cause, a
// *FormatError for bad content) and is skipped; the others still load.
// Temporary files left by a crash inside WriteFileAtomic are deleted. Files
// with other names are ignored. Not concurrently with Save (see Store).
func (s *Store) LoadAll() ([]*Data, []error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, []error{err}
	}
	var (
		out  []*Data
		errs []error
	)
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(s.dir, name)
		switch {
		case strings.Contains(name, Ext+".") && strings.HasSuffix(name, tmpSuffix):
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		case e.Type().IsRegular() && isResumeName(name):
			d, err := loadFile(path)
			if err == nil && hex.EncodeToString(d.InfoHash.V1[:]) != strings.ToLower(strings.TrimSuffix(name, Ext)) {
				err = fmtErr(ErrBadField, "info-hash", d.InfoHash.V1.String()+" is not the file's name")
			}
			if err != nil {
				errs = append(errs, &fs.PathError{Op: "load", Path: path, Err: err})
				continue
			}
			out = append(out, d)
		}
	}
	return out, errs
}

// isResumeName reports whether name is "<40 hex>.fastresume".
func isResumeName(name string) bool {
	h, ok := strings.CutSuffix(name, Ext)
	if !ok || len(h) != 40 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

// loadFile reads and decodes one resume file, refusing one larger than
// MaxSize before reading it.
func loadFile(path string) (*Data, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, err
	}
	return Decode(b)
}
