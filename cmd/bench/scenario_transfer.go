package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/shardtorrent/shardtorrent/internal/refpeer"
	"github.com/shardtorrent/shardtorrent/wire"
)

// transfer: one seeder to one leecher for each pair of {shardtorrent,
// libtorrent} on the same generated torrent, every download verified by
// SHA-256, with ratios against libtorrent to libtorrent.
func (e *env) transfer() (*table, error) {
	o := e.o
	t := &table{scenario: "transfer",
		title: fmt.Sprintf("transfer: %d MiB, piece %d KiB, medians of %d runs, loopback TCP", o.size>>20, o.piece>>10, o.runs),
		cols: []column{
			{"mb_per_s", "MB/s", "%.0f"}, {"ratio_vs_lt_lt", "vs lt->lt", "%.2fx"},
			{"seeder_user_per_gib", "seeder user/GiB", "%.2f"}, {"seeder_sys_per_gib", "seeder sys/GiB", "%.2f"},
			{"leecher_user_per_gib", "leecher user/GiB", "%.2f"}, {"leecher_sys_per_gib", "leecher sys/GiB", "%.2f"},
			{"leecher_peak_rss_mib", "leecher peak RSS MiB", "%.0f"},
			{"seeder_allocs_per_block", "seeder allocs/block", "%.3f"}, {"leecher_allocs_per_block", "leecher allocs/block", "%.3f"},
		},
		chartSpecs: []chartSpec{
			{file: "transfer_mbps.png", title: "TRANSFER MB/S (HIGHER IS BETTER)", keys: []string{"mb_per_s"}},
			{file: "transfer_cpu.png", title: "CPU-S PER GIB (LOWER IS BETTER)", keys: []string{"seeder_cpu_per_gib", "leecher_cpu_per_gib"}, legend: []string{"SEEDER", "LEECHER"}},
		},
	}
	pairs := o.pairs
	if err := refpeer.Available(); err != nil {
		fmt.Printf("libtorrent is not available (%v): running shardtorrent alone.\n", err)
		fmt.Println("Install it with: bash .ci/install-peers.sh")
		pairs = []string{"st-st"}
	}
	dir, ds, cleanup, err := e.payload("transfer")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	mi := ds.metas[0]
	want, err := refpeer.HashFiles(ds.src)
	if err != nil {
		return nil, err
	}
	fmt.Printf("torrent %s: %d pieces of %d KiB, info-hash %s\n", mi.Info.Name, mi.Info.NumPieces(), mi.Info.PieceLength>>10, mi.InfoHash)

	cases, err := transferCases(pairs, ltSeedProfiles)
	if err != nil {
		return t, err
	}
	// Interleaved: run r of every case, then run r+1, the order rotated
	// each run, so a change in the machine's load falls on every case.
	samples := make([][]map[string]float64, len(cases))
	defer func() { e.ltSeed = "" }()
	for r := 0; r < o.runs; r++ {
		for i := range cases {
			ci := (i + r) % len(cases)
			c := cases[ci]
			pair, sk, lk := c.runName(), c.sk, c.lk
			e.ltSeed = c.profile
			dst := filepath.Join(dir, fmt.Sprintf("dl-%s-%d", pair, r))
			prof := ""
			if o.nodeProfile != "" {
				prof = fmt.Sprintf("%s-%s-%d", o.nodeProfile, pair, r+1)
			}
			once := func() (map[string]float64, error) {
				rctx, cancel := context.WithTimeout(e.ctx, o.timeout)
				defer cancel()
				return e.transferOnce(rctx, sk, lk, ds.torrents[0], ds.src, dst, dir, o.size, want, prof)
			}
			s, err := once()
			if errors.Is(err, refpeer.ErrCrashed) {
				// As the guard does: a libtorrent peer that crashed would
				// drop the pair's row; measure the run again, once, and say so.
				fmt.Printf("  %s run %d: the libtorrent peer crashed, so this run is measured again (once): %v\n", c.label, r+1, err)
				_ = removeAll(dst)
				s, err = once()
			}
			if err != nil {
				return t, fmt.Errorf("%s run %d: %w", c.label, r+1, err)
			}
			fmt.Printf("  %s run %d: %.0f MB/s, seeder %.2f CPU-s, leecher %.2f CPU-s\n", c.label, r+1,
				s["mb_per_s"], s["seeder_cpu_s"], s["leecher_cpu_s"])
			samples[ci] = append(samples[ci], s)
			_ = removeAll(dst)
		}
	}
	var base float64
	for i, c := range cases {
		rw := t.add(c.label, samples[i], "")
		if c.sk == "lt" && c.lk == "lt" && base == 0 {
			base = rw.Values["mb_per_s"]
		}
	}
	for i := range t.rows {
		if base > 0 {
			t.rows[i].Values["ratio_vs_lt_lt"] = t.rows[i].Values["mb_per_s"] / base
		}
	}
	transferRatios(t.rows, cases, ltSeedProfiles)
	t.cols = append(t.cols, ratioColumns(ltSeedProfiles)...)
	// The chart's labels must fit under their bars.
	for _, r := range t.rows {
		r.Case = strings.NewReplacer("libtorrent", "LT", "shardtorrent", "ST").Replace(r.Case)
		t.chartRows = append(t.chartRows, r)
	}
	t.notes = append(t.notes, "CPU in CPU-s per GiB; allocations per 16 KiB block over the transfer (our processes only)")
	return t, nil
}

