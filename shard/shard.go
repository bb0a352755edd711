package shard

import (
	"io"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/ipfilter"
	"github.com/shardtorrent/shardtorrent/loop"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/storage"
)

// AlertSink receives the alerts a shard posts. It is shared by every shard
// and must be safe for concurrent use.
type AlertSink interface {
	Post(a plugin.Alert)
	// Wants reports whether alerts of category c are queued at all, so the
	// shard can skip building alerts nobody reads.
	Wants(c plugin.Category) bool
}

// Config wires a shard to its loop and to the session's shared services.
type Config struct {
	ID       int
	Loop     *loop.Loop
	Disk     *storage.Disk
	Pool     *bufpool.Pool
	Alerts   AlertSink
	PeerID   [20]byte
	Settings Settings
	// Conns counts peer connections across the whole session (shared by
	// every shard) to enforce Settings.MaxConns.
	Conns *atomic.Int64
	// Seed seeds the shard's random source (piece picking tie-breaks,
	// optimistic unchoke); tests pass a fixed one.
	Seed uint64
	// Clock, if set, replaces the loop's clock (tests pass a fake one).
	Clock func() time.Time
	// Ext holds the session plugins (shared by every shard); nil means none.
	Ext *Extensions
	// Rand supplies MSE keys and padding; nil means crypto/rand. Shared by
	// the session's shards: safe for concurrent use.
	Rand io.Reader
	// Events receives the torrents' lifecycle events (events.go) on this
	// shard's loop; nil means none. Shared by the session's shards.
	Events Events
	// Dials bounds outgoing connection attempts per second across the
	// shards sharing it (Settings.ConnectionSpeed); nil gives the shard a
	// budget of its own.
	Dials *DialBudget
	// Resume receives the resume data the shard saves on its own (see
	// ResumeSink); nil saves nothing and costs nothing.
	Resume ResumeSink
	// IPFilter is the session's IP filter, shared by every shard and
	// swapped at run time (Session.SetIPFilter); nil, or a nil filter in
	// it, blocks nothing (ipfilter.go).
	IPFilter *atomic.Pointer[ipfilter.Filter]
	// ResumeSaveInterval is how often torrents that changed are saved to
	// Resume; 0 means ResumeSaveInterval (5 minutes).
	ResumeSaveInterval time.Duration
	// Rates holds the session-wide rate limits (ratelimit.go), shared by
	// the session's shards; nil means unlimited, owned by this shard.
	Rates *RateLimits
	// NewHandshaker starts outgoing MSE handshakes (encryption.go); the
	// root package passes ext/mse's. Nil means no MSE: outgoing
	// connections are plaintext, and fail under EncForced.
	NewHandshaker HandshakerFactory
}

// tickInterval is the shard's housekeeping period: rates, timeouts, the
// choker and connection attempts run from it.
const tickInterval = time.Second

// Shard is one event loop's set of torrents.
type Shard struct {
	id       int
	loop     *loop.Loop
	disk     *storage.Disk
	pool     *bufpool.Pool
	alerts   AlertSink
	peerID   [20]byte
	set      Settings
	conns    *atomic.Int64
	rng      *rand.Rand
	torrents map[[20]byte]*Torrent // by wire info-hash; owned by the loop
	ticks    int
	// ownRatios counts torrents with their own share-ratio limit
	// (seedlimit.go): the seed-limit check runs while it is not zero.
	ownRatios int
	closed    bool
	tick      *loop.Timer
	now       func() time.Time
	ext       *Extensions
	connSeq   uint64 // numbers connections (peer.id)
	rand      io.Reader
	events    Events
	dials     *DialBudget
	// resume is Config.Resume; nextSave is when saveChanged next runs.
	resume    ResumeSink
	saveEvery time.Duration
	nextSave  time.Time
	syncBytes int64 // syncBatchBytes; tests lower it (durable.go)
	// dial starts an outgoing connection for p (dialLoop; tests replace
	// it so nothing leaves the process).
	dial func(p *peer) error
	// met are the shard's engine counters (counters.go). Loop only.
	met Metrics
	// costs counts the torrent and peer plugins' hook calls (plugincost.go);
	// agg is what the loop publishes for Totals (aggregate.go).
	costs costTable
	agg   aggregate
	// ipf is Config.IPFilter; blockAlerts rate-limits the loop's
	// PeerBlockedAlerts (ipfilter.go).
	ipf         *atomic.Pointer[ipfilter.Filter]
	blockAlerts plugin.BlockAlertBudget
	// rl is the shard's side of the rate limits (ratelimit.go).
	rl shardRate
	// newHandshaker is Config.NewHandshaker (encryption.go).
	newHandshaker HandshakerFactory

	// ownIdles counts torrents with their own idle limit (seedlimit.go):
	// the seed-limit check runs while it is not zero.
	ownIdles int
}

