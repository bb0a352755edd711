package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/shardtorrent/shardtorrent/internal/refpeer"
	"github.com/shardtorrent/shardtorrent/internal/stormgen"
)

// The storm scenario's flags, registered here so main.go's list stays
// short: -storm-dialers, the generator's concurrent dialers; -storm-base, a
// bench binary built from another commit (e.g. main) whose node is stormed
// too, interleaved with ours, for before/after figures in one run.
var (
	stormDialers = 32
	stormBase    string
)

func init() {
	flag.IntVar(&stormDialers, "storm-dialers", stormDialers, "storm: concurrent dialers (connect, handshake, close)")
	flag.StringVar(&stormBase, "storm-base", "", "storm: also storm the node of this bench binary (built from another commit), interleaved with ours")
}

// stormLabel names a target kind in the table.
var stormLabel = map[string]string{"st": "shardtorrent", "base": "shardtorrent (base)", "lt": "libtorrent"}

// stormConnLimit is both targets' connection limit: libtorrent's
// high_performance_seed connections_limit, given to our nodes as -max-conns
// and -max-conns-per-torrent.
const stormConnLimit = 8000

// stormServeConns are the load-generator connections of the "serving
// during a storm" rows: every one gets an upload slot.
const stormServeConns = 4

// ltAcceptSettings is libtorrent's best configuration for accepting, on
// top of high_performance_seed (which already sets connections_limit 8000,
// listen_queue_size 3000 and connection_speed 500, against defaults of
// 200, 5 and 30): connections_slack 1000 (default 10: incoming connections
// past the limit accepted to replace others) and max_peerlist_size 10000
// (default 3000: every incoming peer takes a peer-list entry).
var ltAcceptSettings = map[string]string{
	"connections_slack": "1000",
	"max_peerlist_size": "10000",
}

// stormTarget is one seeder under a storm: our node or libtorrent.
type stormTarget struct {
	kind  string // "st" or "lt"
	pid   int
	addr  string
	stop  func()
	shard string // ours: the loop the torrent landed on
}

