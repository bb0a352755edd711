// Package smartban is libtorrent's smart_ban extension written against the
// public plugin API: it finds the peers that sent corrupt blocks of a piece
// that failed its hash check, even when several peers contributed to the
// piece, and bans them (by IP, as libtorrent does).
//
// How it works, and how it differs from libtorrent:
//
//   - libtorrent reads a failed piece's blocks back from disk. Our engine
//     hashes a piece before writing it and never writes a failed one, so
//     there is nothing to read: instead every block is fingerprinted as it
//     arrives (PieceHook) and kept as a pending record (piece, offset,
//     length, sender IP, fingerprint) until its piece's verdict.
//   - Every copy a peer sends is recorded with its real sender, including
//     end-game duplicates the engine drops because another copy came
//     first. So there is no guessing which copy the engine kept: a peer is
//     judged only on the bytes it sent itself. (libtorrent knows only the
//     kept copy; judging dropped copies too can only find more senders of
//     bytes that differ from verified data, never blame a peer for another
//     peer's bytes.)
//   - When the piece fails, its pending records become failed records. A
//     peer that already has a failed record for the same block with a
//     different fingerprint sent two versions of one block and is banned at
//     once.
//   - When the piece later passes, each block with failed records is read
//     back (TorrentHandle.ReadBlock; now verified data), fingerprinted, and
//     every peer whose record differs is banned (TorrentHandle.BanPeer).
//     A piece that passes without having failed costs nothing but dropping
//     its pending records.
//   - Once the torrent is a seed every record is dropped.
//
// Memory is bounded by Config.MaxRecords (see there). A record that could
// not be kept can only lead to fewer bans, never a wrong one.
package smartban
