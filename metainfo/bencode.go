package metainfo

import (
	"bytes"
	"errors"
	"strconv"
)

// Limits on hostile input. Each bounds memory or work that a peer (BEP 9
// metadata) or a downloaded .torrent file controls.
const (
	// MaxTorrentSize bounds a .torrent file or info dictionary. The largest
	// real torrents (hundreds of thousands of files) are a few tens of MiB.
	MaxTorrentSize = 64 << 20
	// MaxDepth bounds bencode nesting. Real torrents nest 4 deep; the limit
	// keeps the recursive decoder's stack small.
	MaxDepth = 64
	// MaxPieceLength bounds "piece length"; a worker buffers whole pieces.
	MaxPieceLength = 256 << 20
	// MaxFiles bounds the number of files in one torrent.
	MaxFiles = 1 << 20
)

var (
	errSyntax    = errors.New("bencode syntax error")
	errTruncated = errors.New("bencode value truncated")
	errTooDeep   = errors.New("bencode nested too deeply")
	errTrailing  = errors.New("trailing bytes after bencode value")
)

// checkBencode verifies that data is exactly one well-formed bencode value
// nested at most MaxDepth deep, with every string length within the input.
// Parsing runs it once over the whole input; the as* helpers below then
// rely on it. (The anacrolix decoder, which Create uses for encoding only,
// would trust declared string lengths, allocating up to 128 MiB for a
// 10-byte input, and recurse without limit.)
func checkBencode(data []byte) error {
	end, err := scanValue(data, 0, 0)
	if err != nil {
		return err
	}
	if end != len(data) {
		return errTrailing
	}
	return nil
}

// scanValue returns the offset just past the value starting at data[pos].
func scanValue(data []byte, pos, depth int) (int, error) {
	if pos >= len(data) {
		return 0, errTruncated
	}
	switch c := data[pos]; {
	case c == 'i':
		return scanInt(data, pos+1)
	case c >= '0' && c <= '9':
		return scanString(data, pos)
	case c == 'l' || c == 'd':
		if depth >= MaxDepth {
			return 0, errTooDeep
		}
		pos++
		for key := true; ; key = !key {
			if pos >= len(data) {
				return 0, errTruncated
			}
			if data[pos] == 'e' {
				if c == 'd' && !key {
					return 0, errSyntax // a key without a value
				}
				return pos + 1, nil
			}
			if c == 'd' && key && (data[pos] < '0' || data[pos] > '9') {
				return 0, errSyntax // dictionary keys must be strings
			}
			var err error
			if pos, err = scanValue(data, pos, depth+1); err != nil {
				return 0, err
			}
		}
	default:
		return 0, errSyntax
	}
}

// scanInt scans the digits of an integer after its 'i'. It rejects leading
// zeros and "-0", as BEP 3 does; the value itself may exceed int64 (only
// fields we read are range-checked, when decoded).
func scanInt(data []byte, pos int) (int, error) {
	start := pos
	if pos < len(data) && data[pos] == '-' {
		pos++
	}
	digits := pos
	for pos < len(data) && data[pos] >= '0' && data[pos] <= '9' {
		pos++
	}
	if pos >= len(data) {
		return 0, errTruncated
	}
	n := pos - digits
	if data[pos] != 'e' || n == 0 ||
		(data[digits] == '0' && (n > 1 || digits > start)) {
		return 0, errSyntax
	}
	return pos + 1, nil
}

// scanString scans "<len>:<bytes>", checking len against the input left.
func scanString(data []byte, pos int) (int, error) {
	start := pos
	n := 0
	for ; pos < len(data) && data[pos] >= '0' && data[pos] <= '9'; pos++ {
		n = n*10 + int(data[pos]-'0')
		if n > len(data) {
			return 0, errTruncated // also stops overflow of n
		}
	}
	if pos >= len(data) {
		return 0, errTruncated
	}
	if data[pos] != ':' || (data[start] == '0' && pos-start > 1) {
		return 0, errSyntax
	}
	pos++
	if n > len(data)-pos {
		return 0, errTruncated
	}
	return pos + n, nil
}

// The helpers below decode one raw value that checkBencode accepted (as
// part of a larger value). They slice the input instead of going through a
// reflective decoder: a 200,000-file torrent parses about ten times faster,
// and each helper checks the value's type byte itself, where the anacrolix
// decoder would coerce a one-element list into its element ("l4:spame"
// into "spam") and let malformed torrents through. Returned slices alias
// the input.

// dict maps keys to raw values; for a repeated key the last value wins.
type dict = map[string][]byte

func asDict(raw []byte) (dict, bool) {
	if len(raw) == 0 || raw[0] != 'd' {
		return nil, false
	}
	d := dict{}
	pos := 1
	for pos < len(raw) && raw[pos] != 'e' {
		kEnd, err := scanValue(raw, pos, 0)
		if err != nil {
			return nil, false
		}
		key, ok := asString(raw[pos:kEnd])
		if !ok {
			return nil, false
		}
		vEnd, err := scanValue(raw, kEnd, 0)
		if err != nil {
			return nil, false
		}
		d[key] = raw[kEnd:vEnd]
		pos = vEnd
	}
	return d, pos == len(raw)-1
}

func asList(raw []byte) ([][]byte, bool) {
	if len(raw) == 0 || raw[0] != 'l' {
		return nil, false
	}
	var l [][]byte
	pos := 1
	for pos < len(raw) && raw[pos] != 'e' {
		end, err := scanValue(raw, pos, 0)
		if err != nil {
			return nil, false
		}
		l = append(l, raw[pos:end])
		pos = end
	}
	return l, pos == len(raw)-1
}

func asInt(raw []byte) (int64, bool) {
	if len(raw) < 3 || raw[0] != 'i' || raw[len(raw)-1] != 'e' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(raw[1:len(raw)-1]), 10, 64)
	return n, err == nil // err: out of int64 range
}

// asString copies the string out, so results never alias the input.
func asString(raw []byte) (string, bool) {
	if len(raw) == 0 || raw[0] < '0' || raw[0] > '9' {
		return "", false
	}
	i := bytes.IndexByte(raw, ':')
	if i < 0 {
		return "", false
	}
	n, err := strconv.Atoi(string(raw[:i]))
	if err != nil || n != len(raw)-i-1 {
		return "", false
	}
	return string(raw[i+1:]), true
}

// asStringList decodes a list whose elements are all strings.
func asStringList(raw []byte) ([]string, bool) {
	l, ok := asList(raw)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, ok := asString(e)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}
