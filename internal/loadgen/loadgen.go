package loadgen

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/wire"
)

// Torrent is what the generator needs to know of one torrent.
type Torrent struct {
	InfoHash    [20]byte
	PieceLength int64
	TotalLength int64
	// Pieces are the SHA-1 piece hashes, needed only with Config.Verify.
	Pieces []metainfo.HashV1
}

// FromMetaInfo returns the generator's view of a parsed torrent.
func FromMetaInfo(mi *metainfo.MetaInfo) Torrent {
	return Torrent{InfoHash: mi.InfoHash.Short(), PieceLength: mi.Info.PieceLength,
		TotalLength: mi.Info.TotalLength, Pieces: mi.Info.Pieces}
}

func (t *Torrent) numPieces() int {
	if t.PieceLength <= 0 {
		return 0
	}
	return int((t.TotalLength + t.PieceLength - 1) / t.PieceLength)
}

func (t *Torrent) pieceSize(i int) int64 {
	n := t.numPieces()
	if i == n-1 {
		return t.TotalLength - int64(n-1)*t.PieceLength
	}
	return t.PieceLength
}

// Order is how a connection chooses its next piece.
type Order int

// Piece orders.
const (
	// Random picks pieces uniformly at random (per-connection generator).
	Random Order = iota
	// Sequential walks the torrent from an offset that differs per
	// connection, wrapping at the end.
	Sequential
	// Spread hands pieces out in turn across all connections of a torrent
	// (a shared counter), so each piece is requested once before any piece
	// is requested twice: the order rarest-first gives a swarm of fresh
	// leechers.
	Spread
)

// ParseOrder parses "random", "sequential" or "spread" (alias "rarest").
func ParseOrder(s string) (Order, error) {
	switch strings.ToLower(s) {
	case "random", "":
		return Random, nil
	case "sequential", "seq":
		return Sequential, nil
	case "spread", "rarest":
		return Spread, nil
	}
	return 0, fmt.Errorf("loadgen: unknown order %q (random, sequential, spread)", s)
}

func (o Order) String() string {
	switch o {
	case Sequential:
		return "sequential"
	case Spread:
		return "spread"
	}
	return "random"
}

// Config describes a load.
type Config struct {
	// Addr is the seeder, "127.0.0.1:PORT".
	Addr string
	// Torrents are served in turn: connection i is for Torrents[i%len].
	Torrents []Torrent
	// Conns is the number of connections (default 1).
	Conns int
	// Pipeline is the number of requests kept outstanding per connection
	// (default 128).
	Pipeline int
	// BlockSize is the request length (default 16 KiB).
	BlockSize int
	Order     Order
	// Verify checks every completely received piece against its hash.
	Verify bool
	// Encrypt makes every connection start with an MSE handshake offering
	// RC4 only, so the whole stream is RC4 (the seeder must accept MSE).
	Encrypt bool
	// BlocksPerConn, if positive, makes a connection stop requesting after
	// that many blocks and stay connected, idle.
	BlocksPerConn int64
	// Duration is the measurement window, counted from Ready. Zero runs
	// until ctx ends.
	Duration time.Duration
	// ReadBuffer is the per-connection receive buffer (default 256 KiB;
	// grown if a frame needs more).
	ReadBuffer int
	// DialConcurrency bounds connects in progress (default 64).
	DialConcurrency int
	// DialTimeout bounds one connect plus handshake (default 10 s).
	DialTimeout time.Duration
	// Transport selects gnet's event loops or goroutine-per-connection
	// I/O; the zero value, Auto, picks by Conns (AutoGnetConns).
	Transport Transport
	// Loops is the number of gnet event loops (Transport Gnet; default 1).
	Loops int
	// Ready, if set, is called once every connection has handshaked (and,
	// with BlocksPerConn, received its blocks) or failed, or ReadyTimeout
	// (default 60 s) has passed. The window starts then.
	Ready        func(Snapshot)
	ReadyTimeout time.Duration
	// Progress, if set, is called every ProgressEvery (default 1 s).
	Progress      func(Snapshot)
	ProgressEvery time.Duration
}