// storm: connection storms against one seeded torrent. -storm-dialers
// dialers each connect, complete the handshake (plaintext BitTorrent, or
// MSE with the BitTorrent handshake inside) and close, for -duration, in
// turn against our node and libtorrent (high_performance_seed plus
// ltAcceptSettings), both seeding the same data and both alive for the
// whole run. Reported: handshakes per second, latency p50/p99 and the
// target's CPU. Then the same storms run while the load generator
// (stormServeConns connections) downloads from the target, against the
// load generator alone: that transfer's throughput with and without the
// storm. The storm generator runs in the harness process, so its CPU is
// not the target's.
func (e *env) storm() (*table, error) {
	o := e.o
	t := &table{scenario: "storm",
		title: fmt.Sprintf("storm: %d dialers, connect + handshake + close, %s windows, medians of %d runs; serving rows: load generator (%d conns) downloading %d MiB during the storm",
			stormDialers, o.duration, o.runs, stormServeConns, o.size>>20),
		cols: []column{
			{"handshakes_per_s", "handshakes/s", "%.0f"}, {"ratio_vs_lt", "vs libtorrent", "%.2fx"},
			{"p50_ms", "p50 ms", "%.2f"}, {"p99_ms", "p99 ms", "%.2f"},
			{"target_cores", "target cores busy", "%.2f"}, {"target_cpu_us_per_hs", "target CPU-us/handshake", "%.0f"},
			{"failures", "failures", "%.0f"}, {"ratio_vs_base", "vs base", "%.2fx"},
			{"serve_mb_per_s", "serving MB/s", "%.0f"}, {"serve_ratio", "serving vs no storm", "%.2fx"},
		},
		chartSpecs: []chartSpec{
			{file: "storm_rate.png", title: "ACCEPTED HANDSHAKES PER SECOND (HIGHER IS BETTER)", keys: []string{"handshakes_per_s"}},
		},
	}
	ltErr := refpeer.Available()
	if ltErr != nil {
		fmt.Printf("libtorrent is not available (%v): running our side alone\n", ltErr)
		t.notes = append(t.notes, "libtorrent not installed: only our rows ran")
	}
	dir, ds, cleanup, err := e.payload("storm")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	ih := ds.metas[0].InfoHash.Short()
	kinds := []string{"st"}
	if stormBase != "" {
		kinds = append(kinds, "base")
	}
	if ltErr == nil {
		kinds = append(kinds, "lt")
	}
	targets := map[string]*stormTarget{}
	for _, k := range kinds {
		tg, err := e.startStormTarget(k, ds, dir)
		if err != nil {
			return t, err
		}
		defer tg.stop()
		targets[k] = tg
	}
	modes := []bool{false, true} // MSE off, on
	samples := map[string][]map[string]float64{}
	caseName := func(kind string, mse bool, serving bool) string {
		s := stormLabel[kind] + map[bool]string{false: " plaintext", true: " MSE"}[mse]
		if serving {
			s += ", serving"
		}
		return s
	}
	var order []string
	for r := 0; r < o.runs; r++ {
		// Alternate which target goes first.
		ks := append([]string(nil), kinds...)
		if r%2 == 1 {
			slices.Reverse(ks)
		}
		for _, mse := range modes {
			for _, k := range ks {
				s, err := e.stormOnce(targets[k], ih, mse, o.duration)
				if err != nil {
					return t, fmt.Errorf("%s run %d: %w", caseName(k, mse, false), r+1, err)
				}
				fmt.Printf("  %s run %d: %.0f handshakes/s, p50 %.2f ms p99 %.2f ms, target %.2f cores (%.0f us/handshake), %0.f failures, generator %.2f cores  [%s]\n",
					caseName(k, mse, false), r+1, s["handshakes_per_s"], s["p50_ms"], s["p99_ms"], s["target_cores"],
					s["target_cpu_us_per_hs"], s["failures"], s["generator_cores"], loadAvg())
				name := caseName(k, mse, false)
				if len(samples[name]) == 0 {
					order = append(order, name)
				}
				samples[name] = append(samples[name], s)
			}
		}
		// Serving during a storm: the load generator alone, then with an
		// MSE storm, then with a plaintext storm, on each target.
		for _, k := range ks {
			for _, storm := range []string{"none", "mse", "plaintext"} {
				s, err := e.stormServeOnce(targets[k], ds, ih, storm, o.duration)
				if err != nil {
					return t, fmt.Errorf("%s serving (storm %s) run %d: %w", k, storm, r+1, err)
				}
				name := stormLabel[k] + " serving, storm: " + storm
				fmt.Printf("  %s run %d: %.0f MB/s served, %.0f handshakes/s, target %.2f cores  [%s]\n",
					name, r+1, s["serve_mb_per_s"], s["handshakes_per_s"], s["target_cores"], loadAvg())
				if len(samples[name]) == 0 {
					order = append(order, name)
				}
				samples[name] = append(samples[name], s)
			}
		}
	}
	// Ratios within each run, then medians.
	for _, name := range order {
		ss := samples[name]
		for i, s := range ss {
			if strings.Contains(name, "serving") {
				base := samples[strings.SplitN(name, "storm: ", 2)[0]+"storm: none"]
				if i < len(base) && base[i]["serve_mb_per_s"] > 0 {
					s["serve_ratio"] = s["serve_mb_per_s"] / base[i]["serve_mb_per_s"]
				}
				continue
			}
			mode := strings.TrimPrefix(strings.TrimPrefix(name, stormLabel["base"]), stormLabel["st"])
			if !strings.HasPrefix(name, "libtorrent") {
				lt := samples[stormLabel["lt"]+mode]
				if i < len(lt) && lt[i]["handshakes_per_s"] > 0 {
					s["ratio_vs_lt"] = s["handshakes_per_s"] / lt[i]["handshakes_per_s"]
				}
			}
			if strings.HasPrefix(name, stormLabel["st"]+" ") {
				base := samples[stormLabel["base"]+mode]
				if i < len(base) && base[i]["handshakes_per_s"] > 0 {
					s["ratio_vs_base"] = s["handshakes_per_s"] / base[i]["handshakes_per_s"]
				}
			}
		}
		note := ""
		for _, k := range []string{"base", "st"} {
			if tg := targets[k]; tg != nil && strings.HasPrefix(name, stormLabel[k]) && tg.shard != "" {
				note = "torrent on " + tg.shard
				break
			}
		}
		t.add(name, ss, note)
	}
	t.notes = append(t.notes,
		"libtorrent: high_performance_seed (connections_limit 8000, listen_queue_size 3000, connection_speed 500) plus connections_slack 1000, max_peerlist_size 10000; our nodes: -max-conns and -max-conns-per-torrent 8000; both targets: encryption enabled (plaintext and MSE accepted), MSE offered both methods (the targets select plaintext after the handshake)",
		"the generator reuses one DH key (one exponentiation per MSE handshake on its side, two on the target's); target CPU is /proc over the window, the generator runs in the harness process",
		"ratios are within each run (same load), then the median")
	if tg := targets["st"]; tg.shard != "" {
		t.notes = append(t.notes, "our nodes: the torrent is on "+tg.shard)
	}
	return t, nil
}

