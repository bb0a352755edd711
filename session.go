package shardtorrent

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/dht"
	"github.com/shardtorrent/shardtorrent/ipfilter"
	"github.com/shardtorrent/shardtorrent/loop"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/settings"
	"github.com/shardtorrent/shardtorrent/shard"
	"github.com/shardtorrent/shardtorrent/storage"
	"github.com/shardtorrent/shardtorrent/tracker"
)

// Settings configure a Session. The zero value is usable: every zero field
// takes its default.
type Settings struct {
	// ListenAddr is where the session accepts peers ("host:port"). Empty
	// means "0.0.0.0:6881"; "off" disables listening.
	ListenAddr string
	// Shards is the number of event loops; 0 means one per CPU.
	Shards int
	// DiskWorkers is the number of disk and hashing workers; 0 means one per CPU.
	DiskWorkers int
	// AlertQueueSize bounds the alert queue (libtorrent's alert_queue_size); 0 means 2000.
	AlertQueueSize int
	// AlertMask selects the alert categories that are queued; 0 means plugin.CategoryDefault.
	AlertMask plugin.Category
	// PeerIDPrefix starts our peer id (Azureus style); the rest is random.
	PeerIDPrefix string
	// Engine holds the per-torrent and per-peer tunables (package
	// settings; EngineSettings).
	Engine EngineSettings
	// Pool supplies buffers; nil means bufpool.Default.
	Pool *bufpool.Pool
	// Logger receives the session's log; nil means slog.Default().
	Logger *slog.Logger
	// Extensions are session plugins registered at construction, in order:
	// each gets LoadState(ExtensionState) (if it implements it), is
	// registered (its Features read once), then gets Added.
	Extensions []plugin.Plugin
	// ExtensionState is the map SaveState returned earlier, shared by every
	// plugin in Extensions.
	ExtensionState map[string]string
	// SmartBan runs the smart_ban extension (ext/smartban) on every
	// torrent, after the plugins in Extensions: peers that sent corrupt
	// blocks of a piece that failed its hash check are banned. Off by
	// default, as in libtorrent; see builtins_smartban.go.
	SmartBan bool

	// DisableUTMetadata turns off the built-in ut_metadata extension
	// (BEP 9, ext/utmetadata), registered before Extensions otherwise.
	// Without it, torrents added from a magnet URI never get metadata
	// unless another plugin supplies it.
	DisableUTMetadata bool

	// Rand supplies MSE private keys and padding; nil means crypto/rand.
	// Every loop reads it, so it must be safe for concurrent use; tests pass
	// a fixed stream with one loop. The encryption policies are in Engine.
	Rand io.Reader
	// MSEWorkers moves the two 768-bit modular exponentiations of each
	// incoming MSE handshake off the accepting loop onto this many worker
	// goroutines (at most 256 jobs wait; past that the loop computes the
	// job itself, so a storm cannot grow the backlog). 0, the default,
	// computes them on the accepting loop: on a 2-vCPU machine the workers
	// halved the accepting loop's time per handshake but took the CPU from
	// the loops serving peers (PERF.md, "Connection storms"). Give it cores
	// the serving loops do not use. Read once, at NewSession.
	MSEWorkers int

	// Built-in extensions (builtins.go), registered before Extensions
	// unless disabled.

	// DisablePEX turns off peer exchange (ext/utpex, BEP 11).
	DisablePEX bool
	// DisableDontHave turns off lt_donthave (ext/donthave, BEP 54).
	DisableDontHave bool
	// DisableUploadOnly turns off the upload_only extension
	// (ext/uploadonly): we neither advertise nor honour it.
	DisableUploadOnly bool

	// Trackers are announced to by every torrent that is not private, on
	// top of its own tiers (tracker.go).
	Trackers []string
	// Tracker tunes the tracker client (tracker.go).
	Tracker TrackerSettings
	// The DHT (dht.go, package dht): on unless DisableDHT, on a UDP
	// socket on the listen address and port. DHTBootstrap replaces the
	// default router nodes (nil: dht.DefaultBootstrap, never used on a
	// loopback listen address); DHT holds the tunables. Its routing table
	// and node id are in SaveState under "dht." keys and are read back
	// from ExtensionState.
	DisableDHT   bool
	DHTBootstrap []string
	DHT          dht.Settings

	// ResumeDir, if set, is where the session keeps every torrent's
	// resume data (package resume's Store, one .fastresume file per
	// torrent): saved every ResumeSaveInterval (default 5 minutes) for
	// torrents that changed, on completion, on pause and at Close, and
	// deleted on Remove. Empty saves nothing and costs nothing.
	ResumeDir          string
	ResumeSaveInterval time.Duration

	// The queue (queue.go), as libtorrent's active_downloads,
	// active_seeds and active_limit: at most ActiveDownloads auto-managed
	// torrents that are not seeds and ActiveSeeds seeds run, and at most
	// ActiveLimit of both; the others are paused in queue order. Unset
	// means DefaultActiveDownloads and so on, all Unlimited (a seeding
	// node runs every torrent); a value of 0 is real (none of that kind
	// runs). Slow torrents use no slot unless CountSlowTorrents
	// (libtorrent's dont_count_slow_torrents, on by default, is its
	// negation); Engine.AutoManageInactiveTime says what is slow.
	ActiveDownloads, ActiveSeeds, ActiveLimit Limit
	CountSlowTorrents                         bool
	// AutoManageInterval is how often the queue is recalculated besides
	// after adds, removes, moves and manual pauses (libtorrent's
	// auto_manage_interval); 0 means DefaultAutoManageInterval, 30 s.
	AutoManageInterval time.Duration

	// IPFilter is the session-wide IP filter (package ipfilter,
	// libtorrent's ip_filter); nil blocks nothing. Addresses it blocks are
	// refused at accept, before any handshake byte is read, and never
	// dialled (ipfilter.go). It can change at run time:
	// Session.SetIPFilter. The session keeps the pointer: do not modify the
	// filter afterwards.
	IPFilter *ipfilter.Filter
	// Rate limits (ratelimit.go), in bytes/s: unset means the default,
	// unlimited; LimitTo(0) stops that direction. They apply to the
	// whole session; Torrent.SetUploadLimit adds a torrent's own.
	// Local-network peers (loopback, RFC 1918, link-local, ULA) are
	// exempt unless LimitLocal, as libtorrent's
	// ignore_limits_on_local_network. RateLimitOverhead counts piece
	// framing and an estimate of TCP/IP headers against the limits; off,
	// the default, they count payload only, so a limit is the payload
	// rate a peer sees. (libtorrent differs: its rate_limit_ip_overhead
	// is on by default and its limiters meter every protocol byte.)
	UploadRateLimit   Limit
	DownloadRateLimit Limit
	LimitLocal        bool
	RateLimitOverhead bool
}

