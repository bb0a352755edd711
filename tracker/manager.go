package tracker

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"log/slog"
	mrand "math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/shardtorrent/shardtorrent/plugin"
)

// Clock is the Manager's time source; tests pass a fake one. Its methods
// must be safe from any goroutine.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once after d.
	NewTimer(d time.Duration) Timer
}

// Timer is a Clock's one-shot timer.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time                 { return time.Now() }
func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

// Config configures a Manager. Zero fields take the defaults given.
type Config struct {
	// PeerID is sent in every announce.
	PeerID [20]byte
	// Port returns our listen port at announce time.
	Port func() uint16
	// Self is our listen address: peers equal to it are dropped.
	Self netip.AddrPort
	// Extra trackers are added, as a tier of their own, to every torrent
	// that is not private.
	Extra []string
	// AnnounceToAllTiers and AnnounceToAllTrackers are libtorrent's
	// announce_to_all_tiers and announce_to_all_trackers (both false).
	AnnounceToAllTiers, AnnounceToAllTrackers bool
	// NumWant is the peers asked for per announce [200, libtorrent's].
	NumWant int
	// MaxPeersPerReply caps the peers taken from one reply [NumWant*2].
	MaxPeersPerReply int
	// MaxInFlight bounds the requests out at once [32].
	MaxInFlight int
	// AnnounceRate bounds announces started per second [100]; the burst is
	// the same number.
	AnnounceRate float64
	// BackoffRatio is libtorrent's tracker_backoff in percent [250].
	BackoffRatio int
	// MinAnnounceInterval floors every interval a tracker gives [300 s,
	// libtorrent's min_announce_interval].
	MinAnnounceInterval time.Duration
	// DefaultInterval is used when a tracker gives none [1800 s].
	DefaultInterval time.Duration
	// Timeout bounds an announce or scrape [30 s; a UDP tracker that does
	// not answer is asked at 0, 15 s].
	Timeout time.Duration
	// StopTimeout bounds a stopped announce and the wait in Close [5 s,
	// libtorrent's stop_tracker_timeout].
	StopTimeout time.Duration
	// Transports send the requests; zero: NewHTTPTransport(nil, 0, "") and
	// NewUDPTransport(). Closed by Close.
	Transports Transports
	// Peers receives the peers of a reply, at most MaxPeersPerReply, self
	// removed; called on a Manager goroutine, must not block for long.
	Peers func(ih [20]byte, peers []netip.AddrPort)
	// Alert posts an alert; nil drops them.
	Alert func(plugin.Alert)
	// Clock is the time source [the wall clock].
	Clock Clock
	// Rand seeds shuffling, jitter and the key [random].
	Rand *mrand.Rand
	// Logger [slog.Default()].
	Logger *slog.Logger
}

// Manager is a session's tracker client: one goroutine schedules the
// announces of every torrent from one heap, and one goroutine per request
// in flight (at most MaxInFlight) talks to a tracker. Every method is safe
// from any goroutine and never waits on the network, except Close, which
// waits for the stopped announces within a bounded time.
type Manager struct {
	cfg   Config
	clock Clock
	ctx   context.Context
	stop  context.CancelFunc
	wakeC chan struct{}
	done  chan struct{}
	wg    sync.WaitGroup

	mu sync.Mutex
	s  *sched // guarded by mu
	// idleC is closed when the scheduler becomes idle while closing;
	// guarded by mu.
	idleC chan struct{}

	closeOnce sync.Once
	st        stats // request counters (stats.go)
}

