// Package choker decides which peers we upload to, with libtorrent's
// semantics (src/choker.cpp, settings unchoke_slots_limit,
// seed_choking_algorithm, seeding_piece_quota, num_optimistic_unchoke_slots).
//
// Two decisions run on timers the caller owns:
//
//   - Regular, every unchoke interval (15 s in libtorrent): the interested
//     peers are ranked and the best Config.Slots hold the regular upload
//     slots. While downloading the ranking is tit-for-tat: the peers that
//     give us the most (download rate), ties broken by our upload rate to
//     them. While seeding it is the Config.Seeding algorithm.
//   - Optimistic, every optimistic interval (30 s): Config.OptimisticSlots
//     choked, interested peers are unchoked regardless of rank, those
//     optimistically unchoked longest ago (or never) first.
//
// An optimistic unchoke lasts Config.OptimisticInterval from the peer's
// LastOptimistic time: until then Regular does not choke the peer for lack
// of rank (it still chokes it if it loses interest); afterwards Regular
// chokes it unless it earned a regular slot. On a tick where both run, call
// Optimistic first and then Regular, so the peers whose optimistic turn ended
// are choked in the same tick and the optimistic set never exceeds its slots.
//
// Peers with IgnoreSlots (local-network peers, plugins that ignore unchoke
// slots) are always unchoked and never count against a slot.
//
// The choker keeps no per-peer state; everything it needs comes through the
// Peer interface, and time and randomness are arguments.
//
// Threading: a Choker is loop only; it keeps scratch space and must not be
// used from two goroutines at once. Regular and Optimistic do not allocate in
// steady state when the output slices have capacity.
package choker

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Peer is what the choker needs to know about a connection. Implementations
// are compared with == nowhere; any type will do, though pointer types avoid
// an allocation when a slice of them is built.
type Peer interface {
	// Interested reports whether the peer is interested in us.
	Interested() bool
	// Choked reports whether we currently choke the peer.
	Choked() bool
	// DownloadRate is the payload rate, bytes/s, we receive from the peer.
	DownloadRate() int64
	// UploadRate is the payload rate, bytes/s, we send to the peer.
	UploadRate() int64
	// UploadedSinceUnchoke is the payload sent since the peer was last
	// unchoked (the round-robin seeding quota).
	UploadedSinceUnchoke() int64
	// UnchokedAt is when the peer was last unchoked; zero if never.
	UnchokedAt() time.Time
	// LastOptimistic is when the peer was last unchoked optimistically;
	// zero if never. The caller sets it when it applies Optimistic's result.
	LastOptimistic() time.Time
	// IgnoreSlots reports that the peer is always unchoked and uses no slot.
	IgnoreSlots() bool
}

// PieceCounter is implemented by peers that report their progress; the
// AntiLeech algorithm asserts it on each Peer. A Peer without it ranks as if
// it were at 50%, i.e. by waiting time alone.
type PieceCounter interface {
	// PiecesHave is the number of pieces the peer has.
	PiecesHave() int
}

// SeedAlgorithm selects how Regular ranks peers while seeding.
type SeedAlgorithm int

const (
	// RoundRobin rotates the slots so every interested peer gets a turn: a
	// peer keeps its slot until it has been sent PieceQuota bytes and has
	// held it for MinUnchokeTime; then the peers that have waited longest
	// since their last unchoke take over. Among peers still within their
	// turn, the one we upload to fastest ranks first.
	RoundRobin SeedAlgorithm = iota
	// FastestUpload ranks by our upload rate to the peer, then by how long it
	// has waited since it was last unchoked.
	FastestUpload
	// AntiLeech prefers peers that have just started or nearly finished
	// (score grows with the distance of their completion from 50%), then
	// the longest waiting. It needs Config.NumPieces, and peers that
	// implement PieceCounter.
	AntiLeech
)

// ErrUnknownAlgorithm is wrapped by ParseSeedAlgorithm's error.
var ErrUnknownAlgorithm = errors.New("choker: unknown seeding algorithm")

var seedAlgorithmNames = [...]string{RoundRobin: "round-robin", FastestUpload: "fastest-upload", AntiLeech: "anti-leech"}

// String is the algorithm's name as ParseSeedAlgorithm reads it.
func (a SeedAlgorithm) String() string {
	if a >= 0 && int(a) < len(seedAlgorithmNames) {
		return seedAlgorithmNames[a]
	}
	return fmt.Sprintf("SeedAlgorithm(%d)", int(a))
}

