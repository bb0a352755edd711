package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/shardtorrent/shardtorrent/internal/loadgen"
	"github.com/shardtorrent/shardtorrent/internal/nodecmd"
	"github.com/shardtorrent/shardtorrent/wire"
)

// seed: one shardtorrent seeder (seed mode, data in the page cache) serving
// the load generator with 1, 8 and 64 connections.
func (e *env) seed() (*table, error) {
	o := e.o
	t := &table{scenario: "seed",
		title: fmt.Sprintf("seed: our seeder to load-generator leechers, %d MiB torrent, piece %d KiB, %s window, pipeline %d, %s order, medians of %d runs",
			o.size>>20, o.piece>>10, o.duration, o.pipeline, o.order, o.runs),
		cols: seedColumns(),
		chartSpecs: []chartSpec{
			{file: "seed_mbps.png", title: "SEEDING MB/S BY LEECHER CONNECTIONS", keys: []string{"mb_per_s"}},
			{file: "seed_cpu.png", title: "SEEDER CPU-S PER GIB SERVED", keys: []string{"seeder_user_per_gib", "seeder_sys_per_gib"}, legend: []string{"USER", "SYS"}},
		},
	}
	dir, ds, cleanup, err := e.payload("seed")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	for _, peers := range o.peers {
		var samples []map[string]float64
		var served []string
		for r := 0; r < o.runs; r++ {
			name := fmt.Sprintf("seed-%d-run%d", peers, r+1)
			s, err := e.seedOnce(ds, dir, name, peers, 0, o.unchoke)
			if err != nil {
				return t, fmt.Errorf("%d peers run %d: %w", peers, r+1, err)
			}
			fmt.Printf("  %d peers run %d: %.0f MB/s, seeder %.2f user + %.2f sys CPU-s/GiB, %.3f allocs/block, p50 %.1f ms p99 %.1f ms, %0.f of %d conns served\n",
				peers, r+1, s["mb_per_s"], s["seeder_user_per_gib"], s["seeder_sys_per_gib"], s["seeder_allocs_per_block"],
				s["latency_p50_ms"], s["latency_p99_ms"], s["conns_served"], peers)
			samples = append(samples, s)
			served = append(served, fmt.Sprintf("%.0f", s["conns_served"]))
		}
		t.add(fmt.Sprintf("%d peers", peers), samples, "conns served per run: "+strings.Join(served, ", "))
	}
	t.notes = append(t.notes, "CPU in CPU-s per GiB served; with more connections than unchoke slots (8 + 1 optimistic) only that many are served at once.")
	return t, nil
}

func seedColumns() []column {
	return []column{
		{"mb_per_s", "MB/s", "%.0f"},
		{"seeder_user_per_gib", "seeder user/GiB", "%.3f"}, {"seeder_sys_per_gib", "seeder sys/GiB", "%.3f"},
		{"seeder_cores", "seeder cores busy", "%.2f"},
		{"seeder_peak_rss_mib", "seeder peak RSS MiB", "%.0f"},
		{"seeder_allocs_per_block", "seeder allocs/block", "%.4f"},
		{"latency_p50_ms", "p50 ms", "%.2f"}, {"latency_p99_ms", "p99 ms", "%.2f"},
		{"conns_served", "conns served", "%.0f"},
		{"loadgen_cpu_per_gib", "loadgen CPU/GiB", "%.2f"},
	}
}

// seedOnce starts a seeder for ds (shards 0 = one per CPU), runs the load
// generator with conns connections over its torrents and returns the
// figures of the window.
func (e *env) seedOnce(ds *dataset, dir, name string, conns, shards, unchoke int) (map[string]float64, error) {
	s, _, err := e.seedWindow(ds, dir, seedRun{name: name, conns: conns, shards: shards, unchoke: unchoke, window: e.o.duration})
	return s, err
}

// seedRun is one seeder of ours serving one load-generator process over a
// window; maxConns and maxPerT raise the seeder's connection limits (0:
// the node's defaults).
type seedRun struct {
	name                   string
	conns, shards, unchoke int
	window                 time.Duration
	maxConns, maxPerT      int
}

