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
//   - Gnet: the connections run on the event loops
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
//   - Auto (the zero value, and cmd/bench's default): Goroutines below
//     AutoGnetConns (1000) connections, Gnet from there on.
//
// Auto follows what measured faster at each scale. The measurements used
// cmd/bench on a 2-vCPU machine shared with other jobs, at load average 10
// to 24; the per-run figures are in docs/notes/NOTES-gnet.md.
//
//   - Few connections favour Goroutines. In the seed scenario (256 MiB,
//     8 s window), 8 alternating runs per transport were pooled. Gnet's
//     median CPU per GiB received was 1.06x Goroutines' at 8 peers (0.2465
//     against 0.2325 s) and 1.03x at 64 peers. The seeder under test
//     reached 890 against 1068 MB/s (8 peers) and 1000 against 1052 MB/s
//     (64 peers). One loop reads every socket in turn on one thread, while
//     the goroutines spread over both CPUs. That is the likely reason, not
//     profiled.
//   - Many connections favour Gnet. In the hot scenario (2000 connections,
//     2 alternating runs each), the seeder reached 603 and 814 MB/s with
//     Gnet against 295 and 456 MB/s with Goroutines. The generator's CPU
//     per GiB was about the same (0.22 to 0.23 s against 0.20 to 0.22). In
//     the many scenario (10,000 connections from one process, -torrents
//     2000, 4 blocks each then idle; one run each), every connection came
//     up with both transports. The generator's whole life cost 2.40 CPU-s
//     with Gnet against 2.91, at a peak RSS of 781 against 1429 MiB. Gnet
//     was slower to bring every connection up: 9.9 s against 4.2 s.
//
// An earlier Gnet version copied every byte out of gnet's buffer with
// Conn.Read. It cost 1.11x Goroutines' CPU per GiB in the seed scenario,
// with memmove at 24% of its profile; parsing in place brought memmove to
// 5%.
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
