// Package shard is the engine: torrents, their peers, the piece picker and
// the choker, driven by one event loop per shard.
//
// A shard owns a disjoint set of torrents (chosen by the session with an
// xxhash of the info-hash). Everything about a torrent — its peers, their
// protocol state, disk completions, timers — runs on the shard's loop, so
// none of that state is locked. Other goroutines reach a shard only through
// loop.Post; the exported methods that may be called from elsewhere say so.
//
// Invariants:
//   - Owned by the shard's loop: every field of Shard, Torrent and peer.
//   - A received block is kept as a view of the loop's receive span; the
//     piece buffer holds one span reference per block until the disk job
//     that hashes and writes the piece releases it.
//   - A span is in at most one send queue: blocks read for upload are
//     handed to exactly one connection, which releases them when written.
package shard
