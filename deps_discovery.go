//go:build tools

package shardtorrent

// The tracker and DHT wire code the tracker/ and dht/ packages build on
// (issue 10), pinned here until those packages import them.
import (
	_ "github.com/anacrolix/dht/v2"
	_ "github.com/anacrolix/torrent/tracker"
)
