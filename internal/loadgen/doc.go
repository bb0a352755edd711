// Package loadgen is a load generator for BitTorrent seeders: it speaks the
// peer wire protocol (package wire) as many leechers at once, over plain
// loopback TCP, so that a seeder can be measured without a slow leecher
// being the limit.
//
// Each connection handshakes for one torrent (connections are spread over
// the configured torrents in turn), announces the fast extension, sends
// have none and interested, and once unchoked keeps a deep pipeline of
// block requests outstanding (Config.Pipeline, 128 blocks of 16 KiB by
// default). Pieces are chosen at random, sequentially from a per-connection
// offset, or spread (handed out in turn across the connections of a
// torrent, so every piece is asked for once before any is asked for twice:
// what rarest-first gives a swarm of fresh leechers). Received pieces can be
// checked against the torrent's SHA-1 piece hashes (Config.Verify). Every
// block's request-to-block latency goes into a histogram (Result.Latency*).
//
// # Threading and allocation
//
// One goroutine per connection reads, parses with wire.Decoder, and writes
// its refill requests in one Write per read batch. A connection's state is
// owned by its goroutine; the counters the progress reporter reads are
// atomics. Buffers (receive buffer, request buffer, request ring, latency
// histogram, piece-assembly buffers when verifying) are allocated when the
// connection starts and reused, so the steady state allocates nothing per
// block (TestSteadyStateAllocs).
//
// Run is safe to call from any goroutine; one Run owns its connections.
package loadgen
