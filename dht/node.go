package dht

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	alog "github.com/anacrolix/log"
	"golang.org/x/time/rate"

	adht "github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/krpc"

	"github.com/shardtorrent/shardtorrent/plugin"
)

// DefaultBootstrap are the well-known router nodes a node that listens on
// a routable address bootstraps from when Settings.Bootstrap is nil.
var DefaultBootstrap = []string{
	"router.bittorrent.com:6881",
	"router.utorrent.com:6881",
	"dht.transmissionbt.com:6881",
	"dht.libtorrent.org:25401",
}

// Settings are the DHT's tunables; every zero field takes the default
// written beside it (libtorrent 2.0.8's setting in brackets).
type Settings struct {
	// Bootstrap are host:port router nodes queried to fill an empty
	// routing table. Nil means DefaultBootstrap, except on a socket bound
	// to a loopback address, which cannot reach them (and so never
	// tries); an empty non-nil slice means none. [dht_bootstrap_nodes]
	Bootstrap []string
	// AnnounceInterval is how often each torrent is looked up and
	// announced again: 15 min. [dht_announce_interval]
	AnnounceInterval time.Duration
	// MinAnnounceGap is the least time between the starts of two
	// lookups: 1 s. With N torrents a lookup starts every
	// max(AnnounceInterval/N, MinAnnounceGap), and every 4 s at most
	// while newly started torrents wait for their first one, as
	// libtorrent's update_dht_announce_interval. A torrent started while
	// none waits is looked up at once.
	MinAnnounceGap time.Duration
	// MaxInFlight bounds the lookups running at once: 4.
	MaxInFlight int
	// LookupTimeout ends a lookup that has not finished: 2 min.
	LookupTimeout time.Duration
	// SendRate bounds the packets sent per second, queries and replies
	// together (replies past it are dropped, queries wait): 100.
	// [dht_upload_rate_limit, 8000 bytes/s]
	SendRate int
	// QueryRateLimit is the queries per second one source (address and
	// port) may send on average over 10 s before it is ignored for
	// BlockTimeout: 5; negative disables the limit. [dht_block_ratelimit]
	QueryRateLimit int
	// BlockTimeout: 5 min. [dht_block_timeout]
	BlockTimeout time.Duration
	// MaxTorrents bounds the info-hashes we store peers for: 2000.
	// [dht_max_torrents]
	MaxTorrents int
	// MaxPeers bounds the peers stored per info-hash: 500. [dht_max_peers]
	MaxPeers int
	// MaxPeersReply bounds the peers in one get_peers reply: 100.
	// [dht_max_peers_reply]
	MaxPeersReply int
	// QueryTimeout is how long a query waits for its reply: 2 s.
	QueryTimeout time.Duration
}

func (s *Settings) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(i *int, v int) {
		if *i == 0 {
			*i = v
		}
	}
	def(&s.AnnounceInterval, 15*time.Minute)
	def(&s.MinAnnounceGap, time.Second)
	def(&s.LookupTimeout, 2*time.Minute)
	def(&s.BlockTimeout, 5*time.Minute)
	def(&s.QueryTimeout, 2*time.Second)
	defInt(&s.MaxInFlight, 4)
	defInt(&s.SendRate, 100)
	defInt(&s.QueryRateLimit, 5)
	defInt(&s.MaxTorrents, 2000)
	defInt(&s.MaxPeers, 500)
	defInt(&s.MaxPeersReply, 100)
}

