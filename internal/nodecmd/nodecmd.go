// Package nodecmd is the implementation of cmd/node, importable so that
// cmd/bench can run the node as a child process of its own binary.
//
// The node is shardtorrent's seeding node: it seeds (and downloads) the
// torrents it is given, from the command line and from a watch directory.
//
//	node [flags] [TORRENT_FILE|MAGNET ...]
//	node make -o OUT.torrent [-piece-size N] [-tracker URL] PATH
package nodecmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/choker"
	"github.com/shardtorrent/shardtorrent/internal/httpguard"
	"github.com/shardtorrent/shardtorrent/internal/noopplugin"
	"github.com/shardtorrent/shardtorrent/ipfilter"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/rpc"
	"github.com/shardtorrent/shardtorrent/settings"
	"github.com/shardtorrent/shardtorrent/tracker"
)

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// newSession is shardtorrent.NewSession; tests replace it to see the
// settings the flags produce.
var newSession = shardtorrent.NewSession

// rpcReady, when set (tests), is given the node's rpc.Backend once the
// node is made, before it adds any torrent; the Backend's adds and
// removals wait until the node's main loop runs.
var rpcReady func(rpc.Backend)

// Run runs the node with command-line arguments args (without the program
// name) and returns the process exit code. It parses the flags
// (newFlagSet), builds the session settings from them (settingsFrom),
// loads the torrents and starts the session and the node, then runs the
// node until it is done (node.run).
func Run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "make" {
		return runMake(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "rpc-passwd" {
		return runPasswd(args[1:], stdout, stderr) // service.go
	}
	cmdLine := args // read again on SIGHUP with the -config file (reload.go)
	fs, f := newFlagSet(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *f.configFile != "" {
		if err := applyConfig(fs, *f.configFile); err != nil {
			fmt.Fprintf(stderr, "node: %v\n", err)
			return 2
		}
	}
	for _, b := range f.dhtBoot {
		if _, _, err := net.SplitHostPort(b); err != nil {
			fmt.Fprintf(stderr, "node: -dht-bootstrap %q: want HOST:PORT\n", b)
			return 2
		}
	}
	svcPlan, err := planService(f.svc)
	if err != nil {
		fmt.Fprintf(stderr, "node: %v\n", err)
		return 2
	}
	if *f.cpuProf != "" {
		pf, err := os.Create(*f.cpuProf)
		if err != nil {
			fmt.Fprintf(stderr, "node: -cpuprofile: %v\n", err)
			return 2
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			fmt.Fprintf(stderr, "node: -cpuprofile: %v\n", err)
			return 2
		}
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
	}
	if *f.memProf != "" {
		runtime.MemProfileRate = 1
		pf, err := os.Create(*f.memProf)
		if err != nil {
			fmt.Fprintf(stderr, "node: -memprofile: %v\n", err)
			return 2
		}
		defer func() {
			runtime.GC() // the allocs profile is as of the last GC: include everything up to now
			if err := pprof.Lookup("allocs").WriteTo(pf, 0); err != nil {
				fmt.Fprintf(stderr, "node: -memprofile: %v\n", err)
			}
			pf.Close()
		}()
	}
	set, err := settingsFrom(f, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "node: %v\n", err)
		return 2
	}
	log, state := set.Logger, set.ResumeDir
	fleet, _ := f.fleetShare() // checked by settingsFrom
	var peerAddrs []netip.AddrPort
	for _, p := range f.peers {
		ap, err := netip.ParseAddrPort(p)
		if err != nil {
			fmt.Fprintf(stderr, "node: bad -peer %q: want IP:PORT\n", p)
			return 2
		}
		peerAddrs = append(peerAddrs, ap)
	}
	// Load every torrent before starting anything, so a bad argument costs
	// one clear line and no half-started node.
	var metas []*metainfo.MetaInfo
	var magnets []string
	args = fs.Args()
	if *f.listFile != "" {
		list, err := readTorrentList(*f.listFile)
		if err != nil {
			fmt.Fprintf(stderr, "node: -torrent-list: %v\n", err)
			return 1
		}
		args = append(list, args...)
	}
	for _, arg := range args {
		if strings.HasPrefix(arg, "magnet:") {
			if _, err := shardtorrent.ParseMagnet(arg); err != nil {
				fmt.Fprintf(stderr, "node: %v\n", err)
				return 2
			}
			magnets = append(magnets, arg)
			continue
		}
		mi, err := metainfo.Load(arg)
		if err != nil {
			fmt.Fprintf(stderr, "node: %s: %v\n", arg, err)
			return 1
		}
		metas = append(metas, mi)
	}
	resumed, err := loadState(state, *f.importDir, *f.dataDir, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "node: %v\n", err)
		return 1
	}
	if *f.exitDone && len(metas)+len(magnets)+len(resumed) == 0 && *f.watchDir == "" {
		fmt.Fprintln(stderr, "node: -exit-when-complete needs at least one torrent")
		return 2
	}
	for _, u := range f.trackers {
		if !tracker.ValidURL(u) {
			fmt.Fprintf(stderr, "node: -tracker %q: not an http, https or udp tracker URL\n", u)
			return 2
		}
	}
	if err := os.MkdirAll(*f.dataDir, 0o755); err != nil {
		fmt.Fprintf(stderr, "node: -data: %v\n", err)
		return 1
	}
	var rpcRoots *httpguard.Roots
	if svcPlan != nil {
		if rpcRoots, err = f.svc.rootsOr(*f.dataDir); err != nil {
			fmt.Fprintf(stderr, "node: %v\n", err)
			return 2
		}
		if ok, err := svcPlan.listen(stderr); err != nil {
			fmt.Fprintf(stderr, "node: %v\n", err)
			return 1
		} else if !ok {
			svcPlan = nil
		} else {
			defer svcPlan.ln.Close() // on the error paths before the service serves it
		}
	}

	ctx, gotSignal, stop := signalContext(context.Background()) // exit.go
	defer stop()
	sess, err := newSession(ctx, set)
	if err != nil {
		fmt.Fprintf(stderr, "node: %v\n", err)
		return 1
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = sess.Close(cctx)
	}()
	if a := sess.ListenAddr(); a.IsValid() {
		fmt.Fprintf(stdout, "listening on %s\n", a)
	}

	n := &node{sess: sess, out: stdout, log: log, data: *f.dataDir, peers: peerAddrs, seedMode: *f.seedMode, ipFilter: *f.ipFilterFile,
		args: cmdLine, configFile: *f.configFile,
		byHash: map[metainfo.InfoHash]*tracked{}, watched: map[string]bool{}, fleet: fleet, retryFirst: *f.errRetry}
	// The RPC's requests are served by this goroutine's select (rpcnode.go).
	n.rpc = newRPCNode(n, rpcSettings(sess, *f.dataDir, state, *f.useDHT, *f.builtins))
	if svcPlan != nil {
		svc := startService(ctx, svcPlan, n.serviceMounts(rpcRoots, svcPlan.guard), sess, stdout, log) // service.go
		// Stopped after stopServing: requests in flight finish, waiting ones
		// fail at once.
		defer svc.stop()
	}
	defer n.rpc.stopServing()
	if rpcReady != nil {
		rpcReady(n.rpc)
	}
	return n.run(ctx, runArgs{
		flags: f, gotSignal: gotSignal, stderr: stderr,
		resumed: resumed, metas: metas, magnets: magnets,
	})
}

