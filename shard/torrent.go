package shard

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/shardtorrent/shardtorrent/bitfield"
	"github.com/shardtorrent/shardtorrent/choker"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/picker"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/resume"
	"github.com/shardtorrent/shardtorrent/storage"
	"github.com/shardtorrent/shardtorrent/wire"
)

// AddParams describe a torrent to add to a shard.
type AddParams struct {
	// Info is the torrent's metadata; nil adds a torrent that waits for it
	// (a magnet link): see SetMetadata.
	Info *metainfo.Info
	// InfoBytes is the raw info dictionary of Info, when known; it is
	// what ut_metadata serves. Kept, not copied.
	InfoBytes []byte
	InfoHash  metainfo.InfoHash
	// Name is the display name while Info is nil (a magnet's dn);
	// untrusted, never used as a path.
	Name     string
	SavePath string
	// SeedMode skips the check: every piece is present but unverified
	// until its first request hashes it (seedmode.go).
	SeedMode bool
	// Resume is the torrent's saved resume data (package resume), or nil
	// for a full check. Pieces it marks present are trusted without
	// hashing unless a file's size or time differs from its Files.
	Resume *resume.Data
	// ResumeStat are the torrent's file stats taken by the caller off the
	// loop (StatFiles) for Resume; nil makes AddTorrent stat the files on
	// the loop.
	ResumeStat []storage.FileStat
	Paused     bool
	// NotAutoManaged keeps the torrent out of the session's queue
	// (queue.go); a torrent added Paused is not auto-managed either.
	NotAutoManaged bool
	// Peers are connected to as soon as the torrent can use them.
	Peers    []netip.AddrPort
	UserData any
	// About is the .torrent's comment, creator and date, for views.
	About About
	// Extensions are torrent-plugin constructors, attached in order before
	// the session plugins' NewTorrent results. A nil result attaches nothing.
	Extensions []func(plugin.TorrentHandle, any) plugin.TorrentPlugin
	// Trackers are the torrent's tracker tiers (BEP 12), kept for the
	// announcers (see Events); the shard itself never reads them.
	Trackers [][]string
	// Owner is the application's handle to the torrent, put in every
	// alert about it (plugin.TorrentAlert.Handle); nil for none.
	Owner plugin.TorrentRef
	// OnInfo, if set, is called once on the torrent's loop when the
	// torrent has its metadata: during AddTorrent if it was added with it
	// (or its resume data held it), otherwise when SetMetadata
	// (ut_metadata, or a plugin) supplies it. info is never modified
	// afterwards. It must not block (owner.go).
	OnInfo func(info *metainfo.Info)
	// Storage opens the torrent's storage when its metadata is known (on
	// the loop, so it must not block); nil is storage.OpenFiles, the
	// file storage with Settings.DirectWrites.
	Storage storage.Opener
	// FilePriorities are the priorities of the torrent's files, by
	// visible index (pad files left out), 0 (skip) to 7 (priority.go).
	// They override Resume's file_priority; files past their end keep
	// Resume's, else PriorityDefault. Nil sets none.
	FilePriorities []uint8
}

// Intervals of the choker, in shard ticks (seconds), as libtorrent's
// unchoke_interval (15 s) and optimistic_unchoke_interval (30 s).
const (
	unchokeEvery    = 15
	optimisticEvery = 30
	// maxCandidates bounds the peer list of one torrent (addresses we may dial).
	maxCandidates = 4000
	// maxConnectsPerTick bounds new outgoing connection attempts per torrent per tick.
	maxConnectsPerTick = 32
)

// pieceBuf holds the received blocks of a piece until it is hashed and written.
type pieceBuf struct {
	blocks []storage.BlockRef
	got    int
	// contrib lists the peers that sent blocks (for their plugins'
	// OnPiecePass/OnPieceFailed and the sole-sender ban of hashfail.go).
	contrib []*peer
}

