package metainfo

import (
	"fmt"
	"math"
	"strings"
)

// File is one file of a torrent.
type File struct {
	// Path is relative to the save directory and includes the torrent's
	// name: [Name] for a single-file torrent, [Name, dir…, file] for a
	// multi-file one, so a torrent named X lives at DIR/X. Every component
	// is sanitised (see SanitizeComponent) and paths are unique.
	Path   []string
	Length int64
	// Offset is where the file starts in the torrent's concatenated data.
	Offset int64
	// Attr is the BEP 47 "attr" string, e.g. "p" for a pad file. Symlink
	// entries ("l") are kept as plain files; their targets are ignored.
	Attr string
}

// IsPad reports whether f is a BEP 47 pad file, which holds zeros that
// clients need not store.
func (f File) IsPad() bool { return strings.Contains(f.Attr, "p") }

// Info is a parsed info dictionary; see the package doc for its invariants.
type Info struct {
	Name        string // a single safe path component
	PieceLength int64
	Pieces      []HashV1 // one per piece
	Files       []File   // at least one; see File.Path for the layout
	TotalLength int64
	Private     bool
	Source      string
	// MetaVersion is the BEP 52 "meta version": 0 when absent (v1), 2 for a
	// hybrid torrent, whose v1 part is what was parsed.
	MetaVersion int64
}

// NumPieces returns the number of pieces.
func (i *Info) NumPieces() int { return len(i.Pieces) }

// PieceSize returns the length of piece index: PieceLength for all but the
// last piece, which may be shorter. It returns 0 for an index out of range.
func (i *Info) PieceSize(index int) int64 {
	n := len(i.Pieces)
	if index < 0 || index >= n {
		return 0
	}
	if index == n-1 {
		return i.TotalLength - int64(n-1)*i.PieceLength
	}
	return i.PieceLength
}

// IsSingleFile reports whether the info dictionary describes one file
// ("length") rather than a list ("files"). The path rule makes this
// derivable: only a single-file torrent has a one-component path, since a
// multi-file torrent (even of one file) nests its files under Name.
func (i *Info) IsSingleFile() bool { return len(i.Files) == 1 && len(i.Files[0].Path) == 1 }

// ParseInfo parses a bencoded info dictionary, such as metadata received
// from a peer via ut_metadata (BEP 9). It checks the syntax and every limit
// itself, so infoBytes may be hostile. The hash to compare against is
// SHA-1(infoBytes); ParseInfo does not compute it.
func ParseInfo(infoBytes []byte) (*Info, error) {
	if len(infoBytes) > MaxTorrentSize {
		return nil, newErr(ErrTooLarge, "info", fmt.Sprintf("%d bytes exceeds %d", len(infoBytes), MaxTorrentSize))
	}
	if err := checkBencode(infoBytes); err != nil {
		return nil, &Error{Kind: ErrBadInfo, Field: "info", Err: err}
	}
	return parseInfo(infoBytes)
}

func badInfo(field, format string, args ...any) *Error {
	return newErr(ErrBadInfo, "info."+field, fmt.Sprintf(format, args...))
}

// parseInfo decodes an info dictionary whose syntax checkBencode accepted.
func parseInfo(raw []byte) (*Info, error) {
	d, ok := asDict(raw)
	if !ok {
		return nil, newErr(ErrBadInfo, "info", "not a dictionary")
	}
	info := &Info{}
	if v, ok := d["meta version"]; ok {
		if info.MetaVersion, ok = asInt(v); !ok {
			return nil, badInfo("meta version", "not an integer")
		}
	}
	rawPieces, hasPieces := d["pieces"]
	if !hasPieces {
		if info.MetaVersion >= 2 {
			return nil, &Error{Kind: ErrV2Only, Field: "info.pieces", Reason: "absent"}
		}
		return nil, badInfo("pieces", "missing")
	}

	name, ok := asString(d["name.utf-8"])
	if !ok {
		if name, ok = asString(d["name"]); !ok {
			return nil, badInfo("name", "missing or not a string")
		}
	}
	if info.Name = SanitizeComponent(name); info.Name == "" {
		info.Name = "_"
	}

	pl, ok := asInt(d["piece length"])
	switch {
	case !ok:
		return nil, badInfo("piece length", "missing or not an integer")
	case pl <= 0:
		return nil, badInfo("piece length", "%d is not positive", pl)
	case pl > MaxPieceLength:
		return nil, &Error{Kind: ErrTooLarge, Field: "info.piece length",
			Reason: fmt.Sprintf("%d exceeds %d", pl, MaxPieceLength)}
	}
	info.PieceLength = pl

	if err := info.parseFiles(d); err != nil {
		return nil, err
	}

	pieces, ok := asString(rawPieces)
	if !ok {
		return nil, badInfo("pieces", "not a string")
	}
	if len(pieces)%len(HashV1{}) != 0 {
		return nil, badInfo("pieces", "length %d is not a multiple of 20", len(pieces))
	}
	// ceil without overflow: TotalLength > 0 is checked by parseFiles.
	want := (info.TotalLength-1)/pl + 1
	if got := int64(len(pieces) / len(HashV1{})); got != want {
		return nil, badInfo("pieces", "%d hashes for %d bytes in %d-byte pieces, want %d",
			got, info.TotalLength, pl, want)
	}
	info.Pieces = make([]HashV1, want)
	for i := range info.Pieces {
		copy(info.Pieces[i][:], pieces[i*len(HashV1{}):])
	}

	if p, ok := asInt(d["private"]); ok && p != 0 {
		info.Private = true
	}
	info.Source, _ = asString(d["source"])
	return info, nil
}

