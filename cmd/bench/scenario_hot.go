package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// hot: a new release. One torrent of -size, one seeder of ours, -conns
// load-generator connections (2000 by default) all wanting it at once. The
// seeder's choker runs as it does in use: its default seeding algorithm
// (round robin), its default slots (8 regular and 1 optimistic unless
// -unchoke-slots) and its default intervals (a regular round every 15 s,
// a turn of at least a minute, an optimistic unchoke every 30 s), so the
// window (-hot-window, 90 s by default) sees the slots rotate. The seeder
// runs with -shards event loops (0: one per CPU) and with
// -max-conns-per-torrent raised to take every connection.
//
// Reported: throughput, request latency (sent to received, per block, over
// the window: only unchoked connections receive blocks), Jain's fairness
// index over every connection's bytes in the window and over those of the
// connections unchoked at some point in it, how many distinct connections
// were served, and the seeder's CPU per GiB.
func (e *env) hot() (*table, error) {
	o := e.o
	t := &table{scenario: "hot",
		title: fmt.Sprintf("hot: one %d MiB torrent, %d load-generator leechers, our seeder with %s, its default choker%s, %s window, pipeline %d, %s order, medians of %d runs",
			o.size>>20, o.conns, shardsName(o.shards), slotsName(o.unchoke), o.hotWindow, o.pipeline, o.order, o.runs),
		cols: []column{
			{"mb_per_s", "MB/s", "%.0f"},
			{"latency_p50_ms", "p50 ms", "%.2f"}, {"latency_p99_ms", "p99 ms", "%.2f"},
			{"jain_all", "Jain (all conns)", "%.4f"}, {"jain_unchoked", "Jain (unchoked conns)", "%.3f"},
			{"conns_unchoked", "conns unchoked", "%.0f"}, {"conns_served", "conns served", "%.0f"},
			{"seeder_cpu_per_gib", "seeder CPU/GiB", "%.3f"}, {"seeder_cores", "seeder cores busy", "%.2f"},
			{"seeder_runq_wait", "seeder run-queue wait", "%.2f"},
			{"seeder_allocs_per_block", "seeder allocs/block", "%.4f"},
			{"loadgen_cpu_per_gib", "loadgen CPU/GiB", "%.2f"},
		},
		chartSpecs: []chartSpec{
			{file: "hot_mbps.png", title: "HOT TORRENT: MB/S", keys: []string{"mb_per_s"}},
			{file: "hot_p99.png", title: "HOT TORRENT: P99 REQUEST LATENCY MS", keys: []string{"latency_p99_ms"}},
		},
	}
	dir, ds, cleanup, err := e.payload("hot")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	var samples []map[string]float64
	for r := 0; r < o.runs; r++ {
		s, err := e.hotOnce(ds, dir, fmt.Sprintf("hot-run%d", r+1))
		if err != nil {
			return t, fmt.Errorf("run %d: %w", r+1, err)
		}
		fmt.Printf("  run %d: %.0f MB/s, p50 %.2f ms p99 %.2f ms, Jain %.4f (all %0.f) %.3f (%0.f unchoked), %0.f served, seeder %.3f CPU-s/GiB (%.2f cores busy, %.2f waiting for a CPU), loadgen %.2f CPU-s/GiB\n",
			r+1, s["mb_per_s"], s["latency_p50_ms"], s["latency_p99_ms"], s["jain_all"], s["conns_connected"], s["jain_unchoked"],
			s["conns_unchoked"], s["conns_served"], s["seeder_cpu_per_gib"], s["seeder_cores"], s["seeder_runq_wait"], s["loadgen_cpu_per_gib"])
		samples = append(samples, s)
	}
	t.add(fmt.Sprintf("%d conns, %s", o.conns, shardsName(o.shards)), samples, "")
	t.notes = append(t.notes,
		"latency: request sent to block received, per block, over the blocks received in the window (only unchoked connections get blocks)",
		"Jain's index (sum x)^2 / (n sum x^2) of the payload bytes each connection received in the window: over all connections, and over those unchoked at some point in it; conns served received at least one block in the window",
		"seeder run-queue wait: seconds its threads spent runnable but not running (/proc/PID/task/*/schedstat) per second of window: how much CPU it wanted and the machine did not give it",
		"CPU in CPU-s per GiB received in the window; the seeder's choker is the engine's default (round robin, 8 + 1 optimistic slots, 15 s rounds, turns of at least 60 s, optimistic every 30 s)")
	return t, nil
}

func shardsName(n int) string {
	if n <= 0 {
		return "one loop per CPU"
	}
	if n == 1 {
		return "1 loop"
	}
	return fmt.Sprintf("%d loops", n)
}

func slotsName(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d slots)", n)
}

// hotMaxConns is the seeder's -max-conns-per-torrent and -max-conns for
// conns connections to one torrent: conns and a tenth more, or 0 (the
// node's default) where that is room enough.
func hotMaxConns(conns int) (perTorrent, total int) {
	need := conns + conns/10 + 8
	if need > 200 {
		perTorrent = need
	}
	if need > 4000 {
		total = need
	}
	return perTorrent, total
}

// hotOnce runs one seeder and one load generator and returns the window's
// figures, with the fairness and choking ones the hot scenario adds.
func (e *env) hotOnce(ds *dataset, dir, name string) (map[string]float64, error) {
	o := e.o
	perT, total := hotMaxConns(o.conns)
	s, res, err := e.seedWindow(ds, dir, seedRun{name: name, conns: o.conns, shards: o.shards, unchoke: o.unchoke,
		window: o.hotWindow, maxConns: total, maxPerT: perT})
	if err != nil {
		return nil, err
	}
	if res.Connected < o.conns {
		return nil, fmt.Errorf("%d of %d connections handshaked (%d failed): %s", res.Connected, o.conns, res.Failed,
			strings.Join(res.Errors, "; "))
	}
	for k, v := range map[string]float64{
		"latency_p90_ms": res.LatencyP90,
		"latency_max_ms": res.LatencyMax,
		"jain_all":       res.JainAll,
		"jain_unchoked":  res.JainUnchoked,
		"conns_unchoked": float64(res.Unchoked),
		"conns_failed":   float64(res.Failed),
		"unchokes":       float64(res.Unchokes),
		"chokes":         float64(res.Chokes),
	} {
		s[k] = v
	}
	return s, nil
}

// procRunWait is the seconds a running process's threads have spent
// runnable and waiting for a CPU (the second field of each
// /proc/PID/task/TID/schedstat), 0 where that is not available.
func procRunWait(pid int) float64 {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var ns int64
	for _, ent := range ents {
		b, err := os.ReadFile(dir + "/" + ent.Name() + "/schedstat")
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) >= 2 {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			ns += v
		}
	}
	return float64(ns) / 1e9
}