// nodeFlags are the node's flags, as newFlagSet defines them; Parse (and
// applyConfig) fill them in.
type nodeFlags struct {
	listen, dataDir, watchDir     *string
	exitDone                      *bool
	errRetry, statusInt           *time.Duration
	shards                        *int
	seedMode                      *bool
	logLevel, cpuProf, memProf    *string
	reportTo, listFile            *string
	maxOutReq, unchoke            *int
	maxConns, maxConnsPerTorrent  *int
	mseWorkers                    *int
	seedAlg                       *string
	seedRatio                     *float64
	activeDL, activeSd, activeAll *string
	seedTime                      *time.Duration
	direct, suggest               *bool
	builtins, smartBan            *bool
	noopPlug                      *int
	encPol, encLevel              *string
	preferRC4                     *bool
	trackers, peers, dhtBoot      multiFlag
	stateFlag                     *string
	resumeInt                     *time.Duration
	importDir, fleetFlag          *string
	ipFilterFile                  *string
	useDHT                        *bool
	rates                         *rateFlags       // ratelimit.go
	seedPol                       *seedPolicyFlags // seedpolicy.go
	svc                           *serviceFlags    // service.go
	configFile                    *string
}

// newFlagSet defines the node's flags on a new FlagSet that reports to
// stderr. Every flag is also a key of the -config file (config.go).
func newFlagSet(stderr io.Writer) (*flag.FlagSet, *nodeFlags) {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: node [flags] [TORRENT_FILE|MAGNET ...]\n       node make -o OUT.torrent [-piece-size N] [-tracker URL] PATH\n       node rpc-passwd -user NAME -o FILE\n\nflags:\n")
		fs.PrintDefaults()
	}
	f := &nodeFlags{
		listen:    fs.String("listen", "0.0.0.0:6881", "listen address for peer connections (\"off\" to not listen)"),
		dataDir:   fs.String("data", ".", "save path: a torrent named X lives at DIR/X"),
		watchDir:  fs.String("watch", "", "serve every .torrent file and fetch every .magnet file (one magnet URI) in this directory, picking up new ones"),
		exitDone:  fs.Bool("exit-when-complete", false, "exit 0 once every added torrent is complete and verified (a signal before that exits 128+N: 143 for SIGTERM)"),
		errRetry:  fs.Duration("error-retry", 30*time.Second, "resume a torrent stopped by a disk error (disk full, read-only, I/O) after this long, doubling up to 30 min per retry (0: never; then -exit-when-complete exits 1 on an error)"),
		statusInt: fs.Duration("status", time.Second, "status line interval (0 disables)"),
		shards:    fs.Int("shards", 0, "event loops (0 = one per CPU)"),
		seedMode:  fs.Bool("seed-mode", false, "start seeding without a check: each piece is hashed the first time a peer asks for it, before any byte of it is sent; a bad piece is dropped and fetched again (libtorrent's seed_mode)"),
		logLevel:  fs.String("log", "info", "log level: debug, info, warn, error"),
		cpuProf:   fs.String("cpuprofile", "", "write a CPU profile to this file"),
		memProf:   fs.String("memprofile", "", "write an allocation profile to this file at exit (every allocation is recorded: slower)"),
		reportTo:  fs.String("report", "", "write a JSON report of resource use and payload counters to this file on SIGUSR1 and at exit"),
		listFile:  fs.String("torrent-list", "", "file of .torrent paths, one a line, added like arguments"),
		maxOutReq: fs.Int("max-out-requests", 0, "cap on our request pipeline to one peer (0 = engine default, 500: libtorrent's max_out_request_queue)"),
		unchoke:   fs.Int("unchoke-slots", 0, "regular upload slots per torrent (0 = engine default, 8; -1 = unlimited: every interested peer is unchoked)"),
		seedAlg:   fs.String("seed-choker", "round-robin", "how the choker ranks peers while seeding: round-robin, fastest-upload or anti-leech (libtorrent's seed_choking_algorithm)"),
		seedRatio: fs.Float64("seed-ratio", 0, "pause a seed once it has uploaded this many times its size (libtorrent's share_ratio_limit; 0 = no limit)"),
		activeDL:  fs.String("active-downloads", "", "most auto-managed torrents downloading at once; the rest wait in queue order (libtorrent's active_downloads; default unlimited; 0 = none)"),
		activeSd:  fs.String("active-seeds", "", "most auto-managed torrents seeding at once (libtorrent's active_seeds; default unlimited; 0 = none)"),
		activeAll: fs.String("active-limit", "", "most auto-managed torrents running at once, downloads and seeds together (libtorrent's active_limit; default unlimited). Torrents moving no payload for a minute do not count"),
		seedTime:  fs.Duration("seed-time", 0, "pause a torrent once it has seeded this long in this run (libtorrent's seed_time_limit; 0 = no limit)"),
		direct:    fs.Bool("direct-writes", true, "write downloaded pieces with O_DIRECT, past the page cache: a tenth of the write CPU, but re-served pieces come from the disk (-direct-writes=false keeps them in the page cache)"),
		suggest:   fs.Bool("suggest-read-cache", false, "send BEP 6 suggest-piece messages for the pieces most recently read (libtorrent's suggest_read_cache)"),
		builtins:  fs.Bool("builtin-extensions", true, "run the built-in extensions: ut_metadata, ut_pex, lt_donthave, upload_only, and smart_ban unless -smart-ban=false (false turns them all off)"),
		smartBan:  fs.Bool("smart-ban", true, "ban peers that sent corrupt blocks of pieces that failed their hash check (ext/smartban)"),
		noopPlug:  fs.Int("noop-plugins", 0, "attach this many no-op peer plugins to every connection (benchmarks the plugin dispatch)"),
		encPol:    fs.String("encryption", "enabled", "MSE/PE policy, both directions: disabled, enabled (MSE first, plaintext retry; plaintext accepted) or forced (MSE only)"),
		encLevel:  fs.String("enc-level", "both", "what MSE connections carry after the handshake: plaintext, rc4 or both"),
		preferRC4: fs.Bool("prefer-rc4", false, "with -enc-level both, select RC4 for incoming MSE peers offering both (libtorrent's prefer_rc4)"),
		stateFlag: fs.String("state", "", "state directory: every torrent's resume data, saved as it changes and at exit, and resumed at start without hashing (default DATA/.shardtorrent; \"off\": none, every start checks)"),
		resumeInt: fs.Duration("resume-interval", 5*time.Minute, "how often the resume data of torrents that changed is saved to -state (besides completion, pause, removal and exit)"),
		importDir: fs.String("import-resume", "", "adopt a directory of libtorrent-format resume files (qBittorrent's BT_backup: .fastresume with the .torrent beside it) and seed them without a re-hash; they are saved into -state"),
	}
	f.rates = addRateFlags(fs)         // ratelimit.go
	f.seedPol = addSeedPolicyFlags(fs) // seedpolicy.go
	fs.Var(&f.peers, "peer", "HOST:PORT to connect every torrent to (repeatable)")
	fs.Var(&f.trackers, "tracker", "also announce every public torrent to this tracker URL (http, https or udp; repeatable)")
	f.fleetFlag = fs.String("fleet", "", "I/N: serve only the torrents whose info-hash falls to share I of N (0 <= I < N), so N nodes split one catalogue (one shared -watch directory) with no coordinator; see README")
	// The DHT (BEP 5): on the listen port over UDP; private torrents never use it.
	f.ipFilterFile = fs.String("ip-filter", "", "refuse and never dial peers whose address this blocklist blocks (P2P name:first-last, eMule DAT first - last , level , name with level <= 127 blocking, or CIDR lines; gzip or not; bad lines skipped and counted); SIGHUP reloads it")
	f.useDHT = fs.Bool("dht", true, "find peers and be found through the DHT, on UDP at the listen address (never for private torrents)")
	fs.Var(&f.dhtBoot, "dht-bootstrap", "HOST:PORT of a DHT node to bootstrap from (repeatable; replaces the default routers)")
	f.svc = addServiceFlags(fs) // -rpc, -rpc-auth-file, -rpc-allow, -rpc-roots (service.go)
	f.maxConns = fs.Int("max-conns", 0, "peer connections of the whole node, both directions (0 = engine default, 4000)")
	f.maxConnsPerTorrent = fs.Int("max-conns-per-torrent", 0, "peer connections of one torrent, both directions (0 = engine default, 200)")
	f.mseWorkers = fs.Int("mse-workers", 0, "worker goroutines for incoming MSE handshakes' Diffie-Hellman work (0 = on the accepting loop; give it cores the loops do not use)")
	f.configFile = fs.String(configFlag, "", "read flags from this TOML file, one key per flag name (listen = \"0.0.0.0:6881\", peer = [\"...\"]; see docs/node.toml); flags on the command line win")
	return fs, f
}

