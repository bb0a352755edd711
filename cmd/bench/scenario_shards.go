package main

import (
	"fmt"
	"strings"
)

// shards: the seeding load spread over -shard-torrents torrents (the -size
// payload split between them) and -shard-conns connections, with the node
// on one event loop and then on two.
func (e *env) shards() (*table, error) {
	o := e.o
	each := o.size / int64(o.shardTorrents)
	piece := min(o.piece, max(each/4, 16<<10))
	t := &table{scenario: "shards",
		title: fmt.Sprintf("shards: %d torrents of %d MiB, %d load-generator connections, %s window, medians of %d runs",
			o.shardTorrents, each>>20, o.shardConns, o.duration, o.runs),
		cols: append(seedColumns(), column{"loop0_torrents", "torrents on loop 0", "%.0f"}),
		chartSpecs: []chartSpec{
			{file: "shards_mbps.png", title: "SEEDING MB/S BY EVENT LOOPS", keys: []string{"mb_per_s"}},
		},
	}
	dir, cleanup, err := e.tempDir("shards")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	fmt.Printf("generating %d torrents of %d MiB in %s ...\n", o.shardTorrents, each>>20, dir)
	ds, err := makeDataset(dir, "s", o.shardTorrents, each, piece)
	if err != nil {
		return nil, err
	}
	for _, shards := range []int{1, 2} {
		var samples []map[string]float64
		for r := 0; r < o.runs; r++ {
			name := fmt.Sprintf("shards-%d-run%d", shards, r+1)
			s, err := e.seedOnce(ds, dir, name, o.shardConns, shards, o.unchoke)
			if err != nil {
				return t, fmt.Errorf("%d shards run %d: %w", shards, r+1, err)
			}
			fmt.Printf("  %d loop(s) run %d: %.0f MB/s, seeder %.2f cores busy, %.3f CPU-s/GiB, %.0f of %d conns served, %.0f torrents on loop 0\n",
				shards, r+1, s["mb_per_s"], s["seeder_cores"], s["seeder_cpu_per_gib"], s["conns_served"], o.shardConns, s["loop0_torrents"])
			samples = append(samples, s)
		}
		t.add(fmt.Sprintf("%d loop%s", shards, strings.Repeat("s", min(shards-1, 1))), samples, "")
	}
	return t, nil
}
