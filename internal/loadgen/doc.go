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
// # Transports
//
// Config.Transport chooses how the connections do their I/O; both speak
// the same protocol through the same per-connection state (conn.step) and
// neither uses the engine's loop/ package, so a flaw in loop/ cannot hide
// on both ends of a measurement.
//
//   - Goroutines (the default): one goroutine per connection reads,
//     parses and writes its refill requests in one Write per read batch,
//     with blocking calls on a net.Conn.
//   - Gnet: the connections run on the event loops (Config.Loops, default
//     1) of one gnet client (github.com/panjf2000/gnet/v2, gnet.NewClient).
//     The dial, the MSE handshake and the BitTorrent handshake still run on
//     a short-lived goroutine per connection (at most DialConcurrency at
//     once), with the dial timeout and deadlines of net.Conn; the socket is
//     then handed to the client with EnrollContext, and from OnOpen on the
//     connection's state is owned by its loop. OnTraffic copies what gnet
//     read into the connection's own buffer (gnet's read buffer is shared
//     by the loop and reused), decrypts it in place for RC4 peers, parses,
//     and writes the refill requests with one Write.
//
// Both drive 10,000 connections from one process (measured against a
// seeder allowing 12,000: all 10,000 handshaked, none failed, about 2.0
// CPU-s for connecting and 5 s idle either way, peak RSS 457 MiB with gnet
// and 538 MiB with goroutines, at a 64 KiB receive buffer each).
//
// Goroutines stays the default because it measured a little faster. The
// measurement was the seed scenario on this 2-vCPU machine: 256 MiB, 8
// peers, an 8 s window, one bench run per transport, alternating, 8 runs
// each, with a load average of 4 to 9 from other jobs. The load generator's
// CPU per GiB received had a median of 0.235 s with goroutines and 0.26 s
// with gnet on one loop (1.11x, inside the 1.2x bound; 1.12x with
// 64 peers over 3 runs). The seeder's median throughput was 1227 MB/s with
// goroutines and 1145 MB/s with gnet. A second gnet loop, and edge-
// triggered mode, did not help in 2 to 3 runs each. The likely cause, from
// gnet's design (the load generator was not profiled), is an extra copy.
// Every byte is first read into the loop's shared buffer and then copied
// into the connection's buffer, because no slice gnet hands out stays valid
// after OnTraffic and gnet cannot read into a caller's buffer. The
// goroutine transport reads straight into the connection's buffer. The
// per-run figures are in NOTES-gnet.md at the repository root.
//
// # Threading and allocation
//
// With Goroutines a connection's state is owned by its goroutine; with
// Gnet by that goroutine until EnrollContext and then by the gnet loop the
// connection is on. Run reads the loop- or goroutine-owned fields (the
// latency histogram, unchoke counts) only after every connection has
// stopped (the goroutines returned, the gnet client stopped). The counters
// the progress reporter reads are atomics. Buffers (receive buffer, request
// buffer, request ring, latency histogram, piece-assembly buffers when
// verifying) are allocated when the connection starts and reused, so the
// steady state allocates nothing per block (TestSteadyStateAllocs, which
// drives conn.step's parts in memory; gnet's own Write copies into its
// pooled outbound buffer only what the socket did not take).
//
// Run is safe to call from any goroutine; one Run owns its connections.
package loadgen