// fleetShare parses -fleet; the zero Fleet (every torrent) when unset.
func (f *nodeFlags) fleetShare() (shardtorrent.Fleet, error) {
	if *f.fleetFlag == "" {
		return shardtorrent.Fleet{}, nil
	}
	fleet, err := shardtorrent.ParseFleet(*f.fleetFlag)
	if err != nil {
		return fleet, fmt.Errorf("-fleet: %w", err)
	}
	return fleet, nil
}

// settingsFrom builds the session settings from the parsed flags: every
// flag that is a session setting is mapped here and nowhere else, and a
// bad value is an error naming its flag. Besides parsing, it makes the
// logger (-log, writing to stderr), loads the -ip-filter blocklist (its
// summary line goes to stdout) and picks the state directory (-state,
// -data and -fleet), as the session needs them.
func settingsFrom(f *nodeFlags, stdout, stderr io.Writer) (shardtorrent.Settings, error) {
	pol, err := settings.ParseEncPolicy(*f.encPol)
	if err != nil {
		return shardtorrent.Settings{}, fmt.Errorf("-encryption: %w", err)
	}
	encLvl, err := settings.ParseEncLevel(*f.encLevel)
	if err != nil {
		return shardtorrent.Settings{}, fmt.Errorf("-enc-level: %w", err)
	}
	seedChoker, err := choker.ParseSeedAlgorithm(*f.seedAlg)
	if err != nil {
		return shardtorrent.Settings{}, fmt.Errorf("-seed-choker: %w", err)
	}
	var active [3]shardtorrent.Limit
	for i, a := range []struct{ name, v string }{{"active-downloads", *f.activeDL}, {"active-seeds", *f.activeSd}, {"active-limit", *f.activeAll}} {
		if active[i], err = shardtorrent.ParseLimit(a.v, false); err != nil {
			return shardtorrent.Settings{}, fmt.Errorf("-%s: %w", a.name, err)
		}
	}
	if *f.seedRatio < 0 || *f.seedTime < 0 || math.IsNaN(*f.seedRatio) || math.IsInf(*f.seedRatio, 0) {
		return shardtorrent.Settings{}, errors.New("-seed-ratio and -seed-time must be positive, or 0 for no limit")
	}
	seedPolicy, err := f.seedPol.parse()
	if err != nil {
		return shardtorrent.Settings{}, err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*f.logLevel)); err != nil {
		return shardtorrent.Settings{}, fmt.Errorf("bad -log level %q", *f.logLevel)
	}
	var ipf *ipfilter.Filter
	if *f.ipFilterFile != "" {
		var msg string
		if ipf, msg, err = loadIPFilter(*f.ipFilterFile); err != nil {
			return shardtorrent.Settings{}, fmt.Errorf("-ip-filter: %w", err)
		}
		fmt.Fprintln(stdout, msg)
	}
	fleet, err := f.fleetShare()
	if err != nil {
		return shardtorrent.Settings{}, err
	}
	set := shardtorrent.Settings{
		ListenAddr: *f.listen,
		Shards:     *f.shards,
		MSEWorkers: *f.mseWorkers,
		Logger:     slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl})),
		AlertMask:  plugin.CategoryDefault,
		Engine: settings.Engine{UnchokeSlots: *f.unchoke, MaxOutRequests: *f.maxOutReq,
			MaxConns: *f.maxConns, MaxConnsPerTorrent: *f.maxConnsPerTorrent, DirectWrites: *f.direct, SuggestReadCache: *f.suggest,
			InEncPolicy: pol, OutEncPolicy: pol, AllowedEncLevel: encLvl, PreferRC4: *f.preferRC4,
			SeedChoker: seedChoker, ShareRatioLimit: *f.seedRatio, SeedTimeLimit: *f.seedTime},
		ActiveDownloads:    active[0],
		ActiveSeeds:        active[1],
		ActiveLimit:        active[2],
		Extensions:         noopplugin.Sessions(*f.noopPlug),
		SmartBan:           *f.smartBan && *f.builtins,
		DisableUTMetadata:  !*f.builtins,
		DisablePEX:         !*f.builtins,
		DisableDontHave:    !*f.builtins,
		DisableUploadOnly:  !*f.builtins,
		Trackers:           f.trackers,
		DisableDHT:         !*f.useDHT,
		DHTBootstrap:       f.dhtBoot,
		ResumeDir:          stateDir(*f.stateFlag, *f.dataDir, fleet),
		ResumeSaveInterval: *f.resumeInt,
		IPFilter:           ipf,
	}
	f.rates.apply(&set)
	applySeedPolicy(&set.Engine, seedPolicy)
	return set, nil
}

