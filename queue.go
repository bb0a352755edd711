package shardtorrent

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/shardtorrent/shardtorrent/shard"
)

// The queue: libtorrent's auto-managed torrents
// (session_impl::recalculate_auto_managed_torrents).
//
// Every torrent has a session-wide queue position (its add order, changed
// by QueueUp, QueueDown, QueueTop and QueueBottom). With
// Settings.ActiveDownloads, ActiveSeeds or ActiveLimit set to a value,
// one goroutine recalculates which auto-managed torrents run, every
// Settings.AutoManageInterval (30 s, as libtorrent) and at once (within
// a few milliseconds) after an add, a remove, a queue move or a manual
// pause or resume, as libtorrent triggers it on those events: it reads every shard's shard.QueueInfo (one callback per loop),
// walks the torrents that are not seeds in queue order, then the seeds in
// queue order, starting the first ones that fit the limits and stopping
// the rest, and posts the starts and stops to the owning loops
// (shard.Torrent.QueueStart / QueueStop: alerts, the status aggregates
// and StateSeq follow as for a pause). A running torrent that has moved
// no payload for shard.Settings.AutoManageInactiveTime is "slow" and,
// unless Settings.CountSlowTorrents, keeps running without using a slot
// (libtorrent's dont_count_slow_torrents).
//
// The queue order is guarded by a mutex taken by adds, removes, moves and
// the recalculation, never on the data path. With every limit unlimited
// (the default) the goroutine does not run until ApplySettings first sets
// a limit; from then on it runs until Close.

// Queue defaults. A seeding node keeps every torrent running: libtorrent's
// 3 downloads / 5 seeds / 15 active would leave a 10,000-torrent node
// almost all paused, and an idle seed costs nothing here (it skips its
// tick), so the limits are for operators who want them.
var (
	DefaultActiveDownloads = Unlimited()
	DefaultActiveSeeds     = Unlimited()
	DefaultActiveLimit     = Unlimited()
)

// DefaultAutoManageInterval is Settings.AutoManageInterval's default,
// libtorrent's auto_manage_interval.
const DefaultAutoManageInterval = 30 * time.Second

type queueEntry struct {
	key  [20]byte
	live bool // false: a removed torrent's tombstone, dropped by compact
}

// queue is the session's queue order and the recalculation's scratch.
type queue struct {
	mu    sync.Mutex
	order []queueEntry
	pos   map[[20]byte]int // index into order of every live key
	holes int              // tombstones in order

	// The recalculation's own state (one recalculation at a time: rmu).
	kick  chan struct{} // a recalculation is due (nudge); capacity 1
	rmu   sync.Mutex
	snap  [][20]byte
	infos [][]shard.QueueInfo // per shard
	byKey map[[20]byte]queueRef
	start [][][20]byte // per shard
	stop  [][][20]byte
}

type queueRef struct{ shard, i int32 }

func newQueue(shards int) *queue {
	return &queue{
		kick:  make(chan struct{}, 1),
		pos:   make(map[[20]byte]int),
		infos: make([][]shard.QueueInfo, shards),
		byKey: make(map[[20]byte]queueRef),
		start: make([][][20]byte, shards),
		stop:  make([][][20]byte, shards),
	}
}

// nudge asks the recalculation loop to run now; it never blocks, and
// nudges before the loop gets to it count once.
func (q *queue) nudge() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// add puts key at the bottom of the queue.
func (q *queue) add(key [20]byte) {
	defer q.nudge()
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.pos[key]; ok {
		return
	}
	q.pos[key] = len(q.order)
	q.order = append(q.order, queueEntry{key: key, live: true})
}

// remove takes key out of the queue: O(1), a tombstone until compact.
func (q *queue) remove(key [20]byte) {
	defer q.nudge()
	q.mu.Lock()
	defer q.mu.Unlock()
	i, ok := q.pos[key]
	if !ok {
		return
	}
	delete(q.pos, key)
	q.order[i].live = false
	q.holes++
}

// compactLocked drops the tombstones and renumbers; q.mu held.
func (q *queue) compactLocked() {
	if q.holes == 0 {
		return
	}
	n := 0
	for _, e := range q.order {
		if e.live {
			q.order[n] = e
			q.pos[e.key] = n
			n++
		}
	}
	clear(q.order[n:])
	q.order = q.order[:n]
	q.holes = 0
}

// position returns key's 0-based queue position, or -1.
func (q *queue) position(key [20]byte) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.compactLocked()
	if i, ok := q.pos[key]; ok {
		return i
	}
	return -1
}

