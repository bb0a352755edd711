package shardtorrent

import (
	"encoding/binary"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/shardtorrent/shardtorrent/metainfo"
)

func TestParseFleet(t *testing.T) {
	cases := []struct {
		in   string
		want Fleet
		ok   bool
	}{
		{"0/3", Fleet{0, 3}, true},
		{"2/3", Fleet{2, 3}, true},
		{"0/1", Fleet{0, 1}, true},
		{"3/3", Fleet{}, false},
		{"-1/3", Fleet{}, false},
		{"1/0", Fleet{}, false},
		{"1", Fleet{}, false},
		{"a/b", Fleet{}, false},
		{"", Fleet{}, false},
	}
	for _, c := range cases {
		got, err := ParseFleet(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseFleet(%q) = %v, %v; want %v, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
}

// TestFleetSplitsEvenlyAndKeepsShardsBalanced: every torrent falls to
// exactly one share, shares are near equal, and within one share the
// torrents still spread over the shards (the fleet and the shards use
// different bits of the hash).
func TestFleetSplitsEvenlyAndKeepsShardsBalanced(t *testing.T) {
	const total = 30000
	for _, n := range []int{2, 3, 4} {
		for _, shards := range []int{2, 3, 4} {
			perShare := make([]int, n)
			perShard := make([][]int, n)
			for i := range perShard {
				perShard[i] = make([]int, shards)
			}
			for k := 0; k < total; k++ {
				var ih metainfo.InfoHash
				binary.LittleEndian.PutUint64(ih.V1[:], uint64(k)*0x9e3779b97f4a7c15)
				owners := 0
				for i := 0; i < n; i++ {
					if (Fleet{I: i, N: n}).Has(ih) {
						owners++
						perShare[i]++
						key := ih.Short()
						perShard[i][xxhash.Sum64(key[:])%uint64(shards)]++
					}
				}
				if owners != 1 {
					t.Fatalf("fleet of %d: %d shares own torrent %d", n, owners, k)
				}
			}
			for i, c := range perShare {
				if want := total / n; c < want*9/10 || c > want*11/10 {
					t.Errorf("fleet of %d: share %d has %d torrents, want about %d", n, i, c, want)
				}
				for s, c2 := range perShard[i] {
					if want := c / shards; c2 < want*8/10 || c2 > want*12/10 {
						t.Errorf("fleet of %d, %d shards: share %d shard %d has %d of %d", n, shards, i, s, c2, c)
					}
				}
			}
		}
	}
	if !(Fleet{}).Has(metainfo.InfoHash{}) {
		t.Fatal("the zero Fleet must serve everything")
	}
}