// runArgs is what node.run needs besides the node: the flags it reads
// while running, the signal the context was cancelled by, and the
// torrents loaded at start.
type runArgs struct {
	flags     *nodeFlags
	gotSignal func() os.Signal // which signal cancelled run's context (exit.go)
	stderr    io.Writer
	resumed   []shardtorrent.AddTorrentParams
	metas     []*metainfo.MetaInfo
	magnets   []string
}

// run adds the torrents loaded at start, then serves until ctx is
// cancelled (a signal), the RPC closes the session or, with
// -exit-when-complete, every torrent is complete, and returns the exit
// code: the run loop. It runs on Run's goroutine, which the RPC's requests
// run on too (rpcnode.go).
func (n *node) run(ctx context.Context, a runArgs) int {
	f, stdout, stderr, gotSignal := a.flags, n.out, a.stderr, a.gotSignal
	var rep *reporter
	if *f.reportTo != "" {
		rep = &reporter{path: *f.reportTo, start: time.Now()}
		rep.base.RSSBeforeAdd, rep.base.HeapBeforeAdd = currentRSS(), heapInuse()
	}
	addStart := time.Now()
	// Resumed torrents first: one also given as an argument keeps its
	// resume data (addAll skips what is already added).
	if err := n.addResumed(ctx, a.resumed); err != nil {
		fmt.Fprintf(stderr, "node: %v\n", err)
		return 1
	}
	a.resumed = nil
	if err := n.addAll(ctx, a.metas); err != nil {
		if sig := gotSignal(); sig != nil { // stopped while adding
			return signalExitCode(sig, *f.exitDone)
		}
		fmt.Fprintf(stderr, "node: %v\n", err)
		return 1
	}
	for _, uri := range a.magnets {
		if err := n.addMagnet(ctx, uri, ""); err != nil {
			if sig := gotSignal(); sig != nil {
				return signalExitCode(sig, *f.exitDone)
			}
			fmt.Fprintf(stderr, "node: %s: %v\n", uri, err)
			return 1
		}
	}
	if len(a.metas) >= 1000 {
		// Parsing thousands of .torrent files at start-up is a one-off
		// burst of garbage (every file's bytes and piece hashes; the
		// session keeps its own copies): collect it and give the pages
		// back now rather than carrying them until the scavenger gets
		// there. Measured with the many scenario: 10,000 torrents, RSS
		// after adding 91 MiB without this.
		a.metas = nil
		debug.FreeOSMemory()
	}
	a.metas = nil // the session keeps what it needs
	if rep != nil {
		rep.base.AddSeconds = time.Since(addStart).Seconds()
		rep.base.RSSAfterAdd, rep.base.HeapAfterAdd = currentRSS(), heapInuse()
		rep.base.MallocsAfterAdd = mallocs()
		fmt.Fprintf(stdout, "ready: %d torrents added in %.3fs\n", len(n.order), rep.base.AddSeconds)
	}
	// finish writes the final report (if asked for) on the way out.
	finish := func(code int) int {
		if rep != nil {
			rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := rep.write(rctx, n, true); err != nil {
				fmt.Fprintf(stderr, "node: -report: %v\n", err)
			}
		}
		return code
	}
	var usr1 chan os.Signal
	if rep != nil {
		usr1 = make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		defer signal.Stop(usr1)
	}
	if *f.watchDir != "" {
		n.scanWatch(ctx, *f.watchDir)
	}
	if n.fleet.N > 0 {
		fmt.Fprintf(stdout, "fleet %s: serving %d torrents, %d left to the other nodes\n", n.fleet, len(n.order), n.skipped)
	}

	var statusC <-chan time.Time
	n.ps.statusOn = *f.statusInt > 0
	if *f.statusInt > 0 {
		tk := time.NewTicker(*f.statusInt)
		defer tk.Stop()
		statusC = tk.C
	}
	// Completion and errors come from the torrents' state (poll.go),
	// polled once a second and soon after any alert that may mean a
	// change; alerts can be dropped, state cannot.
	pollT := time.NewTicker(pollEvery)
	defer pollT.Stop()
	soon := time.NewTimer(0) // a first poll at once
	defer soon.Stop()
	soonArmed := true
	poll := func() (int, bool) {
		code, done := n.poll(ctx, time.Now(), *f.exitDone)
		if done {
			n.handleAlerts() // log what is queued before the last word
			if code == 0 {
				fmt.Fprintln(stdout, "all torrents complete")
			}
			return finish(code), true
		}
		return 0, false
	}
	watchT := time.NewTicker(watchEvery)
	defer watchT.Stop()
	// SIGHUP re-reads the watch directory at once (reload.go).
	hup := make(chan os.Signal, 1)
	stopHUP := notifyReload(hup)
	defer stopHUP()
	alertC := make(chan struct{}, 1)
	go func() {
		for ctx.Err() == nil {
			err := n.sess.WaitForAlert(ctx)
			if errors.Is(err, shardtorrent.ErrClosed) {
				return
			}
			if err == nil {
				select {
				case alertC <- struct{}{}:
				case <-ctx.Done():
				}
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(stdout, "stopping")
			return finish(signalExitCode(gotSignal(), *f.exitDone))
		case <-alertC:
			if n.handleAlerts() && !soonArmed {
				soon.Reset(pollSoon)
				soonArmed = true
			}
		case <-soon.C:
			soonArmed = false
			if code, done := poll(); done {
				return code
			}
		case <-pollT.C:
			if code, done := poll(); done {
				return code
			}
		case <-usr1:
			if err := rep.write(ctx, n, false); err != nil {
				fmt.Fprintf(stderr, "node: -report: %v\n", err)
			}
		case <-statusC:
			n.status()
		case fn := <-n.rpc.reqs:
			fn()
		case <-n.rpc.closed:
			fmt.Fprintln(stdout, "stopping: session-close over RPC")
			return finish(0)
		case <-watchT.C:
			if *f.watchDir != "" {
				n.scanWatch(ctx, *f.watchDir)
			}
		case <-hup:
			n.reload(ctx, *f.watchDir)
		}
	}
}

type tracked struct {
	h        *shardtorrent.Torrent
	complete bool  // reached seeding once (poll.go)
	err      error // the error being retried, nil when none
	retry    backoff
}

type node struct {
	sess     *shardtorrent.Session
	ipFilter string // -ip-filter, reloaded on SIGHUP (ipfilter.go)
	// args and configFile are the command line and its -config file,
	// read again on SIGHUP (reload.go).
	args       []string
	configFile string
	out        io.Writer
	log        *slog.Logger
	data       string
	peers      []netip.AddrPort
	seedMode   bool
	// retryFirst is -error-retry (retry.go); last is the latest poll of
	// every torrent's state and dropped the alerts lost so far (poll.go).
	retryFirst time.Duration
	last       []shardtorrent.Status
	ps         pollState
	dropped    int
	byHash     map[metainfo.InfoHash]*tracked
	order      []metainfo.InfoHash
	watched    map[string]bool
	// fleet is this node's share (-fleet); others' torrents are skipped
	// and counted in skipped.
	fleet   shardtorrent.Fleet
	skipped int
	// rpc is the node's rpc.Backend; its requests run on the main
	// goroutine (rpcnode.go).
	rpc *rpcNode
}

// mine reports whether the node serves ih (its -fleet share), counting
// the torrents it leaves to other nodes.
func (n *node) mine(ih metainfo.InfoHash) bool {
	if n.fleet.Has(ih) {
		return true
	}
	n.skipped++
	return false
}

func (n *node) add(ctx context.Context, mi *metainfo.MetaInfo, from string) error {
	if _, dup := n.byHash[mi.InfoHash]; dup || !n.mine(mi.InfoHash) {
		return nil
	}
	h, err := n.sess.AddTorrent(ctx, shardtorrent.AddTorrentParams{
		MetaInfo: mi, SavePath: n.data, Peers: n.peers, SeedMode: n.seedMode,
	})
	if err != nil {
		return err
	}
	n.byHash[mi.InfoHash] = n.track(h)
	n.order = append(n.order, mi.InfoHash)
	fmt.Fprintf(n.out, "added %s (%s) on shard %d%s\n", mi.Info.Name, mi.InfoHash, h.Shard(), from)
	return nil
}

// addAll adds the torrents given at start-up in one batch (one round trip
// per shard: Session.AddTorrents), in order, skipping repeats.
func (n *node) addAll(ctx context.Context, metas []*metainfo.MetaInfo) error {
	var ps []shardtorrent.AddTorrentParams
	var mis []*metainfo.MetaInfo
	seen := make(map[metainfo.InfoHash]bool, len(metas))
	for _, mi := range metas {
		if _, dup := n.byHash[mi.InfoHash]; dup || seen[mi.InfoHash] {
			continue
		}
		seen[mi.InfoHash] = true
		if !n.mine(mi.InfoHash) {
			continue
		}
		mis = append(mis, mi)
		ps = append(ps, shardtorrent.AddTorrentParams{MetaInfo: mi, SavePath: n.data, Peers: n.peers, SeedMode: n.seedMode})
	}
	hs, errs := n.sess.AddTorrents(ctx, ps)
	for i, h := range hs {
		if errs[i] != nil {
			return fmt.Errorf("%s: %w", mis[i].Info.Name, errs[i])
		}
		n.byHash[mis[i].InfoHash] = n.track(h)
		n.order = append(n.order, mis[i].InfoHash)
		fmt.Fprintf(n.out, "added %s (%s) on shard %d\n", mis[i].Info.Name, mis[i].InfoHash, h.Shard())
	}
	return nil
}

// addMagnet adds a torrent from a magnet URI; its metadata comes from the
// URI's x.pe peers and the -peer ones. Its data lands under -data like a
// .torrent's, once the metadata names it.
func (n *node) addMagnet(ctx context.Context, uri, from string) error {
	p, err := shardtorrent.ParseMagnet(uri)
	if err != nil {
		return err
	}
	if _, dup := n.byHash[p.InfoHash]; dup || !n.mine(p.InfoHash) {
		return nil
	}
	p.SavePath = n.data
	p.Peers = append(p.Peers, n.peers...)
	h, err := n.sess.AddTorrent(ctx, p)
	if err != nil {
		return err
	}
	n.byHash[p.InfoHash] = n.track(h)
	n.order = append(n.order, p.InfoHash)
	fmt.Fprintf(n.out, "added magnet %q (%s) on shard %d%s\n", p.Name, p.InfoHash, h.Shard(), from)
	return nil
}

// readMagnetFile reads a .magnet file: one magnet URI, surrounding space
// ignored, bounded by metainfo.MaxMagnetLength.
func readMagnetFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, metainfo.MaxMagnetLength+1))
	if err != nil {
		return "", err
	}
	if len(b) > metainfo.MaxMagnetLength {
		return "", fmt.Errorf("longer than %d bytes", metainfo.MaxMagnetLength)
	}
	return strings.TrimSpace(string(b)), nil
}