func (c *Config) fill() error {
	if len(c.Torrents) == 0 {
		return errors.New("loadgen: no torrents")
	}
	for i := range c.Torrents {
		t := &c.Torrents[i]
		if t.PieceLength <= 0 || t.TotalLength <= 0 {
			return fmt.Errorf("loadgen: torrent %d: bad lengths", i)
		}
		if c.Verify && len(t.Pieces) != t.numPieces() {
			return fmt.Errorf("loadgen: torrent %d: %d piece hashes for %d pieces", i, len(t.Pieces), t.numPieces())
		}
	}
	if c.Conns <= 0 {
		c.Conns = 1
	}
	if c.Pipeline <= 0 {
		c.Pipeline = 128
	}
	if c.BlockSize <= 0 {
		c.BlockSize = wire.BlockSize
	}
	if c.ReadBuffer <= 0 {
		c.ReadBuffer = 256 << 10
	}
	c.ReadBuffer = max(c.ReadBuffer, c.BlockSize+wire.PieceHeaderLen+wire.HandshakeLen)
	if c.DialConcurrency <= 0 {
		c.DialConcurrency = 64
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = time.Minute
	}
	c.Transport = c.Transport.resolve(c.Conns)
	if c.Loops <= 0 {
		c.Loops = 1
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = time.Second
	}
	return nil
}

// Snapshot is a point-in-time view of the counters.
type Snapshot struct {
	Elapsed    time.Duration // since Run started
	Connected  int           // handshakes completed (connections that got that far)
	Failed     int           // connections that ended with an error
	Unchoked   int           // connections currently unchoked by the seeder
	Ready      int           // connections counted ready
	Bytes      int64         // payload bytes received
	Blocks     int64
	Rejects    int64
	Chokes     int64
	HashFails  int64
	Verified   int64 // pieces verified
	FirstError string
}

// Result is the outcome of Run. Throughput figures cover the window (from
// Ready to its end); latency covers every block.
type Result struct {
	Conns     int     `json:"conns"`
	Transport string  `json:"transport"`
	Torrents  int     `json:"torrents"`
	Pipeline  int     `json:"pipeline"`
	Order     string  `json:"order"`
	Verify    bool    `json:"verify"`
	Connected int     `json:"connected"`
	Failed    int     `json:"failed"`
	ReadyAt   float64 `json:"ready_s"`  // seconds from start to Ready
	Seconds   float64 `json:"window_s"` // window length
	Bytes     int64   `json:"bytes"`    // payload bytes in the window
	Blocks    int64   `json:"blocks"`   // blocks in the window
	MBps      float64 `json:"mb_per_s"`
	// Totals over the whole run.
	TotalBytes  int64 `json:"total_bytes"`
	TotalBlocks int64 `json:"total_blocks"`
	Rejects     int64 `json:"rejects"`
	Chokes      int64 `json:"chokes"`
	Unchokes    int64 `json:"unchokes"`
	AllowedFast int64 `json:"allowed_fast"`
	Verified    int64 `json:"pieces_verified"`
	HashFails   int64 `json:"hash_fails"`
	// Served is how many connections received at least one block in the
	// window; ConnMBps are the per-connection rates in the window (min,
	// median, max).
	Served   int        `json:"conns_served"`
	ConnMBps [3]float64 `json:"conn_mb_per_s_min_med_max"`
	// Unchoked is how many connections were unchoked at some point in the
	// window (unchoked at its start, unchoked during it, or served in it).
	// JainAll is Jain's fairness index over every connection's payload
	// bytes in the window, JainUnchoked over those Unchoked connections'
	// (Jain).
	Unchoked     int     `json:"conns_unchoked"`
	JainAll      float64 `json:"jain_all"`
	JainUnchoked float64 `json:"jain_unchoked"`
	// The latency quantiles are of request sent to block received, over
	// the blocks received in the window.
	LatencyP50 float64  `json:"latency_p50_ms"`
	LatencyP90 float64  `json:"latency_p90_ms"`
	LatencyP99 float64  `json:"latency_p99_ms"`
	LatencyMax float64  `json:"latency_max_ms"`
	Errors     []string `json:"errors,omitempty"` // the first few distinct errors
}

