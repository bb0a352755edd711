// Command bench measures shardtorrent against libtorrent 2.0.8 on this
// machine, side by side, in one run.
//
//	go run ./cmd/bench                       # the embedded default, about two minutes
//	go run ./cmd/bench -scenario seed,transfer,swarm,many,shards [-size 256MiB]
//	    [-peers 1,8,64] [-torrents 10000] [-conns 2000] [-duration 8s] [-runs 3]
//	    [-json FILE] [-chart DIR] [-cpuprofile FILE] [-memprofile FILE]
//	    [-node-cpuprofile PREFIX] [-lt-profile hps|default|both] [-md FILE]
//
// Every scenario generates its data in a temporary directory (removed
// afterwards) and runs every participant as a separate child process (our
// node and the load generator are this binary re-executed), so each one's
// CPU, memory and allocations are its own:
//
//   - seed: one shardtorrent seeder serving 1, 8 and 64 load-generator
//     leechers (internal/loadgen) for -duration each;
//   - transfer: one seeder to one leecher for each pair of {shardtorrent,
//     libtorrent}, every download verified, the pairs interleaved; a
//     libtorrent seeder runs with high_performance_seed, libtorrent's
//     defaults or, with -lt-profile both, each in turn (lt.go);
//   - swarm: one seeder and 8 leechers of ours, time until all complete;
//   - many: -torrents small torrents seeded (seed mode: no re-hash) and
//     -conns connections over them: memory per torrent and connection, idle
//     CPU, time to add;
//   - shards: a many-torrent seeding load with 1 and with 2 event loops;
//   - crypto: encrypted seeding (MSE forced RC4 everywhere) to a libtorrent
//     leecher, libtorrent's seeder against ours, plus our plaintext seeder
//     to the same leecher: throughput and seeder CPU-s/GiB;
//   - storm: connection storms (connect, handshake, close; plaintext and
//     MSE) against our node and libtorrent, and a transfer served during
//     them (storm.go; -storm-dialers, -storm-base);
//   - hot: one torrent, -conns load-generator leechers (2000) on our
//     seeder with its default choker rotating its slots, over -hot-window:
//     throughput, p99 request latency, Jain's fairness, seeder CPU
//     (scenario_hot.go);
//   - guard (-guard, what CI runs): transfer pairs lt-lt, st-lt and lt-st
//     interleaved; exits 1 when our seeder's or leecher's CPU per GiB is
//     worse than libtorrent's in the same run by more than -guard-margin
//     (guard.go).
//
// With no arguments it runs transfer (256 MiB, one run per pair) and seed
// (8 leechers). Where libtorrent is not installed the harness says so and
// runs our side alone.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shardtorrent/shardtorrent/internal/nodecmd"
	"github.com/shardtorrent/shardtorrent/internal/refpeer"
)

// childNodeArg, as the first argument, makes this binary run as a node.
const childNodeArg = "__node"

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case childNodeArg:
			os.Exit(nodecmd.Run(os.Args[2:], os.Stdout, os.Stderr))
		case childLoadgenArg:
			os.Exit(loadgenMain(os.Args[2:], os.Stdout, os.Stderr))
		}
	}
	os.Exit(run())
}

func numCPU() int { return runtime.NumCPU() }

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

// options are the harness's flags.
type options struct {
	size, piece   int64
	runs          int
	pairs         []string
	peers         []int
	torrents      int
	torrentSize   int64
	conns         int
	shardTorrents int
	shardConns    int
	duration      time.Duration
	idle          time.Duration
	pipeline      int
	order         string
	verify        bool
	keep          bool
	timeout       time.Duration
	nodeProfile   string
	unchoke       int
	manyTracker   bool
	hotWindow     time.Duration // hot: the window (scenario_hot.go)
	shards        int           // hot: the seeder's event loops
}

// env is what every scenario shares.
type env struct {
	ctx  context.Context
	self string
	o    options
	// noopPlugins is passed to every seeder the seed helpers start
	// (-noop-plugins); the plugins scenario sets it per case.
	noopPlugins int
	// noBuiltins turns the built-in extensions off in those seeders; the
	// plugins scenario sets it per case.
	noBuiltins bool
	// forcedRC4 makes every peer of the transfer helpers (ours and
	// libtorrent) require MSE with RC4; the crypto scenario sets it per case.
	forcedRC4 bool
	// ltSeed is the profile of libtorrent seeders (lt.go); the transfer
	// scenario sets it per case, "" means the first of -lt-profile.
	ltSeed ltProfile
}