// ParseSeedAlgorithm reads "round-robin", "fastest-upload" or
// "anti-leech" (libtorrent's seed_choking_algorithm values; underscores
// are accepted for dashes). Its error wraps ErrUnknownAlgorithm.
func ParseSeedAlgorithm(s string) (SeedAlgorithm, error) {
	s = strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "_", "-")
	for i, n := range seedAlgorithmNames {
		if n == s {
			return SeedAlgorithm(i), nil
		}
	}
	return 0, fmt.Errorf("%w %q (want round-robin, fastest-upload or anti-leech)", ErrUnknownAlgorithm, s)
}

// Defaults applied by New to zero Config fields.
const (
	// DefaultSlots is libtorrent's unchoke_slots_limit.
	DefaultSlots = 8
	// DefaultQuotaPieces is libtorrent's seeding_piece_quota, in pieces.
	DefaultQuotaPieces = 20
	// DefaultPieceQuota is used when Config.PieceQuota is 0: 20 pieces of
	// 256 KiB. Callers should set PieceQuota to DefaultQuotaPieces times the
	// torrent's piece length.
	DefaultPieceQuota = DefaultQuotaPieces * 256 << 10
	// DefaultMinUnchokeTime is the one minute libtorrent's round robin
	// lets a peer keep its slot.
	DefaultMinUnchokeTime = time.Minute
	// DefaultOptimisticInterval is how long an optimistic unchoke lasts,
	// libtorrent's optimistic_unchoke_interval.
	DefaultOptimisticInterval = 30 * time.Second
)

// Config tunes a Choker. The zero value gives libtorrent's defaults.
type Config struct {
	// Slots is the number of regular upload slots: 0 means DefaultSlots,
	// negative means unlimited (every interested peer is unchoked).
	Slots int
	// OptimisticSlots is the number of optimistic unchokes per round:
	// 0 means max(1, Slots/5) as libtorrent's automatic setting (20% of
	// the regular slots), negative means none.
	OptimisticSlots int
	// Seeding selects the ranking used by Regular while seeding.
	Seeding SeedAlgorithm
	// PieceQuota is the RoundRobin turn, in bytes sent since unchoke:
	// 0 means DefaultPieceQuota.
	PieceQuota int64
	// MinUnchokeTime is the shortest RoundRobin turn: 0 means
	// DefaultMinUnchokeTime, negative means no minimum.
	MinUnchokeTime time.Duration
	// OptimisticInterval is how long an optimistic unchoke protects a peer
	// from Regular: 0 means DefaultOptimisticInterval.
	OptimisticInterval time.Duration
	// NumPieces is the torrent's piece count, for AntiLeech.
	NumPieces int
}

// Choker makes unchoke decisions. Create one with New.
type Choker struct {
	cfg  Config
	cand []ranked // scratch, reused across calls; cleared after use
}

// ranked is a candidate with precomputed sort keys, so the sort neither
// calls interface methods nor captures state in a closure.
type ranked struct {
	p    Peer
	k    [3]int64 // higher ranks first, compared in order
	prio uint64   // then lower first (Optimistic's caller priority)
	tie  uint64   // then lower first (Optimistic's random tie-break)
	idx  int      // then input order, for determinism
}

func compareRanked(a, b ranked) int {
	for i := range a.k {
		if c := cmp.Compare(b.k[i], a.k[i]); c != 0 {
			return c
		}
	}
	if c := cmp.Compare(a.prio, b.prio); c != 0 {
		return c
	}
	if c := cmp.Compare(a.tie, b.tie); c != 0 {
		return c
	}
	return cmp.Compare(a.idx, b.idx)
}

// New returns a Choker with cfg's zero fields set to their defaults.
func New(cfg Config) *Choker {
	if cfg.Slots == 0 {
		cfg.Slots = DefaultSlots
	}
	if cfg.OptimisticSlots == 0 {
		cfg.OptimisticSlots = max(1, cfg.Slots/5)
	}
	if cfg.PieceQuota == 0 {
		cfg.PieceQuota = DefaultPieceQuota
	}
	if cfg.MinUnchokeTime == 0 {
		cfg.MinUnchokeTime = DefaultMinUnchokeTime
	}
	if cfg.OptimisticInterval == 0 {
		cfg.OptimisticInterval = DefaultOptimisticInterval
	}
	return &Choker{cfg: cfg}
}

// Config returns the configuration in effect, defaults filled in.
func (c *Choker) Config() Config { return c.cfg }

// since returns how long ago t was, saturating; a zero t (never) is the
// longest possible wait.
func since(now, t time.Time) int64 {
	if t.IsZero() {
		return math.MaxInt64
	}
	return int64(now.Sub(t))
}

