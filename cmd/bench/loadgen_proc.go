package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shardtorrent/shardtorrent/internal/loadgen"
	"github.com/shardtorrent/shardtorrent/internal/refpeer"
	"github.com/shardtorrent/shardtorrent/metainfo"
)

// childLoadgenArg, as the first argument, makes this binary run as the load
// generator, so that the seeder under test and the generator are separate
// processes with separate CPU accounting.
const childLoadgenArg = "__loadgen"

// Lines the load-generator child prints; the parent waits for them.
const (
	lgReadyLine    = "loadgen ready "
	lgResultLine   = "loadgen result "
	lgProgressLine = "loadgen progress: "
)

// loadgenMain is the child: it loads the torrents, runs the load, prints a
// ready line when every connection is up and a JSON result line at the end.
func loadgenMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "", "seeder address")
	list := fs.String("torrent-list", "", "file of .torrent paths, one a line")
	conns := fs.Int("conns", 1, "connections, spread over the torrents in turn")
	pipeline := fs.Int("pipeline", 128, "outstanding requests per connection")
	order := fs.String("order", "random", "piece order: random, sequential, spread")
	verify := fs.Bool("verify", false, "check received pieces against their SHA-1")
	dur := fs.Duration("duration", 8*time.Second, "measurement window after every connection is ready")
	blocks := fs.Int64("blocks-per-conn", 0, "stop requesting after this many blocks and stay idle (0 = no limit)")
	rbuf := fs.Int("read-buffer", 256<<10, "receive buffer per connection")
	encrypt := fs.Bool("encrypt", false, "MSE handshake offering RC4 only on every connection")
	transport := fs.String("transport", "auto", "connection transport: auto (goroutines below 1000 connections, gnet from there), gnet, goroutines")
	loops := fs.Int("loops", 1, "gnet event loops")
	prof := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	paths := fs.Args()
	if *list != "" {
		b, err := os.ReadFile(*list)
		if err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 1
		}
		paths = append(paths, strings.Fields(string(b))...)
	}
	ord, err := loadgen.ParseOrder(*order)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	tr, err := loadgen.ParseTransport(*transport)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	cfg := loadgen.Config{Addr: *addr, Conns: *conns, Pipeline: *pipeline, Order: ord, Verify: *verify,
		Duration: *dur, BlocksPerConn: *blocks, ReadBuffer: *rbuf, Encrypt: *encrypt, Transport: tr, Loops: *loops}
	// Only the torrents the connections use are loaded.
	for i := 0; i < len(paths) && i < *conns; i++ {
		mi, err := metainfo.Load(paths[i])
		if err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 1
		}
		cfg.Torrents = append(cfg.Torrents, loadgen.FromMetaInfo(mi))
	}
	cfg.Ready = func(s loadgen.Snapshot) {
		b, _ := json.Marshal(s)
		fmt.Fprintf(stdout, "%s%s\n", lgReadyLine, b)
	}
	cfg.Progress = func(s loadgen.Snapshot) {
		fmt.Fprintf(stderr, "%s%5.1fs conns=%d/%d unchoked=%d received=%d MiB\n", lgProgressLine,
			s.Elapsed.Seconds(), s.Connected, *conns, s.Unchoked, s.Bytes>>20)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	res, err := loadgen.Run(ctx, cfg)
	b, _ := json.Marshal(res)
	fmt.Fprintf(stdout, "%s%s\n", lgResultLine, b)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// lgTransport and lgLoops are -loadgen-transport and -loadgen-loops: every
// load-generator child's transport and gnet loop count. Set once by main.
var (
	lgTransport = "auto"
	lgLoops     = 1
	lgProfile   string // -loadgen-cpuprofile prefix
	lgProfileN  int    // children profiled so far
)

// lgOpts describe a load-generator child.
type lgOpts struct {
	addr        string
	torrentList string
	conns       int
	pipeline    int
	order       string
	verify      bool
	encrypt     bool // MSE with RC4 on every connection
	duration    time.Duration
	blocks      int64
	readBuffer  int
}

// lgRun is a finished load-generator child: its result, its own CPU over
// the window, and its whole life's usage (connecting included; peak RSS).
type lgRun struct {
	res   loadgen.Result
	cpu   cpuTimes
	usage refpeer.Usage
}

// progressWriter prints the child's progress lines, indented.
type progressWriter struct{}

func (progressWriter) Write(b []byte) (int, error) {
	if _, rest, ok := strings.Cut(string(b), lgProgressLine); ok {
		fmt.Print("      ", rest)
	}
	return len(b), nil
}

// runLoadgen runs a load-generator child. onReady runs when every
// connection is up (the window starts), onEnd when the result line arrives
// (the window has ended), so the caller can read the seeder's counters at
// both edges.
func runLoadgen(ctx context.Context, self string, o lgOpts, onReady, onEnd func()) (lgRun, error) {
	args := []string{childLoadgenArg, "-addr", o.addr, "-torrent-list", o.torrentList,
		"-conns", strconv.Itoa(o.conns), "-duration", o.duration.String(), "-order", o.order,
		"-transport", lgTransport, "-loops", strconv.Itoa(lgLoops)}
	if lgProfile != "" {
		lgProfileN++
		args = append(args, "-cpuprofile", fmt.Sprintf("%s-%d.pprof", lgProfile, lgProfileN))
	}
	if o.pipeline > 0 {
		args = append(args, "-pipeline", strconv.Itoa(o.pipeline))
	}
	if o.verify {
		args = append(args, "-verify")
	}
	if o.encrypt {
		args = append(args, "-encrypt")
	}
	if o.blocks > 0 {
		args = append(args, "-blocks-per-conn", strconv.FormatInt(o.blocks, 10))
	}
	if o.readBuffer > 0 {
		args = append(args, "-read-buffer", strconv.Itoa(o.readBuffer))
	}
	p, err := refpeer.StartProcess(ctx, refpeer.ProcOptions{Name: "loadgen", Path: self, Args: args, KeepStdin: true, Log: progressWriter{}})
	if err != nil {
		return lgRun{}, err
	}
	defer p.Stop()
	var out lgRun
	if _, err := p.WaitLine(ctx, lgReadyLine); err != nil {
		return out, err
	}
	c0 := procCPU(p.Pid())
	if onReady != nil {
		onReady()
	}
	line, err := p.WaitLine(ctx, lgResultLine)
	if err != nil {
		return out, err
	}
	if onEnd != nil {
		onEnd()
	}
	_, js, _ := strings.Cut(line, lgResultLine)
	if err := json.Unmarshal([]byte(js), &out.res); err != nil {
		return out, fmt.Errorf("loadgen result: %w", err)
	}
	// The child exits right after its result line: its CPU since ready is
	// its exit usage less what it had used by then.
	u, err := p.Wait(ctx)
	if err != nil {
		return out, err
	}
	out.usage = u
	out.cpu = cpuTimes{u.User.Seconds(), u.Sys.Seconds()}.sub(c0)
	return out, nil
}
