package plugin

// Priority is the download priority of a file or piece, libtorrent's
// download_priority_t: PriorityDontDownload (0) skips it; 1 (PriorityLow)
// to 7 (PriorityTop) are picked highest first; PriorityDefault (4) is what
// every file and piece has until set. Values above 7 are taken as 7.
//
// The rules are libtorrent 2.0.8's:
//   - A piece's priority is the highest of the files it overlaps (pad files
//     and empty files aside), so a piece that straddles a skipped file and
//     a wanted one is downloaded; the skipped file's bytes of it go to the
//     storage's part file, and the skipped file itself is never created
//     (when the storage supports it).
//   - Piece priorities set on a torrent (shardtorrent's
//     Torrent.SetPiecePriorities) override those (even to 0 inside a
//     wanted file) until file priorities are set again, which recomputes
//     every piece from the files.
//   - A torrent is finished (StateFinished, TorrentFinishedAlert) when it
//     has every wanted piece, and seeding (StateSeeding) when it has every
//     piece. Making a skipped file wanted again takes a finished torrent
//     back to downloading. Trackers are told "completed" only when every
//     piece is had, and "left" counts every piece not had.
//   - Priorities are saved in resume data (libtorrent's file_priority and
//     piece_priority keys) and restored on add.
type Priority uint8

// Priorities by libtorrent's names.
const (
	// PriorityDontDownload skips a file or piece (libtorrent's dont_download).
	PriorityDontDownload Priority = 0
	// PriorityLow is the lowest priority that downloads (low_priority).
	PriorityLow Priority = 1
	// PriorityDefault is every file's and piece's priority until set
	// (default_priority).
	PriorityDefault Priority = 4
	// PriorityTop is the highest priority (top_priority).
	PriorityTop Priority = 7
)
