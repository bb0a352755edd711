//go:build race

package shardtorrent

// raceEnabled: the race detector makes some values escape, so allocation
// counts are only asserted without it.
const raceEnabled = true