// startStormTarget starts a seeder of ds's first torrent and waits until it
// serves.
func (e *env) startStormTarget(kind string, ds *dataset, dir string) (*stormTarget, error) {
	ctx := e.ctx
	if kind == "st" || kind == "base" {
		bin := e.self
		if kind == "base" {
			bin = stormBase
		}
		state, err := e.verifiedState(ds, dir)
		if err != nil {
			return nil, err
		}
		// Connection limits as libtorrent's (connections_limit 8000), so
		// that neither target refuses a storm's connections at its default
		// (ours: 200 per torrent; a reset connection counts until reaped).
		n, err := startNode(ctx, bin, nodeOpts{name: kind + "-storm", data: ds.src, torrentList: ds.list, state: state, reportDir: dir,
			maxConns: stormConnLimit, maxPerT: stormConnLimit})
		if err != nil {
			return nil, err
		}
		tg := &stormTarget{kind: kind, pid: n.Pid(), addr: n.addr, stop: func() { _, _ = n.Stop() }}
		// The session's placement (Session.shardFor) with the node's
		// default one loop per CPU, unless -node-flags sets -shards; the
		// accepting loop is shard 0's.
		shards := numCPU()
		if f := strings.Fields(extraNodeFlags); slices.Contains(f, "-shards") {
			if i := slices.Index(f, "-shards"); i+1 < len(f) {
				shards, _ = strconv.Atoi(f[i+1])
			}
		}
		if shards > 0 {
			ih := ds.metas[0].InfoHash.Short()
			tg.shard = fmt.Sprintf("shard %d of %d (the accepting loop is shard 0)", xxhash.Sum64(ih[:])%uint64(shards), shards)
		}
		return tg, nil
	}
	port, err := refpeer.FreePort()
	if err != nil {
		return nil, err
	}
	lp, err := refpeer.StartLT(ctx, refpeer.LTOptions{Mode: "seed", Torrent: ds.torrents[0], SaveDir: ds.src, ListenPort: port,
		Perf: true, SeedMode: true, Settings: ltAcceptSettings, Name: "lt-storm"})
	if err != nil {
		return nil, err
	}
	if err := lp.WaitReady(ctx); err != nil {
		_, _ = lp.Stop()
		return nil, fmt.Errorf("libtorrent seeder: %w: %s", err, lp.Tail(10))
	}
	return &stormTarget{kind: kind, pid: lp.Pid(), addr: lp.Addr(), stop: func() { _, _ = lp.Stop() }}, nil
}

// stormOnce runs one storm window against tg and returns its figures.
func (e *env) stormOnce(tg *stormTarget, ih [20]byte, mse bool, d time.Duration) (map[string]float64, error) {
	c0, g0 := procCPU(tg.pid), procCPU(os.Getpid())
	res, err := stormgen.Run(e.ctx, stormgen.Config{Addr: tg.addr, InfoHash: ih, Dialers: stormDialers, Duration: d, MSE: mse})
	if err != nil {
		return nil, err
	}
	c, g := procCPU(tg.pid).sub(c0), procCPU(os.Getpid()).sub(g0)
	if res.Handshakes == 0 {
		return nil, fmt.Errorf("no handshake completed: %v", res.Errors)
	}
	s := stormFigures(res, c)
	s["generator_cores"] = g.total() / res.Seconds
	if res.Failures > 0 {
		fmt.Printf("    failures: %v\n", res.Errors)
	}
	return s, nil
}

func stormFigures(res stormgen.Result, c cpuTimes) map[string]float64 {
	s := map[string]float64{
		"handshakes_per_s": res.PerSecond,
		"handshakes":       float64(res.Handshakes),
		"failures":         float64(res.Failures),
		"p50_ms":           res.P50ms,
		"p99_ms":           res.P99ms,
		"max_ms":           res.MaxMs,
		"window_s":         res.Seconds,
		"target_cores":     c.total() / res.Seconds,
		"target_user_s":    c.user,
		"target_sys_s":     c.sys,
	}
	if res.Handshakes > 0 {
		s["target_cpu_us_per_hs"] = c.total() / float64(res.Handshakes) * 1e6
	}
	return s
}

// stormServeOnce runs the load generator against tg for one window, with a
// storm of the given kind ("none", "mse", "plaintext") over the same
// window, and returns the transfer's throughput and the storm's figures.
func (e *env) stormServeOnce(tg *stormTarget, ds *dataset, ih [20]byte, storm string, d time.Duration) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(e.ctx, d+e.o.timeout)
	defer cancel()
	var c0 cpuTimes
	var res stormgen.Result
	var stormErr error
	stormDone := make(chan struct{})
	lg, err := runLoadgen(ctx, e.self, lgOpts{addr: tg.addr, torrentList: ds.list, conns: stormServeConns, pipeline: e.o.pipeline,
		order: e.o.order, duration: d},
		func() {
			c0 = procCPU(tg.pid)
			if storm == "none" {
				close(stormDone)
				return
			}
			go func() {
				defer close(stormDone)
				res, stormErr = stormgen.Run(ctx, stormgen.Config{Addr: tg.addr, InfoHash: ih, Dialers: stormDialers, Duration: d, MSE: storm == "mse"})
			}()
		}, nil)
	<-stormDone
	c := procCPU(tg.pid).sub(c0)
	if err != nil {
		return nil, err
	}
	if stormErr != nil {
		return nil, stormErr
	}
	if lg.res.Bytes == 0 {
		return nil, fmt.Errorf("load generator: nothing served: %v", lg.res.Errors)
	}
	s := stormFigures(res, c)
	if storm == "none" {
		s = map[string]float64{"target_cores": c.total() / lg.res.Seconds}
	}
	s["serve_mb_per_s"] = lg.res.MBps
	s["serve_p99_ms"] = lg.res.LatencyP99
	return s, nil
}

// loadAvg is /proc/loadavg's first three fields, quoted with every figure.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "load ?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "load ?"
	}
	return "load " + strings.Join(f[:3], " ")
}
