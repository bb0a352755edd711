package shardtorrent

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"

	"github.com/shardtorrent/shardtorrent/metainfo"
)

// A fleet is N nodes that split one catalogue with no coordinator: each
// serves the torrents whose info-hash falls to its share, and all of them
// announce to the same trackers and DHT, so the swarm itself routes every
// leecher to the node that has the torrent.
//
// The rule is the xxhash of the wire info-hash that also places torrents
// on shards (Session.shardFor uses it modulo the shard count). The fleet
// takes the hash's high 32 bits, the shards the whole hash: had both used
// the same bits modulo N and modulo the shard count, a node of a fleet of
// 2 running 2 shards would put all of its torrents on one shard.

// Fleet is one node's share of a fleet: it serves the torrents for which
// Has is true. The zero value (N 0) is no fleet: every torrent. A Fleet is
// a value; its methods, ParseFleet and FleetShare are safe from any
// goroutine.
type Fleet struct {
	I, N int // this node is number I (from 0) of N
}

// ParseFleet parses "I/N" (0 <= I < N), as the node's -fleet flag takes it.
func ParseFleet(s string) (Fleet, error) {
	is, ns, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return Fleet{}, fmt.Errorf("shardtorrent: fleet %q: want I/N with 0 <= I < N", s)
	}
	return Fleet{I: i, N: n}, nil
}

// FleetShare returns which of n fleet shares serves the torrent (n must
// be positive): a hash of the wire info-hash, so every node of a fleet
// agrees without talking to the others.
func FleetShare(ih metainfo.InfoHash, n int) int {
	key := ih.Short()
	return int((xxhash.Sum64(key[:]) >> 32) % uint64(n))
}

// Has reports whether this node's share serves the torrent.
func (f Fleet) Has(ih metainfo.InfoHash) bool {
	return f.N <= 1 || FleetShare(ih, f.N) == f.I
}

func (f Fleet) String() string { return fmt.Sprintf("%d/%d", f.I, f.N) }
