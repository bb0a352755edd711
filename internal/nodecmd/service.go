package nodecmd

// The node's HTTP service: one listener (-rpc, default 127.0.0.1:9091)
// carrying the Transmission RPC (/transmission/rpc), the Prometheus metrics
// (/metrics) and the status page (/), every path behind internal/httpguard.

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/internal/httpguard"
	"github.com/shardtorrent/shardtorrent/metrics"
	"github.com/shardtorrent/shardtorrent/rpc"
	"github.com/shardtorrent/shardtorrent/web"
	"golang.org/x/term"
)

// defaultRPC is -rpc's default: Transmission's port, on loopback.
const defaultRPC = "127.0.0.1:9091"

// Timeouts of the HTTP server. A request body is at most the RPC's cap
// (16 MiB of base64 .torrent), which a slow client on a LAN sends well
// within ReadTimeout; a torrent-get of 10,000 torrents is written within
// WriteTimeout.
const (
	rpcReadHeaderTimeout = 10 * time.Second
	rpcReadTimeout       = 60 * time.Second
	rpcWriteTimeout      = 60 * time.Second
	rpcIdleTimeout       = 120 * time.Second
	rpcMaxHeaderBytes    = 64 << 10
	// rpcShutdownTimeout bounds the wait for requests in flight when the
	// node stops; what is still running then is cut off.
	rpcShutdownTimeout = 5 * time.Second
)

// serviceFlags are the flags of the HTTP service.
type serviceFlags struct {
	addr, authFile, allow, roots *string
	fs                           *flag.FlagSet
}

func addServiceFlags(fs *flag.FlagSet) *serviceFlags {
	return &serviceFlags{
		fs:       fs,
		addr:     fs.String("rpc", defaultRPC, "HTTP service address (Transmission RPC at /transmission/rpc, /metrics, status page at /); \"off\" disables it. Any non-loopback address needs -rpc-auth-file and -rpc-allow"),
		authFile: fs.String("rpc-auth-file", "", "file of user:bcrypt-hash lines (mode 0600; make it with: node rpc-passwd -user NAME -o FILE); with it every request needs HTTP basic auth"),
		allow:    fs.String("rpc-allow", "", "CIDR[,CIDR...] of the clients let in (IPv4 and IPv6); loopback clients are always let in on a loopback -rpc"),
		roots:    fs.String("rpc-roots", "", "DIR[,DIR...] that RPC paths (download-dir, added .torrent files, free-space) must lie in, links resolved (default: the -data directory)"),
	}
}

// explicit reports whether -rpc was given on the command line.
func (f *serviceFlags) explicit() bool {
	set := false
	f.fs.Visit(func(fl *flag.Flag) { set = set || fl.Name == "rpc" })
	return set
}

// servicePlan is the checked configuration of the service: its guard,
// then its listener.
type servicePlan struct {
	addr     string
	explicit bool // -rpc given on the command line
	guard    *httpguard.Guard
	ln       net.Listener // bound by listen
	// onRefuse is where the guard reports refusals, set once the session
	// exists (it posts httpguard.RefusedAlert); nil before.
	onRefuse atomic.Pointer[func(httpguard.Refusal)]
}