// EngineSettings are the per-torrent and per-peer tunables every shard
// reads (settings.Engine): connection caps, unchoke slots and the seeding
// choker, seed limits, timeouts, request queues, the peer list's policy
// and the encryption policies. Settings.Engine holds them; a zero field
// takes settings.DefaultEngine's value.
type EngineSettings = settings.Engine

// Session is a BitTorrent client: a set of shards, each an event loop that
// owns some torrents, plus shared disk workers and an alert queue.
//
// Every method is safe from any goroutine.
type Session struct {
	set    Settings
	log    *slog.Logger
	pool   *bufpool.Pool
	disk   *storage.Disk
	loops  []*loop.Loop
	shards []*shard.Shard
	alerts *alertQueue
	ext    *shard.Extensions
	peerID [20]byte
	conns  atomic.Int64

	// registry routes a wire info-hash, or its MSE lookup key, to the
	// shard that owns the torrent (registry.go).
	registry *infoHashes
	// handles holds the one handle of each torrent (torrents.go).
	handles torrentTable

	ln         *loop.Listener
	listenAddr netip.AddrPort

	// announcers get every torrent's lifecycle events (discovery.go); set
	// before the shards exist and never changed after.
	announcers []shard.Events
	// trackers is the tracker client (tracker.go); nil if disabled.
	trackers *tracker.Manager
	dht      *dht.Node // nil without a DHT (dht.go)

	// saver writes resume data to Settings.ResumeDir (resume.go); nil
	// without one.
	saver *resumeSaver
	// closed is set when Close starts: every method returns ErrClosed
	// from then on. stopped is closed once the loops are stopped, which
	// releases calls that were waiting on one.
	closed  atomic.Bool
	stopped chan struct{}
	q       *queue // the queue order and its recalculation (queue.go)
	// queueRunning is set once the queue's goroutine is started.
	queueRunning atomic.Bool
	// live is the settings in effect, replaced by ApplySettings under
	// applyMu (settings.go); set keeps what NewSession was given, filled.
	live    atomic.Pointer[Settings]
	applyMu sync.Mutex
	// dials is the session-wide connection_speed budget every shard draws
	// on (Engine.ConnectionSpeed).
	dials *shard.DialBudget

	// started is when NewSession began (SessionStats.Uptime).
	started time.Time

	closeOnce sync.Once
	runWG     sync.WaitGroup

	// incoming counts what the accepting loop refused (stats.go).
	incoming incomingCounters
	// dh computes incoming MSE handshakes' DH work off the loops (dhpool.go).
	dh *dhPool
	// ipf is the current IP filter, read by the listening loop at accept
	// and by every shard at offer and dial (ipfilter.go).
	ipf atomic.Pointer[ipfilter.Filter]
	// acceptBlockAlerts rate-limits the listening loop's
	// PeerBlockedAlerts. Owned by the listening loop.
	acceptBlockAlerts plugin.BlockAlertBudget

	// rates are the session-wide rate limits the shards share (ratelimit.go).
	rates *shard.RateLimits
}

