package resume

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"net/netip"
	"strconv"

	"github.com/anacrolix/torrent/bencode"

	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/wire/bencheck"
)

// The format's fixed values, as libtorrent 2.0.8 writes and checks them.
const (
	// FileFormat is the required value of "file-format".
	FileFormat = "libtorrent resume file"
	// FileVersion is the value written to "file-version" (libtorrent does
	// not check it on read, and neither does Decode).
	FileVersion = 1
)

// Limits on what Decode accepts. Each bounds memory or work that a resume
// file controls; resume files are ours or another client's, but a corrupt
// or planted one must not exhaust memory.
const (
	// MaxSize bounds a whole resume file: the largest info dictionary
	// (metainfo.MaxTorrentSize) plus a byte of "pieces" and of
	// "piece_priority" per piece, plus room for trackers and peers.
	MaxSize = metainfo.MaxTorrentSize + 2*MaxPieces + 8<<20
	// MaxPieces bounds "pieces", "piece_priority" and "unfinished": the most
	// pieces an info dictionary within metainfo.MaxTorrentSize can have (20
	// bytes of SHA-1 each). With "info" present the torrent's own piece
	// count is the bound.
	MaxPieces = metainfo.MaxTorrentSize / 20
	// MaxFiles bounds "file_priority" and "shardtorrent-files".
	MaxFiles = metainfo.MaxFiles
	// MaxTrackers bounds the tracker URLs of "trackers", over all tiers
	// (libtorrent clamps tier numbers to 1024).
	MaxTrackers = 4096
	// MaxWebSeeds bounds "url-list".
	MaxWebSeeds = 4096
	// MaxPeers bounds "peers" and "peers6" each; further peers are dropped,
	// not refused (they are hints). libtorrent's peer list holds at most a
	// few thousand (max_peerlist_size 3000 by default).
	MaxPeers = 4096
	// MaxBitmask bounds an "unfinished" bitmask: one bit per 16 KiB block
	// of the largest piece metainfo accepts.
	MaxBitmask = metainfo.MaxPieceLength / metainfo.BlockSize / 8
	// MaxPriority is libtorrent's top_priority; priorities run 0 (don't
	// download) to 7.
	MaxPriority = 7
	// maxDepth bounds nesting. Resume data nests 3 deep (trackers, and
	// the info dictionary's own nesting, which metainfo bounds again).
	maxDepth = metainfo.MaxDepth
)

