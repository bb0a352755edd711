// Command bench measures shardtorrent against libtorrent 2.0.8 on this
// machine, side by side, in one run.
//
//	go run ./cmd/bench [-scenario transfer] [-size 256MiB] [-runs 3] [-json FILE]
//
// With no arguments it generates a torrent in a temporary directory (removed
// afterwards) and runs the transfer scenario: one seeder to one leecher for
// each pair of {shardtorrent, libtorrent}, verifying the downloaded data and
// measuring throughput and the CPU time of each process. Every process is a
// separate child (our node runs as this binary re-executed), so each one's
// CPU is its own. Where libtorrent is not installed the harness says so and
// runs our side alone.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shardtorrent/shardtorrent/internal/nodecmd"
	"github.com/shardtorrent/shardtorrent/internal/refpeer"
	"github.com/shardtorrent/shardtorrent/metainfo"
)

// childNodeArg, as the first argument, makes this binary run as a node.
const childNodeArg = "__node"

// ltPerf applies high_performance_seed to libtorrent peers.
var ltPerf = true

func main() {
	if len(os.Args) > 1 && os.Args[1] == childNodeArg {
		os.Exit(nodecmd.Run(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(run())
}

type sizeFlag int64

func (s *sizeFlag) String() string { return strconv.FormatInt(int64(*s), 10) }
func (s *sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	*s = sizeFlag(n)
	return err
}

func parseSize(v string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if strings.HasSuffix(v, u.suf) {
			mult, v = u.m, strings.TrimSuffix(v, u.suf)
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q (want e.g. 256MiB)", v)
	}
	return n * mult, nil
}

func run() int {
	size := sizeFlag(256 << 20)
	piece := sizeFlag(1 << 20)
	flag.Var(&size, "size", "payload size of the generated torrent (e.g. 256MiB, 1GiB)")
	flag.Var(&piece, "piece-size", "piece size")
	scenario := flag.String("scenario", "transfer", "scenarios to run (comma-separated): transfer")
	runs := flag.Int("runs", 3, "runs of each measurement; medians are reported")
	jsonOut := flag.String("json", "", "write machine-readable results to this file")
	pairsFlag := flag.String("pairs", "lt-lt,lt-st,st-lt,st-st", "transfer pairs, seeder-leecher: lt = libtorrent, st = shardtorrent")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the harness process")
	memProfile := flag.String("memprofile", "", "write a heap profile of the harness process")
	keep := flag.Bool("keep", false, "keep the temporary directory")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up on one transfer after this long")
	flag.BoolVar(&ltPerf, "lt-perf", true, "apply libtorrent's high_performance_seed settings to libtorrent peers")
	flag.Parse()

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 2
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var results []result
	for _, sc := range strings.Split(*scenario, ",") {
		switch strings.TrimSpace(sc) {
		case "transfer":
			rs, err := transfer(ctx, transferOpts{
				size: int64(size), piece: int64(piece), runs: *runs, pairs: strings.Split(*pairsFlag, ","),
				keep: *keep, timeout: *timeout,
			})
			results = append(results, rs...)
			if err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
				return 1
			}
		default:
			fmt.Fprintf(os.Stderr, "bench: unknown scenario %q (have: transfer; more come with the benchmark issue)\n", sc)
			return 2
		}
	}
	if *memProfile != "" {
		if f, err := os.Create(*memProfile); err == nil {
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(map[string]any{
			"machine": machine(), "results": results,
		}, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	}
	return 0
}

// result is one measured pair (medians over runs).
type result struct {
	Scenario       string  `json:"scenario"`
	Pair           string  `json:"pair"`
	Seeder         string  `json:"seeder"`
	Leecher        string  `json:"leecher"`
	Bytes          int64   `json:"bytes"`
	Runs           int     `json:"runs"`
	Seconds        float64 `json:"seconds"`
	MBps           float64 `json:"mb_per_s"`
	SeederCPU      float64 `json:"seeder_cpu_s"`
	LeecherCPU     float64 `json:"leecher_cpu_s"`
	SeederCPUGiB   float64 `json:"seeder_cpu_s_per_gib"`
	LeecherCPUGiB  float64 `json:"leecher_cpu_s_per_gib"`
	LeecherMaxRSS  int64   `json:"leecher_max_rss"`
	RatioVsLibtorr float64 `json:"mbps_ratio_vs_lt_lt,omitempty"`
}

type transferOpts struct {
	size, piece int64
	runs        int
	pairs       []string
	keep        bool
	timeout     time.Duration
}

func machine() map[string]any {
	m := map[string]any{"cpus": runtime.NumCPU(), "go": runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				m["cpu"] = strings.TrimSpace(l[strings.IndexByte(l, ':')+1:])
				break
			}
		}
	}
	if v := refpeer.LTVersion(); v != "" {
		m["libtorrent"] = v
	}
	return m
}

func transfer(ctx context.Context, o transferOpts) ([]result, error) {
	ltErr := refpeer.Available()
	if ltErr != nil {
		fmt.Printf("libtorrent is not available (%v): running shardtorrent alone.\n", ltErr)
		fmt.Println("Install it with: bash .ci/install-peers.sh")
		o.pairs = []string{"st-st"}
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "shardtorrent-bench-")
	if err != nil {
		return nil, err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	} else {
		fmt.Println("keeping", dir)
	}
	src := filepath.Join(dir, "seed")
	name := "payload.bin"
	fmt.Printf("generating %d MiB of data in %s ...\n", o.size>>20, dir)
	if err := refpeer.MakeData(src, map[string]int64{name: o.size}, 1); err != nil {
		return nil, err
	}
	torrentPath := filepath.Join(dir, "payload.torrent")
	tb, mi, err := metainfo.Create(filepath.Join(src, name), metainfo.CreateOptions{PieceLength: o.piece, CreatedBy: "shardtorrent bench"})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(torrentPath, tb, 0o644); err != nil {
		return nil, err
	}
	want, err := refpeer.HashFiles(src)
	if err != nil {
		return nil, err
	}
	fmt.Printf("torrent %s: %d pieces of %d KiB, info-hash %s\n", name, mi.Info.NumPieces(), mi.Info.PieceLength>>10, mi.InfoHash)

	var out []result
	for _, pair := range o.pairs {
		pair = strings.TrimSpace(pair)
		sk, lk, ok := strings.Cut(pair, "-")
		if !ok || (sk != "lt" && sk != "st") || (lk != "lt" && lk != "st") {
			return out, fmt.Errorf("bad pair %q (want e.g. lt-st)", pair)
		}
		var samples []sample
		for r := 0; r < o.runs; r++ {
			rctx, cancel := context.WithTimeout(ctx, o.timeout)
			s, err := transferOnce(rctx, self, sk, lk, torrentPath, src, filepath.Join(dir, fmt.Sprintf("dl-%s-%d", pair, r)), o.size, want)
			cancel()
			if err != nil {
				return out, fmt.Errorf("%s run %d: %w", pair, r+1, err)
			}
			fmt.Printf("  %s run %d: %.0f MB/s, seeder %.2f CPU-s, leecher %.2f CPU-s\n", pairLabel(pair), r+1, s.mbps(o.size), s.seedCPU, s.leechCPU)
			samples = append(samples, s)
			_ = os.RemoveAll(filepath.Join(dir, fmt.Sprintf("dl-%s-%d", pair, r)))
		}
		out = append(out, summarize(pair, sk, lk, o.size, samples))
	}
	var base float64
	for _, r := range out {
		if r.Pair == "lt-lt" {
			base = r.MBps
		}
	}
	for i := range out {
		if base > 0 {
			out[i].RatioVsLibtorr = out[i].MBps / base
		}
	}
	printTable(out, o)
	return out, nil
}

type sample struct {
	seconds           float64
	seedCPU, leechCPU float64
	leechRSS          int64
}

func (s sample) mbps(size int64) float64 { return float64(size) / 1e6 / s.seconds }

func pairLabel(p string) string {
	r := strings.NewReplacer("lt", "libtorrent", "st", "shardtorrent", "-", " -> ")
	return r.Replace(p)
}

func implName(k string) string {
	if k == "lt" {
		return "libtorrent " + refpeer.LTVersion()
	}
	return "shardtorrent"
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func summarize(pair, sk, lk string, size int64, ss []sample) result {
	var secs, scpu, lcpu, rate []float64
	var rss int64
	for _, s := range ss {
		secs = append(secs, s.seconds)
		scpu = append(scpu, s.seedCPU)
		lcpu = append(lcpu, s.leechCPU)
		rate = append(rate, s.mbps(size))
		rss = max(rss, s.leechRSS)
	}
	gib := float64(size) / (1 << 30)
	return result{
		Scenario: "transfer", Pair: pair, Seeder: implName(sk), Leecher: implName(lk), Bytes: size, Runs: len(ss),
		Seconds: median(secs), MBps: median(rate), SeederCPU: median(scpu), LeecherCPU: median(lcpu),
		SeederCPUGiB: median(scpu) / gib, LeecherCPUGiB: median(lcpu) / gib, LeecherMaxRSS: rss,
	}
}

func printTable(rs []result, o transferOpts) {
	fmt.Printf("\ntransfer: %d MiB, piece %d KiB, medians of %d runs, loopback TCP\n\n", o.size>>20, o.piece>>10, o.runs)
	fmt.Println("| seeder -> leecher | MB/s | vs lt->lt | seeder CPU-s/GiB | leecher CPU-s/GiB | leecher peak RSS |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, r := range rs {
		ratio := "-"
		if r.RatioVsLibtorr > 0 {
			ratio = fmt.Sprintf("%.2fx", r.RatioVsLibtorr)
		}
		fmt.Printf("| %s | %.0f | %s | %.2f | %.2f | %d MiB |\n", pairLabel(r.Pair), r.MBps, ratio, r.SeederCPUGiB, r.LeecherCPUGiB, r.LeecherMaxRSS>>20)
	}
}

// seederProc is a running seeder of either kind.
type seederProc struct {
	p    *refpeer.Process
	addr string
}

func startSeeder(ctx context.Context, self, kind, torrent, src string) (*seederProc, error) {
	port, err := refpeer.FreePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if kind == "lt" {
		lp, err := refpeer.StartLT(ctx, refpeer.LTOptions{Mode: "seed", Torrent: torrent, SaveDir: src, ListenPort: port, Perf: ltPerf})
		if err != nil {
			return nil, err
		}
		if err := lp.WaitReady(ctx); err != nil {
			_, _ = lp.Stop()
			return nil, fmt.Errorf("libtorrent seeder: %w: %s", err, lp.Tail(10))
		}
		return &seederProc{p: lp.Process, addr: addr}, nil
	}
	p, err := refpeer.StartProcess(ctx, refpeer.ProcOptions{Name: "st-seed", Path: self,
		Args: []string{childNodeArg, "-listen", addr, "-data", src, "-status", "0", torrent}, KeepStdin: true})
	if err != nil {
		return nil, err
	}
	if _, err := p.WaitLine(ctx, "seeding "); err != nil {
		_, _ = p.Stop()
		return nil, fmt.Errorf("shardtorrent seeder: %w: %s", err, p.Tail(10))
	}
	return &seederProc{p: p, addr: addr}, nil
}

func transferOnce(ctx context.Context, self, sk, lk, torrent, src, dst string, size int64, want map[string]string) (sample, error) {
	sd, err := startSeeder(ctx, self, sk, torrent, src)
	if err != nil {
		return sample{}, err
	}
	defer sd.p.Stop()
	seedCPU0, _ := sd.p.CPU()
	start := time.Now()
	var s sample
	if lk == "lt" {
		port, err := refpeer.FreePort()
		if err != nil {
			return s, err
		}
		lp, err := refpeer.StartLT(ctx, refpeer.LTOptions{Mode: "leech", Torrent: torrent, SaveDir: dst, ListenPort: port, Peers: []string{sd.addr}, Perf: ltPerf})
		if err != nil {
			return s, err
		}
		if err := lp.WaitFinished(ctx); err != nil {
			_, _ = lp.Stop()
			return s, fmt.Errorf("libtorrent leecher: %w: %s", err, lp.Tail(10))
		}
		s.seconds = time.Since(start).Seconds()
		seedCPU1, _ := sd.p.CPU()
		u, _ := lp.Stop()
		s.leechCPU, s.leechRSS = u.CPU().Seconds(), u.MaxRSS
		s.seedCPU = (seedCPU1 - seedCPU0).Seconds()
	} else {
		p, err := refpeer.StartProcess(ctx, refpeer.ProcOptions{Name: "st-leech", Path: self,
			Args: []string{childNodeArg, "-listen", "off", "-data", dst, "-status", "0", "-peer", sd.addr, "-exit-when-complete", torrent}})
		if err != nil {
			return s, err
		}
		u, err := p.Wait(ctx)
		if err != nil {
			return s, fmt.Errorf("shardtorrent leecher: %w: %s", err, p.Tail(10))
		}
		s.seconds = time.Since(start).Seconds()
		seedCPU1, _ := sd.p.CPU()
		s.leechCPU, s.leechRSS = u.CPU().Seconds(), u.MaxRSS
		s.seedCPU = (seedCPU1 - seedCPU0).Seconds()
	}
	got, err := refpeer.HashFiles(dst)
	if err != nil {
		return s, err
	}
	if err := refpeer.DiffHashes(want, got); err != nil {
		return s, errors.New("downloaded data differs: " + err.Error())
	}
	_ = size
	return s, nil
}