// seedWindow runs r and returns the window's figures (and the load
// generator's result, for what a scenario adds to them). The seed, crypto,
// plugins, shards and hot scenarios all measure through it.
func (e *env) seedWindow(ds *dataset, dir string, r seedRun) (map[string]float64, loadgen.Result, error) {
	o := e.o
	ctx, cancel := context.WithTimeout(e.ctx, r.window+o.timeout)
	defer cancel()
	prof := ""
	if o.nodeProfile != "" {
		prof = fmt.Sprintf("%s-%s.pprof", o.nodeProfile, r.name)
	}
	state, err := e.verifiedState(ds, dir)
	if err != nil {
		return nil, loadgen.Result{}, err
	}
	n, err := startNode(ctx, e.self, nodeOpts{name: r.name, data: ds.src, torrentList: ds.list, state: state,
		shards: r.shards, unchoke: r.unchoke, noopPlugins: e.noopPlugins, noBuiltins: e.noBuiltins, cpuProfile: prof,
		reportDir: dir, forcedRC4: e.forcedRC4, maxConns: r.maxConns, maxPerT: r.maxPerT})
	if err != nil {
		return nil, loadgen.Result{}, err
	}
	defer n.Stop()
	var r0, r1 nodecmd.Report
	var c0, c1 cpuTimes
	var w0, w1 float64
	var snapErr error
	lg, err := runLoadgen(ctx, e.self, lgOpts{addr: n.addr, torrentList: ds.list, conns: r.conns, pipeline: o.pipeline,
		order: o.order, verify: o.verify, duration: r.window, encrypt: e.forcedRC4},
		func() {
			c0, w0 = procCPU(n.Pid()), procRunWait(n.Pid())
			r0, snapErr = n.snapshot(ctx)
		},
		func() {
			c1, w1 = procCPU(n.Pid()), procRunWait(n.Pid())
			var err error
			if r1, err = n.snapshot(ctx); err != nil && snapErr == nil {
				snapErr = err
			}
		})
	if err != nil {
		return nil, loadgen.Result{}, fmt.Errorf("%w; seeder output:\n%s", err, n.Tail(10))
	}
	if snapErr != nil {
		return nil, loadgen.Result{}, snapErr
	}
	if _, _, err := n.stop(); err != nil {
		return nil, loadgen.Result{}, err
	}
	peak := procPeakRSS(n.Pid())
	if final, err := n.readReport(); err == nil {
		peak = final.MaxRSS
	}
	res := lg.res
	if res.HashFails > 0 {
		return nil, res, fmt.Errorf("load generator: %d pieces failed their hash check", res.HashFails)
	}
	if res.Bytes == 0 {
		return nil, res, fmt.Errorf("no data served in the window: %v", res.Errors)
	}
	c := c1.sub(c0)
	g := float64(res.Bytes) / gib
	s := map[string]float64{
		"mb_per_s":             res.MBps,
		"bytes":                float64(res.Bytes),
		"window_s":             res.Seconds,
		"seeder_user_per_gib":  c.user / g,
		"seeder_sys_per_gib":   c.sys / g,
		"seeder_cpu_per_gib":   c.total() / g,
		"seeder_cores":         c.total() / res.Seconds,
		"seeder_runq_wait":     (w1 - w0) / res.Seconds,
		"seeder_peak_rss_mib":  float64(peak) / (1 << 20),
		"latency_p50_ms":       res.LatencyP50,
		"latency_p99_ms":       res.LatencyP99,
		"conns_served":         float64(res.Served),
		"conns_connected":      float64(res.Connected),
		"rejects":              float64(res.Rejects),
		"loadgen_cpu_per_gib":  lg.cpu.total() / g,
		"loadgen_peak_rss_mib": float64(lg.usage.MaxRSS) / (1 << 20),
		"seeder_bytes_up":      float64(r1.BytesUp - r0.BytesUp),
		"seeder_mallocs":       float64(r1.EngineMallocs() - r0.EngineMallocs()),
		"seeder_alloc_bytes":   float64(r1.TotalAlloc - r0.TotalAlloc),
		"seeder_gc":            float64(r1.NumGC - r0.NumGC),
	}
	// Blocks the seeder sent in the window, from its own payload counter.
	blocks := float64(r1.BytesUp-r0.BytesUp) / wire.BlockSize
	if blocks <= 0 {
		blocks = float64(res.Blocks)
	}
	s["seeder_allocs_per_block"] = float64(r1.EngineMallocs()-r0.EngineMallocs()) / blocks
	s["seeder_alloc_bytes_per_block"] = float64(r1.TotalAlloc-r0.TotalAlloc) / blocks
	// Where the torrents landed: the node's "added NAME (HASH) on shard K" lines.
	for _, l := range n.Output() {
		if strings.HasPrefix(l, "added ") && strings.Contains(l, " on shard 0") {
			s["loop0_torrents"]++
		}
	}
	return s, res, nil
}
