// Package plugin is shardtorrent's extension API, libtorrent 2.0.8's
// extensions.hpp in Go: session plugins (Plugin), torrent plugins
// (TorrentPlugin) and peer plugins (PeerPlugin), each a small required
// interface plus optional one-method hook interfaces; the handles plugins
// use (SessionHandle, TorrentHandle, PeerConn, as interfaces); crypto
// plugins; alerts, their static categories and custom alert types.
//
// The package never imports the engine (shard) or the session: handles are
// interfaces here and implemented there, so an extension written against this
// package alone is written as a third party would write it.
//
// Threading: torrent and peer hooks run on the loop that owns the torrent;
// handle methods are loop only unless they say "any goroutine";
// TorrentHandle.Post is the way in from other goroutines. Session-plugin
// hooks may run on several loops at once. Alerts are immutable values, safe
// to read from any goroutine. PLUGINS.md at the repository root documents
// the contract, the return-value semantics and every deliberate difference
// from libtorrent 2.0.8.
package plugin
