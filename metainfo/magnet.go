package metainfo

import (
	"net/url"
	"strings"
)

// MaxMagnetLength bounds a magnet URI; real ones with dozens of trackers
// are a few KiB.
const MaxMagnetLength = 64 << 10

const (
	magnetPrefix = "magnet:?"
	btihPrefix   = "urn:btih:"
	// btmhPrefix starts a BEP 52 v2 hash: multihash code 0x12 (SHA-256),
	// length 0x20.
	btmhPrefix = "urn:btmh:1220"
)

// Magnet is a parsed magnet URI (BEP 9). Name and Peers are untrusted
// display hints: Name is not sanitised and must not be used as a path.
type Magnet struct {
	InfoHash InfoHash
	Name     string   // "dn"
	Trackers []string // "tr", in order, empty ones dropped
	Peers    []string // "x.pe", host:port, empty ones dropped
}

// ParseMagnet parses a magnet URI. It needs at least one "xt" of
// urn:btih:<40 hex or 32 base32> or urn:btmh:1220<64 hex>; both may appear
// (hybrid torrents), but not two different hashes of one version. Keys and
// values are percent-decoded ('+' means space); unknown keys are ignored;
// for a repeated "dn" the first wins.
func ParseMagnet(uri string) (Magnet, error) {
	var m Magnet
	if len(uri) > MaxMagnetLength {
		return m, newErr(ErrTooLarge, "magnet", "URI too long")
	}
	if len(uri) < len(magnetPrefix) || !strings.EqualFold(uri[:len(magnetPrefix)], magnetPrefix) {
		return m, newErr(ErrBadMagnet, "", `not a "magnet:?" URI`)
	}
	haveName := false
	for _, kv := range strings.Split(uri[len(magnetPrefix):], "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return Magnet{}, &Error{Kind: ErrBadMagnet, Field: k, Reason: "bad escape", Err: err}
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return Magnet{}, &Error{Kind: ErrBadMagnet, Field: key, Reason: "bad escape", Err: err}
		}
		switch key {
		case "xt":
			if err := m.InfoHash.setXT(val); err != nil {
				return Magnet{}, err
			}
		case "dn":
			if !haveName {
				m.Name, haveName = val, true
			}
		case "tr":
			if val != "" {
				m.Trackers = append(m.Trackers, val)
			}
		case "x.pe":
			if val != "" {
				m.Peers = append(m.Peers, val)
			}
		}
	}
	if m.InfoHash.IsZero() {
		return Magnet{}, newErr(ErrBadMagnet, "xt", "no urn:btih or urn:btmh info-hash")
	}
	return m, nil
}

// setXT records one "xt" value. Other URN kinds (e.g. ed2k) are ignored.
func (h *InfoHash) setXT(xt string) error {
	switch {
	case hasPrefixFold(xt, btihPrefix):
		v1, err := ParseHashV1(xt[len(btihPrefix):])
		if err != nil {
			return &Error{Kind: ErrBadMagnet, Field: "xt", Reason: "bad btih", Err: err}
		}
		if h.HasV1() && h.V1 != v1 {
			return newErr(ErrBadMagnet, "xt", "two different btih hashes")
		}
		h.V1 = v1
	case hasPrefixFold(xt, "urn:btmh:"):
		if !hasPrefixFold(xt, btmhPrefix) {
			return newErr(ErrBadMagnet, "xt", "btmh is not a SHA-256 multihash")
		}
		v2, err := ParseHashV2(xt[len(btmhPrefix):])
		if err != nil {
			return &Error{Kind: ErrBadMagnet, Field: "xt", Reason: "bad btmh", Err: err}
		}
		if h.HasV2() && h.V2 != v2 {
			return newErr(ErrBadMagnet, "xt", "two different btmh hashes")
		}
		h.V2 = v2
	}
	return nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// String formats m as a magnet URI that ParseMagnet turns back into m. A
// Magnet with a zero InfoHash formats, but does not parse back.
func (m Magnet) String() string {
	var b strings.Builder
	b.WriteString(magnetPrefix)
	sep := ""
	add := func(k, v string) {
		b.WriteString(sep)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v)
		sep = "&"
	}
	if m.InfoHash.HasV1() {
		add("xt", btihPrefix+m.InfoHash.V1.String())
	}
	if m.InfoHash.HasV2() {
		add("xt", btmhPrefix+m.InfoHash.V2.String())
	}
	if m.Name != "" {
		add("dn", url.QueryEscape(m.Name))
	}
	for _, t := range m.Trackers {
		if t != "" {
			add("tr", url.QueryEscape(t))
		}
	}
	for _, p := range m.Peers {
		if p != "" {
			add("x.pe", url.QueryEscape(p))
		}
	}
	return b.String()
}