// Torrent is one torrent's runtime state. Owned by its shard's loop.
type Torrent struct {
	s        *Shard
	info     *metainfo.Info // nil until the metadata is known (metadata.go)
	ih       metainfo.InfoHash
	meta     metaState
	wireIH   [20]byte
	savePath string
	user     any
	owner    plugin.TorrentRef    // AddParams.Owner (owner.go)
	onInfo   func(*metainfo.Info) // AddParams.OnInfo
	about    About                // AddParams.About
	st       storage.Storage
	opener   storage.Opener // AddParams.Storage; nil: the file storage
	pk       *picker.Picker
	have     *bitfield.Bitfield
	hashes   [][20]byte
	state    plugin.TorrentState
	paused   bool
	removed  bool
	err      error
	diskErr  diskErrState   // what err was about (diskerror.go)
	seed     seedModeState  // pieces seed mode has not verified (seedmode.go)
	sl       seedLimitState // seeding clock for the seed limits (seedlimit.go)
	// autoManaged: the session's queue starts and stops the torrent
	// (queue.go); lastActive is the last second payload moved faster
	// than InactiveRate, or when the queue started the torrent.
	autoManaged bool
	lastActive  time.Time
	checking    bool

	// Rate limits (ratelimit.go): the torrent's own buckets, and the flags
	// the data path tests (own or session limit set). Loop only.
	rlUpB, rlDownB rateBucket
	rlUp, rlDown   bool

	peers      []*peer // every connection, including those still handshaking
	nextPeerID uint32
	cands      peerList // addresses we may dial (peerlist.go)
	// nextDial is when a candidate may next be ready to dial; the zero
	// time if none will be (all connected, given up or seeds while we are
	// one). Invariant: no earlier than the ready time of any candidate
	// (checkNextDial), so connectMore skips its scan and a seed its tick
	// (wantTick) until then.
	nextDial time.Time

	downloading map[uint32]*pieceBuf
	freeBufs    []*pieceBuf
	pickBuf     []picker.Block // scratch for Pick
	dialBuf     []*candidate   // scratch for connectMore
	choker      *choker.Choker
	chokeScratch
	ticks int

	// payload counters: totals and the bytes of the current second
	totalDown, totalUp int64
	secDown, secUp     int64
	downRate, upRate   int64

	onFinishedOnce bool

	// Plugins. tx is nil while no torrent plugin is attached.
	tx           *torrentHooks
	th           *torrentHandle
	filesChecked bool               // OnFilesChecked was due (check done or seed mode)
	hashing      map[uint32][]*peer // contributors of pieces being hashed
	suggest      suggestRing        // recently read pieces (suggest.go)
	contribFree  [][]*peer          // recycled contributor slices

	// Announcing (events.go): trackers is what AddParams gave; announcing
	// is true between EventStarted and EventStopped; counters are the
	// announce figures other goroutines read.
	trackers   [][]string
	announcing bool
	counters   Counters

	// banned holds the addresses BanPeer banned; nil until the first ban.
	// Invariant: at most maxBanned entries, none of them in cands.
	banned map[netip.Addr]struct{}

	// Resume data and durability (resume.go, durable.go). draining is
	// set by Shard.Drain; deleteFiles by RemoveWithFiles.
	rs          resumeState
	dur         durability
	wq          writeQueue // write back-pressure (writeq.go)
	draining    bool
	deleteFiles bool

	agg torrentAgg // its share of the shard's published aggregate (aggregate.go)

	stream streamState // piece deadlines and readers (deadline.go, stream.go)

	prio prioState // file and piece priorities (priority.go)
}

type chokeScratch struct {
	cpeers  []choker.Peer
	unchoke []choker.Peer
	choke   []choker.Peer
}

// AddTorrent adds a torrent to the shard and starts checking or seeding it.
// Loop only.
func (s *Shard) AddTorrent(p AddParams) (*Torrent, error) {
	ih := p.InfoHash.Short()
	if _, dup := s.torrents[ih]; dup {
		return nil, ErrDuplicate
	}
	info, infoBytes := p.Info, p.InfoBytes
	if info == nil {
		// A magnet re-added from its resume data starts with its metadata.
		info, infoBytes = infoFromResume(p.InfoHash, p.Resume)
	}
	t := &Torrent{
		s:           s,
		ih:          p.InfoHash,
		wireIH:      ih,
		savePath:    p.SavePath,
		user:        p.UserData,
		owner:       p.Owner,
		onInfo:      p.OnInfo,
		about:       p.About,
		opener:      p.Storage,
		paused:      p.Paused,
		autoManaged: !p.Paused && !p.NotAutoManaged,
		lastActive:  s.now(),
		cands:       make(peerList),
		downloading: make(map[uint32]*pieceBuf),
		trackers:    p.Trackers,
	}
	t.meta.name = p.Name
	t.rlUpB.rate, t.rlDownB.rate = NoRateLimit, NoRateLimit
	t.rateFlags()
	t.initResume()
	t.rs.dirty = true // a new torrent is saved once, at the latest at close
	if info != nil {
		if err := t.initMetadata(info, infoBytes); err != nil {
			return nil, err
		}
	} else {
		// The choker runs before the metadata too (peers may be
		// interested); initMetadata replaces it with the real quota.
		t.choker = choker.New(choker.Config{Slots: s.set.UnchokeSlots, Seeding: s.set.SeedChoker, PieceQuota: 20 * wire.BlockSize})
	}
	t.initPriorities(p.FilePriorities, p.Resume) // priority.go
	s.torrents[ih] = t
	if p.Resume != nil {
		t.restorePolicy(p.Resume) // policy.go
	}
	t.noteState()
	// Chain order as in libtorrent: the add parameters' extensions, then
	// every session plugin's NewTorrent in registration order.
	for _, ctor := range p.Extensions {
		t.AddExtension(ctor, p.UserData)
	}
	if sh := s.ext.hooks(); len(sh.newTorrent) > 0 {
		each(s.ext, sh.newTorrent, "NewTorrent", func(c plugin.TorrentCreator) {
			if tp := c.NewTorrent(t.handle(), p.UserData); tp != nil {
				t.attach(tp)
			}
		})
	}
	for _, a := range p.Peers {
		t.offerPeer(a, plugin.SourceManual, true)
	}
	s.post(&plugin.TorrentAddedAlert{TorrentAlert: t.alertBase()})
	if info == nil {
		t.setState(plugin.StateDownloadingMetadata)
		// Without metadata the torrent needs peers at once (to ask them
		// for it): it announces from the start, as libtorrent does.
		t.startAnnouncing()
		if !t.paused && s.loop != nil {
			t.connectMore(s.now())
		}
		return t, nil
	}
	if p.SeedMode && !t.skipsAny() { // as libtorrent: no seed mode with a skipped file or piece
		t.enterSeedMode()
		t.finishedAtLoad()
		t.setFilesChecked()
		t.startAnnouncing()
		t.connectMore(s.now())
	} else if p.Resume == nil || !t.applyResume(p.Resume, p.ResumeStat) {
		t.startCheck()
	}
	return t, nil
}

