package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/shardtorrent/shardtorrent/internal/refpeer"
	"github.com/shardtorrent/shardtorrent/wire"
)

// swarmLeechers is the swarm scenario's leecher count.
const swarmLeechers = 8

// swarm: one seeder and 8 leechers of ours; each leecher is given the
// seeder and every other leecher as peers. Time until all are complete,
// every download verified.
func (e *env) swarm() (*table, error) {
	o := e.o
	t := &table{scenario: "swarm",
		title: fmt.Sprintf("swarm: 1 seeder and %d leechers (shardtorrent), %d MiB torrent, piece %d KiB, medians of %d runs",
			swarmLeechers, o.size>>20, o.piece>>10, o.runs),
		cols: []column{
			{"all_complete_s", "all complete s", "%.2f"}, {"first_complete_s", "first complete s", "%.2f"},
			{"aggregate_mb_per_s", "aggregate MB/s", "%.0f"}, {"seeder_share", "share from seeder", "%.2f"},
			{"seeder_cpu_per_gib", "seeder CPU/GiB up", "%.2f"},
			{"leecher_user_per_gib", "leecher user/GiB", "%.2f"}, {"leecher_sys_per_gib", "leecher sys/GiB", "%.2f"},
			{"leecher_peak_rss_mib", "leecher peak RSS MiB", "%.0f"}, {"leecher_allocs_per_block", "leecher allocs/block", "%.3f"},
		},
		chartSpecs: []chartSpec{{file: "swarm_complete.png", title: "SWARM: SECONDS UNTIL EACH LEECHER COMPLETES", keys: []string{"s"}}},
	}
	dir, ds, cleanup, err := e.payload("swarm")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	want, err := refpeer.HashFiles(ds.src)
	if err != nil {
		return nil, err
	}
	var samples []map[string]float64
	var lastTimes []float64
	for r := 0; r < o.runs; r++ {
		s, times, err := e.swarmOnce(ds, dir, r, want)
		if err != nil {
			return t, fmt.Errorf("run %d: %w", r+1, err)
		}
		fmt.Printf("  run %d: all %d complete in %.2f s (first %.2f s), %.0f MB/s aggregate, %.0f%% of the data from the seeder\n",
			r+1, swarmLeechers, s["all_complete_s"], s["first_complete_s"], s["aggregate_mb_per_s"], 100*s["seeder_share"])
		samples = append(samples, s)
		lastTimes = times
	}
	t.add(fmt.Sprintf("1 + %d", swarmLeechers), samples, "")
	// The chart shows the last run's completion time per leecher.
	t.chartRows = nil
	for i, v := range lastTimes {
		t.chartRows = append(t.chartRows, row{Case: "L" + strconv.Itoa(i+1), Values: map[string]float64{"s": v}})
	}
	return t, nil
}

func (e *env) swarmOnce(ds *dataset, dir string, run int, want map[string]string) (map[string]float64, []float64, error) {
	o := e.o
	ctx, cancel := context.WithTimeout(e.ctx, o.timeout)
	defer cancel()
	ports, err := refpeer.FreePorts(swarmLeechers + 1)
	if err != nil {
		return nil, nil, err
	}
	addr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(ports[i]) }
	state, err := e.verifiedState(ds, dir)
	if err != nil {
		return nil, nil, err
	}
	sd, err := startNode(ctx, e.self, nodeOpts{name: fmt.Sprintf("swarm-seed-%d", run), listen: addr(0), data: ds.src,
		torrentList: ds.list, state: state, reportDir: dir})
	if err != nil {
		return nil, nil, err
	}
	defer sd.Stop()
	seed0 := procCPU(sd.Pid())
	start := time.Now()
	type done struct {
		i    int
		at   float64
		u    refpeer.Usage
		allo uint64
		err  error
	}
	ch := make(chan done, swarmLeechers)
	var dsts []string
	for i := 1; i <= swarmLeechers; i++ {
		var peers []string
		for j := 0; j <= swarmLeechers; j++ {
			if j != i {
				peers = append(peers, addr(j))
			}
		}
		dst := filepath.Join(dir, fmt.Sprintf("dl-%d-%d", run, i))
		dsts = append(dsts, dst)
		n, err := startNode(ctx, e.self, nodeOpts{name: fmt.Sprintf("swarm-leech-%d-%d", run, i), listen: addr(i), data: dst,
			peers: peers, exitDone: true, torrentList: ds.list, reportDir: dir})
		if err != nil {
			return nil, nil, err
		}
		go func() {
			u, rep, err := n.wait(ctx)
			ch <- done{i: i, at: time.Since(start).Seconds(), u: u, allo: rep.EngineMallocs(), err: err}
		}()
	}
	times := make([]float64, swarmLeechers)
	var user, sys, rss, mallocs float64
	var firstErr error
	for range swarmLeechers {
		d := <-ch
		if d.err != nil && firstErr == nil {
			firstErr = fmt.Errorf("leecher %d: %w", d.i, d.err)
			cancel()
		}
		times[d.i-1] = d.at
		user += d.u.User.Seconds()
		sys += d.u.Sys.Seconds()
		rss = max(rss, float64(d.u.MaxRSS))
		mallocs += float64(d.allo)
	}
	if firstErr != nil {
		return nil, nil, firstErr
	}
	all := time.Since(start).Seconds()
	seedCPU := procCPU(sd.Pid()).sub(seed0)
	rep, err := sd.snapshot(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, dst := range dsts {
		got, err := refpeer.HashFiles(dst)
		if err != nil {
			return nil, nil, err
		}
		if err := refpeer.DiffHashes(want, got); err != nil {
			return nil, nil, fmt.Errorf("downloaded data differs: %w", err)
		}
		_ = removeAll(dst)
	}
	sorted := append([]float64(nil), times...)
	sort.Float64s(sorted)
	total := float64(swarmLeechers) * float64(ds.size)
	g := total / gib
	s := map[string]float64{
		"all_complete_s":           all,
		"first_complete_s":         sorted[0],
		"aggregate_mb_per_s":       total / 1e6 / all,
		"seeder_share":             float64(rep.BytesUp) / total,
		"seeder_cpu_per_gib":       seedCPU.total() / max(float64(rep.BytesUp)/gib, 1e-9),
		"leecher_user_per_gib":     user / g,
		"leecher_sys_per_gib":      sys / g,
		"leecher_peak_rss_mib":     rss / (1 << 20),
		"leecher_allocs_per_block": mallocs / (total / wire.BlockSize),
	}
	return s, times, nil
}
