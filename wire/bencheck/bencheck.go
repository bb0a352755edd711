// Package bencheck validates bencoded bytes from untrusted sources before a
// decoder sees them.
//
// The anacrolix decoder (the module's bencode dependency) trusts declared
// string lengths: "d134000000:x" makes it allocate 128 MiB for a 12-byte
// input, and it recurses once per nesting level without limit. Every
// parser of peer input (the BEP 10 extension handshake, ut_pex, metainfo)
// runs Check first, which walks the input once without allocating and
// refuses a string longer than what is left, nesting past a bound, and
// malformed syntax.
package bencheck

import "errors"

// Errors of Check and End.
var (
	ErrSyntax    = errors.New("bencheck: bencode syntax error")
	ErrTruncated = errors.New("bencheck: bencode value truncated")
	ErrTooDeep   = errors.New("bencheck: bencode nested too deeply")
	ErrTrailing  = errors.New("bencheck: trailing bytes after bencode value")
)

// Check verifies that data is exactly one well-formed bencode value, nested
// at most maxDepth lists or dictionaries deep, with every string length
// within the input. Integers need at least one digit; leading zeros and
// "-0" pass (peers send them, and decoders read them), and values are not
// range-checked (decoders do that).
func Check(data []byte, maxDepth int) error { return check(data, maxDepth, false) }

// CheckCanonical is Check that also refuses the integers BEP 3 forbids
// (leading zeros, "-0"), for data whose bytes are hashed, such as an info
// dictionary.
func CheckCanonical(data []byte, maxDepth int) error { return check(data, maxDepth, true) }

// End returns the offset just past the value starting at data[pos],
// checking it as CheckCanonical does.
func End(data []byte, pos, maxDepth int) (int, error) {
	return scanValue(data, pos, 0, maxDepth, true)
}

func check(data []byte, maxDepth int, canonical bool) error {
	end, err := scanValue(data, 0, 0, maxDepth, canonical)
	if err != nil {
		return err
	}
	if end != len(data) {
		return ErrTrailing
	}
	return nil
}

func scanValue(data []byte, pos, depth, maxDepth int, canonical bool) (int, error) {
	if pos >= len(data) {
		return 0, ErrTruncated
	}
	switch c := data[pos]; {
	case c == 'i':
		return scanInt(data, pos+1, canonical)
	case c >= '0' && c <= '9':
		return scanString(data, pos)
	case c == 'l' || c == 'd':
		if depth >= maxDepth {
			return 0, ErrTooDeep
		}
		pos++
		for key := true; ; key = !key {
			if pos >= len(data) {
				return 0, ErrTruncated
			}
			if data[pos] == 'e' {
				if c == 'd' && !key {
					return 0, ErrSyntax // a key without a value
				}
				return pos + 1, nil
			}
			if c == 'd' && key && (data[pos] < '0' || data[pos] > '9') {
				return 0, ErrSyntax // dictionary keys must be strings
			}
			var err error
			if pos, err = scanValue(data, pos, depth+1, maxDepth, canonical); err != nil {
				return 0, err
			}
		}
	default:
		return 0, ErrSyntax
	}
}

// scanInt scans the digits of an integer after its 'i'.
func scanInt(data []byte, pos int, canonical bool) (int, error) {
	start := pos
	if pos < len(data) && data[pos] == '-' {
		pos++
	}
	digits := pos
	for pos < len(data) && data[pos] >= '0' && data[pos] <= '9' {
		pos++
	}
	if pos >= len(data) {
		return 0, ErrTruncated
	}
	n := pos - digits
	if data[pos] != 'e' || n == 0 ||
		(canonical && data[digits] == '0' && (n > 1 || digits > start)) {
		return 0, ErrSyntax
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
			return 0, ErrTruncated // also stops overflow of n
		}
	}
	if pos >= len(data) {
		return 0, ErrTruncated
	}
	if data[pos] != ':' || (data[start] == '0' && pos-start > 1) {
		return 0, ErrSyntax
	}
	pos++
	if n > len(data)-pos {
		return 0, ErrTruncated
	}
	return pos + n, nil
}