// Encode returns d in libtorrent's resume format, as write_resume_data
// writes it: the bencoded dictionary with sorted keys. Keys that libtorrent
// always writes are always written; "name", "info-hash2", "info",
// "unfinished", "peers", "peers6", "file_priority" and "piece_priority" only
// when set, as libtorrent does. "trackers", "url-list" and
// "shardtorrent-files" are written when the slice is non-nil, even if
// empty: libtorrent reads a present "trackers" or "url-list" as replacing
// the .torrent's, so nil means "keep the torrent's".
//
// Encode refuses (with a *FormatError) what Decode would refuse, so
// Decode(Encode(d)) gives d back; peers beyond MaxPeers per family are
// dropped, as Decode drops them. Safe from any goroutine; d is only read.
func Encode(d *Data) ([]byte, error) {
	var info *metainfo.Info
	if d.Info != nil {
		var err error
		if info, err = checkInfo(d.Info, d.InfoHash); err != nil {
			return nil, err
		}
	}
	if err := d.validate(info); err != nil {
		return nil, err
	}
	m := map[string]any{
		"file-format":      FileFormat,
		"file-version":     FileVersion,
		"allocation":       "sparse",
		"info-hash":        d.InfoHash.V1[:],
		"save_path":        d.SavePath,
		"pieces":           nonNilBytes(d.Pieces),
		"total_uploaded":   d.TotalUploaded,
		"total_downloaded": d.TotalDownloaded,
		"added_time":       d.AddedTime,
		"completed_time":   d.CompletedTime,
		"active_time":      d.ActiveTime,
		"seeding_time":     d.SeedingTime,
		"finished_time":    d.FinishedTime,
		"paused":           d.Paused,
		"auto_managed":     d.AutoManaged,
		"seed_mode":        d.SeedMode,

		"upload_rate_limit":   rateKey(d.UploadLimit),
		"download_rate_limit": rateKey(d.DownloadLimit),
	}
	if d.Policy {
		m["shardtorrent-policy"] = 1
	}
	if d.ZeroLimits != 0 {
		m["shardtorrent-zero-limits"] = int(d.ZeroLimits)
	}
	if d.RatioMode != 0 {
		m["shardtorrent-ratio-mode"] = int(d.RatioMode)
	}
	if d.RatioLimit != 0 {
		m["shardtorrent-ratio-limit"] = strconv.FormatFloat(d.RatioLimit, 'g', -1, 64)
	}
	if d.IdleMode != 0 {
		m["shardtorrent-idle-mode"] = int(d.IdleMode)
	}
	if d.IdleLimit != 0 {
		m["shardtorrent-idle-limit"] = d.IdleLimit
	}
	if d.InfoHash.HasV2() {
		m["info-hash2"] = d.InfoHash.V2[:]
	}
	if d.Name != "" {
		m["name"] = d.Name
	}
	if d.Info != nil {
		m["info"] = bencode.Bytes(d.Info) // verbatim: the info-hash covers these bytes
	}
	if len(d.Unfinished) > 0 {
		l := make([]wireUnfinished, len(d.Unfinished))
		for i, u := range d.Unfinished {
			l[i] = wireUnfinished{Piece: u.Piece, Bitmask: u.Bitmask}
		}
		m["unfinished"] = l
	}
	if d.Trackers != nil {
		m["trackers"] = nonNilTiers(d.Trackers)
	}
	if d.URLList != nil {
		m["url-list"] = nonNilStrings(d.URLList)
	}
	if v4, v6 := compactPeers(d.Peers); len(v4)+len(v6) > 0 {
		if len(v4) > 0 {
			m["peers"] = v4
		}
		if len(v6) > 0 {
			m["peers6"] = v6
		}
	}
	if len(d.FilePriority) > 0 {
		m["file_priority"] = d.FilePriority
	}
	if len(d.PiecePriority) > 0 {
		m["piece_priority"] = d.PiecePriority
	}
	if d.Files != nil {
		l := make([][]int64, len(d.Files))
		for i, f := range d.Files {
			l[i] = []int64{f.Size, f.MTime}
		}
		m["shardtorrent-files"] = l
	}
	b, err := bencode.Marshal(m)
	if err != nil {
		return nil, &FormatError{Kind: ErrBadField, Reason: "encoding", Err: err}
	}
	return b, nil
}

// wireUnfinished is an "unfinished" entry as Encode writes it.
type wireUnfinished struct {
	Bitmask []byte `bencode:"bitmask"`
	Piece   int    `bencode:"piece"`
}