// initMetadata builds what needs the info dictionary: storage, picker,
// piece hashes and the choker's quota. Nothing is changed on error.
func (t *Torrent) initMetadata(info *metainfo.Info, infoBytes []byte) error {
	st, err := t.openStorage(info)
	if err != nil {
		return err
	}
	s := t.s
	t.info = info
	t.meta.infoBytes = infoBytes
	t.st = st
	t.pk = picker.New(info.NumPieces(), info.PieceLength, info.TotalLength, wire.BlockSize, s.rng)
	t.have = bitfield.New(info.NumPieces())
	t.initDurable(info.NumPieces())
	t.choker = choker.New(choker.Config{Slots: s.set.UnchokeSlots, Seeding: s.set.SeedChoker, NumPieces: info.NumPieces(), PieceQuota: 20 * info.PieceLength})
	t.hashes = make([][20]byte, len(info.Pieces))
	for i, h := range info.Pieces {
		t.hashes[i] = h
	}
	t.gotInfo()
	return nil
}

func (t *Torrent) alertBase() plugin.TorrentAlert {
	return plugin.TorrentAlert{InfoHash: t.ih, Torrent: t.Name(), Handle: t.owner}
}

// InfoHash returns the torrent's info-hash. Loop only.
func (t *Torrent) InfoHash() metainfo.InfoHash { return t.ih }

// Info returns the torrent's metadata. Loop only.
func (t *Torrent) Info() *metainfo.Info { return t.info }

// UserData returns the value given in AddParams. Loop only.
func (t *Torrent) UserData() any { return t.user }

func (t *Torrent) setState(st plugin.TorrentState) {
	if t.state == st {
		return
	}
	from := t.state
	t.state = st
	t.noteState()
	if from != 0 {
		t.s.post(&plugin.StateChangedAlert{TorrentAlert: t.alertBase(), From: from, To: st})
	}
	if tx := t.tx; tx != nil {
		each(t, tx.state, "OnState", func(h plugin.StateHook) { h.OnState(st) })
	}
}

// setFilesChecked marks the torrent ready to download and runs
// OnFilesChecked.
func (t *Torrent) setFilesChecked() {
	t.filesChecked = true
	if tx := t.tx; tx != nil {
		each(t, tx.filesChecked, "OnFilesChecked", func(h plugin.FilesCheckedHook) { h.OnFilesChecked() })
	}
}

// startCheck hashes whatever data is already on disk.
func (t *Torrent) startCheck() {
	t.setState(plugin.StateCheckingFiles)
	t.checking = true
	j := t.s.disk.NewJob()
	j.Kind = storage.JobCheck
	j.Storage = t.st
	j.Hashes = t.hashes
	j.Poster = t.s.loop
	j.User = t
	j.Done = onCheckDone
	t.s.disk.Submit(j)
}

func onCheckDone(j *storage.Job) {
	t := j.User.(*Torrent)
	have, err := j.Have, j.Err
	t.s.disk.Free(j)
	t.checking = false
	if t.removed {
		return
	}
	if err != nil && !errors.Is(err, storage.ErrMissing) {
		t.fail(err)
		return
	}
	n := 0
	for i, ok := range have {
		if ok {
			t.pk.SetHave(i)
			t.have.Set(i)
			n++
		}
	}
	t.rs.dirty = true
	t.filesReady(n)
}

// AddPeer adds an address to the torrent's peer list as a manual entry:
// the torrent connects to it when it has room, and redials it, with
// back-off, whenever the connection ends or fails. Loop only.
func (t *Torrent) AddPeer(a netip.AddrPort) { t.offerPeer(a, plugin.SourceManual, true) }

// addPeer offers a from src (a tracker, the DHT, PEX, a plugin).
func (t *Torrent) addPeer(a netip.AddrPort, src plugin.PeerSource) { t.offerPeer(a, src, false) }

// offerPeer offers a to the peer list (peerlist.go) and dials it at once
// if it is ready and the torrent has room. PEX seed flags do not reach here
// (plugin.TorrentHandle.AddPeer carries none); a seed learns the flag when
// a connection shows it.
func (t *Torrent) offerPeer(a netip.AddrPort, src plugin.PeerSource, manual bool) {
	a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	if !a.IsValid() || a.Port() == 0 || t.isBanned(a.Addr()) {
		t.onAddPeer(a, src, plugin.AddPeerFiltered)
		return
	}
	if t.s.ipBlocked(a.Addr()) {
		t.blockedPeer(a, false)
		t.onAddPeer(a, src, plugin.AddPeerFiltered)
		return
	}
	pol := t.dialPolicy()
	c, first := t.cands.add(a, src, manual, maxCandidates, pol)
	if c == nil {
		t.onAddPeer(a, src, plugin.AddPeerFiltered)
		return
	}
	var f plugin.AddPeerFlags
	if first {
		f = plugin.AddPeerFirstTime
	}
	t.onAddPeer(a, src, f)
	if t.removed || t.s.loop == nil {
		return
	}
	now := t.s.now()
	at, ok := c.readyAt(pol)
	if !ok {
		return
	}
	if !at.After(now) && t.wantPeers() && t.roomToDial() > 0 && t.s.dials.take(now, 1) == 1 && t.dialCandidate(c, now) {
		return
	}
	t.dueAt(at, now)
}

