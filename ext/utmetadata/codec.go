package utmetadata

import (
	"errors"
	"strconv"
)

// Message types (BEP 9 "msg_type").
const (
	MsgRequest = 0
	MsgData    = 1
	MsgReject  = 2
)

// Errors a peer's ut_metadata messages can cause. Each disconnects the peer;
// the *Error carrying them names the detail.
var (
	// ErrMessageTooLarge: a message above MaxMessageSize.
	ErrMessageTooLarge = errors.New("utmetadata: ut_metadata message too large")
	// ErrBadMessage: not a bencoded dictionary, or msg_type/piece missing
	// or not integers.
	ErrBadMessage = errors.New("utmetadata: malformed ut_metadata message")
	// ErrBadPiece: a data message for a piece past the end, or of the
	// wrong length.
	ErrBadPiece = errors.New("utmetadata: ut_metadata piece out of range")
	// ErrBadTotalSize: total_size missing, not positive, above
	// MaxMetadataSize or different from the size seen before.
	ErrBadTotalSize = errors.New("utmetadata: invalid ut_metadata total_size")
)

// Error is a peer's protocol error; errors.Is matches its Kind.
type Error struct {
	Kind   error
	Reason string
}

func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Reason }

// Unwrap returns Kind.
func (e *Error) Unwrap() error { return e.Kind }

func newError(kind error, reason string) *Error { return &Error{Kind: kind, Reason: reason} }

// header is a parsed message dictionary. TotalSize is -1 when absent.
type header struct {
	MsgType   int
	Piece     int
	TotalSize int
}

// maxDepth bounds the nesting of values we skip inside a message
// dictionary; real messages have none.
const maxDepth = 8

// parseMessage parses a ut_metadata message: a bencoded dictionary followed,
// for data messages, by raw bytes starting at the returned offset. Unknown
// keys are skipped. Every length is checked against b before use.
func parseMessage(b []byte) (h header, end int, err error) {
	h = header{MsgType: -1, Piece: -1, TotalSize: -1}
	if len(b) == 0 || b[0] != 'd' {
		return h, 0, newError(ErrBadMessage, "not a dictionary")
	}
	pos := 1
	for {
		if pos >= len(b) {
			return h, 0, newError(ErrBadMessage, "unterminated dictionary")
		}
		if b[pos] == 'e' {
			pos++
			break
		}
		kStart, kEnd, next, err := scanString(b, pos)
		if err != nil {
			return h, 0, err
		}
		pos = next
		var dst *int
		switch string(b[kStart:kEnd]) { // compared, not kept: no allocation
		case "msg_type":
			dst = &h.MsgType
		case "piece":
			dst = &h.Piece
		case "total_size":
			dst = &h.TotalSize
		}
		if dst == nil {
			if pos, err = skipValue(b, pos, 0); err != nil {
				return h, 0, err
			}
			continue
		}
		v, next, err := scanInt(b, pos)
		if err != nil {
			return h, 0, newError(ErrBadMessage, string(b[kStart:kEnd])+" is not an integer")
		}
		*dst, pos = v, next
	}
	if h.MsgType < 0 || h.Piece < 0 {
		return h, 0, newError(ErrBadMessage, "msg_type or piece missing or negative")
	}
	return h, pos, nil
}

// scanString reads a bencoded string at pos: its bytes are b[start:end].
func scanString(b []byte, pos int) (start, end, next int, err error) {
	n := 0
	i := pos
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if i-pos >= 9 {
			return 0, 0, 0, newError(ErrBadMessage, "string length too long")
		}
		n = n*10 + int(b[i]-'0')
	}
	if i == pos || i >= len(b) || b[i] != ':' {
		return 0, 0, 0, newError(ErrBadMessage, "bad string")
	}
	i++
	if n > len(b)-i {
		return 0, 0, 0, newError(ErrBadMessage, "string past the end")
	}
	return i, i + n, i + n, nil
}

// scanInt reads a bencoded integer at pos that fits an int32, enough for
// every field here.
func scanInt(b []byte, pos int) (v, next int, err error) {
	if pos >= len(b) || b[pos] != 'i' {
		return 0, 0, newError(ErrBadMessage, "not an integer")
	}
	i := pos + 1
	neg := false
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	start := i
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if i-start >= 10 {
			return 0, 0, newError(ErrBadMessage, "integer too long")
		}
		v = v*10 + int(b[i]-'0')
	}
	if i == start || i >= len(b) || b[i] != 'e' || (b[start] == '0' && i-start > 1) || (neg && v == 0) {
		return 0, 0, newError(ErrBadMessage, "bad integer")
	}
	if neg {
		v = -v
	}
	return v, i + 1, nil
}

// skipValue steps over any bencoded value at pos.
func skipValue(b []byte, pos, depth int) (int, error) {
	if pos >= len(b) {
		return 0, newError(ErrBadMessage, "value past the end")
	}
	switch c := b[pos]; {
	case c == 'i':
		_, next, err := scanInt(b, pos)
		return next, err
	case c >= '0' && c <= '9':
		_, _, next, err := scanString(b, pos)
		return next, err
	case c == 'l' || c == 'd':
		if depth >= maxDepth {
			return 0, newError(ErrBadMessage, "nested too deep")
		}
		pos++
		for {
			if pos >= len(b) {
				return 0, newError(ErrBadMessage, "unterminated container")
			}
			if b[pos] == 'e' {
				return pos + 1, nil
			}
			var err error
			if c == 'd' {
				if _, _, pos, err = scanString(b, pos); err != nil {
					return 0, err
				}
			}
			if pos, err = skipValue(b, pos, depth+1); err != nil {
				return 0, err
			}
		}
	}
	return 0, newError(ErrBadMessage, "bad value")
}

// appendMessage appends a message dictionary (keys in bencode's sorted
// order); totalSize < 0 leaves total_size out.
func appendMessage(dst []byte, msgType, piece, totalSize int) []byte {
	dst = append(dst, "d8:msg_typei"...)
	dst = strconv.AppendInt(dst, int64(msgType), 10)
	dst = append(dst, "e5:piecei"...)
	dst = strconv.AppendInt(dst, int64(piece), 10)
	dst = append(dst, 'e')
	if totalSize >= 0 {
		dst = append(dst, "10:total_sizei"...)
		dst = strconv.AppendInt(dst, int64(totalSize), 10)
		dst = append(dst, 'e')
	}
	return append(dst, 'e')
}