// Config is what New needs: the settings and the session's side of the
// seams.
type Config struct {
	Settings
	// Conn is the node's UDP socket; the Node owns it from New on and
	// closes it in Close.
	Conn *net.UDPConn
	// Port is the TCP port our torrents are announced with.
	Port int
	// Self is our peer address, offered in get_peers replies for our own
	// torrents; invalid (e.g. when listening on 0.0.0.0, whose public
	// address we do not know) means not offered.
	Self netip.AddrPort
	// State is the saved state (SaveState's keys); nil means none.
	State map[string]string
	// OnRequest offers an incoming query to the session plugins and
	// reports whether one answered it (shard.Extensions'
	// DispatchDHTRequest). Called on the goroutine that reads Conn. Nil
	// means no plugins.
	OnRequest func(r *plugin.DHTRequest) bool
	// OnPeers receives the peers a lookup found for ih, a batch per reply;
	// the slice is the callee's. Called on lookup goroutines.
	OnPeers func(ih [20]byte, peers []netip.AddrPort)
	// Alert posts an alert; it must be safe from any goroutine.
	Alert func(plugin.Alert)
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock of the peer store and the query limiter; nil means
	// time.Now.
	Now func() time.Time
}

// Node is one DHT node: an anacrolix/dht server on our socket plus what we
// put around it (see doc.go). Every method is safe from any goroutine.
type Node struct {
	cfg     Config
	srv     *adht.Server
	conn    *filterConn
	store   *store
	id      [20]byte
	limiter *rate.Limiter
	log     *slog.Logger

	// Counters (Stats).
	queriesIn, queriesDropped, malformed atomic.Int64
	pluginReplies, unknownQueries        atomic.Int64
	lookups, peersFound, announcesIn     atomic.Int64
	repliesDropped                       atomic.Int64

	// mu guards the torrent set, the queues and the starting nodes.
	mu       sync.Mutex
	torrents map[[20]byte]*entry
	prio     []*entry // torrents waiting for their first lookup, FIFO
	round    []*entry // the others, in due order (one interval each: FIFO)
	inFlight int
	next     time.Time // earliest start of the next lookup
	gen      uint64
	added    []netip.AddrPort // AddNode addresses: starting nodes
	booting  bool
	booted   bool
	lastErr  time.Time // last "no node to start from" alert

	wake   chan struct{}
	closed chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

// entry is one torrent we announce. Queue slots are lazily deleted: a slot
// whose entry is no longer torrents[ih] (stopped) or that is running is
// skipped when popped.
type entry struct {
	ih      [20]byte
	ta      plugin.TorrentAlert
	due     time.Time
	gen     uint64
	running *adht.Announce // nil when idle; guarded by Node.mu
	queued  bool
}

// New starts a node on cfg.Conn: the server answers queries at once; the
// bootstrap and the lookups run on goroutines of the node's.
func New(cfg Config) (*Node, error) {
	cfg.Settings.defaults()
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Alert == nil {
		cfg.Alert = func(plugin.Alert) {}
	}
	local, _ := cfg.Conn.LocalAddr().(*net.UDPAddr)
	if cfg.Bootstrap == nil && (local == nil || !local.IP.IsLoopback()) {
		cfg.Bootstrap = DefaultBootstrap
	}
	n := &Node{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "dht"),
		limiter:  rate.NewLimiter(rate.Limit(cfg.SendRate), cfg.SendRate),
		torrents: map[[20]byte]*entry{},
		wake:     make(chan struct{}, 1),
		closed:   make(chan struct{}),
	}
	n.store = newStore(cfg.MaxTorrents, cfg.MaxPeers, cfg.MaxPeersReply, cfg.Now)
	n.store.self = cfg.Self
	n.store.onAnnounce = func(ih [20]byte, peer netip.AddrPort, stored bool) {
		if stored {
			n.announcesIn.Add(1)
		}
		n.cfg.Alert(&plugin.DHTAnnounceAlert{Addr: peer, InfoHash: ih})
	}
	n.store.onGetPeers = func(ih [20]byte) { n.cfg.Alert(&plugin.DHTGetPeersAlert{InfoHash: ih}) }
	st, err := parseState(cfg.State)
	if err != nil {
		cfg.Alert(&plugin.DHTErrorAlert{Op: "load state", Err: err})
	}
	n.conn = &filterConn{UDPConn: cfg.Conn, n: n, ready: make(chan struct{}),
		blk: blocker{rate: cfg.QueryRateLimit, timeout: cfg.BlockTimeout}}
	sc := &adht.ServerConfig{
		NodeId:           st.id,
		Conn:             n.conn,
		NoSecurity:       true, // BEP 42 ids are not enforced, as libtorrent's dht_enforce_node_id default
		StartingNodes:    n.startingNodes,
		PeerStore:        n.store,
		QueryResendDelay: func() time.Duration { return cfg.QueryTimeout },
		SendLimiter:      n.limiter,
		Logger:           alog.NewLogger("dht").FilterLevel(alog.Critical),
		DefaultWant:      []krpc.Want{krpc.WantNodes},
	}
	if local != nil && local.IP.To4() == nil && !local.IP.IsUnspecified() {
		sc.DefaultWant = []krpc.Want{krpc.WantNodes6}
	}
	sc.InitNodeId()
	n.id = sc.NodeId
	srv, err := adht.NewServer(sc)
	if err != nil {
		return nil, &Error{Kind: ErrSocket, Op: "start", Err: err}
	}
	n.srv = srv
	close(n.conn.ready) // the server's reads may start: n.srv is set
	for _, ni := range st.nodes {
		_ = srv.AddNode(ni)
	}
	n.wg.Add(1)
	go func() { defer n.wg.Done(); n.run() }()
	if len(st.nodes) > 0 || len(cfg.Bootstrap) > 0 {
		n.bootstrap()
	}
	return n, nil
}