// Decode parses resume data written by libtorrent (write_resume_data),
// qBittorrent (its BT_backup/*.fastresume) or Encode. Keys it does not know,
// qBittorrent's "qBt-*" among them, are ignored; "qBt-savePath" stands in
// for an empty "save_path". It checks "file-format", every count against
// the limits above, the type of every key it reads, and that "info", when
// present, is a valid info dictionary that hashes to "info-hash" (and
// "info-hash2" if set). Every error is a *FormatError; Decode never panics
// and its memory use is bounded by a small multiple of len(b).
// Safe from any goroutine; the result does not alias b.
func Decode(b []byte) (*Data, error) {
	if len(b) > MaxSize {
		return nil, fmtErr(ErrTooLarge, "", strconv.Itoa(len(b))+" bytes exceeds "+strconv.Itoa(MaxSize))
	}
	if err := bencheck.CheckCanonical(b, maxDepth); err != nil {
		return nil, &FormatError{Kind: ErrNotResume, Reason: "bad bencoding", Err: err}
	}
	if len(b) == 0 || b[0] != 'd' {
		return nil, fmtErr(ErrNotResume, "", "not a dictionary")
	}
	top := splitDict(b)
	r := reader{top: top}
	var ff string
	if r.str("file-format", &ff); r.err == nil && ff != FileFormat {
		return nil, fmtErr(ErrNotResume, "file-format", strconv.Quote(ff))
	}
	d := &Data{}
	var ih, ih2 []byte
	r.bytes("info-hash", &ih)
	r.bytes("info-hash2", &ih2)
	if r.err != nil {
		return nil, r.err
	}
	switch {
	case len(ih) == 20:
		copy(d.InfoHash.V1[:], ih)
	case ih == nil:
		return nil, fmtErr(ErrBadField, "info-hash", "missing")
	default:
		return nil, fmtErr(ErrBadField, "info-hash", strconv.Itoa(len(ih))+" bytes, want 20")
	}
	switch len(ih2) {
	case 0:
	case 32:
		copy(d.InfoHash.V2[:], ih2)
	default:
		return nil, fmtErr(ErrBadField, "info-hash2", strconv.Itoa(len(ih2))+" bytes, want 32")
	}
	if !d.InfoHash.HasV1() {
		// libtorrent writes a zero "info-hash" for a v2-only torrent.
		return nil, fmtErr(ErrBadField, "info-hash", "v1 info-hash is zero (v2-only torrents are not supported)")
	}

	r.str("name", &d.Name)
	r.str("save_path", &d.SavePath)
	if d.SavePath == "" {
		r.str("qBt-savePath", &d.SavePath)
	}
	r.bytes("pieces", &d.Pieces)
	r.bytes("piece_priority", &d.PiecePriority)
	r.int("total_uploaded", &d.TotalUploaded)
	r.int("total_downloaded", &d.TotalDownloaded)
	r.int("added_time", &d.AddedTime)
	r.int("completed_time", &d.CompletedTime)
	r.int("active_time", &d.ActiveTime)
	r.int("seeding_time", &d.SeedingTime)
	r.int("finished_time", &d.FinishedTime)
	r.bool("paused", &d.Paused)
	r.bool("auto_managed", &d.AutoManaged)
	r.bool("seed_mode", &d.SeedMode)
	if r.err != nil {
		return nil, r.err
	}
	if err := r.policy(d); err != nil {
		return nil, err
	}
	// Count-bounded lists: the count and types are checked on the raw bytes
	// (r.list) before anything is allocated for them.
	if raw, ok := r.list("unfinished", MaxPieces); ok {
		d.Unfinished = make([]Unfinished, 0, count(raw))
		forEach(raw, MaxPieces, func(i int, e []byte) bool {
			u, err := parseUnfinished(e)
			if err != nil {
				r.err = err
				return false
			}
			d.Unfinished = append(d.Unfinished, u)
			return true
		})
	}
	if raw, ok := r.list("trackers", MaxTrackers); ok {
		d.Trackers = [][]string{}
		if r.decode("trackers", raw, &d.Trackers) {
			for i, t := range d.Trackers {
				if t == nil {
					d.Trackers[i] = []string{}
				}
			}
		}
	}
	if raw, ok := r.list("url-list", MaxWebSeeds); ok {
		d.URLList = []string{}
		r.decode("url-list", raw, &d.URLList)
	}
	// Hand-decoded into pre-sized slices: through the anacrolix decoder a
	// list of a million priorities allocated 21 times its input
	// (TestDecodeMemoryBounded).
	if raw, ok := r.list("file_priority", MaxFiles); ok {
		d.FilePriority = make([]int, 0, count(raw))
		forEach(raw, MaxFiles, func(i int, e []byte) bool {
			v, ok := intOf(e)
			if !ok || v < 0 || v > MaxPriority {
				r.err = fmtErr(ErrBadField, "file_priority", "file "+strconv.Itoa(i)+" has priority "+string(e))
				return false
			}
			d.FilePriority = append(d.FilePriority, int(v))
			return true
		})
	}
	if raw, ok := r.list("shardtorrent-files", MaxFiles); ok {
		d.Files = make([]FileStat, 0, count(raw))
		forEach(raw, MaxFiles, func(i int, e []byte) bool {
			var v [2]int64
			forEach(e, 2, func(j int, x []byte) bool {
				var ok bool
				v[j], ok = intOf(x)
				if !ok {
					r.err = fmtErr(ErrBadField, "shardtorrent-files", "entry "+strconv.Itoa(i)+": "+string(x)+" out of range")
				}
				return ok
			})
			d.Files = append(d.Files, FileStat{Size: v[0], MTime: v[1]})
			return r.err == nil
		})
	}
	var v4, v6 []byte
	r.bytes("peers", &v4)
	r.bytes("peers6", &v6)
	if r.err != nil {
		return nil, r.err
	}
	var err error
	if d.Peers, err = parsePeers(v4, v6); err != nil {
		return nil, err
	}

	var info *metainfo.Info
	if raw, ok := top["info"]; ok {
		if info, err = checkInfo(raw, d.InfoHash); err != nil {
			return nil, err
		}
		d.Info = bytes.Clone(raw)
	}
	d.Pieces = nonEmpty(d.Pieces)
	d.PiecePriority = nonEmpty(d.PiecePriority)
	if len(d.FilePriority) == 0 {
		d.FilePriority = nil
	}
	if err := d.validate(info); err != nil {
		return nil, err
	}
	return d, nil
}

