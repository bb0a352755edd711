package wire

// The BEP 10 extension handshake: the payload of extended message 0, a
// bencoded dictionary. It is exchanged once or a few times per connection,
// so it is parsed into maps and allocation is accepted here.
//
// Leniency follows libtorrent, which skips what it does not understand
// rather than dropping the peer:
//   - unknown keys are kept, raw, in Extra;
//   - a known key whose value has the wrong bencode type is ignored, as is
//     an "m" entry that is not an integer in 0..255 and an address of the
//     wrong size;
//   - but a value of the right type that is out of range (a negative port,
//     a metadata_size past MaxMetadataSize) is an *ExtHandshakeError: it is
//     not a client quirk but a broken or hostile peer.
//
// Invariants:
//   - ParseExtHandshake never returns a nil M on success, so a parsed
//     handshake and its Marshal-then-Parse round trip compare equal.
//   - Keys are examined in a fixed order, so the error reported for a
//     handshake with several bad values is always the same one.

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/anacrolix/torrent/bencode"

	"github.com/shardtorrent/shardtorrent/wire/bencheck"
)

// Limits on an extension handshake.
const (
	// MaxExtHandshakeLen is the largest extension handshake payload
	// ParseExtHandshake accepts. Real ones are a few hundred bytes; the
	// bound keeps a peer from making us build maps out of a 2 MiB frame.
	MaxExtHandshakeLen = 64 << 10
	// MaxReqq is the largest "reqq" accepted. Clients advertise a few
	// hundred to a few thousand; anything past a million is not a queue
	// depth anyone can honour and would overflow arithmetic downstream.
	MaxReqq = 1 << 20
	// MaxMetadataSize is the largest BEP 9 "metadata_size" accepted. The
	// largest real info dictionaries are a few tens of MiB; ut_metadata
	// applies its own, smaller limit before allocating.
	MaxMetadataSize = 64 << 20
	// maxExtID is the largest extended message id: it is sent as a byte.
	maxExtID = 255
	// maxPort is the largest TCP/UDP port.
	maxPort = 65535
)

// Keys of the handshake dictionary this package interprets. Any other key
// goes to Extra.
const (
	keyM            = "m"
	keyV            = "v"
	keyP            = "p"
	keyYourIP       = "yourip"
	keyIPv4         = "ipv4"
	keyIPv6         = "ipv6"
	keyReqq         = "reqq"
	keyMetadataSize = "metadata_size"
	keyUploadOnly   = "upload_only"
	keyE            = "e"
)

// ExtHandshake is a BEP 10 extension handshake. Zero fields are omitted by
// Marshal and mean "not sent" after ParseExtHandshake.
type ExtHandshake struct {
	// M maps extension names to the extended message ids the sender wants
	// to receive them on; 0 means the extension is disabled.
	M map[string]int
	// V is the client name and version ("v").
	V string
	// Port is the sender's listen port ("p").
	Port int
	// YourIP is our address as the sender sees it, 4 or 16 bytes ("yourip").
	YourIP []byte
	// IPv4 and IPv6 are the sender's own addresses, 4 and 16 bytes.
	IPv4, IPv6 []byte
	// Reqq is how many outstanding requests the sender accepts.
	Reqq int
	// MetadataSize is the size of the info dictionary (BEP 9), when known.
	MetadataSize int
	// UploadOnly says the sender is a seed or in share mode ("upload_only").
	UploadOnly bool
	// Encryption says the sender prefers encrypted connections ("e").
	Encryption bool
	// Extra holds every other key with its raw bencoded value, so plugins
	// can read their own keys. On Marshal, a key here that is also one of
	// the fields above is ignored: the field wins.
	Extra map[string]bencode.Bytes
}