// Run connects, loads the seeder and returns the counters. It returns when
// the window ends or ctx does; the error is non-nil only for a bad Config or
// when no connection could be made.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.fill(); err != nil {
		return Result{}, err
	}
	g := &gen{cfg: cfg, start: time.Now(), spread: make([]atomic.Uint64, len(cfg.Torrents))}
	g.winFrom.Store(math.MaxInt64) // no latency is recorded before Ready
	var prefix [12]byte
	_, _ = rand.Read(prefix[:])
	copy(g.peerID[:], "-LG0001-")
	copy(g.peerID[8:], prefix[:])

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var gr *gnetRunner
	if cfg.Transport == Gnet {
		var err error
		if gr, err = startGnet(g, cfg.Loops); err != nil {
			return Result{}, fmt.Errorf("loadgen: gnet: %w", err)
		}
	}
	// finish stops the connections; their loop- or goroutine-owned fields
	// may be read once it returns.
	var wg sync.WaitGroup
	finish := func() {
		cancel()
		wg.Wait() // every dial and handshake is over, so no enroll is in flight
		if gr != nil {
			gr.stop()
		}
	}
	defer finish()
	g.conns = make([]*conn, cfg.Conns)
	perTorrent := make([]int, len(cfg.Torrents))
	for i := range g.conns {
		ti := i % len(cfg.Torrents)
		g.conns[i] = newConn(g, i, ti, perTorrent[ti])
		perTorrent[ti]++
	}
	for _, c := range g.conns {
		c.peersOnTorrent = perTorrent[c.ti]
	}
	sem := make(chan struct{}, cfg.DialConcurrency)
	go func() {
		for _, c := range g.conns {
			select {
			case sem <- struct{}{}:
			case <-runCtx.Done():
				// Never started: counts as ready so Ready fires.
				c.fail(nil)
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if gr != nil {
					c.runGnet(runCtx, sem, gr)
				} else {
					c.run(runCtx, sem)
				}
			}()
		}
	}()

	// Wait for every connection to be ready, with progress.
	tick := time.NewTicker(cfg.ProgressEvery)
	defer tick.Stop()
	var readyAt time.Time
	readyT := time.NewTimer(cfg.ReadyTimeout)
	defer readyT.Stop()
	for readyAt.IsZero() {
		select {
		case <-g.readyC():
		case <-readyT.C:
		case <-tick.C:
			if cfg.Progress != nil {
				cfg.Progress(g.snapshot())
			}
			continue
		case <-runCtx.Done():
		}
		readyAt = time.Now()
	}
	g.winFrom.Store(int64(readyAt.Sub(g.start)))
	snap := g.snapshot()
	base := g.windowStart(snap)
	if snap.Connected == 0 && ctx.Err() == nil {
		finish()
		return g.result(readyAt, readyAt, base), fmt.Errorf("loadgen: no connection to %s succeeded: %s", cfg.Addr, snap.FirstError)
	}
	if cfg.Ready != nil {
		cfg.Ready(snap)
	}
	var windowC <-chan time.Time
	if cfg.Duration > 0 {
		t := time.NewTimer(cfg.Duration)
		defer t.Stop()
		windowC = t.C
	}
wait:
	for {
		select {
		case <-windowC:
			break wait
		case <-runCtx.Done():
			break wait
		case <-tick.C:
			if cfg.Progress != nil {
				cfg.Progress(g.snapshot())
			}
		}
	}
	end := time.Now()
	g.winTo.Store(int64(end.Sub(g.start)))
	res := g.result(readyAt, end, base)
	finish()
	g.fillTotals(&res)
	return res, nil
}

// gen is one Run's shared state.
type gen struct {
	cfg    Config
	start  time.Time
	peerID [20]byte
	conns  []*conn
	spread []atomic.Uint64 // per torrent: next piece for Spread

	stopping atomic.Bool // the gnet transport is closing every connection
	// The window, in nanoseconds since start: blocks received in
	// [winFrom, winTo) have their latency recorded (winTo 0: open).
	winFrom, winTo atomic.Int64

	nReady   atomic.Int64
	readyMu  sync.Mutex
	readyCh  chan struct{}
	errMu    sync.Mutex
	errs     []string
	firstErr string
}

func (g *gen) readyC() <-chan struct{} {
	g.readyMu.Lock()
	defer g.readyMu.Unlock()
	if g.readyCh == nil {
		g.readyCh = make(chan struct{})
		if g.nReady.Load() >= int64(len(g.conns)) {
			close(g.readyCh)
		}
	}
	return g.readyCh
}

// markReady counts one connection ready (exactly once per connection).
func (g *gen) markReady() {
	if g.nReady.Add(1) == int64(len(g.conns)) {
		g.readyMu.Lock()
		if g.readyCh == nil {
			g.readyCh = make(chan struct{})
		}
		close(g.readyCh)
		g.readyMu.Unlock()
	}
}

func (g *gen) noteErr(err error) {
	s := err.Error()
	g.errMu.Lock()
	defer g.errMu.Unlock()
	if g.firstErr == "" {
		g.firstErr = s
	}
	for _, e := range g.errs {
		if e == s {
			return
		}
	}
	if len(g.errs) < 5 {
		g.errs = append(g.errs, s)
	}
}

