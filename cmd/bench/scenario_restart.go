package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// restart: the cost of a node restart with -torrents small torrents on
// disk, first with no resume data (every byte re-hashed: what every start
// cost before resume data), then again with the resume data the first run
// saved at exit. Each run is a node with -exit-when-complete: the clock
// stops at "all torrents complete", which the node prints once every
// torrent is verified and seeding. As root the page cache is dropped before
// each start, so the full check reads from the disk as it would after a
// reboot; otherwise both starts run warm (noted in the table).
func (e *env) restart() (*table, error) {
	o := e.o
	cold := dropCaches() == nil
	t := &table{scenario: "restart",
		title: fmt.Sprintf("restart: %d torrents of %d KiB, full check vs resume data; medians of %d runs", o.torrents, o.torrentSize>>10, o.runs),
		cols: []column{
			{"check_s", "full check: start to complete s", "%.2f"}, {"check_cpu_s", "full check CPU s", "%.2f"},
			{"resume_s", "resume: start to complete s", "%.2f"}, {"resume_cpu_s", "resume CPU s", "%.2f"},
			{"speedup", "speed-up x", "%.1f"}, {"close_s", "close (save all) s", "%.2f"},
		},
	}
	if cold {
		t.notes = append(t.notes, "page cache dropped before each start (cold, as after a reboot)")
	} else {
		t.notes = append(t.notes, "page cache NOT dropped (not root): both starts read warm data")
	}
	dir, cleanup, err := e.tempDir("restart")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	fmt.Printf("generating %d torrents of %d KiB in %s ...\n", o.torrents, o.torrentSize>>10, dir)
	ds, err := makeDataset(dir, "t", o.torrents, o.torrentSize, 0)
	if err != nil {
		return nil, err
	}
	var samples []map[string]float64
	for r := 0; r < o.runs; r++ {
		state := filepath.Join(dir, fmt.Sprintf("state-%d", r))
		check, checkCPU, closeS, err := e.restartOnce(ds, dir, state, fmt.Sprintf("check-%d", r), cold)
		if err != nil {
			return t, fmt.Errorf("run %d, full check: %w", r+1, err)
		}
		res, resCPU, _, err := e.restartOnce(ds, dir, state, fmt.Sprintf("resume-%d", r), cold)
		if err != nil {
			return t, fmt.Errorf("run %d, resume: %w", r+1, err)
		}
		s := map[string]float64{"check_s": check, "check_cpu_s": checkCPU, "resume_s": res, "resume_cpu_s": resCPU,
			"speedup": check / res, "close_s": closeS}
		fmt.Printf("  run %d: full check %.2f s (%.2f s CPU); resume %.2f s (%.2f s CPU); close %.2f s\n",
			r+1, check, checkCPU, res, resCPU, closeS)
		samples = append(samples, s)
	}
	t.add(fmt.Sprintf("%d torrents", o.torrents), samples, "")
	return t, nil
}

// restartOnce runs one node over ds with -state state until every torrent
// is complete, then lets it exit (saving resume data). It returns the
// seconds from start to complete, the node's CPU seconds by then, and the
// seconds it took to exit after that.
func (e *env) restartOnce(ds *dataset, dir, state, name string, cold bool) (wall, cpu, closeS float64, err error) {
	ctx, cancel := context.WithTimeout(e.ctx, e.o.timeout)
	defer cancel()
	if cold {
		if err := dropCaches(); err != nil {
			return 0, 0, 0, err
		}
	}
	start := time.Now()
	n, err := startNode(ctx, e.self, nodeOpts{name: name, listen: "off", data: ds.src, torrentList: ds.list,
		exitDone: true, reportDir: dir, state: state})
	if err != nil {
		return 0, 0, 0, err
	}
	if _, err := n.WaitLine(ctx, "all torrents complete"); err != nil {
		_, _ = n.Stop()
		return 0, 0, 0, fmt.Errorf("%s: %w\n%s", name, err, n.Tail(20))
	}
	wall = time.Since(start).Seconds()
	c, _ := n.CPU()
	cpu = c.Seconds()
	done := time.Now()
	if _, err := n.Wait(ctx); err != nil {
		return 0, 0, 0, fmt.Errorf("%s: %w\n%s", name, err, n.Tail(20))
	}
	return wall, cpu, time.Since(done).Seconds(), nil
}

// dropCaches writes back dirty pages and drops the page cache (root only).
func dropCaches() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("not root")
	}
	if err := syncAll(); err != nil {
		return err
	}
	f, err := os.OpenFile("/proc/sys/vm/drop_caches", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString("3\n")
	return err
}

func syncAll() error { syscall.Sync(); return nil }