// ID returns our node id. Safe from any goroutine.
func (n *Node) ID() [20]byte { return n.id }

// Addr returns the node's UDP address. Safe from any goroutine.
func (n *Node) Addr() netip.AddrPort { return n.cfg.Conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// AddNode adds a node by address ("host:port" or "ip:port") to the
// routing table: it is pinged and, once it answers, added; it also becomes
// a starting node for lookups and the bootstrap, which runs now if none
// has succeeded yet. Resolving a host name blocks. Safe from any
// goroutine.
func (n *Node) AddNode(addr string) error {
	ap, err := resolve(addr)
	if err != nil {
		return &Error{Kind: ErrBadAddr, Op: "add node", Err: err}
	}
	n.mu.Lock()
	if len(n.added) < maxAdded {
		n.added = append(n.added, ap)
	}
	boot := !n.booted
	n.mu.Unlock()
	_ = n.srv.AddNode(krpc.NodeInfo{Addr: nodeAddrOf(ap)})
	if boot {
		n.bootstrap()
	}
	n.poke() // lookups waiting for a starting node
	return nil
}

// maxAdded bounds the starting nodes AddNode keeps.
const maxAdded = 256

func resolve(addr string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return netip.AddrPort{}, errors.New("bad port " + strconv.Quote(port))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil || len(ips) == 0 {
		return netip.AddrPort{}, errors.Join(errors.New("cannot resolve "+host), err)
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(p)), nil
}

// startingNodes is the server's StartingNodes: the bootstrap routers
// (resolved on each call, on the server's goroutine) and the AddNode
// addresses, used when the routing table is empty.
func (n *Node) startingNodes() ([]adht.Addr, error) {
	n.mu.Lock()
	added := append([]netip.AddrPort(nil), n.added...)
	n.mu.Unlock()
	var out []adht.Addr
	for _, a := range added {
		out = append(out, adht.NewAddr(net.UDPAddrFromAddrPort(a)))
	}
	var errs []error
	for _, b := range n.cfg.Bootstrap {
		ap, err := resolve(b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, adht.NewAddr(net.UDPAddrFromAddrPort(ap)))
	}
	if len(out) == 0 {
		return nil, &Error{Kind: ErrBootstrap, Op: "bootstrap", Err: errors.Join(append(errs, errors.New("no starting nodes"))...)}
	}
	return out, nil
}

// bootstrap runs one bootstrap on its own goroutine unless one is running;
// a bootstrap that got an answer posts DHTBootstrapAlert, one that did not
// a DHTErrorAlert (and the next AddNode tries again).
func (n *Node) bootstrap() {
	n.mu.Lock()
	if n.booting {
		n.mu.Unlock()
		return
	}
	n.booting = true
	n.mu.Unlock()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-n.closed:
				cancel()
			case <-ctx.Done():
			}
		}()
		st, err := n.srv.BootstrapContext(ctx)
		cancel()
		ok := err == nil && st.NumResponses > 0
		n.mu.Lock()
		n.booting = false
		first := ok && !n.booted
		n.booted = n.booted || ok
		n.mu.Unlock()
		select {
		case <-n.closed:
			return
		default:
		}
		if first {
			// The server's own upkeep (pinging questionable nodes,
			// refreshing buckets, a bootstrap every 30 min) starts once
			// ours succeeded, so the two never run at once.
			n.wg.Add(1)
			go func() { defer n.wg.Done(); n.srv.TableMaintainer() }()
		}
		switch {
		case ok:
			n.cfg.Alert(&plugin.DHTBootstrapAlert{Nodes: n.srv.NumNodes()})
			n.poke() // lookups that waited for nodes
		case err != nil:
			var de *Error
			if !errors.As(err, &de) {
				err = &Error{Kind: ErrBootstrap, Op: "bootstrap", Err: err}
			}
			n.cfg.Alert(&plugin.DHTErrorAlert{Op: "bootstrap", Err: err})
		default:
			n.cfg.Alert(&plugin.DHTErrorAlert{Op: "bootstrap", Err: &Error{Kind: ErrBootstrap, Op: "bootstrap", Err: errors.New("no node answered")}})
		}
	}()
}

