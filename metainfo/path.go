package metainfo

// Torrent file names can never escape the download directory. Two layers
// guarantee it:
//
//  1. Parse sanitises every name and path component the way libtorrent does
//     (rewrite, don't refuse, so odd but harmless torrents still download):
//     see SanitizeComponent. A path left with no components becomes "_".
//     Duplicate paths get a ".N" suffix (see dedupePaths).
//  2. SafeJoin, which storage uses to build real paths, refuses any
//     component that is not already sanitised and then checks the joined
//     result lexically against the directory.
//
// Neither layer looks at the file system: a symlink planted inside the
// download directory is the storage layer's concern.

import (
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxComponentLength is the longest path component in bytes that Linux,
// macOS and Windows file systems all accept.
const MaxComponentLength = 255

// maxKeptExtension is the longest extension (with its dot) that truncation
// keeps, so "very long name….mkv" stays playable.
const maxKeptExtension = 16

// SanitizeComponent turns one untrusted name into a safe path component, or
// returns "" when the component must be dropped. The rule:
//   - invalid UTF-8 bytes, '/', '\\', ':' (Windows drive letters and NTFS
//     streams), NUL and other control characters become '_';
//   - bidirectional-override characters (U+200E, U+200F, U+202A–U+202E,
//     U+2066–U+2069), which disguise file extensions, are removed;
//   - the result is cut to MaxComponentLength bytes on a rune boundary,
//     keeping a short extension;
//   - "", ".", ".." and anything made only of dots and spaces (which Windows
//     trims to nothing) is dropped.
//
// The rule is the same on every OS so a torrent maps to the same layout
// everywhere; other Windows-reserved names (CON, "<>|?*") are left alone.
func SanitizeComponent(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteByte('_')
		case r == '/' || r == '\\' || r == ':' || r < 0x20 || r == 0x7f:
			b.WriteByte('_')
		case isBidiControl(r):
			// removed
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	out := truncateComponent(b.String(), MaxComponentLength)
	if strings.Trim(out, ". ") == "" {
		return ""
	}
	return out
}

func isBidiControl(r rune) bool {
	return r == 0x200e || r == 0x200f || (r >= 0x202a && r <= 0x202e) ||
		(r >= 0x2066 && r <= 0x2069)
}

// truncateComponent cuts valid UTF-8 s to at most max bytes without splitting
// a rune, keeping an extension of up to maxKeptExtension bytes.
func truncateComponent(s string, max int) string {
	if len(s) <= max {
		return s
	}
	base, ext := splitExt(s)
	if len(ext) > maxKeptExtension || len(ext) >= max {
		base, ext = s, ""
	}
	return cutRunes(base, max-len(ext)) + ext
}

// cutRunes returns the longest prefix of s of at most n bytes that ends on a
// rune boundary.
func cutRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// splitExt splits "name.ext" into "name" and ".ext"; a leading dot (".bashrc")
// is part of the name.
func splitExt(s string) (base, ext string) {
	if i := strings.LastIndexByte(s, '.'); i > 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

// sanitizePath sanitises each component and drops the empty ones; a path
// that ends up empty becomes ["_"] so every file keeps a name.
func sanitizePath(components []string) []string {
	out := make([]string, 0, len(components))
	for _, c := range components {
		if c = SanitizeComponent(c); c != "" {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		out = append(out, "_")
	}
	return out
}

// dedupePaths makes file paths unique, in place. A file whose path equals an
// earlier file's path, or equals a directory that another file lives in,
// gets ".1", ".2", … inserted before its extension ("a.txt" -> "a.1.txt"),
// like libtorrent. Directories are never renamed, so the first file of a
// given path keeps its name and the result depends only on file order.
// Comparison is byte-exact: on case-insensitive file systems "A" and "a"
// still collide, which can corrupt data but cannot escape the directory.
func dedupePaths(files []File) {
	dirs := make(map[string]struct{})
	for _, f := range files {
		for i := 1; i < len(f.Path); i++ {
			dirs[pathKey(f.Path[:i])] = struct{}{}
		}
	}
	taken := make(map[string]struct{}, len(files))
	// next remembers, per original path, the suffix to try next, so a
	// torrent of a million same-named files is renamed in linear time.
	next := make(map[string]int)
	for i := range files {
		p := files[i].Path
		key := pathKey(p)
		if !collides(key, dirs, taken) {
			taken[key] = struct{}{}
			continue
		}
		orig, last := key, p[len(p)-1]
		n := max(next[orig], 1)
		for ; ; n++ {
			p[len(p)-1] = withSuffix(last, n)
			if key = pathKey(p); !collides(key, dirs, taken) {
				break
			}
		}
		next[orig] = n + 1
		taken[key] = struct{}{}
	}
}

func collides(key string, sets ...map[string]struct{}) bool {
	for _, s := range sets {
		if _, ok := s[key]; ok {
			return true
		}
	}
	return false
}

// pathKey joins sanitised components; they never contain '/', so the key is
// unambiguous.
func pathKey(p []string) string { return strings.Join(p, "/") }

// withSuffix inserts ".n" before name's extension, staying within
// MaxComponentLength.
func withSuffix(name string, n int) string {
	suffix := "." + strconv.Itoa(n)
	base, ext := splitExt(name)
	if len(ext) > maxKeptExtension {
		base, ext = name, ""
	}
	return cutRunes(base, MaxComponentLength-len(suffix)-len(ext)) + suffix + ext
}

// SafeJoin joins dir and sanitised path components (such as File.Path) into
// a path that is guaranteed to lie strictly inside dir. It refuses, with
// ErrUnsafePath, an empty component list and any component that
// SanitizeComponent would change or drop (so "..", "a/b", "C:" and NUL never
// reach the file system), and then checks the joined path with filepath.Rel
// as a second, independent guard.
func SafeJoin(dir string, components ...string) (string, error) {
	if len(components) == 0 {
		return "", newErr(ErrUnsafePath, "", "no path components")
	}
	for _, c := range components {
		if c == "" || SanitizeComponent(c) != c {
			return "", &Error{Kind: ErrUnsafePath, Reason: "unsafe component " + strconv.Quote(c)}
		}
	}
	base := filepath.Clean(dir)
	joined := filepath.Join(append([]string{base}, components...)...)
	rel, err := filepath.Rel(base, joined)
	if err != nil || rel == "." || rel == ".." || filepath.IsAbs(rel) ||
		strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", &Error{Kind: ErrUnsafePath, Reason: "escapes " + strconv.Quote(dir), Err: err}
	}
	return joined, nil
}
