//go:build interop

package interop

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/internal/refpeer"
)

// TestPerfTransfer measures single-peer transfer speed and CPU cost of the
// libtorrent and node pairs on a 1 GiB single-file torrent with 4 MiB pieces
// (256 pieces: large enough that per-piece overhead is not what is being
// measured, and the piece size clients pick for torrents of this size).
//
// Environment:
//
//	SHARDTORRENT_PERF=1          run it (skipped otherwise)
//	SHARDTORRENT_PERF_RUNS=N     runs per pair, default 3; medians are reported
//	SHARDTORRENT_PERF_PAIRS=...  comma list of lt-lt,lt-node,node-lt,node-node (default all)
//	SHARDTORRENT_PERF_SIZE=N     torrent size in bytes, default 1073741824
//	SHARDTORRENT_PERF_OUT=FILE   also write the markdown table there
//
// Method, per run: a fresh seeder is started and waits until it has checked
// its data (libtorrent: "ready" event; node: its "seeding" line). Its CPU
// time is read from /proc/PID/stat (utime+stime) at that moment and again
// after the leecher has exited; the difference is the seeder's CPU for the
// transfer (checking excluded). The leecher is then started with the
// seeder's address; wall time runs from starting the leecher process to its
// exit (libtorrent leechers exit after "finished", nodes with
// -exit-when-complete), so both include process start-up and shutdown. The
// leecher's CPU is its rusage (user+sys). MB/s is 10^6 bytes per second.
// All data stays in the page cache (nothing is dropped between runs), so
// this measures the network and CPU path, not the disk. libtorrent peers
// run with lt.high_performance_seed() settings on both ends.
func TestPerfTransfer(t *testing.T) {
	if os.Getenv("SHARDTORRENT_PERF") != "1" {
		t.Skip("set SHARDTORRENT_PERF=1 to run the 1 GiB transfer benchmark")
	}
	setup(t, time.Minute) // skip check only; each run has its own deadline
	runs := envInt(t, "SHARDTORRENT_PERF_RUNS", 3)
	size := int64(envInt(t, "SHARDTORRENT_PERF_SIZE", 1<<30))
	const piece = 4 << 20
	pairs := []string{"lt-lt", "lt-node", "node-lt", "node-node"}
	if s := os.Getenv("SHARDTORRENT_PERF_PAIRS"); s != "" {
		pairs = strings.Split(s, ",")
	}

	dir := t.TempDir()
	start := time.Now()
	f := makeFixture(t, dir, "perf.bin", size, nil, piece)
	t.Logf("fixture ready in %v", time.Since(start).Round(time.Millisecond))

	var results []perfResult
	var failed []string
	for _, pair := range pairs {
		seeder, leecher, ok := strings.Cut(pair, "-")
		if !ok || !validImpl(seeder) || !validImpl(leecher) {
			t.Fatalf("bad pair %q in SHARDTORRENT_PERF_PAIRS", pair)
		}
		if (seeder == "node" || leecher == "node") && nodeErr != nil {
			t.Errorf("%s: node binary build failed: %v", pair, nodeErr)
			failed = append(failed, pair)
			continue
		}
		var samples []perfSample
		for i := range runs {
			s, err := perfRun(t, f, dir, seeder, leecher, i)
			if err != nil {
				t.Errorf("%s run %d: %v", pair, i+1, err)
				break
			}
			t.Logf("%s run %d: %.2fs %.0f MB/s, seeder %.2f CPU-s, leecher %.2f CPU-s (max RSS %d MiB)",
				pair, i+1, s.wall.Seconds(), float64(size)/s.wall.Seconds()/1e6, s.seedCPU.Seconds(), s.leechCPU.Seconds(), s.leechRSS>>20)
			samples = append(samples, s)
		}
		if len(samples) == runs {
			results = append(results, summarize(pair, size, samples))
		} else {
			failed = append(failed, pair)
		}
	}
	table := perfTable(results, failed, size, piece, runs)
	fmt.Println(table)
	t.Log("\n" + table)
	if out := os.Getenv("SHARDTORRENT_PERF_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func validImpl(s string) bool { return s == "lt" || s == "node" }

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

type perfSample struct {
	wall              time.Duration
	seedCPU, leechCPU time.Duration
	seedRSS, leechRSS int64
}

type perfResult struct {
	pair                    string
	wall, mbps              float64
	seedCPU, leechCPU       float64 // seconds per run
	seedPerGiB, leechPerGiB float64
	seedRSS, leechRSS       int64
}

// stopper is what both process kinds offer.
type stopper interface {
	Stop() (refpeer.Usage, error)
	CPU() (time.Duration, error)
	Name() string
}

func perfRun(t *testing.T, f fixture, dir, seederImpl, leecherImpl string, run int) (perfSample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ports, err := refpeer.FreePorts(2)
	if err != nil {
		return perfSample{}, err
	}
	seedAddr := loopback(ports[0])
	leechDir := filepath.Join(dir, fmt.Sprintf("leech-%s-%s-%d", seederImpl, leecherImpl, run))
	if err := os.MkdirAll(leechDir, 0o755); err != nil {
		return perfSample{}, err
	}
	defer os.RemoveAll(leechDir)
	log := t.Output()

	// Seeder.
	var seeder stopper
	switch seederImpl {
	case "lt":
		p, err := refpeer.StartLT(ctx, refpeer.LTOptions{Mode: "seed", Torrent: f.Torrent, SaveDir: f.SeedDir,
			ListenPort: ports[0], Perf: true, Log: log, Name: "lt-seed"})
		if err != nil {
			return perfSample{}, err
		}
		defer p.Stop()
		if err := p.WaitReady(ctx); err != nil {
			return perfSample{}, err
		}
		seeder = p
	case "node":
		p, err := refpeer.StartProcess(ctx, refpeer.ProcOptions{Name: "node-seed", Path: nodeBin,
			Args: []string{"-listen", seedAddr, "-data", f.SeedDir, f.Torrent}, Log: log})
		if err != nil {
			return perfSample{}, err
		}
		defer p.Stop()
		if _, err := p.WaitLine(ctx, "listening on "+seedAddr); err != nil {
			return perfSample{}, err
		}
		if _, err := p.WaitLine(ctx, "seeding"); err != nil {
			return perfSample{}, err
		}
		seeder = p
	}
	cpu0, err := seeder.CPU()
	if err != nil {
		return perfSample{}, fmt.Errorf("seeder CPU at ready: %w", err)
	}

	// Leecher: from process start to exit.
	t0 := time.Now()
	var lu refpeer.Usage
	switch leecherImpl {
	case "lt":
		p, err := refpeer.StartLT(ctx, refpeer.LTOptions{Mode: "leech", Torrent: f.Torrent, SaveDir: leechDir,
			ListenPort: ports[1], Peers: []string{seedAddr}, Log: log, Name: "lt-leech"})
		if err != nil {
			return perfSample{}, err
		}
		defer p.Stop()
		if err := p.WaitFinished(ctx); err != nil {
			return perfSample{}, err
		}
		if lu, err = p.Wait(ctx); err != nil {
			return perfSample{}, err
		}
	case "node":
		p, err := refpeer.StartProcess(ctx, refpeer.ProcOptions{Name: "node-leech", Path: nodeBin,
			Args: nodeLeechArgs(f, leechDir, ports[1], seedAddr), Log: log})
		if err != nil {
			return perfSample{}, err
		}
		defer p.Stop()
		if lu, err = p.Wait(ctx); err != nil {
			return perfSample{}, err
		}
	}
	wall := time.Since(t0)

	cpu1, err := seeder.CPU()
	if err != nil {
		return perfSample{}, fmt.Errorf("seeder CPU at end: %w", err)
	}
	su, err := seeder.Stop()
	if err != nil {
		return perfSample{}, fmt.Errorf("seeder: %w", err)
	}
	got, err := refpeer.HashFiles(leechDir)
	if err != nil {
		return perfSample{}, err
	}
	if err := refpeer.DiffHashes(f.Hashes, got); err != nil {
		return perfSample{}, err
	}
	return perfSample{wall: wall, seedCPU: cpu1 - cpu0, leechCPU: lu.CPU(), seedRSS: su.MaxRSS, leechRSS: lu.MaxRSS}, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func summarize(pair string, size int64, ss []perfSample) perfResult {
	var wall, mbps, sc, lc, srss, lrss []float64
	for _, s := range ss {
		wall = append(wall, s.wall.Seconds())
		mbps = append(mbps, float64(size)/s.wall.Seconds()/1e6)
		sc = append(sc, s.seedCPU.Seconds())
		lc = append(lc, s.leechCPU.Seconds())
		srss = append(srss, float64(s.seedRSS))
		lrss = append(lrss, float64(s.leechRSS))
	}
	gib := float64(size) / (1 << 30)
	r := perfResult{pair: pair, wall: median(wall), mbps: median(mbps), seedCPU: median(sc), leechCPU: median(lc),
		seedRSS: int64(median(srss)), leechRSS: int64(median(lrss))}
	r.seedPerGiB, r.leechPerGiB = r.seedCPU/gib, r.leechCPU/gib
	return r
}

func pairLabel(p string) string {
	s, l, _ := strings.Cut(p, "-")
	name := map[string]string{"lt": "libtorrent", "node": "node"}
	return name[s] + " → " + name[l]
}

func perfTable(rs []perfResult, failed []string, size int64, piece, runs int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Transfer benchmark: %d bytes (%.2f GiB) single file, %d MiB pieces, 127.0.0.1, median of %d runs; libtorrent %s.\n\n",
		size, float64(size)/(1<<30), piece>>20, runs, refpeer.LTVersion())
	b.WriteString("| seeder → leecher | wall s | MB/s | seeder CPU s | leecher CPU s | seeder CPU s/GiB | leecher CPU s/GiB | seeder max RSS MiB | leecher max RSS MiB | MB/s vs LT→LT | seeder CPU/GiB vs LT→LT | leecher CPU/GiB vs LT→LT |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	var base *perfResult
	for i := range rs {
		if rs[i].pair == "lt-lt" {
			base = &rs[i]
		}
	}
	ratio := func(v, ref float64) string {
		if base == nil || ref == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f×", v/ref)
	}
	for _, r := range rs {
		var rm, rsd, rl string
		if base != nil {
			rm, rsd, rl = ratio(r.mbps, base.mbps), ratio(r.seedPerGiB, base.seedPerGiB), ratio(r.leechPerGiB, base.leechPerGiB)
		} else {
			rm, rsd, rl = "–", "–", "–"
		}
		fmt.Fprintf(&b, "| %s | %.2f | %.0f | %.2f | %.2f | %.2f | %.2f | %d | %d | %s | %s | %s |\n",
			pairLabel(r.pair), r.wall, r.mbps, r.seedCPU, r.leechCPU, r.seedPerGiB, r.leechPerGiB,
			r.seedRSS>>20, r.leechRSS>>20, rm, rsd, rl)
	}
	for _, p := range failed {
		fmt.Fprintf(&b, "| %s | failed | | | | | | | | | | |\n", pairLabel(p))
	}
	b.WriteString("\nSeeder CPU excludes its initial data check (/proc utime+stime at ready subtracted). Wall time: leecher process start to exit.\n")
	return b.String()
}