// ParseExtHandshake parses an extension handshake payload (an extended
// message with ExtID 0, after the id byte). Errors are *ExtHandshakeError,
// matching ErrBadExtHandshake (and also ErrTooLong for a payload above
// MaxExtHandshakeLen). The result does not alias payload.
// Safe from any goroutine.
func ParseExtHandshake(payload []byte) (ExtHandshake, error) {
	var h ExtHandshake
	if len(payload) > MaxExtHandshakeLen {
		return h, &ExtHandshakeError{Kind: ErrTooLong,
			Reason: "payload of " + strconv.Itoa(len(payload)) + " bytes exceeds " + strconv.Itoa(MaxExtHandshakeLen)}
	}
	// Checked here because bencode would happily decode a list or an int
	// into a map's zero value on some inputs, and the message is clearer.
	if len(payload) == 0 || payload[0] != 'd' {
		return h, &ExtHandshakeError{Kind: ErrBadExtHandshake, Reason: "not a bencoded dictionary"}
	}
	var dict map[string]bencode.Bytes
	if err := unmarshal(payload, &dict); err != nil {
		return h, &ExtHandshakeError{Kind: ErrBadExtHandshake, Reason: "bad bencode", Err: err}
	}

	h.M = parseM(dict[keyM])
	if s, ok := stringValue(dict[keyV]); ok {
		h.V = s
	}
	var err error
	if h.Port, err = intValue(dict, keyP, maxPort); err != nil {
		return ExtHandshake{}, err
	}
	if h.Reqq, err = intValue(dict, keyReqq, MaxReqq); err != nil {
		return ExtHandshake{}, err
	}
	if h.MetadataSize, err = intValue(dict, keyMetadataSize, MaxMetadataSize); err != nil {
		return ExtHandshake{}, err
	}
	h.YourIP = addrValue(dict[keyYourIP], 4, 16)
	h.IPv4 = addrValue(dict[keyIPv4], 4, 4)
	h.IPv6 = addrValue(dict[keyIPv6], 16, 16)
	h.UploadOnly = flagValue(dict[keyUploadOnly])
	h.Encryption = flagValue(dict[keyE])

	for k, v := range dict {
		if isKnownKey(k) {
			continue
		}
		if h.Extra == nil {
			h.Extra = make(map[string]bencode.Bytes)
		}
		h.Extra[k] = v
	}
	return h, nil
}

// Marshal encodes h as a bencoded dictionary with sorted keys. "m" is always
// present (BEP 10 requires it); other zero fields are omitted. It fails with
// an *ExtHandshakeError if a field is out of the range ParseExtHandshake
// accepts or an Extra value is not one bencoded value, so what we send is
// always something we would accept.
// Safe from any goroutine, given h is not being modified.
func (h *ExtHandshake) Marshal() ([]byte, error) {
	// Encoded by hand, not through bencode.Marshal: every connection sends
	// one, and in a storm of plaintext handshakes the reflective encoder
	// was 22% of the accepting loop's time (PERF.md, "Connection storms").
	// Values go into vals, fields point into it, and the dictionary is
	// written in key order (bencode sorts keys as raw bytes).
	type field struct {
		key      string
		from, to int
	}
	fields := make([]field, 0, len(h.Extra)+10)
	vals := make([]byte, 0, 128)
	add := func(key string, from int) { fields = append(fields, field{key, from, len(vals)}) }
	for k, v := range h.Extra {
		if isKnownKey(k) {
			continue
		}
		var check bencode.Bytes
		if len(v) == 0 || unmarshal(v, &check) != nil {
			return nil, &ExtHandshakeError{Kind: ErrBadExtHandshake, Key: k, Reason: "Extra value is not one bencoded value"}
		}
		from := len(vals)
		vals = append(vals, v...)
		add(k, from)
	}
	names := make([]string, 0, len(h.M))
	for name, id := range h.M {
		if id < 0 || id > maxExtID {
			return nil, &ExtHandshakeError{Kind: ErrBadExtHandshake, Key: keyM,
				Reason: "extension " + strconv.Quote(name) + " has id " + strconv.Itoa(id) + ", want 0.." + strconv.Itoa(maxExtID)}
		}
		names = append(names, name)
	}
	slices.Sort(names)
	from := len(vals)
	vals = append(vals, 'd')
	for _, name := range names {
		vals = appendBString(vals, name)
		vals = appendBInt(vals, int64(h.M[name]))
	}
	vals = append(vals, 'e')
	add(keyM, from)
	ints := [...]struct {
		key   string
		v     int
		limit int
	}{
		{keyP, h.Port, maxPort},
		{keyReqq, h.Reqq, MaxReqq},
		{keyMetadataSize, h.MetadataSize, MaxMetadataSize},
	}
	for _, f := range ints {
		if err := checkRange(f.key, int64(f.v), f.limit); err != nil {
			return nil, err
		}
		if f.v != 0 {
			from := len(vals)
			vals = appendBInt(vals, int64(f.v))
			add(f.key, from)
		}
	}
	if h.V != "" {
		from := len(vals)
		vals = appendBString(vals, h.V)
		add(keyV, from)
	}
	addrs := [...]struct {
		key      string
		v        []byte
		min, max int
	}{
		{keyYourIP, h.YourIP, 4, 16},
		{keyIPv4, h.IPv4, 4, 4},
		{keyIPv6, h.IPv6, 16, 16},
	}
	for _, a := range addrs {
		if len(a.v) == 0 {
			continue
		}
		if len(a.v) != a.min && len(a.v) != a.max {
			return nil, &ExtHandshakeError{Kind: ErrBadExtHandshake, Key: a.key, Reason: "address of " + strconv.Itoa(len(a.v)) + " bytes"}
		}
		from := len(vals)
		vals = appendBString(vals, string(a.v))
		add(a.key, from)
	}
	if h.UploadOnly {
		from := len(vals)
		vals = appendBInt(vals, 1)
		add(keyUploadOnly, from)
	}
	if h.Encryption {
		from := len(vals)
		vals = appendBInt(vals, 1)
		add(keyE, from)
	}
	slices.SortFunc(fields, func(a, b field) int { return strings.Compare(a.key, b.key) })
	out := make([]byte, 0, len(vals)+16*len(fields)+2)
	out = append(out, 'd')
	for _, f := range fields {
		out = appendBString(out, f.key)
		out = append(out, vals[f.from:f.to]...)
	}
	return append(out, 'e'), nil
}