func pairLabel(p string) string {
	r := strings.NewReplacer("lt", "libtorrent", "st", "shardtorrent", "-", " -> ")
	return r.Replace(p)
}

// seeder is a running seeder of either kind.
type seeder struct {
	p    *refpeer.Process
	node *nodeProc // ours only
	addr string
}

func (e *env) startSeeder(ctx context.Context, kind, torrent, src, dir, prof string) (*seeder, error) {
	if kind == "st" {
		n, err := startNode(ctx, e.self, nodeOpts{name: "st-seed", data: src, torrents: []string{torrent}, reportDir: dir, forcedRC4: e.forcedRC4, cpuProfile: profName(prof, "seed")})
		if err != nil {
			return nil, err
		}
		// The data is checked (not seed mode), as a real seeder would.
		if _, err := n.WaitLine(ctx, "seeding "); err != nil {
			_, _ = n.Stop()
			return nil, err
		}
		return &seeder{p: n.Process, node: n, addr: n.addr}, nil
	}
	port, err := refpeer.FreePort()
	if err != nil {
		return nil, err
	}
	lp, err := refpeer.StartLT(ctx, e.ltPeerOpts(refpeer.LTOptions{Mode: "seed", Torrent: torrent, SaveDir: src, ListenPort: port}))
	if err != nil {
		return nil, err
	}
	if err := lp.WaitReady(ctx); err != nil {
		_, _ = lp.Stop()
		return nil, fmt.Errorf("libtorrent seeder: %w: %s", err, lp.Tail(10))
	}
	return &seeder{p: lp.Process, addr: lp.Addr()}, nil
}