// positions fills the QueuePosition of views (-1 for a torrent the queue
// does not know, being removed).
func (q *queue) positions(views []TorrentView) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.compactLocked()
	for i := range views {
		p, ok := q.pos[views[i].InfoHash.Short()]
		if !ok {
			p = -1
		}
		views[i].QueuePosition = p
	}
}

// queueMove is a move in the queue.
type queueMove int

const (
	moveUp queueMove = iota
	moveDown
	moveTop
	moveBottom
)

// move applies m to key; false if key is not queued.
func (q *queue) move(key [20]byte, m queueMove) bool {
	defer q.nudge()
	q.mu.Lock()
	defer q.mu.Unlock()
	q.compactLocked()
	i, ok := q.pos[key]
	if !ok {
		return false
	}
	j := i
	switch m {
	case moveUp:
		j = max(i-1, 0)
	case moveDown:
		j = min(i+1, len(q.order)-1)
	case moveTop:
		j = 0
	case moveBottom:
		j = len(q.order) - 1
	}
	e := q.order[i]
	if j < i {
		copy(q.order[j+1:i+1], q.order[j:i])
	} else {
		copy(q.order[i:j], q.order[i+1:j+1])
	}
	q.order[j] = e
	for k := min(i, j); k <= max(i, j); k++ {
		q.pos[q.order[k].key] = k
	}
	return true
}

// queueLimited reports whether set limits the active torrents at all.
func queueLimited(set *Settings) bool {
	return !set.ActiveDownloads.IsUnlimited() || !set.ActiveSeeds.IsUnlimited() || !set.ActiveLimit.IsUnlimited()
}

// slots turns a Limit into a count: unlimited is MaxInt64.
func slots(l Limit) int64 {
	if v, ok := l.Value(); ok {
		return v
	}
	return math.MaxInt64
}

// startQueueLoop lets the tests run recalcQueue themselves.
var startQueueLoop = true

// startQueue starts the recalculation goroutine unless it runs: at
// NewSession when the settings limit the queue, or when ApplySettings
// first sets a limit. It keeps running until Close (a recalculation every
// AutoManageInterval with nothing to do costs one round per shard).
func (s *Session) startQueue() {
	if !startQueueLoop || !s.queueRunning.CompareAndSwap(false, true) {
		return
	}
	go s.runQueue()
}

// queueSettingsChanged is ApplySettings' news that the queue's limits,
// slow-torrent rule or interval changed: the goroutine starts if need be
// and recalculates at once (also when every limit was lifted, so the
// torrents the old limits held paused start).
func (s *Session) queueSettingsChanged() {
	s.startQueue()
	s.q.nudge()
}

// runQueue recalculates the queue every Settings.AutoManageInterval (read
// again after each recalculation, so ApplySettings can change it) and
// when nudged, until the session closes.
func (s *Session) runQueue() {
	every := s.live.Load().AutoManageInterval
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-s.stopped:
			return
		case <-tk.C:
		case <-s.q.kick:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := s.recalcQueue(ctx)
		cancel()
		if err == ErrClosed {
			return
		}
		if err != nil {
			s.log.Warn("queue: recalculation failed", "err", err)
		}
		if e := s.live.Load().AutoManageInterval; e != every {
			every = e
			tk.Reset(every)
		}
	}
}

