// Package tracker is the session's tracker client: HTTP(S) and UDP
// announces and scrapes (BEP 3, 15, 23, 7, 12, 41, 48), scheduled for every
// torrent of a session from one heap. It knows nothing of shards: the
// session feeds it torrent events and hands the peers it returns to the
// owning loop.
//
// # Shape
//
// The policy is a socket-free scheduler (sched.go): torrent events, handle
// calls and request results go in with the time, the requests to send come
// out. It holds libtorrent's announce_entry state per tracker (fails,
// start/complete sent, next and min announce, tracker id, last error and
// swarm figures) and the BEP 12 tier rules: a tier's trackers are shuffled
// once, tried in order, and the one that answers moves to the front; the
// next tier is used only while every tracker of the tiers before it has
// failed; AnnounceToAllTrackers and AnnounceToAllTiers lift those rules as
// in libtorrent. The session's extra trackers (Config.Extra, the node's
// -tracker) are outside the tiers: always announced to, never for a private
// torrent. Tests drive the scheduler with explicit times (sched_test.go).
//
// The Manager (manager.go) drives it: one goroutine waits on a Clock timer
// for the earliest due announce and starts the requests, each on its own
// goroutine, at most MaxInFlight at once and at most AnnounceRate per second
// (a token bucket), so 10,000 torrents started together are announced
// over 100 s by default and their re-announces stay spread. Stopped
// announces and scrapes go before due announces and spend no token.
//
// # Threading
//
// Every Manager method is safe from any goroutine and never waits on the
// network, so a shard loop may call Started/Completed/Stopped/Metadata
// from an event callback: they take the Manager's mutex (held only for
// scheduler bookkeeping, never across I/O), record, and wake the run
// goroutine. Close is the exception: it waits for the stopped announces,
// at most StopTimeout on the Manager's Clock or until its ctx ends, then
// cancels whatever is left. Config.Peers and Config.Alert are called from
// request goroutines. Transports are safe from any goroutine.
//
// Invariants (sched.check, run after every step of the scheduler tests):
// an entry is in the heap iff its idx >= 0; an entry in the heap has no
// request out and belongs to an announcing torrent that needs it (tier
// rules); the requests out never exceed MaxInFlight; a removed torrent is
// forgotten only when none of its requests is out and its stopped
// announces are done.
//
// # Time
//
// Back-off after a failure is libtorrent 2.0.8's announce_entry::failed:
// 5 s + fails² · 5 s · tracker_backoff/100, at most 60 min (17, 55, 117,
// 205 s ... with the default 250), plus up to 10% jitter of ours so
// trackers that fail together do not retry together. A failing tracker is
// asked 9 times in its first hour (TestBackoffNoStorm). A reply's interval
// is floored by its "min interval" and by MinAnnounceInterval (libtorrent's
// min_announce_interval, 300 s); a forced re-announce waits for the min
// interval, an event (started, completed) does not. A stopped is sent
// once, bounded by StopTimeout (libtorrent's stop_tracker_timeout, 5 s).
//
// # Wire code: what we took from anacrolix/torrent v1.61.0 and why
//
// UDP: its tracker/udp ConnClient is used as is (udp.go). Read for this
// package: it keeps a connection id for 60 s and reconnects after an error
// action, retransmits on BEP 15's 15·2^n s schedule (n capped at 8) until
// the request's context ends, and encodes BEP 41 URL data from
// Options.RequestUri; a reply of more peers than its 2 KiB read buffer
// holds is cut there. We keep one ConnClient (one socket, one connection
// id) per tracker host:port for all torrents, and bound each request with
// Timeout (30 s: two sends).
//
// HTTP: its tracker/http client is not used, for what it lacks (read in
// http.go and protocol.go of v1.61.0): a "failure reason" becomes only an
// error string, "warning message", "min interval" and "tracker id" are not
// returned at all, the body is read with no cap (io.Copy into a buffer),
// the dictionary peer form panics on a list entry that is not a dictionary
// (an unchecked type assertion), and each Client builds its own
// http.Transport. Ours (http.go, response.go): the request is built here
// (the tracker URL's own query, a private tracker's passkey, first), one
// shared http.Client with keep-alive serves every tracker, redirects stop
// after 5, the body is read up to MaxResponseSize (1 MiB; a larger one is
// ErrBodyTooLarge, read no further), and the reply is decoded with
// anacrolix/torrent/bencode into a struct after a nesting check (the
// decoder recurses). Compact IPv4 and IPv6 (peers6) and dictionary peers
// are taken up to the per-reply cap; the rest is counted, not kept.
//
// # Errors
//
// Every failure is a *Error with an ErrorKind (errors.go), matchable with
// errors.Is; it reaches the user as a TrackerErrorAlert with the failure
// count and the tracker's "failure reason", and the tracker backs off.
//
// # Measured
//
// BenchmarkTrackerAnnounce10k (root package; 2 cores, the test tracker in
// the same process): 10,000 seeded torrents announce started at about
// 20,000/s with the rate limit lifted, 75-85 µs of process CPU per
// announce (both ends of the HTTP exchange and the add, which alone is
// 12-16 µs per torrent); the 10,000 stopped of Close take 0.35 s, 60-72 µs
// each.
//
// The many scenario of cmd/bench with -tracker (the node seeding 10,000
// torrents, -tracker pointing at a test tracker in the bench process, the
// client's defaults): 101 announces/s, the node at 1.69% of a core while
// announcing, 167 µs of node CPU per announce. Waking the run goroutine
// for every token had cost 4.99% and 493 µs; it now wakes when a tenth of
// a second's tokens have accrued and starts them together.
package tracker