// scanWatch adds every .torrent and .magnet in dir not seen before. A file that fails to
// parse is reported once and skipped (it may still be being written; a
// changed file is retried when its size or time changes).
func (n *node) scanWatch(ctx context.Context, dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		n.log.Warn("watch directory", "dir", dir, "err", err)
		return
	}
	for _, e := range ents {
		isMagnet := strings.HasSuffix(e.Name(), ".magnet")
		if e.IsDir() || !(isMagnet || strings.HasSuffix(e.Name(), ".torrent")) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		key := fmt.Sprintf("%s|%d|%d", e.Name(), fi.Size(), fi.ModTime().UnixNano())
		if n.watched[key] {
			continue
		}
		n.watched[key] = true
		path := filepath.Join(dir, e.Name())
		if isMagnet {
			uri, err := readMagnetFile(path)
			if err == nil {
				err = n.addMagnet(ctx, uri, " from "+path)
			}
			if err != nil {
				fmt.Fprintf(n.out, "watch: %s: %v\n", path, err)
			}
			continue
		}
		mi, err := metainfo.Load(path)
		if err != nil {
			fmt.Fprintf(n.out, "watch: %s: %v\n", path, err)
			continue
		}
		if err := n.add(ctx, mi, " from "+path); err != nil {
			fmt.Fprintf(n.out, "watch: %s: %v\n", path, err)
		}
	}
}