// rateKey is how Encode writes a rate limit: -1 for none, as libtorrent.
func rateKey(v int64) int64 {
	if v <= 0 {
		return -1
	}
	return v
}

// policy reads the torrent's own policy keys into d, checking each.
func (r *reader) policy(d *Data) error {
	var up, down, zero, rmode, imode, idle int64
	var ratio string
	r.int("upload_rate_limit", &up)
	r.int("download_rate_limit", &down)
	r.bool("shardtorrent-policy", &d.Policy)
	r.int("shardtorrent-zero-limits", &zero)
	r.int("shardtorrent-ratio-mode", &rmode)
	r.str("shardtorrent-ratio-limit", &ratio)
	r.int("shardtorrent-idle-mode", &imode)
	r.int("shardtorrent-idle-limit", &idle)
	if r.err != nil {
		return r.err
	}
	d.UploadLimit, d.DownloadLimit = max(up, 0), max(down, 0)
	switch {
	case zero < 0 || zero > int64(ZeroUploadLimit|ZeroDownloadLimit):
		return fmtErr(ErrBadField, "shardtorrent-zero-limits", strconv.FormatInt(zero, 10))
	case rmode < 0 || rmode > MaxPolicyMode:
		return fmtErr(ErrBadField, "shardtorrent-ratio-mode", strconv.FormatInt(rmode, 10))
	case imode < 0 || imode > MaxPolicyMode:
		return fmtErr(ErrBadField, "shardtorrent-idle-mode", strconv.FormatInt(imode, 10))
	case idle < 0:
		return fmtErr(ErrBadField, "shardtorrent-idle-limit", strconv.FormatInt(idle, 10))
	}
	d.ZeroLimits, d.RatioMode, d.IdleMode, d.IdleLimit = uint8(zero), uint8(rmode), uint8(imode), idle
	if ratio != "" {
		v, err := strconv.ParseFloat(ratio, 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return fmtErr(ErrBadField, "shardtorrent-ratio-limit", strconv.Quote(ratio))
		}
		d.RatioLimit = v
	}
	return nil
}

// checkInfo checks that raw is a valid info dictionary hashing to ih.
func checkInfo(raw []byte, ih metainfo.InfoHash) (*metainfo.Info, error) {
	if len(raw) == 0 || raw[0] != 'd' {
		return nil, fmtErr(ErrBadField, "info", "not a dictionary")
	}
	if sha1.Sum(raw) != ih.V1 {
		return nil, fmtErr(ErrInfoHashMismatch, "info", "SHA-1 of info is not info-hash")
	}
	if ih.HasV2() && sha256.Sum256(raw) != ih.V2 {
		return nil, fmtErr(ErrInfoHashMismatch, "info", "SHA-256 of info is not info-hash2")
	}
	info, err := metainfo.ParseInfo(raw)
	if err != nil {
		return nil, &FormatError{Kind: ErrBadInfo, Key: "info", Err: err}
	}
	return info, nil
}

