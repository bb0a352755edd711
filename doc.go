// Package shardtorrent is a BitTorrent engine built to seed fast: torrents
// are sharded over epoll event loops, each loop the only thread that touches
// its torrents, their peers and (later) their plugins.
//
// A Session owns the loops, the disk workers and the alert queue. Add
// torrents with AddTorrent; the returned *Torrent handle is safe from any
// goroutine. Alerts (package plugin) report what happened.
package shardtorrent