// NewSession starts the loops and, unless disabled, the listener. ctx
// bounds the start-up: if it ends first, whatever started is stopped and
// ctx's error returned. Safe from any goroutine.
func NewSession(ctx context.Context, set Settings) (*Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	set.fill() // settings.go: DefaultSettings is the one place of the defaults
	if err := set.validate(); err != nil {
		return nil, err
	}
	s := &Session{
		set:      set,
		log:      set.Logger,
		pool:     set.Pool,
		alerts:   newAlertQueue(set.AlertQueueSize, set.AlertMask),
		registry: newInfoHashes(),
		stopped:  make(chan struct{}),
		started:  time.Now(),
		q:        newQueue(set.Shards),
		dh:       newDHPool(set.MSEWorkers, dhQueueCap),
	}
	s.registry.q = s.q // the queue follows the registry (registry.go)
	s.ipf.Store(set.IPFilter)
	// The accepting loop reads the live settings from its first
	// connection on, which may come before NewSession returns: store them
	// before listening (and again once the listen port is known).
	early := set
	s.live.Store(&early)
	if set.ResumeDir != "" {
		saver, err := newResumeSaver(set.ResumeDir, set.Logger)
		if err != nil {
			return nil, fmt.Errorf("shardtorrent: resume directory: %w", err)
		}
		s.saver = saver
	}
	s.ext = shard.NewExtensions(s.alerts.Post)
	s.alerts.ext = s.ext
	s.alerts.ref = s.torrentRef // torrents.go
	s.peerID = makePeerID(set.PeerIDPrefix)
	s.disk = storage.NewDisk(set.DiskWorkers, s.pool)
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	for i := 0; i < set.Shards; i++ {
		l, err := loop.New(loop.Config{ID: i, Pool: s.pool})
		if err != nil {
			s.shutdown()
			return nil, fmt.Errorf("shardtorrent: event loop %d: %w", i, err)
		}
		s.loops = append(s.loops, l)
		s.runWG.Add(1)
		go func() {
			defer s.runWG.Done()
			if err := l.Run(); err != nil {
				s.log.Error("event loop stopped", "loop", l.ID(), "err", err)
			}
		}()
	}
	if set.ListenAddr != "off" {
		addr := set.ListenAddr
		ln, err := s.loops[0].Listen("tcp", addr, s.accept)
		if err != nil {
			s.alerts.Post(&plugin.ListenFailedAlert{Addr: addr, Err: err})
			s.shutdown()
			return nil, fmt.Errorf("shardtorrent: listen on %s: %w", addr, err)
		}
		s.ln = ln
		if ta, ok := ln.Addr().(*net.TCPAddr); ok {
			s.listenAddr = ta.AddrPort()
		}
		s.alerts.Post(&plugin.ListenSucceededAlert{Addr: s.listenAddr})
		if set.Engine.ListenPort == 0 {
			set.Engine.ListenPort = int(s.listenAddr.Port())
			s.set.Engine.ListenPort = set.Engine.ListenPort
		}
	}
	live := set
	s.live.Store(&live)
	s.startTrackers()
	s.dials = shard.NewDialBudget(set.Engine.ConnectionSpeed) // one per session: connection_speed is session-wide
	s.initRateLimits(&set)
	s.startDHT()
	var sink shard.ResumeSink
	if s.saver != nil {
		sink = s.saver
	}
	for i, l := range s.loops {
		s.shards = append(s.shards, shard.New(shard.Config{
			ID:       i,
			Loop:     l,
			Disk:     s.disk,
			Pool:     s.pool,
			Alerts:   s.alerts,
			PeerID:   s.peerID,
			Settings: set.Engine,
			Conns:    &s.conns,
			Seed:     binary.LittleEndian.Uint64(seed[:]),
			Ext:      s.ext,
			Rand:     set.Rand,
			Events:   sessionEvents{s},
			Dials:    s.dials,
			Resume:   sink,
			IPFilter: &s.ipf,
			Rates:    s.rates,

			ResumeSaveInterval: set.ResumeSaveInterval,
			NewHandshaker:      newMSEHandshaker,
		}))
	}
	s.addBuiltins()
	for _, p := range set.Extensions {
		if l, ok := p.(plugin.StateLoader); ok {
			callPlugin(s, p, "LoadState", func() { l.LoadState(set.ExtensionState) })
		}
		s.AddExtension(p)
	}
	registerSmartBan(s)
	if err := ctx.Err(); err != nil {
		_ = s.Close(context.Background())
		return nil, err
	}
	if queueLimited(&s.set) {
		s.startQueue() // queue.go
	}
	return s, nil
}