// Start adds a torrent to the lookups: it is looked up and announced soon
// (first in line), then every AnnounceInterval, until Stop; a torrent
// started twice is one torrent. Never blocks on the network: it is called
// on shard loops. Safe from any goroutine.
func (n *Node) Start(ih [20]byte, ta plugin.TorrentAlert) {
	n.mu.Lock()
	if _, ok := n.torrents[ih]; ok {
		n.mu.Unlock()
		return
	}
	n.gen++
	e := &entry{ih: ih, ta: ta, gen: n.gen, queued: true}
	n.torrents[ih] = e
	if len(n.prio) == 0 {
		// Nothing waits for a first lookup: this one need not wait for
		// the round-robin gap (libtorrent's prioritize_dht).
		n.next = time.Time{}
	}
	n.prio = append(n.prio, e)
	n.mu.Unlock()
	n.store.setOurs(ih, true)
	n.poke()
}

// Stop removes a torrent: no lookup starts for it any more and one
// running is stopped (its announce_peer step skipped if not begun). Never
// blocks. Safe from any goroutine.
func (n *Node) Stop(ih [20]byte) {
	n.mu.Lock()
	e := n.torrents[ih]
	delete(n.torrents, ih)
	var a *adht.Announce
	if e != nil {
		a = e.running
	}
	n.mu.Unlock()
	n.store.setOurs(ih, false)
	if a != nil {
		a.Close()
	}
}

func (n *Node) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// sweepEvery is how often the peer store drops expired peers.
const sweepEvery = time.Minute

// run is the scheduler: it starts lookups as the gap and MaxInFlight allow.
func (n *Node) run() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()
	for {
		d := n.startDue(time.Now())
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if d > 0 {
			timer.Reset(d)
		}
		select {
		case <-n.closed:
			return
		case <-n.wake:
		case <-timer.C:
		case <-sweep.C:
			n.store.sweep()
		}
	}
}