func (t *Torrent) onAddPeer(a netip.AddrPort, src plugin.PeerSource, f plugin.AddPeerFlags) {
	if tx := t.tx; tx != nil && len(tx.addPeer) > 0 {
		each(t, tx.addPeer, "OnAddPeer", func(h plugin.AddPeerHook) { h.OnAddPeer(a, src, f) })
	}
}

func (t *Torrent) acceptsConnection() bool {
	return !t.paused && !t.removed && !t.draining && len(t.peers) < t.s.set.MaxConnsPerTorrent
}

// wantPeers reports whether the torrent looks for more connections: it
// runs, and it has no metadata yet or its check is done. A seed dials too
// (candidates that are not known seeds, peerlist.go): behind a NAT the
// leechers trackers, the DHT and PEX report must be dialled.
func (t *Torrent) wantPeers() bool {
	return !t.paused && !t.removed && !t.draining && !t.checking && (t.info == nil || t.filesChecked)
}

// isSeed reports whether the torrent has every wanted piece: libtorrent's
// is_finished, which is a seed (doneState) unless a file or piece is
// skipped (priority.go).
func (t *Torrent) isSeed() bool { return t.pk != nil && t.pk.Complete() }

// roomToDial is how many connections the torrent may start now: within
// its connection limit and the per-tick cap.
func (t *Torrent) roomToDial() int {
	return min(t.s.set.MaxConnsPerTorrent-len(t.peers), maxConnectsPerTick)
}

// connectMore dials the best ready candidates the torrent has room and
// session-wide budget (Settings.ConnectionSpeed) for, and records when the
// next one becomes ready.
func (t *Torrent) connectMore(now time.Time) {
	if !t.wantPeers() || t.nextDial.IsZero() || now.Before(t.nextDial) {
		return
	}
	room := t.roomToDial()
	picked, next := t.cands.pick(now, t.dialPolicy(), max(room, 0), t.dialBuf[:0])
	t.nextDial = next
	n := t.s.dials.take(now, len(picked))
	if n < len(picked) {
		t.nextDial = now // out of budget this second: try again next tick
	}
	for _, c := range picked[:n] {
		if !t.wantPeers() || !t.dialCandidate(c, now) {
			t.nextDial = now
			break
		}
	}
	clear(picked)
	t.dialBuf = picked[:0]
}

// dialCandidate starts a connection to c; false if the session has no
// connection to spare. A dial that fails at once counts as a failed
// attempt.
func (t *Torrent) dialCandidate(c *candidate, now time.Time) bool {
	if t.s.ipBlocked(c.addr.Addr()) { // the filter changed since c was added
		delete(t.cands, c.addr)
		t.blockedPeer(c.addr, false)
		return true
	}
	if !t.s.reserveConn() {
		return false
	}
	p := t.newPeer(c.addr, true)
	p.cand = c
	p.source = c.src
	c.dialled(now)
	t.s.count(MetricConnectionAttempts, 1)
	if err := t.s.dial(p); err != nil {
		t.s.conns.Add(-1)
		t.forgetPeer(p)
		p.closed = true
		c.closed(now, true, false, false)
		t.noteReady(c)
	}
	return true
}

// dialLoop is Shard.dial on the real loop.
func (s *Shard) dialLoop(p *peer) error {
	c, err := s.loop.Dial(p.addr, s.set.ConnectTimeout, p)
	if err != nil {
		return err
	}
	if p.c == nil && !p.closed {
		p.c = c
	}
	return nil
}

// noteReady brings nextDial forward to when c may be dialled again.
func (t *Torrent) noteReady(c *candidate) {
	if at, ok := c.readyAt(t.dialPolicy()); ok {
		t.dueAt(at, t.s.now())
	}
}

// dueAt brings nextDial forward to at (now if at is past).
func (t *Torrent) dueAt(at, now time.Time) {
	if at.Before(now) {
		at = now
	}
	if t.nextDial.IsZero() || at.Before(t.nextDial) {
		t.nextDial = at
	}
}

func (t *Torrent) newPeer(addr netip.AddrPort, outgoing bool) *peer {
	t.nextPeerID++
	p := &peer{
		t:           t,
		pid:         picker.Peer(t.nextPeerID),
		addr:        addr,
		outgoing:    outgoing,
		amChoking:   true,
		peerChoking: true,
		connectedAt: t.s.now(),
		queueDepth:  initialQueueDepth,
		local:       isLocalAddr(addr.Addr()),
	}
	p.lastRecv = p.connectedAt
	p.lastSend = p.connectedAt
	p.dec.MaxLen = maxMessageLen(t.numPiecesBound())
	p.fragBody = -1
	t.s.connSeq++
	p.id = uint64(t.s.id)<<48 | t.s.connSeq
	if !outgoing {
		p.source = plugin.SourceIncoming
	}
	t.peers = append(t.peers, p)
	if tx := t.tx; tx != nil && len(tx.newConnection) > 0 {
		// Collect the chain, then build the dispatch lists once.
		var pps []*attached
		each(t, tx.newConnection, "NewConnection", func(h plugin.NewConnectionHook) {
			if pp := h.NewConnection(p.conn()); pp != nil {
				pps = append(pps, &attached{v: pp})
			}
		})
		if len(pps) > 0 {
			if p.hx != nil { // a plugin called pc.AddExtension meanwhile
				pps = append(append([]*attached(nil), p.hx.plugins...), pps...)
			}
			p.hx = buildPeerHooks(pps, &t.s.costs)
		}
	}
	return p
}