// New creates a shard. Its loop must be running (or about to run); New
// schedules the shard's tick on it.
func New(cfg Config) *Shard {
	cfg.Settings.FillDefaults()
	if cfg.Pool == nil {
		cfg.Pool = bufpool.Default
	}
	if cfg.Conns == nil {
		cfg.Conns = new(atomic.Int64)
	}
	s := &Shard{
		id:       cfg.ID,
		loop:     cfg.Loop,
		disk:     cfg.Disk,
		pool:     cfg.Pool,
		alerts:   cfg.Alerts,
		peerID:   cfg.PeerID,
		set:      cfg.Settings,
		conns:    cfg.Conns,
		rng:      rand.New(rand.NewPCG(cfg.Seed, uint64(cfg.ID)+0x9e3779b97f4a7c15)),
		torrents: make(map[[20]byte]*Torrent),
		now:      cfg.Clock,
		ext:      cfg.Ext,
		rand:     cfg.Rand,
		events:   cfg.Events,
		dials:    cfg.Dials,
		resume:   cfg.Resume,
		ipf:      cfg.IPFilter,

		syncBytes:     syncBatchBytes,
		newHandshaker: cfg.NewHandshaker,
	}
	if s.saveEvery = cfg.ResumeSaveInterval; s.saveEvery <= 0 {
		s.saveEvery = ResumeSaveInterval
	}
	if s.dials == nil {
		s.dials = NewDialBudget(cfg.Settings.ConnectionSpeed)
	}
	s.dial = s.dialLoop
	s.initRate(cfg.Rates)
	if s.now == nil {
		s.now = s.loop.Now
	}
	s.loop.Post(func(any) { s.tick = s.loop.AfterFunc(tickInterval, shardTick, s) }, nil)
	return s
}

// ID is the shard's index.
func (s *Shard) ID() int { return s.id }

// Loop returns the shard's event loop. Safe from any goroutine.
func (s *Shard) Loop() *loop.Loop { return s.loop }

// Settings returns the shard's settings. Loop only.
func (s *Shard) Settings() Settings { return s.set }

// Torrent returns the torrent with wire info-hash ih, or nil. Loop only.
func (s *Shard) Torrent(ih [20]byte) *Torrent { return s.torrents[ih] }

// Torrents returns every torrent of the shard. Loop only.
func (s *Shard) Torrents() []*Torrent {
	out := make([]*Torrent, 0, len(s.torrents))
	for _, t := range s.torrents {
		out = append(out, t)
	}
	return out
}

func (s *Shard) post(a plugin.Alert) {
	if s.alerts != nil {
		s.alerts.Post(a)
	}
}

func (s *Shard) wants(c plugin.Category) bool {
	return s.alerts != nil && s.alerts.Wants(c)
}

func shardTick(arg any) {
	s := arg.(*Shard)
	if s.closed {
		return
	}
	s.onTick()
	s.tick.Reset(tickInterval)
}

// onTick runs the once-a-second housekeeping of every torrent.
func (s *Shard) onTick() {
	s.ticks++
	if s.id == 0 {
		// Session plugins tick once a second, on shard 0's loop.
		s.ext.DispatchTick()
	}
	now := s.now()
	// Only the torrents that tick are folded into the published
	// aggregate (aggregate.go): the others have no peers and no rates.
	g := &s.agg
	g.begin()
	seedLimits := s.seedLimitsSet() // seedlimit.go
	for _, t := range s.torrents {
		if seedLimits {
			t.checkSeedLimits(now) // seedlimit.go
			if t.removed {
				continue // removed by a limit
			}
		}
		if t.wantTick(now) {
			t.onTick(now)
			g.fold(t)
		}
	}
	g.publish()
	if s.resume != nil {
		if s.nextSave.IsZero() {
			s.nextSave = now.Add(s.saveEvery)
		}
		s.saveChanged(now)
	}
}

// Close disconnects every peer and closes every torrent's storage. Loop only.
func (s *Shard) Close() {
	if s.closed {
		return
	}
	s.closed = true
	if s.tick != nil {
		s.tick.Stop()
	}
	for _, t := range s.torrents {
		t.shutdown(ReasonShutdown)
	}
}

// AdoptIncoming takes an incoming connection whose handshake prefix was read
// on another loop (or this one) and attaches it to the torrent with wire
// info-hash ih. pending holds every byte read so far, starting with the
// peer's handshake. Loop only.
func (s *Shard) AdoptIncoming(fd int, pending []byte, ih [20]byte, remote netip.AddrPort) error {
	return s.adoptIncoming(fd, pending, ih, remote, nil)
}

// adoptIncoming is AdoptIncoming with the MSE state of an encrypted
// connection (nil for plaintext).
func (s *Shard) adoptIncoming(fd int, pending []byte, ih [20]byte, remote netip.AddrPort, enc *peerMSE) error {
	t := s.torrents[ih]
	if t == nil || t.removed {
		closeFd(fd)
		s.count(MetricRefusedUnknownTorrent, 1)
		return ErrUnknownTorrent
	}
	if t.isBanned(remote.Addr()) {
		closeFd(fd)
		s.count(MetricRefusedBanned, 1)
		return plugin.ErrPeerBanned
	}
	if !t.acceptsConnection() || !s.reserveConn() {
		closeFd(fd)
		s.count(MetricRefusedConnLimit, 1)
		return ErrConnLimit
	}
	p := t.newPeer(remote, false)
	p.mse = enc
	c, err := s.loop.Adopt(fd, pending, p)
	if err != nil {
		s.conns.Add(-1)
		t.forgetPeer(p)
		closeFd(fd)
		return err
	}
	if !p.closed && p.c == nil {
		p.c = c
	}
	s.count(MetricConnectionsIncoming, 1)
	return nil
}

// reserveConn counts one more connection against the session limit.
func (s *Shard) reserveConn() bool {
	if s.conns.Add(1) > int64(s.set.MaxConns) {
		s.conns.Add(-1)
		return false
	}
	return true
}