const allScenarios = "transfer, seed, swarm, many, shards, plugins, crypto, restart, guard, hot, storm"

func run() int {
	embedded := len(os.Args) == 1
	size := sizeFlag(256 << 20)
	piece := sizeFlag(1 << 20)
	tsize := sizeFlag(64 << 10)
	flag.Var(&size, "size", "payload size of the generated torrent (e.g. 256MiB, 1GiB)")
	flag.Var(&piece, "piece-size", "piece size")
	scenario := flag.String("scenario", "transfer", "scenarios to run (comma-separated): "+allScenarios)
	runs := flag.Int("runs", 3, "runs of each measurement; medians are reported")
	jsonOut := flag.String("json", "", "write machine-readable results to this file")
	chartDir := flag.String("chart", "", "write a PNG bar chart per scenario into this directory")
	pairsFlag := flag.String("pairs", "lt-lt,lt-st,st-lt,st-st", "transfer pairs, seeder-leecher: lt = libtorrent, st = shardtorrent")
	peersFlag := flag.String("peers", "1,8,64", "seed: load-generator connections, one case per number")
	torrents := flag.Int("torrents", 10000, "many, restart: torrents seeded")
	flag.Var(&tsize, "torrent-size", "many: payload of each small torrent")
	conns := flag.Int("conns", 2000, "many: load-generator connections spread over the torrents")
	shardTorrents := flag.Int("shard-torrents", 16, "shards: torrents the -size payload is split into")
	shardConns := flag.Int("shard-conns", 32, "shards: load-generator connections over those torrents")
	duration := flag.Duration("duration", 8*time.Second, "seed, shards: measurement window per case")
	idle := flag.Duration("idle", 10*time.Second, "many: idle window for the CPU measurement")
	manyTracker := flag.Bool("tracker", false, "many: the seeder announces every torrent to a local test tracker (-tracker); measure until all are announced")
	pipeline := flag.Int("pipeline", 128, "load generator: outstanding 16 KiB requests per connection")
	order := flag.String("order", "random", "load generator: piece order (random, sequential, spread)")
	verify := flag.Bool("verify", false, "load generator: check every piece's SHA-1 (costs its CPU)")
	unchoke := flag.Int("unchoke-slots", 0, "seed, shards: our seeder's upload slots per torrent (0 = default 8)")
	hotWindow := flag.Duration("hot-window", 90*time.Second, "hot: measurement window (long enough for the choker to rotate: 15 s rounds, 60 s turns)")
	shards := flag.Int("shards", 0, "hot: our seeder's event loops (0 = one per CPU)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the harness process")
	memProfile := flag.String("memprofile", "", "write a heap profile of the harness process")
	flag.StringVar(&lgTransport, "loadgen-transport", "auto", "load generator: connection transport (auto: goroutines below 1000 connections, gnet from there; gnet; goroutines)")
	flag.IntVar(&lgLoops, "loadgen-loops", 1, "load generator: gnet event loops (with -loadgen-transport gnet)")
	flag.StringVar(&lgProfile, "loadgen-cpuprofile", "", "load generator: write a CPU profile of each child to PREFIX-N.pprof (N counts the children)")
	flag.StringVar(&extraNodeFlags, "node-flags", "", "extra flags for every node process, space-separated (e.g. \"-direct-writes\")")
	nodeProfile := flag.String("node-cpuprofile", "", "seed, shards: write a CPU profile of each of our seeders to PREFIX-CASE.pprof; transfer: of each of our nodes to PREFIX-PAIR-RUN-ROLE.pprof")
	keep := flag.Bool("keep", false, "keep the temporary directory")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up on one transfer after this long")
	guard := flag.Bool("guard", false, "CI guard: run the guard scenario (transfer lt-lt, st-lt, lt-st interleaved) and exit 1 if our CPU/GiB loses to libtorrent's by more than -guard-margin")
	guardMargin := flag.Float64("guard-margin", guardMarginDefault, "guard: how much worse than libtorrent's CPU/GiB ours may be (0.5: up to 1.5x)")
	ltProfileFlag := flag.String("lt-profile", "hps", "libtorrent seeders' settings: hps (high_performance_seed), default, or both (transfer: each pair with a libtorrent seeder in both, interleaved); libtorrent leechers run with defaults")
	mdOut := flag.String("md", "", "write the tables, per-run figures and the command as markdown to this file")
	flag.Parse()
	profiles, err := parseLTProfiles(*ltProfileFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	ltSeedProfiles = profiles
	if embedded {
		// The embedded default: about two minutes on a 2-core machine.
		*scenario, *runs, *peersFlag = "transfer,seed", 1, "8"
		fmt.Println("bench: no arguments: running the embedded default (transfer 256 MiB, 1 run per pair; seed with 8 leechers)")
	}
	if *guard {
		*scenario = "guard"
	}
	var peers []int
	for _, s := range strings.Split(*peersFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "bench: bad -peers %q\n", *peersFlag)
			return 2
		}
		peers = append(peers, n)
	}
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
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	e := &env{ctx: ctx, self: self, o: options{
		size: int64(size), piece: int64(piece), runs: max(*runs, 1), pairs: strings.Split(*pairsFlag, ","),
		peers: peers, torrents: *torrents, torrentSize: int64(tsize), conns: *conns,
		shardTorrents: *shardTorrents, shardConns: *shardConns, duration: *duration, idle: *idle,
		pipeline: *pipeline, order: *order, verify: *verify, keep: *keep, timeout: *timeout,
		nodeProfile: *nodeProfile, unchoke: *unchoke, manyTracker: *manyTracker,
		hotWindow: *hotWindow, shards: *shards,
	}}

	for _, sc := range strings.Split(*scenario, ",") {
		if !strings.Contains(allScenarios, strings.TrimSpace(sc)) || strings.TrimSpace(sc) == "" {
			fmt.Fprintf(os.Stderr, "bench: unknown scenario %q (have: %s)\n", sc, allScenarios)
			return 2
		}
	}
	var tables []*table
	start := time.Now()
	for _, sc := range strings.Split(*scenario, ",") {
		sc = strings.TrimSpace(sc)
		var t *table
		var err error
		fmt.Printf("\n== scenario %s ==\n", sc)
		switch sc {
		case "transfer":
			t, err = e.transfer()
		case "seed":
			t, err = e.seed()
		case "swarm":
			t, err = e.swarm()
		case "many":
			t, err = e.many()
		case "shards":
			t, err = e.shards()
		case "plugins":
			t, err = e.plugins()
		case "crypto":
			t, err = e.crypto()
		case "restart":
			t, err = e.restart()
		case "guard":
			t, err = e.guard(*guardMargin)
		case "hot":
			t, err = e.hot()
		case "storm":
			t, err = e.storm()
		default:
			fmt.Fprintf(os.Stderr, "bench: unknown scenario %q (have: %s)\n", sc, allScenarios)
			return 2
		}
		if t != nil {
			t.print()
			tables = append(tables, t)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s: %v\n", sc, err)
			return 1
		}
	}
	if len(tables) > 1 {
		fmt.Printf("\n== summary (%.0f s) ==\n", time.Since(start).Seconds())
		for _, t := range tables {
			t.print()
		}
	}
	if *memProfile != "" {
		if f, err := os.Create(*memProfile); err == nil {
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	if *chartDir != "" {
		for _, t := range tables {
			paths, err := t.charts(*chartDir)
			if err != nil {
				fmt.Fprintln(os.Stderr, "bench: chart:", err)
				return 1
			}
			for _, p := range paths {
				fmt.Println("chart:", p)
			}
		}
	}
	if *mdOut != "" {
		if err := writeMarkdown(*mdOut, tables); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	}
	if *jsonOut != "" {
		var rows []row
		for _, t := range tables {
			rows = append(rows, t.rows...)
		}
		b, _ := json.MarshalIndent(map[string]any{"machine": machine(), "results": rows}, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	}
	return 0
}

// tempDir makes a scenario's temporary directory; the returned func
// removes it unless -keep.
func (e *env) tempDir(name string) (string, func(), error) {
	dir, err := os.MkdirTemp("", "shardtorrent-bench-"+name+"-")
	if err != nil {
		return "", nil, err
	}
	if e.o.keep {
		fmt.Println("keeping", dir)
		return dir, func() {}, nil
	}
	return dir, func() { _ = os.RemoveAll(dir) }, nil
}

// payload makes the scenario's temporary directory and generates the
// single-file torrent of -size in -piece-size pieces the one-torrent
// scenarios share.
func (e *env) payload(scenario string) (string, *dataset, func(), error) {
	dir, cleanup, err := e.tempDir(scenario)
	if err != nil {
		return "", nil, nil, err
	}
	fmt.Printf("generating %d MiB of data in %s ...\n", e.o.size>>20, dir)
	ds, err := makeDataset(dir, "payload", 1, e.o.size, e.o.piece)
	if err != nil {
		cleanup()
		return "", nil, nil, err
	}
	return dir, ds, cleanup, nil
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

const gib = float64(1 << 30)