// recalcQueue decides which auto-managed torrents run and starts and stops
// them; see the comment at the top of this file. It returns once every
// start and stop ran. Safe from any goroutine; one runs at a time.
func (s *Session) recalcQueue(ctx context.Context) error {
	q := s.q
	q.rmu.Lock()
	defer q.rmu.Unlock()
	q.mu.Lock()
	q.compactLocked()
	q.snap = q.snap[:0]
	for _, e := range q.order {
		q.snap = append(q.snap, e.key)
	}
	q.mu.Unlock()

	clear(q.byKey)
	for i, sh := range s.shards {
		if err := s.onLoop(ctx, sh, func() { q.infos[i] = sh.AppendQueueInfo(q.infos[i][:0]) }); err != nil {
			return err
		}
		for j := range q.infos[i] {
			q.byKey[q.infos[i][j].Key] = queueRef{int32(i), int32(j)}
		}
		q.start[i], q.stop[i] = q.start[i][:0], q.stop[i][:0]
	}
	q.decide(s.live.Load())

	for i, sh := range s.shards {
		start, stop := q.start[i], q.stop[i]
		if len(start)+len(stop) == 0 {
			continue
		}
		err := s.onLoop(ctx, sh, func() {
			// Stops first: a torrent paused by hand since the snapshot is
			// no longer auto-managed, and QueueStop/QueueStart skip it.
			for _, k := range stop {
				if t := sh.Torrent(k); t != nil {
					t.QueueStop()
				}
			}
			for _, k := range start {
				if t := sh.Torrent(k); t != nil {
					t.QueueStart()
				}
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// decide fills q.start and q.stop from q.snap and q.infos.
func (q *queue) decide(set *Settings) {
	downloads, seeds, hard := slots(set.ActiveDownloads), slots(set.ActiveSeeds), slots(set.ActiveLimit)
	for _, wantSeed := range [2]bool{false, true} {
		for _, key := range q.snap {
			ref, ok := q.byKey[key]
			if !ok {
				continue // not auto-managed
			}
			e := &q.infos[ref.shard][ref.i]
			if e.Seed != wantSeed || e.Busy {
				continue
			}
			if !e.Paused && !e.Active && !set.CountSlowTorrents {
				continue // slow: keeps running, uses no slot
			}
			class := &downloads
			if e.Seed {
				class = &seeds
			}
			if *class > 0 && hard > 0 {
				*class--
				hard--
				if e.Paused {
					q.start[ref.shard] = append(q.start[ref.shard], key)
				}
			} else if !e.Paused {
				q.stop[ref.shard] = append(q.stop[ref.shard], key)
			}
		}
	}
}

// QueuePosition returns the torrent's 0-based position in the session's
// queue (libtorrent's queue_position; lower runs first). Safe from any
// goroutine.
func (t *Torrent) QueuePosition(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if t.s.closed.Load() {
		return 0, ErrClosed
	}
	if p := t.s.q.position(t.key); p >= 0 {
		return p, nil
	}
	return 0, ErrTorrentGone
}

func (t *Torrent) queueMove(ctx context.Context, m queueMove) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t.s.closed.Load() {
		return ErrClosed
	}
	if !t.s.q.move(t.key, m) {
		return ErrTorrentGone
	}
	return nil
}

// QueueUp moves the torrent one place up the queue (towards running).
// Safe from any goroutine; the next recalculation acts on it.
func (t *Torrent) QueueUp(ctx context.Context) error { return t.queueMove(ctx, moveUp) }

// QueueDown moves the torrent one place down the queue. Safe from any
// goroutine.
func (t *Torrent) QueueDown(ctx context.Context) error { return t.queueMove(ctx, moveDown) }

// QueueTop moves the torrent to the head of the queue. Safe from any
// goroutine.
func (t *Torrent) QueueTop(ctx context.Context) error { return t.queueMove(ctx, moveTop) }

// QueueBottom moves the torrent to the end of the queue. Safe from any
// goroutine.
func (t *Torrent) QueueBottom(ctx context.Context) error { return t.queueMove(ctx, moveBottom) }

// SetAutoManaged puts the torrent under the queue's control (on: it runs
// when the queue's limits let it, and is paused when they do not) or
// takes it out (off: it stays paused or running as it is, as libtorrent's
// unset_flags(auto_managed)). Unlike Resume, which runs a torrent outside
// the queue, SetAutoManaged(ctx, true) on a paused torrent leaves it
// paused until the queue's next recalculation, moments later, starts it
// (at once when no limit is set: the queue then has nothing to wait for).
// A torrent stopped by an error is resumed as by Resume (the error
// cleared, a re-check if needed), since the queue never starts one.
// Transmission's torrent-start is this; torrent-start-now is Resume. Safe
// from any goroutine.
func (t *Torrent) SetAutoManaged(ctx context.Context, on bool) error {
	defer t.s.q.nudge()
	limited := queueLimited(t.s.live.Load()) && t.s.queueRunning.Load()
	return t.do(ctx, func(x *shard.Torrent) {
		if on && (!limited || x.Status().Err != nil) {
			x.Resume() // no queue runs to start it, or it would not
		}
		x.SetAutoManaged(on)
	})
}

// AutoManaged reports whether the queue controls the torrent
// (SetAutoManaged). Safe from any goroutine.
func (t *Torrent) AutoManaged(ctx context.Context) (bool, error) {
	var on bool
	err := t.do(ctx, func(x *shard.Torrent) { on = x.AutoManaged() })
	return on, err
}
