// Package resume reads and writes resume data in libtorrent 2.0.8's format
// (the bencoded dictionary of write_resume_data, "file-format" = "libtorrent
// resume file"), so a torrent's progress survives a restart and can be moved
// between shardtorrent, libtorrent and qBittorrent without re-hashing.
//
// Data is the decoded form. Keys libtorrent does not know (file sizes and
// modification times) are ours, under names prefixed "shardtorrent-", which
// libtorrent ignores.
//
// The pieces of the package:
//   - Encode and Decode convert Data to and from the bencoded form with
//     anacrolix/torrent/bencode. Decode checks every limit (MaxSize,
//     MaxPieces, ...) before allocating, the type of every key it reads,
//     and that an embedded "info" hashes to "info-hash"; its errors are
//     *FormatError (errors.Is against the ErrorKind values). FuzzDecode
//     covers it, seeded with a file libtorrent wrote (testdata/).
//   - WriteFileAtomic replaces a file crash-safely (temporary file, fsync,
//     rename, fsync of the directory; crash point "resume-save").
//   - Store is a directory of "<info-hash>.fastresume" files.
//   - ImportDir adopts qBittorrent's BT_backup directory.
//
// Threading: every function and method is safe from any goroutine; a Data
// is a plain value, not synchronised (don't mutate one while another
// goroutine encodes it). Store.LoadAll must not run alongside Store.Save.
//
// Measured against libtorrent 2.0.8 (interop/resume_lt_test.go):
//   - libtorrent writes 1 (have) in "pieces" for a checked piece; 2
//     (verified) only in seed mode. It reads either. Its resume data
//     decodes here to exactly the pieces it reports, and ours loads there
//     with exactly our pieces and no re-check.
//   - On load libtorrent 2.0.8 trusts "pieces" as long as the files exist:
//     a piece claimed past the end of a truncated file is reported present;
//     only a missing file gets the resume data rejected ("mismatching file
//     size") and the torrent fully re-checked. "shardtorrent-files" exists
//     so that we re-check a torrent whose files changed size or time.
//   - qBittorrent 4.5.2 writes the same dictionary minus "info" (moved to a
//     .torrent beside it) plus "qBt-*" keys; ImportDir reads a real one.
//
// Hand-written parts, with their measurements (2-core box shared with other
// work, so ranges): Decode splits the top-level dictionary itself
// (splitDict) rather than through the anacrolix decoder, 377 us -> 120-160
// us for a 90 KB file (BenchmarkDecode); it decodes "file_priority",
// "unfinished" and "shardtorrent-files" itself into pre-sized slices, since
// through the anacrolix decoder a million priorities allocated 21 times
// their input and "unfinished" 14 times (now 2.7 and 1.4,
// TestDecodeMemoryBounded). Store.LoadAll reads 1,000 such files in
// 0.09-0.16 s (BenchmarkStoreLoadAll1000). Encode and the scalar keys use
// anacrolix/torrent/bencode.
package resume

import (
	"net/netip"

	"github.com/shardtorrent/shardtorrent/metainfo"
)

// Piece flags of Data.Pieces, as libtorrent 2.0 writes them: bit 0 says the
// piece is on disk, bit 1 that it was verified (seed mode keeps pieces
// present but unverified).
const (
	PieceHave     byte = 1
	PieceVerified byte = 2
)

// Data is one torrent's resume data. The zero value is empty; Encode and
// Decode convert it to and from libtorrent's bencoded form.
type Data struct {
	InfoHash metainfo.InfoHash // "info-hash" (and "info-hash2" for v2, unsupported)
	Name     string            // "name"
	SavePath string            // "save_path"
	// Pieces has one byte per piece: PieceHave | PieceVerified flags
	// ("pieces"). Only pieces whose bytes are durable may have PieceHave.
	Pieces []byte
	// Unfinished lists partly downloaded pieces ("unfinished"); we write
	// none (a partial piece is re-downloaded), and read libtorrent's.
	Unfinished []Unfinished

	TotalUploaded   int64 // "total_uploaded"
	TotalDownloaded int64 // "total_downloaded"
	AddedTime       int64 // "added_time", Unix seconds
	CompletedTime   int64 // "completed_time", Unix seconds, 0 = never
	ActiveTime      int64 // "active_time", seconds
	SeedingTime     int64 // "seeding_time", seconds
	FinishedTime    int64 // "finished_time", seconds

	Trackers [][]string       // "trackers": tiers of URLs
	URLList  []string         // "url-list"
	Peers    []netip.AddrPort // "peers" (IPv4) and "peers6" (IPv6), compact

	FilePriority  []int  // "file_priority"
	PiecePriority []byte // "piece_priority"

	Paused      bool // "paused"
	AutoManaged bool // "auto_managed" (trusted from our files only with Policy)
	SeedMode    bool // "seed_mode"

	// The torrent's own policy (Policy below says whether it was saved).
	// UploadLimit and DownloadLimit are its own rate limits in bytes/s
	// ("upload_rate_limit", "download_rate_limit", as libtorrent): 0 or
	// less is none, as libtorrent reads them. ZeroLimits holds what those
	// keys cannot say, a limit of 0 (nothing moves): bit 0 upload, bit 1
	// download ("shardtorrent-zero-limits"; ours).
	UploadLimit   int64
	DownloadLimit int64
	ZeroLimits    uint8
	// RatioMode, RatioLimit, IdleMode and IdleLimit are the share-ratio
	// and idle-seeding rules (shard.RatioMode and shard.IdleMode values,
	// at most MaxPolicyMode; the own ratio limit and the own idle limit
	// in seconds): "shardtorrent-ratio-mode", "shardtorrent-ratio-limit"
	// (a decimal string: bencoding has no floats),
	// "shardtorrent-idle-mode", "shardtorrent-idle-limit"; ours.
	RatioMode  uint8
	RatioLimit float64
	IdleMode   uint8
	IdleLimit  int64
	// Policy ("shardtorrent-policy"; ours) marks data that records the
	// fields above and AutoManaged. Files of ours from before them always
	// said auto_managed 0, so without Policy AutoManaged is not to be
	// trusted (shardtorrent.ParamsFromResume then keeps the torrent
	// auto-managed).
	Policy bool

	// Info is the raw bencoded info dictionary ("info"), optional: with it
	// the resume file alone can re-add the torrent.
	Info []byte

	// Files are the sizes and modification times of the torrent's files
	// when Pieces was last written ("shardtorrent-files"; ours). A file
	// whose size or time differs on load invalidates the pieces: the
	// torrent is re-checked. Nil means unknown (libtorrent's own files):
	// the pieces are trusted as libtorrent trusts them.
	Files []FileStat
}

// MaxPolicyMode is the largest RatioMode and IdleMode Decode accepts
// (global, own, unlimited).
const MaxPolicyMode = 2

// Bits of Data.ZeroLimits.
const (
	ZeroUploadLimit   uint8 = 1
	ZeroDownloadLimit uint8 = 2
)

// Unfinished is one partly downloaded piece: Bitmask has a bit per 16 KiB
// block, most significant bit first, as libtorrent writes it.
type Unfinished struct {
	Piece   int
	Bitmask []byte
}

// FileStat is a file's size and modification time, nanoseconds since the
// Unix epoch. A file that does not exist has Size -1.
type FileStat struct {
	Size  int64
	MTime int64
}

// Has reports whether piece i is marked present.
func (d *Data) Has(i int) bool { return i >= 0 && i < len(d.Pieces) && d.Pieces[i]&PieceHave != 0 }