// planService checks the service flags: nil when -rpc is off. The error
// is one line for exit code 2.
func planService(f *serviceFlags) (*servicePlan, error) {
	if strings.EqualFold(*f.addr, "off") {
		return nil, nil
	}
	var allow []netip.Prefix
	if *f.allow != "" {
		var err error
		if allow, err = httpguard.ParseAllowList(*f.allow); err != nil {
			return nil, err
		}
	}
	var users *httpguard.Users
	if *f.authFile != "" {
		var err error
		if users, err = httpguard.LoadUsers(*f.authFile); err != nil {
			return nil, err
		}
	}
	p := &servicePlan{addr: *f.addr, explicit: f.explicit()}
	g, err := httpguard.New(httpguard.Config{
		Listen: *f.addr, Users: users, Allow: allow,
		OnRefuse: func(r httpguard.Refusal) {
			if fn := p.onRefuse.Load(); fn != nil {
				(*fn)(r)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	p.guard = g
	return p, nil
}

// rootsOr resolves -rpc-roots (default: the data directory, which exists by
// then). The error is one line for exit code 2.
func (f *serviceFlags) rootsOr(data string) (*httpguard.Roots, error) {
	dirs := []string{data}
	if *f.roots != "" {
		dirs = nil
		for _, d := range strings.Split(*f.roots, ",") {
			if d = strings.TrimSpace(d); d != "" {
				dirs = append(dirs, d)
			}
		}
	}
	return httpguard.NewRoots(dirs)
}

// listen binds the planned address, before the session starts, so that a
// port in use costs one line and no half-started node. A port in use at
// the default address is only a warning (ok is false and the node runs
// without the service: several nodes on one machine each take the
// default); at an address given with -rpc it is an error (exit code 1).
func (p *servicePlan) listen(stderr io.Writer) (ok bool, err error) {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		if !p.explicit {
			fmt.Fprintf(stderr, "node: warning: -rpc %s: %v; running without the RPC service (give -rpc ADDR, or -rpc off)\n", p.addr, err)
			return false, nil
		}
		return false, fmt.Errorf("-rpc: %w", err)
	}
	p.ln = ln
	return true, nil
}

// serviceMounts are the handlers of the service's paths; a nil one is not
// mounted.
type serviceMounts struct {
	rpc     http.Handler // /transmission/rpc
	metrics http.Handler // /metrics
	web     http.Handler // / (the status page)
}

// service is the running HTTP service. Its methods are called from Run's
// goroutine only.
type service struct {
	srv  *http.Server
	done chan struct{} // closed when Serve returned
}

// startService serves the planned listener with the mounts, every path
// behind the guard, and prints "rpc listening on ADDR" (the real port when
// ADDR asked for port 0). ctx is every request's base context. Refusals
// are posted to the session as httpguard.RefusedAlert.
func startService(ctx context.Context, p *servicePlan, m serviceMounts, sess *shardtorrent.Session, stdout io.Writer, log *slog.Logger) *service {
	post := func(r httpguard.Refusal) { sess.PostAlert(&httpguard.RefusedAlert{Refusal: r}) }
	p.onRefuse.Store(&post)
	mux := http.NewServeMux()
	if m.rpc != nil {
		mux.Handle("/transmission/rpc", m.rpc)
		mux.Handle("/transmission/rpc/", m.rpc) // some clients add the slash
	}
	if m.metrics != nil {
		mux.Handle("/metrics", m.metrics)
	}
	if m.web != nil {
		mux.Handle("/", m.web)
	}
	s := &service{
		srv: &http.Server{
			Handler:           p.guard.Wrap(mux),
			ReadHeaderTimeout: rpcReadHeaderTimeout,
			ReadTimeout:       rpcReadTimeout,
			WriteTimeout:      rpcWriteTimeout,
			IdleTimeout:       rpcIdleTimeout,
			MaxHeaderBytes:    rpcMaxHeaderBytes,
			BaseContext:       func(net.Listener) context.Context { return ctx },
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(p.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("rpc service stopped", "err", err)
		}
	}()
	fmt.Fprintf(stdout, "rpc listening on %s\n", p.ln.Addr())
	return s
}

// stop stops accepting, lets requests in flight finish for up to
// rpcShutdownTimeout, then closes what is left.
func (s *service) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), rpcShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
	<-s.done
}

// passwdInput is where rpc-passwd reads the password; tests replace it.
var passwdInput io.Reader = os.Stdin

// runPasswd is "node rpc-passwd -user U -o FILE": it reads a password from
// stdin (twice, without echo, when stdin is a terminal; else its first
// line) and sets U's bcrypt hash in FILE, which it writes with mode 0600.
func runPasswd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("node rpc-passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("user", "", "user name (required)")
	out := fs.String("o", "", "auth file to create or update (required); give it to the node as -rpc-auth-file")
	cost := fs.Int("cost", httpguard.DefaultCost, fmt.Sprintf("bcrypt cost (at least %d)", httpguard.MinCost))
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *user == "" || *out == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: node rpc-passwd -user NAME -o FILE   (the password is read from stdin)")
		return 2
	}
	if err := httpguard.ValidUser(*user); err != nil {
		fmt.Fprintf(stderr, "node rpc-passwd: %v\n", err)
		return 2
	}
	pass, err := readPassword(passwdInput, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "node rpc-passwd: %v\n", err)
		return 1
	}
	hash, err := httpguard.HashPassword(pass, *cost)
	if err != nil {
		fmt.Fprintf(stderr, "node rpc-passwd: %v\n", err)
		return 2
	}
	if err := httpguard.WriteUser(*out, *user, hash); err != nil {
		fmt.Fprintf(stderr, "node rpc-passwd: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: password of %q set (bcrypt, cost %d, mode 0600)\n", *out, *user, *cost)
	return 0
}

// readPassword reads the password: from a terminal twice without echo,
// otherwise the first line (at most 1 KiB; a trailing \r\n or \n dropped).
func readPassword(in io.Reader, prompt io.Writer) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		fmt.Fprint(prompt, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		return string(a), nil
	}
	line, err := bufio.NewReaderSize(io.LimitReader(in, 1024), 1024).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("no password on stdin")
	}
	return line, nil
}

// serviceMounts returns the handlers the service mounts. The RPC runs
// over the node's Backend (rpcnode.go) and applies roots.Confine to every
// path a client names.
func (n *node) serviceMounts(roots *httpguard.Roots, g *httpguard.Guard) serviceMounts {
	var m serviceMounts
	m.rpc = rpc.New(n.rpc, rpc.Config{Confine: roots.Confine, Logger: n.log})
	reg := metrics.Registry(n.sess) // Prometheus (package metrics)
	for _, r := range httpguard.Reasons() {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "shardtorrent_rpc_refused_total",
			Help:        "Requests to the node's HTTP service (RPC, metrics, status page) refused before reaching it, by reason.",
			ConstLabels: prometheus.Labels{"reason": r.String()},
		}, func() float64 { return float64(g.Refused(r)) }))
	}
	m.metrics = metrics.HandlerFor(reg)
	m.web = web.Handler() // the status page (package web), reading the RPC above
	return m
}