// validate checks d's counts and ranges, against info when it is known.
// Decode and Encode share it, so what one accepts the other does.
func (d *Data) validate(info *metainfo.Info) error {
	if !d.InfoHash.HasV1() {
		return fmtErr(ErrBadField, "info-hash", "zero")
	}
	maxPieces, maxFiles, maxMask := MaxPieces, MaxFiles, MaxBitmask
	if info != nil {
		maxPieces, maxFiles = info.NumPieces(), len(info.Files)
		blocks := (info.PieceLength + metainfo.BlockSize - 1) / metainfo.BlockSize
		maxMask = int((blocks + 7) / 8)
	}
	tooMany := func(key string, n, limit int) error {
		kind := ErrTooLarge
		if info != nil {
			kind = ErrBadField
		}
		return fmtErr(kind, key, strconv.Itoa(n)+" entries, at most "+strconv.Itoa(limit))
	}
	if len(d.Pieces) > maxPieces {
		return tooMany("pieces", len(d.Pieces), maxPieces)
	}
	if len(d.PiecePriority) > maxPieces {
		return tooMany("piece_priority", len(d.PiecePriority), maxPieces)
	}
	for i, p := range d.PiecePriority {
		if p > MaxPriority {
			return fmtErr(ErrBadField, "piece_priority", "piece "+strconv.Itoa(i)+" has priority "+strconv.Itoa(int(p)))
		}
	}
	if len(d.FilePriority) > maxFiles {
		return tooMany("file_priority", len(d.FilePriority), maxFiles)
	}
	for i, p := range d.FilePriority {
		if p < 0 || p > MaxPriority {
			return fmtErr(ErrBadField, "file_priority", "file "+strconv.Itoa(i)+" has priority "+strconv.Itoa(p))
		}
	}
	if len(d.Files) > maxFiles {
		return tooMany("shardtorrent-files", len(d.Files), maxFiles)
	}
	if info != nil && d.Files != nil && len(d.Files) != len(info.Files) {
		return fmtErr(ErrBadField, "shardtorrent-files", strconv.Itoa(len(d.Files))+" files, the torrent has "+strconv.Itoa(len(info.Files)))
	}
	if len(d.Unfinished) > maxPieces {
		return tooMany("unfinished", len(d.Unfinished), maxPieces)
	}
	for _, u := range d.Unfinished {
		if u.Piece < 0 || u.Piece >= maxPieces {
			return fmtErr(ErrBadField, "unfinished", "piece "+strconv.Itoa(u.Piece)+" out of range")
		}
		if len(u.Bitmask) == 0 || len(u.Bitmask) > maxMask {
			return fmtErr(ErrBadField, "unfinished", "piece "+strconv.Itoa(u.Piece)+" has a bitmask of "+strconv.Itoa(len(u.Bitmask))+" bytes")
		}
	}
	n := 0
	for _, t := range d.Trackers {
		n += len(t)
	}
	if len(d.Trackers) > MaxTrackers || n > MaxTrackers {
		return fmtErr(ErrTooLarge, "trackers", strconv.Itoa(n)+" URLs, at most "+strconv.Itoa(MaxTrackers))
	}
	if len(d.URLList) > MaxWebSeeds {
		return fmtErr(ErrTooLarge, "url-list", strconv.Itoa(len(d.URLList))+" URLs, at most "+strconv.Itoa(MaxWebSeeds))
	}
	if len(d.Info) > metainfo.MaxTorrentSize {
		return fmtErr(ErrTooLarge, "info", strconv.Itoa(len(d.Info))+" bytes")
	}
	return nil
}

// parseUnfinished reads one "unfinished" entry, a dictionary:
// {"piece": index, "bitmask": bytes}.
func parseUnfinished(e []byte) (Unfinished, error) {
	u := Unfinished{Piece: -1}
	var err error
	forEachPair(e, func(k, v []byte) bool {
		switch string(strOf(k)) {
		case "piece":
			n, ok := intOf(v)
			if !ok || n < 0 || n >= MaxPieces {
				err = fmtErr(ErrBadField, "unfinished", "piece "+string(v)+" out of range")
			}
			u.Piece = int(n)
		case "bitmask":
			b := strOf(v)
			if kindOf(v) != 's' || len(b) == 0 || len(b) > MaxBitmask {
				err = fmtErr(ErrBadField, "unfinished", "bitmask of "+strconv.Itoa(len(b))+" bytes or not a string")
			}
			u.Bitmask = bytes.Clone(b)
		}
		return err == nil
	})
	if err == nil && u.Piece < 0 {
		err = fmtErr(ErrBadField, "unfinished", "entry without a piece")
	}
	return u, err
}

// intOf parses raw, an integer CheckCanonical accepted; false if it is not
// an integer or does not fit in an int64.
func intOf(raw []byte) (int64, bool) {
	if kindOf(raw) != 'i' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(raw[1:len(raw)-1]), 10, 64)
	return n, err == nil
}