// NewManager starts a Manager.
func NewManager(cfg Config) *Manager {
	if cfg.NumWant <= 0 {
		cfg.NumWant = 200
	}
	if cfg.MaxPeersPerReply <= 0 {
		cfg.MaxPeersPerReply = 2 * cfg.NumWant
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 32
	}
	if cfg.AnnounceRate <= 0 {
		cfg.AnnounceRate = 100
	}
	if cfg.BackoffRatio <= 0 {
		cfg.BackoffRatio = 250
	}
	if cfg.MinAnnounceInterval <= 0 {
		cfg.MinAnnounceInterval = 300 * time.Second
	}
	if cfg.DefaultInterval <= 0 {
		cfg.DefaultInterval = 1800 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 5 * time.Second
	}
	if cfg.Transports.HTTP == nil {
		cfg.Transports.HTTP = NewHTTPTransport(nil, 0, "")
	}
	if cfg.Transports.UDP == nil {
		cfg.Transports.UDP = NewUDPTransport()
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Rand == nil {
		var seed [16]byte
		_, _ = rand.Read(seed[:])
		cfg.Rand = mrand.New(mrand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		cfg: cfg, clock: cfg.Clock, ctx: ctx, stop: cancel,
		wakeC: make(chan struct{}, 1), done: make(chan struct{}),
	}
	m.s = newSched(schedSettings{
		allTiers: cfg.AnnounceToAllTiers, allTrackers: cfg.AnnounceToAllTrackers,
		numWant: cfg.NumWant, maxInFlight: cfg.MaxInFlight, rate: cfg.AnnounceRate, burst: cfg.AnnounceRate,
		backoffRatio: cfg.BackoffRatio, minAnnounce: cfg.MinAnnounceInterval, defaultInterval: cfg.DefaultInterval,
		maxPeers: cfg.MaxPeersPerReply, peerID: cfg.PeerID, key: cfg.Rand.Uint32(), port: cfg.Port, extra: cfg.Extra,
	}, cfg.Rand)
	go m.run()
	return m
}

// Key returns the per-session key sent in every announce. Safe from any
// goroutine.
func (m *Manager) Key() uint32 { return m.s.set.key }

// with runs fn on the scheduler under the lock and wakes the run loop.
func (m *Manager) with(fn func(s *sched, now time.Time)) {
	m.mu.Lock()
	fn(m.s, m.clock.Now())
	m.mu.Unlock()
	m.wake()
}

func (m *Manager) wake() {
	select {
	case m.wakeC <- struct{}{}:
	default:
	}
}

// Started: t wants peers (EventStarted). Safe from any goroutine; does
// not block on the network.
func (m *Manager) Started(t Torrent) { m.with(func(s *sched, now time.Time) { s.start(t, now) }) }

// Completed: t finished downloading (EventCompleted).
func (m *Manager) Completed(ih [20]byte) {
	m.with(func(s *sched, now time.Time) { s.completed(ih, now) })
}

// Metadata: a magnet's metadata arrived; private says whether it is
// private, which drops Config.Extra trackers.
func (m *Manager) Metadata(ih [20]byte, private bool) {
	m.with(func(s *sched, now time.Time) { s.metadata(ih, private, now) })
}

// Stopped: t stopped (paused, removed, closing); every tracker that heard
// started gets stopped. remove forgets the torrent once they are sent.
func (m *Manager) Stopped(ih [20]byte, remove bool) {
	m.with(func(s *sched, now time.Time) { s.stop(ih, remove, now) })
}

// ForceReannounce announces ih to its trackers now, or at their min
// interval; false if ih is not announcing.
func (m *Manager) ForceReannounce(ih [20]byte) (ok bool) {
	m.with(func(s *sched, now time.Time) { ok = s.force(ih, now) })
	return ok
}

// Scrape asks every tracker of ih for its figures; the answers come as
// alerts and in Trackers. False if ih is unknown.
func (m *Manager) Scrape(ih [20]byte) (ok bool) {
	m.with(func(s *sched, _ time.Time) { ok = s.scrape(ih) })
	return ok
}

// AddTracker adds url to ih's tier (len(tiers) or more: a new last tier).
// False if ih is unknown, or url is invalid or there already.
func (m *Manager) AddTracker(ih [20]byte, url string, tier int) (ok bool) {
	m.with(func(s *sched, now time.Time) { ok = s.addTracker(ih, url, tier, now) })
	return ok
}

// Trackers returns the state of ih's trackers; false if ih is unknown.
func (m *Manager) Trackers(ih [20]byte) ([]Status, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.s.status(ih)
}

// run is the scheduling goroutine.
func (m *Manager) run() {
	defer close(m.done)
	var timer Timer
	for {
		m.mu.Lock()
		now := m.clock.Now()
		jobs := m.s.next(now)
		at := m.s.wake(now)
		m.mu.Unlock()
		for _, j := range jobs {
			m.wg.Add(1)
			go m.do(j)
		}
		var tc <-chan time.Time
		if timer != nil {
			timer.Stop()
			timer = nil
		}
		if !at.IsZero() {
			timer = m.clock.NewTimer(at.Sub(now))
			tc = timer.C()
		}
		select {
		case <-m.ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-m.wakeC:
		case <-tc:
		}
	}
}

// do runs one job on its own goroutine and hands the result back.
func (m *Manager) do(j job) {
	defer m.wg.Done()
	e := j.e // only under m.mu
	ta := plugin.TrackerAlert{TorrentAlert: plugin.TorrentAlert{InfoHash: j.id, Torrent: j.name, Handle: j.ref}, URL: j.raw}
	timeout := m.cfg.Timeout
	if j.req.Event == EventStopped {
		timeout = m.cfg.StopTimeout
	}
	ctx, cancel := context.WithTimeout(m.ctx, timeout)
	defer cancel()
	var res result
	began := time.Now()
	tp, err := m.cfg.Transports.For(j.url)
	switch {
	case err != nil:
		res.err = err
	case j.kind == JobScrape:
		res.scrape, res.err = tp.Scrape(ctx, j.url, j.req.InfoHash)
	default:
		m.alert(&plugin.TrackerAnnounceAlert{TrackerAlert: ta, Event: j.req.Event.String()})
		res.resp, res.err = tp.Announce(ctx, j.url, j.req, m.cfg.MaxPeersPerReply)
	}
	m.cfg.Logger.Debug("tracker request done", "url", j.raw, "kind", j.kind, "event", j.req.Event.String(),
		"took", time.Since(began), "err", res.err)
	m.mu.Lock()
	m.s.done(j, res, m.clock.Now())
	fails := e.fails
	if m.idleC != nil && m.s.idle() {
		close(m.idleC)
		m.idleC = nil
	}
	m.mu.Unlock()
	m.wake()

	if j.kind == JobScrape || res.err != nil {
		m.st.count(j.kind == JobScrape, res.err, 0)
	}
	switch {
	case j.kind == JobScrape && res.err != nil:
		m.alert(&plugin.ScrapeFailedAlert{TrackerAlert: ta, Err: res.err})
	case j.kind == JobScrape:
		m.alert(&plugin.ScrapeReplyAlert{TrackerAlert: ta, Complete: res.scrape.Complete, Incomplete: res.scrape.Incomplete, Downloaded: res.scrape.Downloaded})
	case res.err != nil:
		if j.req.Event == EventStopped {
			fails = 0 // a stopped is not retried and does not count
		}
		m.alert(&plugin.TrackerErrorAlert{TrackerAlert: ta, Fails: fails, FailureReason: res.resp.Failure, Err: res.err})
	default:
		if res.resp.Warning != "" {
			m.alert(&plugin.TrackerWarningAlert{TrackerAlert: ta, Warning: res.resp.Warning})
		}
		peers := SkipSelf(res.resp.Peers, m.cfg.Self)
		m.st.count(false, nil, len(peers))
		m.alert(&plugin.TrackerReplyAlert{TrackerAlert: ta, NumPeers: len(peers)})
		if len(peers) > 0 && m.cfg.Peers != nil && j.req.Event != EventStopped {
			m.cfg.Peers(j.req.InfoHash, peers)
		}
	}
}

func (m *Manager) alert(a plugin.Alert) {
	if m.cfg.Alert != nil {
		m.cfg.Alert(a)
	}
}

// Close sends stopped to every tracker of every torrent still announcing,
// waits for the stopped announces (each bounded by StopTimeout) until
// ctx ends or StopTimeout passes on the Clock, then cancels what is left
// and closes the transports. Safe from any goroutine; later calls return
// at once.
func (m *Manager) Close(ctx context.Context) error {
	var err error
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.s.closeAll(m.clock.Now())
		idle := make(chan struct{})
		if m.s.idle() {
			close(idle)
		} else {
			m.idleC = idle
		}
		m.mu.Unlock()
		m.wake()
		t := m.clock.NewTimer(m.cfg.StopTimeout)
		select {
		case <-idle:
		case <-t.C():
		case <-ctx.Done():
			err = ctx.Err()
		}
		t.Stop()
		m.stop()
		<-m.done
		m.wg.Wait()
		m.cfg.Transports.Close()
	})
	return err
}
