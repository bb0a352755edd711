package resume

import "strconv"

// ErrorKind classifies a resume-data error. The values implement error so
// they work as errors.Is targets; the errors Decode returns are *FormatError,
// whose Is method matches its Kind:
//
//	errors.Is(err, resume.ErrInfoHashMismatch) // match by kind
//	var fe *resume.FormatError
//	errors.As(err, &fe)                        // get the key and reason
type ErrorKind uint8

// The error kinds. Zero is unused so that a zero FormatError is recognisably
// not a real error.
const (
	// ErrNotResume: the bytes are not one bencoded dictionary, or its
	// "file-format" is not "libtorrent resume file" (libtorrent's
	// invalid_file_tag / not_a_dictionary).
	ErrNotResume ErrorKind = iota + 1
	// ErrBadField: a known key holds a value of the wrong type or out of
	// range, or a required key ("info-hash") is missing.
	ErrBadField
	// ErrTooLarge: the input or one of its counts exceeds a limit (MaxSize,
	// MaxPieces, MaxTrackers, ...).
	ErrTooLarge
	// ErrInfoHashMismatch: the embedded "info" dictionary does not hash to
	// "info-hash" (or "info-hash2").
	ErrInfoHashMismatch
	// ErrBadInfo: the embedded "info" dictionary is not a valid info
	// dictionary (metainfo.ParseInfo refused it; Err says why).
	ErrBadInfo
	// ErrNoMetadata: ImportDir found a resume file with neither a .torrent
	// beside it nor an "info" dictionary inside, so the torrent is unknown.
	ErrNoMetadata
)

var kindNames = [...]string{
	ErrNotResume:        "not a libtorrent resume file",
	ErrBadField:         "bad field",
	ErrTooLarge:         "limit exceeded",
	ErrInfoHashMismatch: "info does not match info-hash",
	ErrBadInfo:          "invalid info dictionary",
	ErrNoMetadata:       "no metadata",
}

// String returns a short lower-case description of the kind.
// Safe from any goroutine.
func (k ErrorKind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "error kind " + strconv.Itoa(int(k))
}

// Error makes a kind usable as an errors.Is target.
// Safe from any goroutine.
func (k ErrorKind) Error() string { return "resume: " + k.String() }

// FormatError is resume data that Decode refused. Every error Decode returns
// is a *FormatError. Safe from any goroutine (immutable once returned).
type FormatError struct {
	Kind ErrorKind
	// Key is the top-level key at fault ("pieces", "info", ...), or "" when
	// the input as a whole was refused.
	Key string
	// Reason says what was wrong, in a few words.
	Reason string
	// Err is the underlying cause (a bencode or metainfo error), if any.
	Err error
}

// Error describes the refused key or input, e.g.
// `resume: bad field: key "pieces": 7 pieces, the torrent has 5`.
// Safe from any goroutine.
func (e *FormatError) Error() string {
	s := "resume: " + e.Kind.String()
	if e.Key != "" {
		s += ": key " + strconv.Quote(e.Key)
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is reports whether target is e's Kind, so errors.Is(err, ErrTooLarge)
// works. Safe from any goroutine.
func (e *FormatError) Is(target error) bool {
	k, ok := target.(ErrorKind)
	return ok && k == e.Kind
}

// Unwrap returns the underlying cause, if any. Safe from any goroutine.
func (e *FormatError) Unwrap() error { return e.Err }

func fmtErr(kind ErrorKind, key, reason string) *FormatError {
	return &FormatError{Kind: kind, Key: key, Reason: reason}
}