// strOf returns the bytes of raw, a string CheckCanonical accepted
// (aliasing raw).
func strOf(raw []byte) []byte { return raw[bytes.IndexByte(raw, ':')+1:] }

// count returns the number of elements of raw, a checked list.
func count(raw []byte) int {
	n, _ := forEach(raw, MaxSize, func(int, []byte) bool { return true })
	return n
}

// forEachPair calls f on each key and value of raw, a dictionary
// CheckCanonical accepted, until f returns false.
func forEachPair(raw []byte, f func(key, val []byte) bool) {
	for pos := 1; raw[pos] != 'e'; {
		keyEnd, _ := bencheck.End(raw, pos, maxDepth)
		valEnd, _ := bencheck.End(raw, keyEnd, maxDepth)
		if !f(raw[pos:keyEnd], raw[keyEnd:valEnd]) {
			return
		}
		pos = valEnd
	}
}

// splitDict maps the keys of data, a dictionary CheckCanonical accepted,
// to their raw values (aliasing data; for a repeated key the last wins).
// Hand-written over bencheck.End instead of unmarshalling into
// map[string]bencode.Bytes: that copies every value through a growing
// buffer, and measured on a 90 KB resume file (BenchmarkDecode) it was a
// third of Decode's time.
func splitDict(data []byte) map[string][]byte {
	top := make(map[string][]byte)
	forEachPair(data, func(k, v []byte) bool {
		top[string(strOf(k))] = v
		return true
	})
	return top
}

// reader decodes typed top-level values, remembering the first error.
type reader struct {
	top map[string][]byte
	err error
}

// kindOf names the bencode type of a raw value by its first byte.
func kindOf(raw []byte) byte {
	switch c := raw[0]; {
	case c == 'i', c == 'l', c == 'd':
		return c
	default:
		return 's'
	}
}

// get returns the raw value of key if it is present and of type want
// ('i', 's', 'l', 'd'); a value of another type is an error.
func (r *reader) get(key string, want byte) ([]byte, bool) {
	raw, ok := r.top[key]
	if !ok || r.err != nil {
		return nil, false
	}
	if kindOf(raw) != want {
		names := map[byte]string{'i': "an integer", 's': "a string", 'l': "a list", 'd': "a dictionary"}
		r.err = fmtErr(ErrBadField, key, "is "+names[kindOf(raw)]+", want "+names[want])
		return nil, false
	}
	return raw, true
}

// decode unmarshals raw into v, recording a failure against key.
func (r *reader) decode(key string, raw []byte, v any) bool {
	if r.err != nil {
		return false
	}
	if err := bencode.Unmarshal(raw, v); err != nil {
		r.err = &FormatError{Kind: ErrBadField, Key: key, Err: err}
		return false
	}
	return true
}

func (r *reader) str(key string, v *string) {
	if raw, ok := r.get(key, 's'); ok {
		r.decode(key, raw, v)
	}
}

func (r *reader) bytes(key string, v *[]byte) {
	if raw, ok := r.get(key, 's'); ok {
		r.decode(key, raw, v)
	}
}

func (r *reader) int(key string, v *int64) {
	if raw, ok := r.get(key, 'i'); ok {
		r.decode(key, raw, v)
	}
}

func (r *reader) bool(key string, v *bool) {
	var n int64
	if raw, ok := r.get(key, 'i'); ok && r.decode(key, raw, &n) {
		*v = n != 0
	}
}