func runMake(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("node make", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "output .torrent file (required)")
	pieceSize := fs.Int64("piece-size", 0, "piece size in bytes, a power of two from 16 KiB (0 = automatic)")
	var trackers multiFlag
	fs.Var(&trackers, "tracker", "announce URL (repeatable)")
	private := fs.Bool("private", false, "set the private flag")
	comment := fs.String("comment", "", "comment")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *out == "" || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: node make -o OUT.torrent [-piece-size N] [-tracker URL] PATH")
		return 2
	}
	if *pieceSize != 0 && (*pieceSize < 16<<10 || *pieceSize&(*pieceSize-1) != 0) {
		fmt.Fprintf(stderr, "node make: -piece-size %d is not a power of two of at least 16384\n", *pieceSize)
		return 2
	}
	data, mi, err := metainfo.Create(fs.Arg(0), metainfo.CreateOptions{
		PieceLength: *pieceSize, Trackers: trackers, Private: *private, Comment: *comment,
		CreatedBy: "shardtorrent", CreationDate: time.Now().Unix(),
	})
	if err != nil {
		fmt.Fprintf(stderr, "node make: %v\n", err)
		return 1
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		fmt.Fprintf(stderr, "node make: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s, %d pieces of %d bytes, info-hash %s\n", *out, mi.Info.Name, mi.Info.NumPieces(), mi.Info.PieceLength, mi.InfoHash)
	return 0
}