// maxMessageLen allows a bitfield for this torrent plus headroom, and at
// least a 128 KiB block plus header.
func maxMessageLen(numPieces int) uint32 {
	n := uint32((numPieces+7)/8 + 1)
	if n < 1<<17+13 {
		n = 1<<17 + 13
	}
	return n
}

// forgetPeer removes p from the torrent's lists (it is closed or was never opened).
func (t *Torrent) forgetPeer(p *peer) {
	for i, q := range t.peers {
		if q == p {
			last := len(t.peers) - 1
			t.peers[i] = t.peers[last]
			t.peers[last] = nil
			t.peers = t.peers[:last]
			break
		}
	}
}

// onTick runs once a second: rates, timeouts, the choker, new connections.
// wantTick reports whether the torrent has anything to do once a second,
// as libtorrent's torrent::want_tick: connections, payload still moving (the
// rates must decay to zero), or, unpaused, pieces to fetch (dialling
// candidates, plugins finding peers). An idle seed or paused torrent
// without connections skips its tick, plugins' Tick included: 10,000 idle
// seeds then cost nothing per second.
//
// A seed ticks for its peer list only when a candidate is due (nextDial):
// one whose candidates all wait out a back-off, are given up or are seeds
// stays as cheap as one without candidates.
func (t *Torrent) wantTick(now time.Time) bool {
	return len(t.peers) > 0 || t.downRate|t.upRate|t.secDown|t.secUp != 0 ||
		t.checking || (!t.paused && !t.isSeed()) || t.syncWanted() ||
		(!t.nextDial.IsZero() && !now.Before(t.nextDial) && t.wantPeers())
}

func (t *Torrent) onTick(now time.Time) {
	if !t.wantTick(now) {
		return
	}
	t.ticks++
	t.noteActivity(now) // queue.go
	t.downRate = (t.downRate + t.secDown) / 2
	t.upRate = (t.upRate + t.secUp) / 2
	t.secDown, t.secUp = 0, 0
	t.refreshCounters()
	t.syncDue(now)
	if tx := t.tx; tx != nil && len(tx.tick) > 0 && (!t.paused || len(t.peers) > 0) {
		each(t, tx.tick, "Tick", func(h plugin.TorrentTickHook) { h.Tick() })
	}
	for i := 0; i < len(t.peers); i++ {
		p := t.peers[i]
		p.onTick(now)
		if i < len(t.peers) && t.peers[i] != p {
			i-- // p was removed and another peer moved into its slot
		}
	}
	if t.paused || t.removed {
		return
	}
	if t.ticks%unchokeEvery == 0 {
		t.runChoker(now)
	}
	if t.ticks%optimisticEvery == 0 {
		t.runOptimistic(now)
	}
	t.deadlineTick() // deadline.go
	t.connectMore(now)
}

func (t *Torrent) activeChokerPeers() []choker.Peer {
	t.cpeers = t.cpeers[:0]
	for _, p := range t.peers {
		if p.active() {
			t.cpeers = append(t.cpeers, p)
		}
	}
	return t.cpeers
}

func (t *Torrent) runChoker(now time.Time) {
	peers := t.activeChokerPeers()
	t.unchoke, t.choke = t.choker.Regular(peers, t.isSeed(), now, t.unchoke[:0], t.choke[:0])
	for _, cp := range t.choke {
		cp.(*peer).choke()
	}
	for _, cp := range t.unchoke {
		cp.(*peer).unchoke()
	}
}

func (t *Torrent) runOptimistic(now time.Time) {
	peers := t.activeChokerPeers()
	var prio func(choker.Peer) uint64
	if sh := t.s.ext.hooks(); len(sh.priority) > 0 {
		prio = func(cp choker.Peer) uint64 {
			best := uint64(math.MaxUint64)
			pc := cp.(*peer).conn()
			each(t.s.ext, sh.priority, "UnchokePriority", func(h plugin.UnchokePriorityHook) {
				best = min(best, h.UnchokePriority(pc))
			})
			return best
		}
	}
	t.unchoke = t.choker.Optimistic(peers, now, prio, t.s.rng, t.unchoke[:0])
	for _, cp := range t.unchoke {
		p := cp.(*peer)
		p.lastOptimistic = now
		p.unchoke()
	}
}

// unchokedCount counts peers we do not choke and that use a slot.
func (t *Torrent) unchokedCount() int {
	n := 0
	for _, p := range t.peers {
		if p.active() && !p.amChoking {
			n++
		}
	}
	return n
}

// maybeUnchoke gives a newly interested peer a free slot at once instead of
// making it wait for the next choker round, as libtorrent does.
func (t *Torrent) maybeUnchoke(p *peer) {
	if p.amChoking && p.peerInterested && (t.s.set.UnchokeSlots < 0 || t.unchokedCount() < t.s.set.UnchokeSlots+1) {
		p.unchoke()
	}
}