// AddExtension registers a session plugin: its Features are read once, it
// is offered every torrent added from now on (TorrentCreator), and Added is
// called. Plugins added here never get LoadState. After Close it does
// nothing. Safe from any goroutine.
func (s *Session) AddExtension(p plugin.Plugin) {
	if s.closed.Load() {
		return
	}
	s.ext.Add(p)
	if a, ok := p.(plugin.AddedHook); ok {
		callPlugin(s, p, "Added", func() { a.Added(sessionHandle{s}) })
	}
}

// SaveState merges every session plugin's SaveState (later plugins win on
// equal keys), for Settings.ExtensionState. Safe from any goroutine.
func (s *Session) SaveState() map[string]string {
	out := map[string]string{}
	s.saveDHTState(out)
	s.ext.Call("SaveState", func(p plugin.Plugin) {
		if sv, ok := p.(plugin.StateSaver); ok {
			for k, v := range sv.SaveState() {
				out[k] = v
			}
		}
	})
	return out
}

// callPlugin runs fn for plugin p, counted in the session plugins' cost
// table (shard/plugincost.go); a panic is reported with a
// PluginDisabledAlert (the plugin is not registered yet, or is disabled).
func callPlugin(s *Session, p plugin.Plugin, hook string, fn func()) {
	defer func() {
		if v := recover(); v != nil {
			s.alerts.Post(&plugin.PluginDisabledAlert{Plugin: fmt.Sprintf("%T", p), Hook: hook, Panic: v})
		}
	}()
	s.ext.Run(p, hook, fn)
}

