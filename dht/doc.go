// Package dht is the session's DHT node (BEP 5): github.com/anacrolix/dht/v2
// (v2.23.0) does the Kademlia work (routing table, transactions, the
// get_peers traversal and its announce_peer step, tokens); this package
// puts around it what a seeding engine needs: the socket shared with no
// one else, per-source query limits, the plugins' OnDHTRequest, the
// built-in reply to unknown queries, a bounded peer store, the schedule of
// lookups for thousands of torrents, alerts, counters and saved state.
//
// # Threading
//
// A Node is used from any goroutine; every exported method says so. It
// runs these goroutines of its own, all ended and waited for by Close:
//   - the anacrolix server's reader, which calls filterConn.ReadFrom: every
//     packet is inspected there (intercept, conn.go) before the server sees
//     it, so the per-source limit, Config.OnRequest (the session plugins'
//     OnDHTRequest) and our own replies run on that one goroutine, one
//     query at a time, in arrival order. A plugin that blocks there stops
//     the DHT;
//   - the scheduler (run), which starts lookups;
//   - one goroutine per lookup in flight (at most MaxInFlight), which
//     hands the peers found to Config.OnPeers and posts DHTReplyAlert;
//   - the bootstrap, and once it succeeded the server's TableMaintainer;
//   - the server's own short-lived goroutines (replies, store writes).
//
// Start and Stop are called on shard loops (the torrents' lifecycle
// events); they take a mutex held for a few map operations and never
// touch the network.
//
// # Invariants
//
//   - A torrent is in Node.torrents from Start to Stop; a queue slot whose
//     entry is no longer there is skipped when popped (lazy deletion), so
//     Stop is O(1) and a stopped torrent is never looked up again. At
//     most one lookup per torrent runs (entry.running), and at most
//     MaxInFlight in all (Node.inFlight).
//   - The peer store holds at most MaxTorrents info-hashes and MaxPeers
//     peers each (store.check, run by the tests after every step); the
//     blocker remembers blockerSlots sources, never more.
//   - No packet from the network reaches a decoder before bencheck has
//     bounded its nesting (maxDepth); a UDP datagram bounds its length.
//
// # Spreading 10,000 torrents
//
// libtorrent 2.0.8 starts one DHT announce every
// max(dht_announce_interval/N, 1 s), every 4 s at most while new torrents
// wait for their first one, and a lone new torrent at once; this node does
// the same (Settings.MinAnnounceGap, AnnounceInterval) and also bounds
// the lookups in flight and the packets sent per second (SendRate; queries
// wait for it, replies past it are dropped, as libtorrent's
// dht_upload_rate_limit). So 10,000 torrents cost one lookup a second,
// whatever their number; each is re-announced every 10,000 s instead of
// every 15 min, the price libtorrent pays too.
//
// # Plugins (OnDHTRequest)
//
// A query with a 20-byte "id" is offered to Config.OnRequest before the
// built-in handling, as libtorrent's node::incoming_request does after
// its own checks. DHTRequest.Message is the packet, valid during the call
// only (it is the server's read buffer); Response is pre-filled with our
// "id" and the querier's "p" (port), as libtorrent's. A plugin that
// returns true has answered: Response goes back as the "r" of a reply
// with the query's "t" and BEP 42's "ip", within SendRate, and the server
// never sees the query (its sender is added to the routing table unless
// read-only, as libtorrent's heard_about). Otherwise the built-in handler
// answers.
//
// # Measurements
//
// On the 2-core development machine, loopback DHT of 8 nodes:
//   - BenchmarkLookups (bench_test.go, -benchtime=10000x), pacing off:
//     10,000 lookups, 16.0 queries each (get_peers to the 7 other nodes
//     and announce_peer to those that gave tokens), 1.29 ms of process
//     CPU per lookup (the 8 nodes together: the queries and their
//     answers), 1,509 lookups/s; with the default SendRate (100 packets/s)
//     6.3 lookups/s, 97.6 queries/s: the rate bound holds.
//   - BenchmarkDHTManyTorrents (root dht_bench_test.go, -benchtime=30x):
//     a session announcing 10,000 torrents with the default settings
//     starts 0.97 lookups/s and sends 15.5 queries/s; process CPU 16.5
//     ms/s against 12.9 ms/s for the same sessions and torrents without
//     its DHT: the DHT costs 3.6 ms of CPU a second (0.4% of a core).
//
// A lookup in the real DHT asks more nodes (tens), so queries per lookup
// there are a few times these.
package dht