// getPieceBuf returns the buffer collecting blocks of piece.
func (t *Torrent) getPieceBuf(piece uint32) *pieceBuf {
	if pb := t.downloading[piece]; pb != nil {
		return pb
	}
	var pb *pieceBuf
	if n := len(t.freeBufs); n > 0 {
		pb = t.freeBufs[n-1]
		t.freeBufs = t.freeBufs[:n-1]
	} else {
		pb = &pieceBuf{}
	}
	nb := t.pk.BlocksInPiece(int(piece))
	if cap(pb.blocks) < nb {
		pb.blocks = make([]storage.BlockRef, nb)
	}
	pb.blocks = pb.blocks[:nb]
	pb.got = 0
	pb.contrib = pb.contrib[:0]
	t.downloading[piece] = pb
	return pb
}

// dropPieceBuf releases any blocks still held and recycles the buffer.
func (t *Torrent) dropPieceBuf(piece uint32) {
	pb := t.downloading[piece]
	if pb == nil {
		return
	}
	delete(t.downloading, piece)
	for i := range pb.blocks {
		if pb.blocks[i].Span != nil {
			pb.blocks[i].Span.Release()
		}
		pb.blocks[i] = storage.BlockRef{}
	}
	pb.got = 0
	t.freeBufs = append(t.freeBufs, pb)
}

// pieceComplete hands a fully received piece to a disk worker, which hashes
// it and writes it when it passes.
func (t *Torrent) pieceComplete(piece uint32) {
	if t.holdWrite(piece) { // the storage is learning which files are wanted (priority.go)
		return
	}
	pb := t.downloading[piece]
	delete(t.downloading, piece)
	j := t.s.disk.NewJob()
	j.Kind = storage.JobWritePiece
	j.Storage = t.st
	j.Piece = int(piece)
	j.Blocks = append(j.Blocks[:0], pb.blocks...)
	j.Hash = t.hashes[piece]
	j.Poster = t.s.loop
	j.User = t
	j.Done = onPieceWritten
	t.writeStarted()
	t.writeSubmitted(t.info.PieceSize(int(piece)))
	for i := range pb.blocks {
		pb.blocks[i] = storage.BlockRef{}
	}
	if len(pb.contrib) > 0 {
		if t.hashing == nil {
			t.hashing = make(map[uint32][]*peer)
		}
		// Hand the slice over and give pb a recycled one: no allocation
		// per piece in steady state.
		t.hashing[piece] = pb.contrib
		pb.contrib = nil
		if n := len(t.contribFree); n > 0 {
			pb.contrib = t.contribFree[n-1]
			t.contribFree = t.contribFree[:n-1]
		}
	}
	pb.got = 0
	t.freeBufs = append(t.freeBufs, pb)
	t.s.disk.Submit(j)
}

func onPieceWritten(j *storage.Job) {
	t := j.User.(*Torrent)
	piece, pass, err := j.Piece, j.Pass, j.Err
	t.s.disk.Free(j)
	defer t.writeDone()
	defer t.writeCompleted(t.info.PieceSize(piece))
	if t.removed {
		return
	}
	var contrib []*peer
	if t.hashing != nil {
		contrib = t.hashing[uint32(piece)]
		delete(t.hashing, uint32(piece))
	}
	if contrib != nil {
		defer func() {
			clear(contrib)
			t.contribFree = append(t.contribFree, contrib[:0])
		}()
	}
	if err != nil {
		t.pk.PieceFailed(piece)
		t.fail(err)
		return
	}
	if !pass {
		t.s.count(MetricPiecesFailed, 1)
		// libtorrent's order: torrent plugins, then the peers that took part.
		if tx := t.tx; tx != nil {
			each(t, tx.pieceFailed, "OnPieceFailed", func(h plugin.TorrentPieceFailedHook) { h.OnPieceFailed(piece) })
		}
		for _, p := range contrib {
			if !p.closed {
				p.pieceFailed(piece)
			}
		}
		t.pk.PieceFailed(piece)
		t.s.post(&plugin.HashFailedAlert{TorrentAlert: t.alertBase(), Piece: piece})
		t.banSoleSender(contrib)
		t.paroleSenders(contrib)
		t.requestFromAll()
		return
	}
	// libtorrent's order: the peers that took part, then the picker and
	// HAVE, then torrent plugins.
	for _, p := range contrib {
		if !p.closed {
			p.piecePass(piece)
		}
	}
	t.s.count(MetricPiecesPassed, 1)
	t.endParole(contrib)
	t.deadlinePiecePassed(piece) // times it, wakes readers (deadline.go)
	t.pk.PiecePassed(piece)
	t.have.Set(piece)
	t.pieceWritten(piece)
	for _, p := range t.peers {
		if p.active() {
			p.sendHave(uint32(piece))
		}
	}
	if tx := t.tx; tx != nil {
		each(t, tx.piecePass, "OnPiecePass", func(h plugin.TorrentPiecePassHook) { h.OnPiecePass(piece) })
	}
	if t.s.wants(plugin.CategoryPieceProgress) {
		t.s.post(&plugin.PieceFinishedAlert{TorrentAlert: t.alertBase(), Piece: piece})
	}
	if t.pk.Complete() {
		t.finished()
		return
	}
	// Interest may have ended for peers whose only useful piece was this one.
	for _, p := range t.peers {
		if p.active() && p.amInterested {
			p.updateInterest()
		}
	}
}

