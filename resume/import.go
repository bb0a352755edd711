package resume

import (
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/shardtorrent/shardtorrent/metainfo"
)

// Imported is one torrent adopted from another client's resume directory.
type Imported struct {
	// Data is the decoded resume data. Data.Info is set (from the .torrent
	// when the resume file had no "info"), so saving Data into a Store keeps
	// the torrent whole.
	Data *Data
	// MetaInfo is the torrent: parsed from the .torrent beside the resume
	// file, or from the resume file's own "info".
	MetaInfo *metainfo.MetaInfo
	// Path is the resume file's path.
	Path string
}

// ImportDir reads a directory of libtorrent-format resume files laid out as
// qBittorrent's BT_backup is: "<40 hex>.fastresume" with "<40 hex>.torrent"
// beside it (qBittorrent 4.x moves "info" out of the resume data into that
// file) or, failing that, the "info" inside the resume file, which is how
// libtorrent itself writes it. Each resume file is decoded with Decode
// (qBittorrent's "qBt-*" keys are ignored, "qBt-savePath" stands in for an
// empty "save_path"); the .torrent is parsed with metainfo.Load, and both
// must name the same torrent.
//
// A file that cannot be adopted gives an *fs.PathError (Op "import")
// naming it, whose Err is the cause (a *FormatError of kind ErrNoMetadata,
// ErrInfoHashMismatch, ..., or a metainfo or I/O error), and the others are
// still imported, in file-name order. Safe from any goroutine.
func ImportDir(dir string) ([]Imported, []error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, []error{err}
	}
	var (
		out  []Imported
		errs []error
	)
	for _, e := range entries {
		name := e.Name()
		h, ok := strings.CutSuffix(name, Ext)
		if !ok || len(h) != 40 || !e.Type().IsRegular() {
			continue
		}
		if _, err := hex.DecodeString(h); err != nil {
			continue
		}
		path := filepath.Join(dir, name)
		im, err := importOne(path, filepath.Join(dir, h+".torrent"))
		if err != nil {
			errs = append(errs, &fs.PathError{Op: "import", Path: path, Err: err})
			continue
		}
		out = append(out, im)
	}
	return out, errs
}

func importOne(path, torrentPath string) (Imported, error) {
	d, err := loadFile(path)
	if err != nil {
		return Imported{}, err
	}
	var mi *metainfo.MetaInfo
	switch _, serr := os.Stat(torrentPath); {
	case serr == nil:
		if mi, err = metainfo.Load(torrentPath); err != nil {
			return Imported{}, err
		}
		if mi.InfoHash.V1 != d.InfoHash.V1 {
			return Imported{}, fmtErr(ErrInfoHashMismatch, "info-hash",
				filepath.Base(torrentPath)+" is torrent "+mi.InfoHash.V1.String()+", the resume data "+d.InfoHash.V1.String())
		}
	case !errors.Is(serr, fs.ErrNotExist):
		return Imported{}, serr
	case d.Info != nil:
		// Decode checked that it hashes to the info-hash and parses.
		wrapped := make([]byte, 0, len(d.Info)+8)
		wrapped = append(append(append(wrapped, "d4:info"...), d.Info...), 'e')
		if mi, err = metainfo.Parse(wrapped); err != nil {
			return Imported{}, &FormatError{Kind: ErrBadInfo, Key: "info", Err: err}
		}
	default:
		return Imported{}, fmtErr(ErrNoMetadata, "info", "no "+filepath.Base(torrentPath)+" beside it and no info inside")
	}
	// Without "info" Decode could only bound counts by the limits; now the
	// torrent is known, check them against it.
	if err := d.validate(&mi.Info); err != nil {
		return Imported{}, err
	}
	if d.Info == nil {
		d.Info = mi.InfoBytes
	}
	return Imported{Data: d, MetaInfo: mi, Path: path}, nil
}