// transferOnce runs one pair once and returns its figures.
// prof, when set, is the prefix of our nodes' CPU profiles (-node-cpuprofile).
func (e *env) transferOnce(ctx context.Context, sk, lk, torrent, src, dst, dir string, size int64, want map[string]string, prof string) (map[string]float64, error) {
	sd, err := e.startSeeder(ctx, sk, torrent, src, dir, prof)
	if err != nil {
		return nil, err
	}
	defer sd.p.Stop()
	s := map[string]float64{}
	blocks := float64(size) / wire.BlockSize
	var seedMallocs0 uint64
	if sd.node != nil {
		r, err := sd.node.snapshot(ctx)
		if err != nil {
			return nil, err
		}
		seedMallocs0 = r.EngineMallocs()
	}
	seed0 := procCPU(sd.p.Pid())
	start := time.Now()
	var leech cpuTimes
	var leechRSS int64
	if lk == "lt" {
		port, err := refpeer.FreePort()
		if err != nil {
			return nil, err
		}
		lp, err := refpeer.StartLT(ctx, e.ltPeerOpts(refpeer.LTOptions{Mode: "leech", Torrent: torrent, SaveDir: dst, ListenPort: port, Peers: []string{sd.addr}}))
		if err != nil {
			return nil, err
		}
		if err := lp.WaitFinished(ctx); err != nil {
			_, _ = lp.Stop()
			return nil, fmt.Errorf("libtorrent leecher: %w: %s", err, lp.Tail(10))
		}
		s["seconds"] = time.Since(start).Seconds()
		s1 := procCPU(sd.p.Pid())
		u, _ := lp.Stop()
		leech, leechRSS = cpuTimes{u.User.Seconds(), u.Sys.Seconds()}, u.MaxRSS
		s = seederFigures(s, s1.sub(seed0))
	} else {
		n, err := startNode(ctx, e.self, nodeOpts{name: "st-leech", listen: "off", data: dst, peers: []string{sd.addr},
			exitDone: true, torrents: []string{torrent}, reportDir: dir, forcedRC4: e.forcedRC4, cpuProfile: profName(prof, "leech")})
		if err != nil {
			return nil, err
		}
		u, rep, err := n.wait(ctx)
		if err != nil {
			return nil, fmt.Errorf("shardtorrent leecher: %w", err)
		}
		s["seconds"] = time.Since(start).Seconds()
		s1 := procCPU(sd.p.Pid())
		leech, leechRSS = cpuTimes{u.User.Seconds(), u.Sys.Seconds()}, u.MaxRSS
		s = seederFigures(s, s1.sub(seed0))
		// From the torrent's add on: the download and the exit, not the
		// process's start-up (about 3,500 mallocs: runtime, flags, session).
		s["leecher_allocs_per_block"] = float64(rep.EngineMallocs()-rep.MallocsAfterAdd) / blocks
		s["leecher_startup_allocs"] = float64(rep.MallocsAfterAdd)
	}
	if sd.node != nil {
		r, err := sd.node.snapshot(ctx)
		if err != nil {
			return nil, err
		}
		s["seeder_allocs_per_block"] = float64(r.EngineMallocs()-seedMallocs0) / blocks
	}
	g := float64(size) / gib
	s["mb_per_s"] = float64(size) / 1e6 / s["seconds"]
	s["leecher_cpu_s"] = leech.total()
	s["leecher_user_per_gib"], s["leecher_sys_per_gib"] = leech.user/g, leech.sys/g
	s["leecher_cpu_per_gib"] = leech.total() / g
	s["seeder_user_per_gib"] /= g
	s["seeder_sys_per_gib"] /= g
	s["seeder_cpu_per_gib"] = s["seeder_cpu_s"] / g
	s["leecher_peak_rss_mib"] = float64(leechRSS) / (1 << 20)
	got, err := refpeer.HashFiles(dst)
	if err != nil {
		return nil, err
	}
	if err := refpeer.DiffHashes(want, got); err != nil {
		return nil, errors.New("downloaded data differs: " + err.Error())
	}
	return s, nil
}

// profName is PREFIX-ROLE.pprof, or "" without a prefix.
func profName(prefix, role string) string {
	if prefix == "" {
		return ""
	}
	return prefix + "-" + role + ".pprof"
}

// seederFigures records the seeder's CPU (per GiB is divided later).
func seederFigures(s map[string]float64, c cpuTimes) map[string]float64 {
	s["seeder_cpu_s"] = c.total()
	s["seeder_user_per_gib"], s["seeder_sys_per_gib"] = c.user, c.sys
	return s
}