func (g *gen) snapshot() Snapshot {
	s := Snapshot{Elapsed: time.Since(g.start), Ready: int(g.nReady.Load())}
	for _, c := range g.conns {
		if c.handshaked.Load() {
			s.Connected++
		}
		if c.state.Load() == stateFailed {
			s.Failed++
		}
		if c.unchoked.Load() {
			s.Unchoked++
		}
		s.Bytes += c.bytes.Load()
		s.Blocks += c.blocks.Load()
		s.Rejects += c.rejects.Load()
		s.Chokes += c.chokes.Load()
		s.HashFails += c.hashFails.Load()
		s.Verified += c.verified.Load()
	}
	g.errMu.Lock()
	s.FirstError = g.firstErr
	g.errMu.Unlock()
	return s
}

// inWindow reports whether a block received at now (since start) falls in
// the window. Safe from any goroutine.
func (g *gen) inWindow(now time.Duration) bool {
	to := g.winTo.Load()
	return int64(now) >= g.winFrom.Load() && (to == 0 || int64(now) < to)
}

// winBase is the counters at the window's start.
type winBase struct {
	bytes, blocks int64
	conns         []connBase
}

// connBase is one connection's counters at the window's start.
type connBase struct {
	bytes, unchokes int64
	unchoked        bool
}

// windowStart records the counters the window's figures are relative to.
func (g *gen) windowStart(snap Snapshot) winBase {
	b := winBase{bytes: snap.Bytes, blocks: snap.Blocks, conns: make([]connBase, len(g.conns))}
	for i, c := range g.conns {
		b.conns[i] = connBase{bytes: c.bytes.Load(), unchokes: c.unchokes.Load(), unchoked: c.unchoked.Load()}
	}
	return b
}

func (g *gen) result(from, to time.Time, base winBase) Result {
	snap := g.snapshot()
	r := Result{
		Conns: len(g.conns), Transport: g.cfg.Transport.String(), Torrents: len(g.cfg.Torrents), Pipeline: g.cfg.Pipeline,
		Order: g.cfg.Order.String(), Verify: g.cfg.Verify,
		Connected: snap.Connected, Failed: snap.Failed,
		ReadyAt: from.Sub(g.start).Seconds(), Seconds: to.Sub(from).Seconds(),
		Bytes: snap.Bytes - base.bytes, Blocks: snap.Blocks - base.blocks,
	}
	if r.Seconds > 0 {
		r.MBps = float64(r.Bytes) / 1e6 / r.Seconds
	}
	var rates, all, unchoked []float64
	for i, c := range g.conns {
		cb := &base.conns[i]
		b := c.bytes.Load() - cb.bytes
		if b > 0 {
			r.Served++
		}
		all = append(all, float64(b))
		if cb.unchoked || c.unchokes.Load() != cb.unchokes || b > 0 {
			unchoked = append(unchoked, float64(b))
		}
		if r.Seconds > 0 {
			rates = append(rates, float64(b)/1e6/r.Seconds)
		}
	}
	r.Unchoked = len(unchoked)
	r.JainAll, r.JainUnchoked = Jain(all), Jain(unchoked)
	if len(rates) > 0 {
		sort.Float64s(rates)
		r.ConnMBps = [3]float64{rates[0], rates[len(rates)/2], rates[len(rates)-1]}
	}
	return r
}

// fillTotals adds what is only safe to read once the connections stopped.
func (g *gen) fillTotals(r *Result) {
	var h histogram
	snap := g.snapshot()
	r.TotalBytes, r.TotalBlocks = snap.Bytes, snap.Blocks
	r.Rejects, r.Chokes, r.Verified, r.HashFails = snap.Rejects, snap.Chokes, snap.Verified, snap.HashFails
	r.Failed = snap.Failed
	for _, c := range g.conns {
		h.merge(&c.lat)
		r.Unchokes += c.unchokes.Load()
		r.AllowedFast += c.allowedFast
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	r.LatencyP50, r.LatencyP90, r.LatencyP99 = ms(h.quantile(0.5)), ms(h.quantile(0.9)), ms(h.quantile(0.99))
	r.LatencyMax = ms(time.Duration(h.max))
	g.errMu.Lock()
	r.Errors = append([]string(nil), g.errs...)
	g.errMu.Unlock()
}

// dial connects one connection; split out so tests can see the address.
func (g *gen) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: g.cfg.DialTimeout}
	return d.DialContext(ctx, "tcp", g.cfg.Addr)
}

// Jain returns Jain's fairness index of xs, (sum x)^2 / (n * sum x^2): 1
// when every x is equal, 1/n when one x has everything. It is 0 for no xs
// or when every x is 0 (nothing to share out). Safe from any goroutine.
func Jain(xs []float64) float64 {
	var sum, sq float64
	for _, x := range xs {
		sum += x
		sq += x * x
	}
	if len(xs) == 0 || sq == 0 {
		return 0
	}
	return sum * sum / (float64(len(xs)) * sq)
}