// sessionHandle implements plugin.SessionHandle; safe from any goroutine.
type sessionHandle struct{ s *Session }

func (h sessionHandle) PostAlert(a plugin.Alert)   { h.s.alerts.Post(a) }
func (h sessionHandle) PeerID() [20]byte           { return h.s.peerID }
func (h sessionHandle) ListenAddr() netip.AddrPort { return h.s.listenAddr }
func (h sessionHandle) NumShards() int             { return len(h.s.shards) }

// PostAlert queues a (custom) alert, as plugins do. Safe from any goroutine.
func (s *Session) PostAlert(a plugin.Alert) { s.alerts.Post(a) }

func makePeerID(prefix string) [20]byte {
	var id [20]byte
	n := copy(id[:], prefix)
	const alnum = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	var r [20]byte
	_, _ = rand.Read(r[:])
	for i := n; i < 20; i++ {
		id[i] = alnum[int(r[i])%len(alnum)]
	}
	return id
}

// PeerID returns the session's peer id.
func (s *Session) PeerID() [20]byte { return s.peerID }

// ListenAddr returns the address the session listens on (invalid if none).
func (s *Session) ListenAddr() netip.AddrPort { return s.listenAddr }

// NumShards returns the number of event loops.
func (s *Session) NumShards() int { return len(s.shards) }

// shardFor picks the shard that owns a torrent: an xxhash of its wire
// info-hash, so the choice is stable and spreads torrents evenly.
func (s *Session) shardFor(ih [20]byte) *shard.Shard {
	return s.shards[xxhash.Sum64(ih[:])%uint64(len(s.shards))]
}

// AddTorrentParams describe a torrent to add (plugin.AddTorrentParams:
// one type for AddTorrent, AddTorrents and a session plugin's
// UnknownTorrentHook, which adopts a torrent with the same fields).
type AddTorrentParams = plugin.AddTorrentParams

// Errors of the session API.
var (
	ErrClosed      = errors.New("shardtorrent: session closed")
	ErrNoMetadata  = errors.New("shardtorrent: add parameters carry no metadata or info-hash (TorrentFile, MetaInfo, Info or InfoHash)")
	ErrTorrentGone = errors.New("shardtorrent: torrent was removed")
	// ErrDuplicateTorrent: the torrent is in the session already.
	// AddTorrent returns it with the existing torrent's handle.
	ErrDuplicateTorrent = errors.New("shardtorrent: torrent already in the session")
	ErrNeedSavePath     = errors.New("shardtorrent: SavePath is required")
)

// AddTorrent adds a torrent and starts checking (or, in seed mode, seeding)
// it. The returned handle stays valid until the torrent is removed. If the
// torrent is in the session already, AddTorrent returns its handle and
// ErrDuplicateTorrent (as libtorrent's add_torrent with
// duplicate_is_error). Safe from any goroutine.
func (s *Session) AddTorrent(ctx context.Context, p AddTorrentParams) (*Torrent, error) {
	hs, errs := s.AddTorrents(ctx, []AddTorrentParams{p})
	return hs[0], errs[0]
}

