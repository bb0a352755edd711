package metainfo

import "errors"

// Sentinels that classify every error this package returns; match them with
// errors.Is. Each maps to one user-visible cause, so callers can turn them
// into alerts without parsing messages.
var (
	// ErrNotTorrent: the data is not bencode, not a dictionary, or has no
	// "info" dictionary.
	ErrNotTorrent = errors.New("metainfo: not a torrent")
	// ErrBadInfo: the info dictionary is present but invalid.
	ErrBadInfo = errors.New("metainfo: invalid info dictionary")
	// ErrV2Only: a BitTorrent v2-only torrent (no v1 "pieces"); hybrid
	// torrents are accepted through their v1 part.
	ErrV2Only = errors.New("metainfo: v2-only torrents not supported yet")
	// ErrTooLarge: a length or count exceeds one of the package's limits.
	ErrTooLarge = errors.New("metainfo: limit exceeded")
	// ErrUnsafePath: a path would leave its directory or has an unsafe
	// component.
	ErrUnsafePath = errors.New("metainfo: unsafe path")
	// ErrBadHash: an info-hash string is neither 40 hex nor 32 base32 chars.
	ErrBadHash = errors.New("metainfo: invalid info-hash")
	// ErrBadMagnet: a magnet URI is malformed or lacks a usable info-hash.
	ErrBadMagnet = errors.New("metainfo: invalid magnet URI")
	// ErrUnsupportedFile: Create met a symlink, device, socket or pipe.
	ErrUnsupportedFile = errors.New("metainfo: unsupported file type")
	// ErrEmpty: the torrent would hold (or holds) no data.
	ErrEmpty = errors.New("metainfo: torrent has no data")
	// ErrBadOption: a CreateOptions field is out of range.
	ErrBadOption = errors.New("metainfo: invalid option")
)

// Error describes what was wrong and where. Kind is one of the sentinels
// above; Err, when set, is the underlying cause (a bencode or I/O error).
// errors.Is matches both.
type Error struct {
	Kind   error  // one of the Err* sentinels
	Field  string // the dictionary key or input part at fault, e.g. "info.piece length"
	Reason string // what was wrong with it
	Err    error  // underlying cause, may be nil
}

// Error implements the error interface.
func (e *Error) Error() string {
	s := e.Kind.Error()
	if e.Field != "" {
		s += ": " + e.Field
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap lets errors.Is and errors.As see both the sentinel and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

func newErr(kind error, field, reason string) *Error {
	return &Error{Kind: kind, Field: field, Reason: reason}
}
