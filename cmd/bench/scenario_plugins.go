package main

import (
	"fmt"
)

// pluginCases are the cases of the plugins scenario: no plugins at all
// (built-ins off), four no-op peer plugins on every connection (the plugin
// issue's benchmark), and the built-in extensions as cmd/node runs them
// (ut_metadata, ut_pex, lt_donthave, upload_only, smart_ban).
var pluginCases = []struct {
	label    string
	noop     int
	builtins bool
}{
	{"no plugins", 0, false},
	{"4 no-op plugins", 4, false},
	{"built-in extensions", 0, true},
}

// plugins: the seed scenario's load with no plugins, with no-op peer
// plugins and with the built-in extensions, to show what the plugin
// dispatch and the extensions cost on a real seeder.
func (e *env) plugins() (*table, error) {
	o := e.o
	const conns = 8 // the unchoke slots: every connection is served
	t := &table{scenario: "plugins",
		title: fmt.Sprintf("plugins: our seeder to %d load-generator connections with no plugins, 4 no-op peer plugins per connection and the built-in extensions, %d MiB torrent, %s window, medians of %d runs",
			conns, o.size>>20, o.duration, o.runs),
		cols: seedColumns(),
		chartSpecs: []chartSpec{
			{file: "plugins_mbps.png", title: "SEEDING MB/S BY PEER PLUGINS PER CONNECTION", keys: []string{"mb_per_s"}},
		},
	}
	dir, ds, cleanup, err := e.payload("plugins")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	defer func() { e.noopPlugins, e.noBuiltins = 0, false }()
	// Runs are interleaved (case 0, 1, 2, then again), so drift in the
	// shared machine's speed during the scenario falls on every case alike
	// rather than on whichever ran last.
	samples := make([][]map[string]float64, len(pluginCases))
	for r := 0; r < o.runs; r++ {
		for i, pc := range pluginCases {
			e.noopPlugins, e.noBuiltins = pc.noop, !pc.builtins
			s, err := e.seedOnce(ds, dir, fmt.Sprintf("plugins-%d-run%d", i, r+1), conns, 0, o.unchoke)
			if err != nil {
				return t, fmt.Errorf("%s run %d: %w", pc.label, r+1, err)
			}
			fmt.Printf("  %s run %d: %.0f MB/s, seeder %.3f CPU-s/GiB, %.4f allocs/block\n",
				pc.label, r+1, s["mb_per_s"], s["seeder_user_per_gib"]+s["seeder_sys_per_gib"], s["seeder_allocs_per_block"])
			samples[i] = append(samples[i], s)
		}
	}
	var base float64
	for i, pc := range pluginCases {
		row := t.add(pc.label, samples[i], "")
		if i == 0 {
			base = row.Values["mb_per_s"]
		} else if base > 0 {
			t.notes = append(t.notes, fmt.Sprintf("%s: %+.1f %% throughput against none (goal: within 3 %%)", pc.label, 100*(row.Values["mb_per_s"]/base-1)))
		}
	}
	return t, nil
}