// startDue starts every lookup that may start at now and returns how long
// until the next one may (0: wait for a wake-up). mu is not held while a
// lookup starts: the server may call startingNodes, which takes it, and
// resolve names.
func (n *Node) startDue(now time.Time) time.Duration {
	if len(n.cfg.Bootstrap) == 0 && n.srv.NumNodes() == 0 {
		n.mu.Lock()
		none := len(n.added) == 0
		n.mu.Unlock()
		if none {
			return 0 // nowhere to start from: wait for AddNode
		}
	}
	for {
		n.mu.Lock()
		if n.inFlight >= n.cfg.MaxInFlight {
			n.mu.Unlock()
			return 0
		}
		if now.Before(n.next) {
			n.mu.Unlock()
			return n.next.Sub(now)
		}
		e := n.pop(now)
		if e == nil {
			var d time.Duration
			if len(n.round) > 0 {
				d = max(n.round[0].due.Sub(now), time.Millisecond)
			}
			n.mu.Unlock()
			return d
		}
		n.next = now.Add(n.gap())
		n.inFlight++ // the slot is taken from here on
		n.mu.Unlock()
		n.launch(e)
	}
}

// gap is the time between two lookup starts. Called with mu held.
func (n *Node) gap() time.Duration {
	g := max(n.cfg.AnnounceInterval/time.Duration(max(len(n.torrents), 1)), n.cfg.MinAnnounceGap)
	if len(n.prio) > 0 {
		g = min(g, 4*time.Second)
	}
	return g
}

// pop takes the next torrent to look up: a new one first, else the round
// robin's head if due. Called with mu held.
func (n *Node) pop(now time.Time) *entry {
	for len(n.prio) > 0 {
		e := n.prio[0]
		n.prio[0] = nil
		n.prio = n.prio[1:]
		e.queued = false
		if n.torrents[e.ih] == e {
			return e
		}
	}
	for len(n.round) > 0 {
		e := n.round[0]
		if n.torrents[e.ih] != e {
			n.round[0] = nil
			n.round = n.round[1:]
			e.queued = false
			continue
		}
		if now.Before(e.due) {
			return nil
		}
		n.round[0] = nil
		n.round = n.round[1:]
		e.queued = false
		return e
	}
	return nil
}

// launch starts e's lookup on its own goroutine; its in-flight slot is
// taken. Called without mu.
func (n *Node) launch(e *entry) {
	a, err := n.srv.AnnounceTraversal(e.ih, adht.AnnouncePeer(adht.AnnouncePeerOpts{Port: n.cfg.Port}))
	n.mu.Lock()
	if err != nil {
		// No node to start from (the routers did not resolve): try
		// again in one interval; the alert says so at most once a minute.
		now := time.Now()
		n.inFlight--
		e.due = now.Add(n.cfg.AnnounceInterval)
		n.requeue(e)
		report := !n.booting && now.Sub(n.lastErr) >= time.Minute
		if report {
			n.lastErr = now
		}
		n.mu.Unlock()
		if report { // at most one a minute
			n.cfg.Alert(&plugin.DHTErrorAlert{Op: "get_peers", Err: &Error{Kind: ErrBootstrap, Op: "get_peers", Err: err}})
		}
		return
	}
	e.running = a
	stopped := n.torrents[e.ih] != e // Stop ran since pop: it saw no lookup to stop
	n.wg.Add(1)
	n.mu.Unlock()
	go func() {
		defer n.wg.Done()
		n.lookup(e, a)
	}()
	if stopped {
		a.Close()
	}
}

// requeue puts e back at the end of the round robin. Called with mu held.
func (n *Node) requeue(e *entry) {
	if n.torrents[e.ih] != e || e.queued {
		return
	}
	e.queued = true
	n.round = append(n.round, e)
}

