package metainfo

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
)

// MetaInfo is a parsed .torrent file.
type MetaInfo struct {
	Info Info
	// InfoBytes is the info dictionary exactly as it appears in the file,
	// unknown keys and key order included; it is what peers exchange over
	// ut_metadata and what the info-hash covers.
	InfoBytes []byte
	// InfoHash.V1 is SHA-1(InfoBytes); V2 is SHA-256(InfoBytes) for hybrid
	// torrents (meta version 2) and zero otherwise.
	InfoHash     InfoHash
	Announce     string
	AnnounceList [][]string
	URLList      []string // BEP 19 web seeds
	Comment      string
	CreatedBy    string
	CreationDate int64 // Unix seconds, 0 when absent
}

// Parse parses a .torrent file. Every limit is checked, so data may come
// from anywhere. Optional fields of the wrong type are ignored, as
// libtorrent does; a bad info dictionary is an error.
func Parse(data []byte) (*MetaInfo, error) {
	if len(data) > MaxTorrentSize {
		return nil, newErr(ErrTooLarge, "", fmt.Sprintf("%d bytes exceeds %d", len(data), MaxTorrentSize))
	}
	if err := checkBencode(data); err != nil {
		return nil, &Error{Kind: ErrNotTorrent, Err: err}
	}
	// A map of raw values rather than a struct with typed fields: it keeps
	// the info dictionary's bytes exactly and lets each field be type-checked
	// here instead of failing the whole file.
	d, ok := asDict(data)
	if !ok {
		return nil, newErr(ErrNotTorrent, "", "not a dictionary")
	}
	raw, ok := d["info"]
	if !ok || len(raw) == 0 || raw[0] != 'd' {
		return nil, newErr(ErrNotTorrent, "info", "missing or not a dictionary")
	}
	info, err := parseInfo(raw)
	if err != nil {
		return nil, err
	}
	// Copied so the result never aliases the caller's buffer.
	m := &MetaInfo{Info: *info, InfoBytes: bytes.Clone(raw)}
	m.InfoHash.V1 = sha1.Sum(raw)
	if info.MetaVersion == 2 {
		m.InfoHash.V2 = sha256.Sum256(raw)
	}
	m.Announce, _ = asString(d["announce"])
	m.AnnounceList = parseAnnounceList(d["announce-list"])
	if s, ok := asString(d["url-list"]); ok {
		if s != "" {
			m.URLList = []string{s}
		}
	} else if l, ok := asList(d["url-list"]); ok {
		for _, e := range l {
			if s, ok := asString(e); ok && s != "" {
				m.URLList = append(m.URLList, s)
			}
		}
	}
	m.Comment, _ = asString(d["comment"])
	m.CreatedBy, _ = asString(d["created by"])
	m.CreationDate, _ = asInt(d["creation date"])
	return m, nil
}

// parseAnnounceList keeps the string URLs of each tier, dropping anything
// malformed and tiers left empty, as libtorrent does.
func parseAnnounceList(raw []byte) [][]string {
	tiers, _ := asList(raw)
	var out [][]string
	for _, t := range tiers {
		urls, _ := asList(t)
		var tier []string
		for _, u := range urls {
			if s, ok := asString(u); ok && s != "" {
				tier = append(tier, s)
			}
		}
		if len(tier) > 0 {
			out = append(out, tier)
		}
	}
	return out
}

// Load reads and parses the .torrent file at path, refusing files larger
// than MaxTorrentSize before reading them.
func Load(path string) (*MetaInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Read one byte past the limit to tell "exactly at" from "over".
	data, err := io.ReadAll(io.LimitReader(f, MaxTorrentSize+1))
	if err != nil {
		return nil, err
	}
	m, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Trackers returns the announce-list tiers, or [[Announce]] when there is
// no usable announce-list, or nil when there are no trackers. The result
// shares memory with m.
func (m *MetaInfo) Trackers() [][]string {
	if len(m.AnnounceList) > 0 {
		return m.AnnounceList
	}
	if m.Announce != "" {
		return [][]string{{m.Announce}}
	}
	return nil
}

// Magnet returns a magnet link for m: its info-hash, name and every tracker
// once, in tier order.
func (m *MetaInfo) Magnet() Magnet {
	mg := Magnet{InfoHash: m.InfoHash, Name: m.Info.Name}
	seen := make(map[string]bool)
	for _, tier := range m.Trackers() {
		for _, u := range tier {
			if !seen[u] {
				seen[u] = true
				mg.Trackers = append(mg.Trackers, u)
			}
		}
	}
	return mg
}
