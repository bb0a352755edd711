// Package metainfo reads and writes .torrent files (BEP 3), computes
// info-hashes, parses and formats magnet URIs (BEP 9), creates torrents from
// files on disk, and turns torrent file names into paths that cannot escape
// the download directory.
//
// The package knows nothing of sockets, loops or a torrent's runtime state.
// Everything a peer or user can send is treated as hostile: every length and
// count is checked against a named limit before anything is allocated, and
// malformed input returns an error (never a panic).
//
// Invariants of a parsed Info (checked by Info.validate, which Parse,
// ParseInfo and the fuzz tests rely on):
//   - Name is one safe path component (see SanitizeComponent).
//   - Every File.Path starts with Name, every component is safe, and no two
//     files share a path or use another file's path as a directory.
//   - Files are contiguous: Files[0].Offset == 0, each Offset is the previous
//     Offset plus Length, and their lengths sum to TotalLength > 0.
//   - len(Pieces) == ceil(TotalLength / PieceLength) exactly.
//
// Threading: every function and method here is safe from any goroutine;
// values are not synchronised, so don't mutate one while others read it.
package metainfo