// appendBString appends s as a bencoded string.
func appendBString(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

// appendBInt appends v as a bencoded integer.
func appendBInt(b []byte, v int64) []byte {
	b = append(b, 'i')
	b = strconv.AppendInt(b, v, 10)
	return append(b, 'e')
}

// maxBencodeDepth bounds the nesting of an extension handshake; real ones
// nest two deep ("m" inside the dictionary).
const maxBencodeDepth = 16

// unmarshal is bencode.Unmarshal behind bencheck (the decoder would
// allocate any declared string length, up to 128 MiB for a 15-byte
// payload) with any panic turned into an error. The bencode decoder
// signals syntax errors by panicking internally and re-panics runtime
// errors; a peer's bytes must never be able to crash the engine, so a
// panic here becomes a rejected handshake.
func unmarshal(b []byte, v any) (err error) {
	if err := bencheck.Check(b, maxBencodeDepth); err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bencode decoder panicked: %v", r)
		}
	}()
	return bencode.Unmarshal(b, v)
}

func isKnownKey(k string) bool {
	switch k {
	case keyM, keyV, keyP, keyYourIP, keyIPv4, keyIPv6, keyReqq, keyMetadataSize, keyUploadOnly, keyE:
		return true
	}
	return false
}

// parseM decodes the "m" dictionary, skipping entries that are not an
// integer id in 0..255 (libtorrent treats those as "not supported"). The
// result is never nil.
func parseM(raw bencode.Bytes) map[string]int {
	m := make(map[string]int)
	if len(raw) == 0 || raw[0] != 'd' {
		return m
	}
	var entries map[string]bencode.Bytes
	if unmarshal(raw, &entries) != nil {
		return m
	}
	// Sorted so that which entries survive does not depend on map order
	// (it cannot today, but keeps the result obviously deterministic).
	names := make([]string, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v := entries[name]
		if len(v) == 0 || v[0] != 'i' {
			continue
		}
		var id int64
		if unmarshal(v, &id) != nil || id < 0 || id > maxExtID {
			continue
		}
		m[name] = int(id)
	}
	return m
}

// intValue returns dict[key] as an int in 0..limit. A missing key or a value
// that is not a bencoded integer is 0 (ignored); an integer outside the
// range, or too large to parse, is an error.
func intValue(dict map[string]bencode.Bytes, key string, limit int) (int, error) {
	raw := dict[key]
	if len(raw) == 0 || raw[0] != 'i' {
		return 0, nil
	}
	var v int64
	if err := unmarshal(raw, &v); err != nil {
		return 0, &ExtHandshakeError{Kind: ErrBadExtHandshake, Key: key, Reason: "bad integer", Err: err}
	}
	if err := checkRange(key, v, limit); err != nil {
		return 0, err
	}
	return int(v), nil
}

func checkRange(key string, v int64, limit int) error {
	if v < 0 || v > int64(limit) {
		return &ExtHandshakeError{Kind: ErrBadExtHandshake, Key: key,
			Reason: "value " + strconv.FormatInt(v, 10) + " outside 0.." + strconv.Itoa(limit)}
	}
	return nil
}

// stringValue returns raw as a string if it is a bencoded string.
func stringValue(raw bencode.Bytes) (string, bool) {
	if len(raw) == 0 || raw[0] < '0' || raw[0] > '9' {
		return "", false
	}
	var s string
	if unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// addrValue returns raw as bytes if it is a bencoded string of length a or b,
// else nil.
func addrValue(raw bencode.Bytes, a, b int) []byte {
	s, ok := stringValue(raw)
	if !ok || (len(s) != a && len(s) != b) {
		return nil
	}
	return []byte(s)
}

// flagValue returns whether raw is a nonzero bencoded integer; anything else,
// including an unparsable integer, is false.
func flagValue(raw bencode.Bytes) bool {
	if len(raw) == 0 || raw[0] != 'i' {
		return false
	}
	var v int64
	return unmarshal(raw, &v) == nil && v != 0
}