// optimisticActive reports whether p is within an optimistic unchoke.
func (c *Choker) optimisticActive(p Peer, now time.Time) bool {
	t := p.LastOptimistic()
	return !t.IsZero() && !p.Choked() && now.Sub(t) < c.cfg.OptimisticInterval
}

// Regular runs the regular unchoke round (every 15 s). It appends to unchoke
// the peers to unchoke (now choked) and to choke those to choke (now
// unchoked), and returns both; a peer already in the right state is in
// neither. seeding selects Config.Seeding over tit-for-tat. Only interested
// peers compete for slots; unchoked uninterested peers are choked.
func (c *Choker) Regular(peers []Peer, seeding bool, now time.Time, unchoke, choke []Peer) ([]Peer, []Peer) {
	cand := c.cand[:0]
	for i, p := range peers {
		switch {
		case p.IgnoreSlots():
			if p.Choked() {
				unchoke = append(unchoke, p)
			}
		case !p.Interested():
			if !p.Choked() {
				choke = append(choke, p)
			}
		default:
			cand = append(cand, ranked{p: p, k: c.regularKeys(p, seeding, now), idx: i})
		}
	}
	slices.SortFunc(cand, compareRanked)
	slots := len(cand)
	if c.cfg.Slots >= 0 {
		slots = min(slots, c.cfg.Slots)
	}
	for i, r := range cand {
		switch {
		case i < slots:
			if r.p.Choked() {
				unchoke = append(unchoke, r.p)
			}
		case !r.p.Choked() && !c.optimisticActive(r.p, now):
			choke = append(choke, r.p)
		}
	}
	clear(cand) // drop references to peers
	c.cand = cand[:0]
	return unchoke, choke
}

func (c *Choker) regularKeys(p Peer, seeding bool, now time.Time) [3]int64 {
	waited := since(now, p.UnchokedAt())
	if !seeding {
		// Tit-for-tat: reciprocate to those who give us the most.
		return [3]int64{p.DownloadRate(), p.UploadRate(), waited}
	}
	switch c.cfg.Seeding {
	case FastestUpload:
		return [3]int64{p.UploadRate(), waited, 0}
	case AntiLeech:
		return [3]int64{c.antiLeechScore(p), waited, 0}
	default: // RoundRobin
		// A turn is over once the peer got its quota and held the slot
		// long enough; such peers rank after everyone still in a turn
		// or waiting for one.
		done := !p.Choked() && p.UploadedSinceUnchoke() > c.cfg.PieceQuota &&
			since(now, p.UnchokedAt()) >= int64(c.cfg.MinUnchokeTime)
		inTurn := int64(1)
		if done {
			inTurn = 0
		}
		// A choked peer's rate is residual from its last turn.
		rate := p.UploadRate()
		if p.Choked() {
			rate = 0
		}
		return [3]int64{inTurn, rate, waited}
	}
}

// antiLeechScore is 0 for a peer at 50% and 1000 for one at 0% or 100%.
func (c *Choker) antiLeechScore(p Peer) int64 {
	n := int64(c.cfg.NumPieces)
	pc, ok := p.(PieceCounter)
	if n <= 0 || !ok {
		return 0
	}
	have := min(max(int64(pc.PiecesHave()), 0), n)
	d := (2*have - n) * 1000 / n
	if d < 0 {
		d = -d
	}
	return d
}

// Optimistic runs the optimistic unchoke round (every 30 s). It appends to
// dst up to Config.OptimisticSlots interested, choked peers (IgnoreSlots
// peers excluded: they are always unchoked) and returns it. Those never
// optimistically unchoked come first, then those unchoked optimistically
// longest ago; ties go to the lower prio(p) (a plugin's unchoke priority;
// math.MaxUint64 means no opinion; prio may be nil), then to rng's choice
// (rng may be nil for input order). The caller unchokes them and sets their
// LastOptimistic to now.
func (c *Choker) Optimistic(peers []Peer, now time.Time, prio func(Peer) uint64, rng *rand.Rand, dst []Peer) []Peer {
	n := c.cfg.OptimisticSlots
	if n <= 0 {
		return dst
	}
	cand := c.cand[:0]
	for i, p := range peers {
		if !p.Interested() || !p.Choked() || p.IgnoreSlots() {
			continue
		}
		r := ranked{p: p, idx: i, prio: math.MaxUint64}
		r.k[0] = since(now, p.LastOptimistic())
		if prio != nil {
			r.prio = prio(p)
		}
		if rng != nil {
			r.tie = rng.Uint64()
		}
		cand = append(cand, r)
	}
	slices.SortFunc(cand, compareRanked)
	for _, r := range cand[:min(n, len(cand))] {
		dst = append(dst, r.p)
	}
	clear(cand)
	c.cand = cand[:0]
	return dst
}
