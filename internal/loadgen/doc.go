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
// checked against the torrent's SHA-1 piece hashes (Config.Verify). The
// request-to-block latency of every block received in the measurement
// window goes into a histogram (Result.Latency*), and Result has Jain's
// fairness index over the connections' bytes in the window (Jain).
//
// # Transports
//
// Config.Transport chooses how the connections do their I/O. Both speak
// the same protocol through the same per-connection state (conn.parse,
// conn.refill). Neither uses the engine's loop/ package, so a flaw in loop/
// cannot hide on both ends of a measurement.
//
//   - Gnet (the default): the connections run on the event loops
//     (Config.Loops, default 1) of one gnet client
//     (github.com/panjf2000/gnet/v2, gnet.NewClient). The dial, the MSE
//     handshake and the BitTorrent handshake still run on a short-lived
//     goroutine per connection, at most DialConcurrency at once, using
//     net.Conn's dial timeout and deadlines. The socket is then handed to
//     the client with EnrollContext, and from OnOpen on the connection's
//     state is owned by its loop. OnTraffic parses in place in gnet's read
//     buffer, decrypting RC4 peers' bytes in place first. It copies into
//     the connection's own buffer only a frame cut at the end of a read,
//     because no gnet slice stays valid after OnTraffic. It writes the
//     refill requests with one Write.
//   - Goroutines: one goroutine per connection reads into the connection's
//     buffer, parses, and writes its refill requests in one Write per read
//     batch, with blocking calls on a net.Conn.
//
// Gnet is the default because it measured no worse in CPU per GiB and
// better in memory and CPU at many connections. Measured with cmd/bench on
// a 2-vCPU machine shared with other jobs (load average 10 to 16; the
// per-run figures are in NOTES-gnet.md at the repository root):
//
//   - Seed scenario (256 MiB, 8 s window, -runs 1 per invocation, 4
//     invocations per transport, alternating): the load generator's median
//     CPU per GiB received was 0.263 s with gnet against 0.248 s with
//     goroutines at 8 peers (1.06x), and 0.235 s against 0.241 s at 64
//     peers (0.98x). An earlier batch gave 1.04x and 0.92x. The seeder's
//     throughput differed by run more than by transport.
//   - Many scenario, 10,000 connections from one process (-torrents 2000
//     -conns 10000, each fetching 4 blocks and verifying them, then idle
//     for 10 s; one run each): every connection handshaked and none
//     failed. The load generator's whole life cost 2.40 CPU-s with gnet
//     against 2.91 with goroutines, at a peak RSS of 781 MiB against
//     1429 MiB. The likely reason, not profiled: goroutines read into, and
//     so touch, every connection's 64 KiB receive buffer and keep a stack
//     per connection, while gnet reads into its loop's buffer.
//
// An earlier gnet version copied every byte out of gnet's buffer with
// Conn.Read. It cost 1.11x (8 runs), with memmove at 24% of its CPU
// profile; parsing in place brought memmove to 5%. If a quieter machine
// shows goroutines clearly cheaper per GiB, flip the default (the order of
// the Transport constants and cmd/bench's -loadgen-transport default).
//
// # Threading and allocation
//
// With Goroutines a connection's state is owned by its goroutine; with
// Gnet by that goroutine until EnrollContext and then by the gnet loop the
// connection is on. Run reads the loop- or goroutine-owned fields (the
// latency histogram, allowed-fast counts) only after every connection has
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