// requestFromAll refills every peer's pipeline (after a failed piece made
// blocks pickable again).
func (t *Torrent) requestFromAll() {
	for _, p := range t.peers {
		if p.active() {
			p.fillRequests()
		}
	}
}

// finished runs when the last wanted piece passes (again after a skipped
// piece became wanted: priority.go).
func (t *Torrent) finished() {
	if err := t.st.CreateEmptyFiles(); err != nil {
		t.fail(err)
		return
	}
	t.setState(t.doneState())  // finished, or seeding with every piece (priority.go)
	t.stopSeedClock(t.s.now()) // the downloading stretch ends (seedlimit.go)
	if !t.onFinishedOnce {
		t.onFinishedOnce = true
		t.s.post(&plugin.TorrentFinishedAlert{TorrentAlert: t.alertBase()})
		t.rs.completed = t.s.now()
		t.resumeChanged(true)
	}
	t.announceCompletedOnce()
	for i := 0; i < len(t.peers); i++ {
		p := t.peers[i]
		if !p.active() {
			continue
		}
		p.updateInterest()
		if p.redundant() {
			// OnClose runs after this callback, so p stays in t.peers until then.
			p.policyDisconnect(ReasonRedundant, nil)
		}
	}
}

// Pause disconnects every peer and stops connecting, and takes the
// torrent out of the queue's control (SetAutoManaged). Loop only. The
// torrent is marked paused first; a PauseHook returning true then skips the
// rest (disconnects, alert).
func (t *Torrent) Pause() {
	t.autoManaged = false // a manual pause leaves the queue (queue.go)
	if t.paused {
		return
	}
	defer t.noteState()
	t.stopSeedClock(t.s.now()) // seedlimit.go
	if tx := t.tx; tx != nil && len(tx.pause) > 0 {
		t.paused = true
		if eachBool(t, tx.pause, "OnPause", func(h plugin.PauseHook) bool { return h.OnPause() }) {
			return
		}
		t.paused = false
	}
	t.pauseInternal()
	t.resumeChanged(true)
}

func (t *Torrent) pauseInternal() {
	t.paused = true
	t.stopAnnouncing()
	t.disconnectAll(ReasonTorrentStop)
	t.s.post(&plugin.TorrentPausedAlert{TorrentAlert: t.alertBase()})
}

// Resume undoes Pause; the torrent stays out of the queue's control.
// Loop only.
func (t *Torrent) Resume() {
	t.autoManaged = false // a manual resume leaves the queue (queue.go)
	if !t.paused {
		return
	}
	defer t.noteState()
	t.paused = false
	recheck := t.clearError() // diskerror.go
	t.resumeChanged(false)
	if tx := t.tx; tx != nil && len(tx.resume) > 0 {
		if eachBool(t, tx.resume, "OnResume", func(h plugin.ResumeHook) bool { return h.OnResume() }) {
			return
		}
	}
	t.s.post(&plugin.TorrentResumedAlert{TorrentAlert: t.alertBase()})
	if recheck && !t.checking {
		t.recheckAfterError() // its end starts announcing and connecting
		return
	}
	if !t.checking && (t.info == nil || t.filesChecked) {
		t.startAnnouncing() // else the end of the check starts it
	}
	t.connectMore(t.s.now())
}

// disconnectAll closes every connection. The loop runs each OnClose after
// the current callback, so the list is copied first.
func (t *Torrent) disconnectAll(r DisconnectReason) {
	ps := append([]*peer(nil), t.peers...)
	for _, p := range ps {
		p.disconnect(r, nil)
	}
}

// Remove disconnects the torrent's peers, closes its files and forgets it.
// Loop only.
func (t *Torrent) Remove() {
	if t.removed {
		return
	}
	t.shutdown(ReasonTorrentStop)
	if t.s.resume != nil {
		t.s.resume.RemoveResume(t.ih)
	}
	delete(t.s.torrents, t.wireIH)
	t.SetRatioLimit(RatioGlobal, 0) // uncounted from ownRatios (seedlimit.go)
	t.SetIdleLimit(IdleGlobal, 0)   // and from ownIdles
	t.dropAggregate()
	t.s.post(&plugin.TorrentRemovedAlert{TorrentAlert: t.alertBase()})
}

func (t *Torrent) shutdown(r DisconnectReason) {
	t.stopAnnouncing()
	t.removed = true
	t.disconnectAll(r)
	for piece := range t.downloading {
		t.dropPieceBuf(piece)
	}
	t.failWaiters(ErrUnknownTorrent)
	t.failStreams(ErrUnknownTorrent) // stream.go
	t.closeStorage()
}