// parseFiles fills Files and TotalLength from "length" or
// "files" (exactly one must be present).
func (info *Info) parseFiles(d dict) error {
	rawLen, hasLen := d["length"]
	rawFiles, hasFiles := d["files"]
	switch {
	case hasLen && hasFiles:
		return badInfo("files", `both "length" and "files" present`)
	case hasLen:
		n, ok := asInt(rawLen)
		if !ok || n < 0 {
			return badInfo("length", "not a non-negative integer")
		}
		if n == 0 {
			return &Error{Kind: ErrEmpty, Field: "info.length", Reason: "zero"}
		}
		attr, _ := asString(d["attr"])
		info.TotalLength = n
		info.Files = []File{{Path: []string{info.Name}, Length: n, Attr: attr}}
		return nil
	case !hasFiles:
		return badInfo("files", `neither "length" nor "files" present`)
	}

	list, ok := asList(rawFiles)
	switch {
	case !ok:
		return badInfo("files", "not a list")
	case len(list) == 0:
		return &Error{Kind: ErrEmpty, Field: "info.files", Reason: "empty list"}
	case len(list) > MaxFiles:
		return &Error{Kind: ErrTooLarge, Field: "info.files",
			Reason: fmt.Sprintf("%d files exceeds %d", len(list), MaxFiles)}
	}
	info.Files = make([]File, len(list))
	var total int64
	for i, raw := range list {
		f, err := parseFile(raw, i)
		if err != nil {
			return err
		}
		if f.Length > math.MaxInt64-total {
			return badInfo(fmt.Sprintf("files[%d].length", i), "total length overflows")
		}
		f.Offset = total
		total += f.Length
		f.Path = append([]string{info.Name}, sanitizePath(f.Path)...)
		info.Files[i] = f
	}
	if total == 0 {
		return &Error{Kind: ErrEmpty, Field: "info.files", Reason: "all files are empty"}
	}
	info.TotalLength = total
	dedupePaths(info.Files)
	return nil
}

// parseFile decodes entry i of "files"; Path is returned unsanitised.
func parseFile(raw []byte, i int) (File, error) {
	field := func(k string) string { return fmt.Sprintf("files[%d].%s", i, k) }
	d, ok := asDict(raw)
	if !ok {
		return File{}, badInfo(field(""), "not a dictionary")
	}
	n, ok := asInt(d["length"])
	if !ok || n < 0 {
		return File{}, badInfo(field("length"), "missing or not a non-negative integer")
	}
	path, ok := asStringList(d["path.utf-8"])
	if !ok {
		if path, ok = asStringList(d["path"]); !ok {
			return File{}, badInfo(field("path"), "missing or not a list of strings")
		}
	}
	attr, _ := asString(d["attr"])
	return File{Path: path, Length: n, Attr: attr}, nil
}

// validate checks the invariants listed in the package doc. Parsing
// establishes them; tests and fuzzing call validate to prove it.
func (info *Info) validate() error {
	if info.Name == "" || SanitizeComponent(info.Name) != info.Name {
		return fmt.Errorf("name %q not sanitised", info.Name)
	}
	if len(info.Files) == 0 {
		return fmt.Errorf("no files")
	}
	seen := make(map[string]bool, len(info.Files))
	var off int64
	for i, f := range info.Files {
		if f.Offset != off {
			return fmt.Errorf("file %d offset %d, want %d", i, f.Offset, off)
		}
		off += f.Length
		if len(f.Path) == 0 || f.Path[0] != info.Name {
			return fmt.Errorf("file %d path %q does not start with the name", i, f.Path)
		}
		if len(f.Path) == 1 && len(info.Files) != 1 {
			return fmt.Errorf("file %d path %q has the wrong depth", i, f.Path)
		}
		if _, err := SafeJoin("/dl", f.Path...); err != nil {
			return fmt.Errorf("file %d: %w", i, err)
		}
		key := pathKey(f.Path)
		if seen[key] {
			return fmt.Errorf("file %d path %q duplicated", i, f.Path)
		}
		seen[key] = true
	}
	for _, f := range info.Files {
		for j := 1; j < len(f.Path); j++ {
			if seen[pathKey(f.Path[:j])] {
				return fmt.Errorf("path %q is both a file and a directory", f.Path[:j])
			}
		}
	}
	if off != info.TotalLength || off <= 0 {
		return fmt.Errorf("total length %d, files sum to %d", info.TotalLength, off)
	}
	if info.PieceLength <= 0 || int64(len(info.Pieces)) != (off-1)/info.PieceLength+1 {
		return fmt.Errorf("%d pieces of %d for %d bytes", len(info.Pieces), info.PieceLength, off)
	}
	return nil
}
