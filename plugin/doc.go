// Package plugin holds the extension interfaces of shardtorrent: alerts and
// their categories today, and the session, torrent, peer and crypto plugin
// interfaces of libtorrent 2.0.8's extension API as they land.
//
// The package never imports the engine (shard) or the session: handles are
// interfaces here and implemented there, so an extension written against this
// package alone is written as a third party would write it.
//
// Threading: alerts are immutable values, safe to read from any goroutine.
package plugin