// Status is a snapshot of a torrent's state.
type Status struct {
	Name          string
	InfoHash      metainfo.InfoHash
	SavePath      string
	State         plugin.TorrentState
	Paused        bool
	Err           error   // set while stopped by an error (diskerror.go), until Resume
	ErrorFile     string  // the file Err is about, "" if none
	Progress      float64 // 0..1, by pieces
	Pieces        int     // pieces we have
	NumPieces     int
	TotalWanted   int64
	TotalDone     int64
	DownloadRate  int64 // payload bytes/s
	UploadRate    int64
	TotalDownload int64 // payload bytes this session
	TotalUpload   int64
	NumPeers      int // connections that completed the handshake
	NumSeeds      int
	NumConnecting int
	NumCandidates int
	// ResumeRejected is set when resume data given at add did not fit and
	// the torrent was checked in full instead.
	ResumeRejected bool
	// TotalWantedDone is the bytes had of the pieces not skipped, and
	// TotalWanted the bytes of those pieces (libtorrent's
	// total_wanted_done and total_wanted, priority.go); TotalDone counts
	// every piece had, of TotalSize, the torrent's length (0 without
	// metadata). Once a priority was set, Progress is TotalWantedDone /
	// TotalWanted, as libtorrent's.
	TotalWantedDone int64
	TotalSize       int64
}

// Status returns a snapshot. Loop only.
func (t *Torrent) Status() Status {
	if t.info == nil {
		return t.statusNoMeta()
	}
	st := Status{
		Name:          t.info.Name,
		InfoHash:      t.ih,
		SavePath:      t.savePath,
		State:         t.state,
		Paused:        t.paused,
		Err:           t.err,
		ErrorFile:     t.diskErr.file,
		Pieces:        t.have.Count(),
		NumPieces:     t.info.NumPieces(),
		TotalWanted:   t.info.TotalLength,
		DownloadRate:  t.downRate,
		UploadRate:    t.upRate,
		TotalDownload: t.totalDown,
		TotalUpload:   t.totalUp,
		NumCandidates: len(t.cands),
	}
	st.ResumeRejected = t.rs.rejected
	if st.NumPieces > 0 {
		st.Progress = float64(st.Pieces) / float64(st.NumPieces)
	}
	done := int64(st.Pieces) * t.info.PieceLength
	if t.have.Has(st.NumPieces - 1) {
		done += t.info.PieceSize(st.NumPieces-1) - t.info.PieceLength
	}
	st.TotalDone = done
	st.TotalSize = t.info.TotalLength
	st.TotalWanted, st.TotalWantedDone = t.wantedBytes(t.info.TotalLength, done)
	if t.prio.custom && st.TotalWanted > 0 { // libtorrent: progress of what is wanted
		st.Progress = float64(st.TotalWantedDone) / float64(st.TotalWanted)
	}
	for _, p := range t.peers {
		switch {
		case p.active():
			st.NumPeers++
			if p.peerSeed() {
				st.NumSeeds++
			}
		default:
			st.NumConnecting++
		}
	}
	return st
}

// PeerInfo describes one connection; it is the plugin API's type, so the
// session handle and the peer handle report the same thing.
type PeerInfo = plugin.PeerInfo

// Peers lists the torrent's handshaken connections. Loop only.
func (t *Torrent) Peers() []PeerInfo {
	out := make([]PeerInfo, 0, len(t.peers))
	for _, p := range t.peers {
		if !p.active() {
			continue
		}
		out = append(out, p.info())
	}
	return out
}

// AddExtension attaches a torrent plugin made by ctor (nil: nothing). At
// run time it also runs OnFilesChecked at once if the torrent is checked,
// and NewConnection for every existing connection. Loop only.
func (t *Torrent) AddExtension(ctor func(plugin.TorrentHandle, any) plugin.TorrentPlugin, userData any) {
	if t.removed || ctor == nil {
		return
	}
	var tp plugin.TorrentPlugin
	func() {
		defer func() {
			if v := recover(); v != nil {
				t.s.post(&plugin.PluginDisabledAlert{TorrentAlert: t.alertBase(), Plugin: fmt.Sprintf("%T", ctor), Hook: "constructor", Panic: v})
				tp = nil
			}
		}()
		tp = ctor(t.handle(), userData)
	}()
	if tp != nil {
		t.attach(tp)
	}
}

// attach appends tp to the torrent's chain and catches it up: files
// checked, and a NewConnection for every existing connection.
func (t *Torrent) attach(tp plugin.TorrentPlugin) {
	var plugins []*attached
	if t.tx != nil {
		plugins = t.tx.plugins
	}
	a := &attached{v: tp}
	plugins = append(plugins[:len(plugins):len(plugins)], a)
	t.tx = buildTorrentHooks(plugins, &t.s.costs)
	one := buildTorrentHooks([]*attached{a}, &t.s.costs)
	if t.filesChecked {
		each(t, one.filesChecked, "OnFilesChecked", func(h plugin.FilesCheckedHook) { h.OnFilesChecked() })
	}
	if len(one.newConnection) > 0 {
		for _, p := range append([]*peer(nil), t.peers...) {
			if p.closed || p.closing {
				continue
			}
			each(t, one.newConnection, "NewConnection", func(h plugin.NewConnectionHook) {
				if pp := h.NewConnection(p.conn()); pp != nil {
					p.attach(pp)
				}
			})
		}
	}
}

// disable implements disabler: a torrent plugin panicked.
func (t *Torrent) disable(a *attached, hook string, v any) {
	a.removed.Store(true)
	if t.tx != nil {
		x := buildTorrentHooks(t.tx.plugins, &t.s.costs)
		if len(x.plugins) == 0 {
			x = nil
		}
		t.tx = x
	}
	t.s.post(&plugin.PluginDisabledAlert{TorrentAlert: t.alertBase(), Plugin: pluginName(a.v), Hook: hook, Panic: v})
}
