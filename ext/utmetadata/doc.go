// Package utmetadata implements BEP 9's ut_metadata extension: serving a
// torrent's info dictionary to peers in 16 KiB pieces, and fetching it for
// a torrent added from a magnet link, with libtorrent 2.0.8's limits and
// timings (see the constants).
//
// It is written against package plugin alone, as a third party would: a
// session plugin (New) attaches a torrent plugin to every torrent that is
// not private, which attaches a peer plugin to every BitTorrent
// connection. The session registers it by default.
//
// Deliberate differences from libtorrent, each for a stated reason:
//   - A request back-off (after a reject or a hash failure) applies to every
//     peer. libtorrent consults it only for peers not flagged as having the
//     metadata, which exempts any peer that advertises metadata_size, so a
//     peer serving a wrong dictionary kept being asked first and could keep
//     an honest one from ever completing it.
//   - A handshake's metadata_size (at most 4 MiB) only tells how many
//     pieces to ask for; the buffer is sized by the first data message's
//     total_size, so one lying handshake cannot make every honest piece look
//     inconsistent.
//
// Threading: every hook runs on the loop that owns the torrent.
package utmetadata