// list returns the raw list under key after checking, before anything is
// allocated for it, that it has at most limit elements and that every
// element has the type the key needs: tiers that are lists of strings, at
// most MaxTrackers URLs in all, for "trackers"; dictionaries for
// "unfinished"; [size, mtime] integer pairs for "shardtorrent-files";
// strings for "url-list"; integers for "file_priority". (The anacrolix
// decoder would otherwise coerce a one-element list into its element, and
// a list of many empty strings costs 8 times its input once decoded.)
func (r *reader) list(key string, limit int) ([]byte, bool) {
	raw, ok := r.get(key, 'l')
	if !ok {
		return nil, false
	}
	want := map[string]byte{"trackers": 'l', "unfinished": 'd', "shardtorrent-files": 'l', "url-list": 's', "file_priority": 'i'}[key]
	urls := 0
	n, ok := forEach(raw, limit, func(i int, e []byte) bool {
		if kindOf(e) != want {
			r.err = fmtErr(ErrBadField, key, "entry "+strconv.Itoa(i)+" has the wrong type")
			return false
		}
		switch key {
		case "trackers":
			m, ok := forEach(e, MaxTrackers-urls, func(_ int, u []byte) bool { return kindOf(u) == 's' })
			switch {
			case m < 0:
				r.err = fmtErr(ErrTooLarge, key, "more than "+strconv.Itoa(MaxTrackers)+" URLs")
			case !ok:
				r.err = fmtErr(ErrBadField, key, "tier "+strconv.Itoa(i)+" is not a list of strings")
			}
			urls += m
			return r.err == nil
		case "shardtorrent-files":
			if m, ok := forEach(e, 2, func(_ int, v []byte) bool { return kindOf(v) == 'i' }); m != 2 || !ok {
				r.err = fmtErr(ErrBadField, key, "entry "+strconv.Itoa(i)+" is not [size, mtime]")
				return false
			}
		}
		return true
	})
	switch {
	case n < 0:
		r.err = fmtErr(ErrTooLarge, key, "more than "+strconv.Itoa(limit)+" entries")
	case !ok && r.err == nil: // bencheck.End failed: cannot happen after CheckCanonical
		r.err = fmtErr(ErrBadField, key, "bad bencoding")
	}
	if r.err != nil {
		return nil, false
	}
	return raw, true
}

// forEach calls f on each element of raw, a list CheckCanonical accepted,
// stopping when f returns false (ok false). It returns the number of
// elements, or -1 as soon as there are more than limit.
func forEach(raw []byte, limit int, f func(i int, elem []byte) bool) (n int, ok bool) {
	for pos := 1; raw[pos] != 'e'; n++ {
		if n >= limit {
			return -1, false
		}
		end, err := bencheck.End(raw, pos, maxDepth)
		if err != nil || !f(n, raw[pos:end]) {
			return n, false
		}
		pos = end
	}
	return n, true
}

// parsePeers reads libtorrent's compact "peers" (6 bytes per IPv4 peer)
// and "peers6" (18 bytes per IPv6 peer), keeping at most MaxPeers of each.
func parsePeers(v4, v6 []byte) ([]netip.AddrPort, error) {
	if len(v4)%6 != 0 {
		return nil, fmtErr(ErrBadField, "peers", strconv.Itoa(len(v4))+" bytes is not a multiple of 6")
	}
	if len(v6)%18 != 0 {
		return nil, fmtErr(ErrBadField, "peers6", strconv.Itoa(len(v6))+" bytes is not a multiple of 18")
	}
	n4, n6 := min(len(v4)/6, MaxPeers), min(len(v6)/18, MaxPeers)
	if n4+n6 == 0 {
		return nil, nil
	}
	out := make([]netip.AddrPort, 0, n4+n6)
	for i := 0; i < n4; i++ {
		p := v4[i*6:]
		out = append(out, netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[:4])), binary.BigEndian.Uint16(p[4:])))
	}
	for i := 0; i < n6; i++ {
		p := v6[i*18:]
		out = append(out, netip.AddrPortFrom(netip.AddrFrom16([16]byte(p[:16])), binary.BigEndian.Uint16(p[16:])))
	}
	return out, nil
}

// compactPeers writes peers in libtorrent's compact form, IPv4 (and
// IPv4-mapped IPv6) to v4, IPv6 to v6, at most MaxPeers each; invalid
// addresses are skipped.
func compactPeers(peers []netip.AddrPort) (v4, v6 []byte) {
	for _, p := range peers {
		a := p.Addr()
		switch {
		case !p.IsValid():
		case a.Is4() || a.Is4In6():
			if len(v4) < MaxPeers*6 {
				v4 = append(v4, a.Unmap().AsSlice()...)
				v4 = binary.BigEndian.AppendUint16(v4, p.Port())
			}
		default:
			if len(v6) < MaxPeers*18 {
				a16 := a.WithZone("").As16()
				v6 = append(v6, a16[:]...)
				v6 = binary.BigEndian.AppendUint16(v6, p.Port())
			}
		}
	}
	return v4, v6
}

func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilTiers(t [][]string) [][]string {
	out := make([][]string, len(t))
	for i, tier := range t {
		out[i] = nonNilStrings(tier)
	}
	return out
}
