package main

import (
	"context"
	"fmt"
	"github.com/shardtorrent/shardtorrent/internal/nodecmd"
	"github.com/shardtorrent/shardtorrent/internal/trackertest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// many: -torrents small torrents resumed from resume data (verifiedState:
// checked once before the runs, so each run starts as a restart does), then
// -conns load-generator connections spread over them, each fetching a few
// blocks and then idling. Memory per torrent and per connection (RSS and
// Go heap deltas), idle CPU, time to add every torrent.
func (e *env) many() (*table, error) {
	o := e.o
	t := &table{scenario: "many",
		title: fmt.Sprintf("many: %d torrents of %d KiB seeded (from resume data), %d connections fetching %d blocks each then idle; medians of %d runs",
			o.torrents, o.torrentSize>>10, o.conns, manyBlocks, o.runs),
		cols: []column{
			{"add_s", "add all s", "%.2f"}, {"ready_wall_s", "start to ready s", "%.2f"},
			{"rss_base_mib", "RSS no torrents MiB", "%.1f"}, {"rss_torrents_mib", "RSS +torrents MiB", "%.1f"}, {"rss_conns_mib", "RSS +conns MiB", "%.1f"},
			{"kib_per_torrent", "KiB/torrent (RSS)", "%.2f"}, {"heap_kib_per_torrent", "KiB/torrent (heap)", "%.2f"},
			{"kib_per_conn", "KiB/conn (RSS)", "%.2f"}, {"heap_kib_per_conn", "KiB/conn (heap)", "%.2f"},
			{"idle_cpu_pct", "idle CPU % (torrents)", "%.2f"}, {"idle_cpu_conns_pct", "idle CPU % (+conns)", "%.2f"},
			{"peak_rss_mib", "peak RSS MiB", "%.0f"}, {"conns_connected", "conns up", "%.0f"},
			{"seeder_cpu_s", "seeder CPU s", "%.2f"},
			{"loadgen_peak_rss_mib", "loadgen peak RSS MiB", "%.0f"}, {"loadgen_cpu_s", "loadgen CPU s", "%.2f"},
		},
		chartSpecs: []chartSpec{{file: "many_rss.png", title: "MANY: SEEDER RSS MIB AT EACH STAGE", keys: []string{"mib"}}},
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && uint64(o.torrents+o.conns+100) > lim.Cur {
		// Measured: the seeder keeps one descriptor per torrent's file open
		// besides one per connection; at 10,000 + 10,000 against a limit of
		// 20,000 the last connections are refused.
		fmt.Printf("warning: %d torrents + %d connections need about %d descriptors in the seeder; RLIMIT_NOFILE is %d, so some connections will fail\n",
			o.torrents, o.conns, o.torrents+o.conns+100, lim.Cur)
	}
	dir, cleanup, err := e.tempDir("many")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	fmt.Printf("generating %d torrents of %d KiB in %s ...\n", o.torrents, o.torrentSize>>10, dir)
	genStart := time.Now()
	ds, err := makeDataset(dir, "t", o.torrents, o.torrentSize, 0)
	if err != nil {
		return nil, err
	}
	fmt.Printf("  generated in %.1f s\n", time.Since(genStart).Seconds())
	if o.manyTracker {
		t.cols = append(t.cols, column{"announces_per_s", "announces/s", "%.0f"}, column{"announce_cpu_pct", "announce CPU %", "%.2f"},
			column{"cpu_us_per_announce", "CPU µs/announce", "%.0f"})
		t.notes = append(t.notes, "-tracker: every torrent announced to a local test tracker (in the bench process) at the client's defaults (100 announces/s, 32 in flight); announce CPU is the seeder's over that phase, before the idle windows")
	}
	var samples []map[string]float64
	for r := 0; r < o.runs; r++ {
		s, err := e.manyOnce(ds, dir, r)
		if err != nil {
			return t, fmt.Errorf("run %d: %w", r+1, err)
		}
		fmt.Printf("  run %d: added in %.2f s; RSS %.0f -> %.0f -> %.0f MiB (%.2f KiB/torrent, %.2f KiB/conn); idle CPU %.2f%% / %.2f%%; %0.f conns up; seeder CPU %.2f s; loadgen peak RSS %.0f MiB, CPU %.2f s\n",
			r+1, s["add_s"], s["rss_base_mib"], s["rss_torrents_mib"], s["rss_conns_mib"], s["kib_per_torrent"], s["kib_per_conn"],
			s["idle_cpu_pct"], s["idle_cpu_conns_pct"], s["conns_connected"], s["seeder_cpu_s"], s["loadgen_peak_rss_mib"], s["loadgen_cpu_s"])
		samples = append(samples, s)
	}
	rw := t.add(fmt.Sprintf("%d torrents, %d conns", o.torrents, o.conns), samples, "")
	t.chartRows = []row{
		{Case: "BASE", Values: map[string]float64{"mib": rw.Values["rss_base_mib"]}},
		{Case: fmt.Sprintf("+%d torrents", o.torrents), Values: map[string]float64{"mib": rw.Values["rss_torrents_mib"]}},
		{Case: fmt.Sprintf("+%d conns", o.conns), Values: map[string]float64{"mib": rw.Values["rss_conns_mib"]}},
		{Case: "PEAK", Values: map[string]float64{"mib": rw.Values["peak_rss_mib"]}},
	}
	t.notes = append(t.notes, "RSS base is the same node with no torrents; per torrent = (RSS with the torrents - base) / torrents; per connection = (RSS with the connections up - RSS before) / connections")
	t.notes = append(t.notes, "seeder CPU s: the seeder's whole life (adding the torrents, the connections, the idle windows); loadgen: the load generator's whole life (connecting, fetching, the idle window) and its peak RSS; the seeder runs with -max-conns raised to the -conns plus a tenth when that passes its default 4000")
	t.notes = append(t.notes, "idle CPU is the seeder's CPU time over the idle window as a percentage of one core")
	return t, nil
}

// manyMaxConns is the seeder's -max-conns for conns connections: 0 (the
// node's default, 4000) when that is room enough, else conns and a tenth
// more, so -conns 10000 runs without changing the engine's default.
func manyMaxConns(conns int) int {
	if need := conns + conns/10; need > 4000 {
		return need
	}
	return 0
}

// manyBlocks is how many blocks each many-scenario connection fetches
// before it idles.
const manyBlocks = 4

func (e *env) manyOnce(ds *dataset, dir string, run int) (map[string]float64, error) {
	o := e.o
	ctx, cancel := context.WithTimeout(e.ctx, o.timeout+2*o.idle)
	defer cancel()
	// The baseline: the same node with no torrents.
	empty := filepath.Join(dir, "empty.list")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		return nil, err
	}
	base, err := startNode(ctx, e.self, nodeOpts{name: fmt.Sprintf("many-empty-%d", run), data: ds.src, torrentList: empty,
		state: "off", reportDir: dir})
	if err != nil {
		return nil, err
	}
	time.Sleep(time.Second)
	rb, err := base.snapshot(ctx)
	rssBase := procRSS(base.Pid())
	_, _ = base.Stop()
	if err != nil {
		return nil, err
	}

	var srv *trackertest.Server
	var trackers []string
	if o.manyTracker {
		srv = trackertest.New()
		defer srv.Close()
		trackers = []string{srv.URL()}
	}
	start := time.Now()
	state, err := e.verifiedState(ds, dir)
	if err != nil {
		return nil, err
	}
	n, err := startNode(ctx, e.self, nodeOpts{name: fmt.Sprintf("many-%d", run), data: ds.src, torrentList: ds.list,
		state: state, reportDir: dir, trackers: trackers, maxConns: manyMaxConns(o.conns)})
	if err != nil {
		return nil, err
	}
	defer n.Stop()
	wall := time.Since(start).Seconds()
	var announce map[string]float64
	if srv != nil {
		// The announce phase: every torrent's started, at the client's
		// default rate and in-flight bound.
		c := procCPU(n.Pid())
		t0 := time.Now()
		if err := srv.Wait(ctx, func(as []trackertest.Announce) bool { return len(as) >= o.torrents }); err != nil {
			return nil, fmt.Errorf("tracker: %w", err)
		}
		secs := time.Since(t0).Seconds()
		cpu := procCPU(n.Pid()).sub(c).total()
		announce = map[string]float64{
			"announce_s": secs, "announces_per_s": float64(o.torrents) / secs,
			"announce_cpu_pct": 100 * cpu / secs, "cpu_us_per_announce": 1e6 * cpu / float64(o.torrents),
		}
	}
	// Let the start-up garbage settle, then measure the idle torrents.
	time.Sleep(time.Second)
	r0, err := n.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	rssT := procRSS(n.Pid())
	half := o.idle / 2
	c0 := procCPU(n.Pid())
	time.Sleep(half)
	idleT := procCPU(n.Pid()).sub(c0)

	var rssC int64
	var r1 nodecmd.Report
	var c1, c2 cpuTimes
	var snapErr error
	lg, err := runLoadgen(ctx, e.self, lgOpts{addr: n.addr, torrentList: ds.list, conns: o.conns, pipeline: manyBlocks,
		order: "sequential", verify: true, blocks: manyBlocks, duration: o.idle, readBuffer: 64 << 10},
		func() {
			rssC = procRSS(n.Pid())
			r1, snapErr = n.snapshot(ctx)
			c1 = procCPU(n.Pid())
		},
		func() { c2 = procCPU(n.Pid()) })
	if err != nil {
		return nil, fmt.Errorf("%w; seeder output:\n%s", err, n.Tail(10))
	}
	if snapErr != nil {
		return nil, snapErr
	}
	if lg.res.Failed > 0 {
		fmt.Printf("  %d connections failed: %s\n", lg.res.Failed, strings.Join(lg.res.Errors, "; "))
	}
	if lg.res.HashFails > 0 {
		return nil, fmt.Errorf("load generator: %d pieces failed their hash check", lg.res.HashFails)
	}
	seederU, final, err := n.stop()
	if err != nil {
		return nil, err
	}
	nt, nc := float64(final.Torrent), float64(max(lg.res.Connected, 1))
	idleC := c2.sub(c1)
	window := max(lg.res.Seconds, 1e-9)
	s := map[string]float64{
		"torrents":             nt,
		"add_s":                final.AddSeconds,
		"ready_wall_s":         wall,
		"rss_base_mib":         float64(rssBase) / (1 << 20),
		"rss_torrents_mib":     float64(rssT) / (1 << 20),
		"rss_conns_mib":        float64(rssC) / (1 << 20),
		"kib_per_torrent":      float64(rssT-rssBase) / 1024 / nt,
		"heap_kib_per_torrent": float64(int64(r0.HeapInuse)-int64(rb.HeapInuse)) / 1024 / nt,
		"kib_per_conn":         float64(rssC-rssT) / 1024 / nc,
		"heap_kib_per_conn":    float64(int64(r1.HeapInuse)-int64(r0.HeapInuse)) / 1024 / nc,
		"idle_cpu_pct":         100 * idleT.total() / half.Seconds(),
		"idle_cpu_conns_pct":   100 * idleC.total() / window,
		"peak_rss_mib":         float64(final.MaxRSS) / (1 << 20),
		"conns_connected":      float64(lg.res.Connected),
		"conns_failed":         float64(lg.res.Failed),
		"pieces_verified":      float64(lg.res.Verified),
		"loadgen_ready_s":      lg.res.ReadyAt,
		"seeder_cpu_s":         seederU.CPU().Seconds(),
		"loadgen_peak_rss_mib": float64(lg.usage.MaxRSS) / (1 << 20),
		"loadgen_cpu_s":        lg.usage.CPU().Seconds(),
		"loadgen_user_s":       lg.usage.User.Seconds(),
		"loadgen_sys_s":        lg.usage.Sys.Seconds(),
	}
	for k, v := range announce {
		s[k] = v
	}
	return s, nil
}
