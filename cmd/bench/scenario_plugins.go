package main

import (
	"fmt"
)

// pluginCounts are the cases of the plugins scenario: no plugins, and four
// no-op peer plugins on every connection (the plugin issue's benchmark).
// The built-in extensions join as a third case when they land.
var pluginCounts = []int{0, 4}

// plugins: the seed scenario's load with and without no-op peer plugins,
// to show what the plugin dispatch costs on a real seeder.
func (e *env) plugins() (*table, error) {
	o := e.o
	const conns = 8 // the unchoke slots: every connection is served
	t := &table{scenario: "plugins",
		title: fmt.Sprintf("plugins: our seeder to %d load-generator connections with 0 and 4 no-op peer plugins per connection, %d MiB torrent, %s window, medians of %d runs",
			conns, o.size>>20, o.duration, o.runs),
		cols: seedColumns(),
		chartSpecs: []chartSpec{
			{file: "plugins_mbps.png", title: "SEEDING MB/S BY PEER PLUGINS PER CONNECTION", keys: []string{"mb_per_s"}},
		},
	}
	dir, cleanup, err := e.tempDir("plugins")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	fmt.Printf("generating %d MiB of data in %s ...\n", o.size>>20, dir)
	ds, err := makeDataset(dir, "payload", 1, o.size, o.piece)
	if err != nil {
		return nil, err
	}
	defer func() { e.noopPlugins = 0 }()
	var base float64
	for _, n := range pluginCounts {
		e.noopPlugins = n
		var samples []map[string]float64
		for r := 0; r < o.runs; r++ {
			s, err := e.seedOnce(ds, dir, fmt.Sprintf("plugins-%d-run%d", n, r+1), conns, 0, o.unchoke)
			if err != nil {
				return t, fmt.Errorf("%d plugins run %d: %w", n, r+1, err)
			}
			fmt.Printf("  %d plugins run %d: %.0f MB/s, seeder %.3f CPU-s/GiB, %.4f allocs/block\n",
				n, r+1, s["mb_per_s"], s["seeder_user_per_gib"]+s["seeder_sys_per_gib"], s["seeder_allocs_per_block"])
			samples = append(samples, s)
		}
		row := t.add(fmt.Sprintf("%d no-op plugins", n), samples, "")
		if n == 0 {
			base = row.Values["mb_per_s"]
		} else if base > 0 {
			t.notes = append(t.notes, fmt.Sprintf("%d no-op plugins: %+.1f %% throughput against none (goal: within 3 %%)", n, 100*(row.Values["mb_per_s"]/base-1)))
		}
	}
	return t, nil
}
