// Command node is shardtorrent's seeding node: it seeds (and downloads) the
// torrents it is given, from the command line and from a watch directory.
//
//	node [flags] [TORRENT_FILE|MAGNET ...]
//	node make -o OUT.torrent [-piece-size N] [-tracker URL] PATH
//
// Run `node -h` for the flags.
package main

import (
	"os"

	"github.com/shardtorrent/shardtorrent/internal/nodecmd"
)

func main() {
	os.Exit(nodecmd.Run(os.Args[1:], os.Stdout, os.Stderr))
}