// AddTorrents adds every torrent of ps with one round trip to each shard's
// loop rather than one per torrent, and reads .torrent files (TorrentFile)
// in parallel: a node restarting with 10,000 torrents waits for two loops,
// not 10,000 wake-ups. The results are in the order of ps: a handle, or the
// error AddTorrent would have returned (ErrDuplicateTorrent, with the
// existing handle, also for a repeat within ps). If ctx ends before a shard ran its batch, that batch's
// torrents are not added and get ctx's error; a batch already running is
// waited for. Safe from any goroutine.
func (s *Session) AddTorrents(ctx context.Context, ps []AddTorrentParams) ([]*Torrent, []error) {
	hs, errs := make([]*Torrent, len(ps)), make([]error, len(ps))
	if s.closed.Load() {
		for i := range errs {
			errs[i] = ErrClosed
		}
		return hs, errs
	}
	aps := make([]shard.AddParams, len(ps))
	resolveParallel(ps, aps, errs)

	type item struct {
		i int
		t *Torrent
	}
	batches := make(map[*shard.Shard][]item)
	for i := range ps {
		if errs[i] != nil {
			continue
		}
		key := aps[i].InfoHash.Short()
		sh := s.shardFor(key)
		t := s.newTorrent(sh, key, &aps[i])
		if cur, added := s.handles.add(t); !added {
			hs[i], errs[i] = cur, ErrDuplicateTorrent
			continue
		}
		s.registerTorrent(t)
		batches[sh] = append(batches[sh], item{i, t})
	}

	var wg sync.WaitGroup
	for sh, items := range batches {
		wg.Go(func() {
			added := make([]error, len(items))
			callErr := s.onLoop(ctx, sh, func() {
				for j, it := range items {
					_, added[j] = sh.AddTorrent(aps[it.i])
				}
			})
			for j, it := range items {
				err := callErr
				if err == nil {
					err = added[j]
				}
				if err != nil {
					errs[it.i] = err
					s.forgetTorrent(it.t)
					continue
				}
				hs[it.i] = it.t
			}
		})
	}
	wg.Wait()
	return hs, errs
}

// resolveParallel runs shardParams for every params, reading .torrent
// files on up to GOMAXPROCS goroutines when there are many.
func resolveParallel(ps []AddTorrentParams, aps []shard.AddParams, errs []error) {
	workers := min(runtime.GOMAXPROCS(0), len(ps)/64+1)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ps) {
					return
				}
				aps[i], errs[i] = shardParams(&ps[i])
			}
		})
	}
	wg.Wait()
}

// onLoop runs fn on sh's loop and waits for it, or for ctx; after Close it
// returns ErrClosed at once. fn never runs once onLoop has returned an
// error: either the cancellation wins and fn is skipped, or fn has started
// and is waited for, so fn may write the caller's variables.
func (s *Session) onLoop(ctx context.Context, sh *shard.Shard, fn func()) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return s.runOnLoop(ctx, sh, fn)
}

// runOnLoop is onLoop without the closed check, for Close itself. A loop
// that stops before running fn gives ErrClosed.
func (s *Session) runOnLoop(ctx context.Context, sh *shard.Shard, fn func()) error {
	const (
		pending = iota
		running
		cancelled
	)
	var state atomic.Int32
	done := make(chan struct{})
	if !sh.Loop().TryPost(func(any) {
		defer close(done)
		if state.CompareAndSwap(pending, running) {
			fn()
		}
	}, nil) {
		return ErrClosed
	}
	var err error
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-s.stopped:
		err = ErrClosed
	}
	if state.CompareAndSwap(pending, cancelled) {
		return err
	}
	select { // fn is running: wait for it, unless the loop is gone
	case <-done:
	case <-s.stopped:
	}
	return nil
}

