package metainfo

import (
	"encoding/base32"
	"encoding/hex"
	"strings"
)

// HashV1 is a SHA-1 info-hash (BEP 3).
type HashV1 [20]byte

// HashV2 is a SHA-256 info-hash (BEP 52).
type HashV2 [32]byte

// String returns the hash as 40 lower-case hex digits.
func (h HashV1) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zeros, i.e. absent.
func (h HashV1) IsZero() bool { return h == HashV1{} }

// String returns the hash as 64 lower-case hex digits.
func (h HashV2) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zeros, i.e. absent.
func (h HashV2) IsZero() bool { return h == HashV2{} }

// ParseHashV1 parses a v1 info-hash written as 40 hex digits or 32 base32
// characters (the older magnet form); both cases are accepted.
func ParseHashV1(s string) (HashV1, error) {
	var h HashV1
	switch len(s) {
	case 2 * len(h):
		if _, err := hex.Decode(h[:], []byte(s)); err != nil {
			return HashV1{}, &Error{Kind: ErrBadHash, Reason: "bad hex", Err: err}
		}
	case 32:
		n, err := base32.StdEncoding.Decode(h[:], []byte(strings.ToUpper(s)))
		if err != nil || n != len(h) {
			return HashV1{}, &Error{Kind: ErrBadHash, Reason: "bad base32", Err: err}
		}
	default:
		return HashV1{}, newErr(ErrBadHash, "", "want 40 hex or 32 base32 characters")
	}
	return h, nil
}

// ParseHashV2 parses a v2 info-hash written as 64 hex digits.
func ParseHashV2(s string) (HashV2, error) {
	var h HashV2
	if len(s) != 2*len(h) {
		return HashV2{}, newErr(ErrBadHash, "", "want 64 hex characters")
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return HashV2{}, &Error{Kind: ErrBadHash, Reason: "bad hex", Err: err}
	}
	return h, nil
}

// InfoHash identifies a torrent by its v1 and/or v2 info-hash, like
// libtorrent's info_hash_t, so v2 support can arrive without API breaks. A
// zero field means that version is absent.
type InfoHash struct {
	V1 HashV1
	V2 HashV2
}

// HasV1 reports whether the v1 hash is present.
func (h InfoHash) HasV1() bool { return !h.V1.IsZero() }

// HasV2 reports whether the v2 hash is present.
func (h InfoHash) HasV2() bool { return !h.V2.IsZero() }

// IsZero reports whether neither hash is present.
func (h InfoHash) IsZero() bool { return !h.HasV1() && !h.HasV2() }

// String returns the hex of the v1 hash if present, else of the v2 hash. It
// is meant for logs; a hybrid's v2 hash is not shown.
func (h InfoHash) String() string {
	if !h.HasV1() && h.HasV2() {
		return h.V2.String()
	}
	return h.V1.String()
}

// Short returns the 20-byte id used on the wire and with trackers: the v1
// hash, or the v2 hash truncated to 20 bytes per BEP 52.
func (h InfoHash) Short() [20]byte {
	if h.HasV1() || !h.HasV2() {
		return h.V1
	}
	var s [20]byte
	copy(s[:], h.V2[:])
	return s
}