// lookup drains a's peers into OnPeers and finishes the torrent's turn.
func (n *Node) lookup(e *entry, a *adht.Announce) {
	timeout := time.AfterFunc(n.cfg.LookupTimeout, a.Close)
	seen := map[netip.AddrPort]bool{}
	for pv := range a.Peers {
		var batch []netip.AddrPort
		for _, p := range pv.Peers {
			ap, ok := addrPortOf(p)
			if !ok || seen[ap] || n.isSelf(ap) {
				continue
			}
			seen[ap] = true
			batch = append(batch, ap)
		}
		if len(batch) > 0 && n.cfg.OnPeers != nil {
			n.cfg.OnPeers(e.ih, batch)
		}
	}
	timeout.Stop()
	n.lookups.Add(1)
	n.peersFound.Add(int64(len(seen)))
	n.mu.Lock()
	e.running = nil
	n.inFlight--
	live := n.torrents[e.ih] == e
	if live {
		e.due = time.Now().Add(n.cfg.AnnounceInterval)
		n.requeue(e)
	}
	n.mu.Unlock()
	n.poke()
	select {
	case <-n.closed:
		return
	default:
	}
	if live {
		n.cfg.Alert(&plugin.DHTReplyAlert{TorrentAlert: e.ta, NumPeers: len(seen)})
	}
}

// isSelf reports whether a is our own peer address.
func (n *Node) isSelf(a netip.AddrPort) bool {
	if n.cfg.Self.IsValid() {
		return a == n.cfg.Self
	}
	return int(a.Port()) == n.cfg.Port && (a.Addr().IsLoopback() || a.Addr().IsUnspecified())
}

// Stats are the node's counters, for status lines and metrics.
type Stats struct {
	// Nodes and GoodNodes are in the routing table.
	Nodes, GoodNodes int
	// Torrents we look up and announce; LookupsInFlight of them now.
	Torrents, LookupsInFlight int
	// Lookups finished, and the distinct peers they found in total.
	Lookups, PeersFound int64
	// QueriesIn were handled; QueriesDropped were over a source's rate;
	// Malformed packets were not bencode.
	QueriesIn, QueriesDropped, Malformed int64
	// PluginReplies were answered by a session plugin (OnDHTRequest);
	// UnknownQueries by the built-in reply to a query we do not know.
	PluginReplies, UnknownQueries int64
	// RepliesDropped were over SendRate.
	RepliesDropped int64
	// QueriesOut were sent (anacrolix's count of queries attempted);
	// Transactions wait for their reply.
	QueriesOut   int64
	Transactions int
	// AnnouncesIn stored (or refreshed) a peer; StoredTorrents and
	// StoredPeers are in the peer store now; StoreRefused announces hit
	// MaxTorrents or MaxPeers.
	AnnouncesIn                 int64
	StoredTorrents, StoredPeers int
	StoreRefused                int64
}

// Stats returns the counters. Safe from any goroutine.
func (n *Node) Stats() Stats {
	ss := n.srv.Stats()
	st := Stats{
		Nodes: ss.Nodes, GoodNodes: ss.GoodNodes, QueriesOut: ss.OutboundQueriesAttempted,
		Transactions: ss.OutstandingTransactions,
		Lookups:      n.lookups.Load(), PeersFound: n.peersFound.Load(),
		QueriesIn: n.queriesIn.Load(), QueriesDropped: n.queriesDropped.Load(), Malformed: n.malformed.Load(),
		PluginReplies: n.pluginReplies.Load(), UnknownQueries: n.unknownQueries.Load(),
		RepliesDropped: n.repliesDropped.Load(), AnnouncesIn: n.announcesIn.Load(),
	}
	st.StoredTorrents, st.StoredPeers, st.StoreRefused = n.store.counts()
	n.mu.Lock()
	st.Torrents, st.LookupsInFlight = len(n.torrents), n.inFlight
	n.mu.Unlock()
	return st
}

// Close stops the lookups and the server and closes the socket; it waits
// for the node's goroutines. Safe from any goroutine; later calls do
// nothing.
func (n *Node) Close() {
	n.once.Do(func() {
		close(n.closed)
		n.mu.Lock()
		var running []*adht.Announce
		for _, e := range n.torrents {
			if e.running != nil {
				running = append(running, e.running)
			}
		}
		n.mu.Unlock()
		for _, a := range running {
			a.Close()
		}
		n.srv.Close()
		_ = n.cfg.Conn.Close() // the server closes it too, later, on a goroutine
		n.wg.Wait()
	})
}
