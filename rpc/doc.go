// Package rpc serves Transmission's RPC protocol (its rpc-spec, protocol
// version 17 as Transmission 4 speaks it, and what Transmission 3.00's
// transmission-remote sends) for a shardtorrent session, so tools written
// for Transmission (transmission-remote, Sonarr/Radarr, Flood) drive a node
// unchanged.
//
// A Handler is an http.Handler for POST /transmission/rpc: the
// X-Transmission-Session-Id handshake (409 with the header until the
// client sends this process's id back), a request body cap, JSON
// {"method","arguments","tag"} in and {"result","arguments","tag"} out,
// with every failure in "result" as the spec says. Authentication, the
// client allow-list and rate limiting are not here: whoever builds the
// HTTP service wraps the Handler with them (internal/nodecmd).
//
// # Threading
//
// A Handler is safe from any goroutine: net/http calls ServeHTTP
// concurrently. Requests that read or change the set of torrents (every
// torrent-* method and session-stats) run one at a time under one mutex,
// so the id registry sees listings, adds and removals in order; each of
// their calls into the session is bounded by the request's context.
// session-get, session-set, free-space and port-test do not wait for
// them. Reads of the session go through Session.TorrentViews (one round
// trip per shard, whatever the number of torrents) and, only for the
// torrents that asked for them, the per-torrent heavy fields (files,
// fileStats, priorities, wanted, peers, peersFrom, trackers, trackerList,
// trackerStats, pieces): one more round trip each.
//
// # Ids
//
// Torrent ids are 1, 2, 3... in order of first sight by info-hash, stable
// for the life of the process; a removed torrent's id is never reused (a
// torrent removed and added again gets a new id). Torrents first seen
// together are numbered by added time, then info-hash, so the numbering
// does not depend on shard order. "ids" takes a number, a list of numbers
// and/or 40-hex info-hash strings (any case), "recently-active" (changed
// within the last 60 s, with a "removed" list of ids removed within that
// time), or nothing (every torrent). Ids that name no torrent are skipped,
// as Transmission does; ids that are not ids at all (0, negative,
// fractional, a string that is not a hash) fail the request with a result
// naming them.
//
// # What is honest
//
// Values the engine does not have are answered with Transmission's
// neutral value and are listed in the method docs: arguments for what the
// engine does not have (alternative speed limits, labels) are refused by name (result `argument "X" is not supported`)
// unless the value asked for is what the engine already does (a limit set
// to "disabled"). File selection (files-wanted, files-unwanted,
// priority-high/normal/low in torrent-add and torrent-set) maps onto the
// engine's file priorities as files.go describes. port-test answers
// port-is-open false: the node does not probe itself from outside.
//
// torrent-get answers every field of the 4.0 spec but "availability"
// (left out, like any unknown key). Those the engine has no
// figure for get Transmission's neutral value: group, primary-mime-type
// and torrentFile "" (comment, creator and dateCreated are the .torrent's,
// empty for a torrent resumed from its state or added from a magnet);
// corruptEver, desiredAvailable,
// haveUnchecked, secondsDownloading, secondsSeeding, editDate,
// manualAnnounceTime and the limits 0; isFinished and isStalled false;
// seedRatioMode, seedRatioLimit, seedIdleMode and seedIdleLimit are the
// torrent's rules (the limits the effective ones: its own, or the
// session's); labels
// and webseeds []; isEncrypted and
// isUTP false for every peer, and a peer's progress 1 for a seed, else 0.
// A paused torrent the queue controls (auto-managed) has status 3 or 5
// (queued to download or to seed). torrent-start queues a torrent: it runs
// when the session's active limits let it; torrent-start-now runs it at
// once, outside the queue, as does a manual resume in libtorrent.
// "recently-active" compares what each listing sees (state, pieces,
// payload, peers, errors) with the previous one, so "changed" means
// "changed between two requests", and a torrent first seen counts from its
// added time.
//
// session-stats' cumulative-stats adds the totals the present torrents'
// resume data carried from earlier sessions to this session's (removed
// torrents are forgotten); sessionCount is 1. Its extra key
// "shardtorrent" (type Extra) holds the shards' load and the plugins'
// cost, for the status page.
package rpc