// shardParams resolves the metadata and checks the parameters.
func shardParams(p *AddTorrentParams) (shard.AddParams, error) {
	info, ih := p.Info, p.InfoHash
	var infoBytes []byte
	var about shard.About
	trackers := p.Trackers
	switch {
	case p.MetaInfo != nil:
		info, ih, infoBytes = &p.MetaInfo.Info, p.MetaInfo.InfoHash, p.MetaInfo.InfoBytes
		if trackers == nil {
			trackers = p.MetaInfo.Trackers()
		}
		about = aboutOf(p.MetaInfo)
	case p.TorrentFile != "":
		mi, err := metainfo.Load(p.TorrentFile)
		if err != nil {
			return shard.AddParams{}, err
		}
		info, ih, infoBytes = &mi.Info, mi.InfoHash, mi.InfoBytes
		if trackers == nil {
			trackers = mi.Trackers()
		}
		about = aboutOf(mi)
	case info == nil && ih.IsZero():
		return shard.AddParams{}, ErrNoMetadata
	}
	if p.SavePath == "" {
		return shard.AddParams{}, ErrNeedSavePath
	}
	return shard.AddParams{
		Info: info, InfoBytes: infoBytes, Name: p.Name, InfoHash: ih, SavePath: p.SavePath, SeedMode: p.SeedMode,
		Paused: p.Paused, NotAutoManaged: p.NotAutoManaged, Peers: p.Peers, UserData: p.UserData, Extensions: p.Extensions,
		Trackers: trackers, Resume: p.Resume, ResumeStat: resumeStat(p.Resume, info, p.SavePath, p.Storage), About: about,
		Storage: p.Storage, FilePriorities: toShardPrios(p.FilePriorities),
	}, nil
}

// PopAlerts returns every queued alert and empties the queue.
func (s *Session) PopAlerts() []plugin.Alert { return s.alerts.pop() }

// WaitForAlert blocks until an alert is queued or ctx ends; after Close
// it returns ErrClosed. Safe from any goroutine.
func (s *Session) WaitForAlert(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.stopped:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := s.alerts.wait(ctx)
	if err != nil && s.closed.Load() {
		return ErrClosed
	}
	return err
}

// SetAlertMask changes which alert categories are queued (0: the
// default), as ApplySettings with Settings.AlertMask. Safe from any
// goroutine.
func (s *Session) SetAlertMask(m plugin.Category) {
	_ = s.modifySettings(context.Background(), func(set *Settings) { set.AlertMask = m })
}

// Close stops the session: torrents stop announcing and drop their peers,
// the piece writes in flight complete, every storage is synced, resume data
// is saved (with Settings.ResumeDir), then torrents are closed and the loops
// stopped. It returns within ctx (what is left is abandoned, not waited
// for). After Close every method returns ErrClosed at once. Safe from any
// goroutine.
func (s *Session) Close(ctx context.Context) error {
	err := ErrClosed
	s.closeOnce.Do(func() {
		err = nil
		s.closed.Store(true)
		s.ext.Call("Abort", func(p plugin.Plugin) {
			if a, ok := p.(plugin.AbortHook); ok {
				a.Abort()
			}
		})
		// The stopping runs on its own goroutine so that Close returns
		// within ctx even if a disk job hangs; it then finishes (or not)
		// in the background, and every method already says ErrClosed.
		done := make(chan error, 1)
		go func() {
			first := s.drain(ctx)
			for _, sh := range s.shards {
				first = cmp.Or(first, s.runOnLoop(ctx, sh, sh.Close))
			}
			// After the shards' close, which queued the stopped announces.
			first = cmp.Or(first, s.closeTrackers(ctx))
			s.closeDHT()
			s.shutdown()
			close(s.stopped)
			done <- first
		}()
		select {
		case err = <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	})
	return err
}

// shutdown stops the listener, then the disk workers, then the loops: the
// disk goes first so that the completions of jobs still in flight reach
// live loops, whose handlers release the spans those jobs carry.
func (s *Session) shutdown() {
	if s.ln != nil {
		_ = s.ln.Close()
	}
	s.dh.close()
	if s.disk != nil {
		s.disk.Close()
	}
	for _, l := range s.loops {
		_ = l.Close()
	}
	s.runWG.Wait()
}
