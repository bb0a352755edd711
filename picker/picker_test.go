package picker

import (
	"math/rand/v2"
	"testing"

	"github.com/shardtorrent/shardtorrent/bitfield"
)

func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

func mustCheck(t testing.TB, p *Picker) {
	t.Helper()
	if err := p.check(); err != nil {
		t.Fatal(err)
	}
}

func bf(n int, set ...int) *bitfield.Bitfield {
	b := bitfield.New(n)
	for _, i := range set {
		b.Set(i)
	}
	return b
}

func TestGeometry(t *testing.T) {
	tests := []struct {
		name            string
		pieces          int
		pieceLen, total int64
		block           int
		piece           int
		wantBlocks      int
		wantLast        uint32 // length of the piece's last block
		valid           Block
		invalid         []Block
	}{
		{name: "even", pieces: 4, pieceLen: 64, total: 256, block: 16, piece: 3, wantBlocks: 4, wantLast: 16,
			valid:   Block{3, 48, 16},
			invalid: []Block{{4, 0, 16}, {3, 8, 16}, {3, 64, 16}, {3, 48, 15}}},
		{name: "short last piece", pieces: 4, pieceLen: 64, total: 200, block: 16, piece: 3, wantBlocks: 1, wantLast: 8,
			valid:   Block{3, 0, 8},
			invalid: []Block{{3, 0, 16}, {3, 16, 16}}},
		{name: "short last block", pieces: 2, pieceLen: 40, total: 70, block: 16, piece: 0, wantBlocks: 3, wantLast: 8,
			valid:   Block{0, 32, 8},
			invalid: []Block{{0, 32, 16}, {1, 16, 16}}},
		{name: "single piece", pieces: 1, pieceLen: 100, total: 33, block: 16, piece: 0, wantBlocks: 3, wantLast: 1,
			valid: Block{0, 32, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(tt.pieces, tt.pieceLen, tt.total, tt.block, newRNG(1))
			mustCheck(t, p)
			if got := p.BlocksInPiece(tt.piece); got != tt.wantBlocks {
				t.Fatalf("BlocksInPiece=%d want %d", got, tt.wantBlocks)
			}
			if got := p.BlockLength(tt.piece, tt.wantBlocks-1); got != tt.wantLast {
				t.Fatalf("last BlockLength=%d want %d", got, tt.wantLast)
			}
			if !p.Valid(tt.valid) {
				t.Fatalf("Valid(%v)=false", tt.valid)
			}
			for _, b := range tt.invalid {
				if p.Valid(b) {
					t.Fatalf("Valid(%v)=true", b)
				}
			}
		})
	}
}

func TestNewBadGeometryPanics(t *testing.T) {
	for _, g := range [][3]int64{{4, 64, 257}, {4, 64, 192}, {4, 0, 0}, {-1, 64, 0}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New%v did not panic", g)
				}
			}()
			New(int(g[0]), g[1], g[2], 16, newRNG(1))
		}()
	}
}

// TestRarestFirst controls availability and checks the order in which a
// seed is asked for fresh pieces, one piece per pick.
func TestRarestFirst(t *testing.T) {
	tests := []struct {
		name  string
		avail []int // extra availability per piece
		prio  []int // nil = default
		want  []uint32
	}{
		{"rarest first", []int{3, 1, 2, 0}, nil, []uint32{3, 1, 2, 0}},
		{"priority beats rarity", []int{3, 1, 2, 0}, []int{4, 4, 7, 4}, []uint32{2, 3, 1, 0}},
		{"priority zero never", []int{0, 1, 2, 3}, []int{0, 4, 4, 4}, []uint32{1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := len(tt.avail)
			p := New(n, 16, int64(16*n), 16, newRNG(7))
			for i, a := range tt.avail {
				for range a {
					p.IncAvailability(i)
				}
				if tt.prio != nil {
					p.SetPriority(i, tt.prio[i])
				}
			}
			p.AddSeed()
			mustCheck(t, p)
			var got []uint32
			for {
				bs := p.Pick(nil, 1, nil, true, 1)
				if len(bs) == 0 {
					break
				}
				got = append(got, bs[0].Piece)
				p.Received(bs[0], 1)
				p.PiecePassed(int(bs[0].Piece))
				mustCheck(t, p)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("order %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("order %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestRandomTieBreak checks that two equally rare pieces are each picked
// first under some seed.
func TestRandomTieBreak(t *testing.T) {
	first := map[uint32]int{}
	for seed := uint64(0); seed < 64; seed++ {
		p := New(4, 16, 64, 16, newRNG(seed))
		for _, i := range []int{0, 3} { // pieces 1 and 2 are the rarest
			p.IncAvailability(i)
		}
		bs := p.Pick(nil, 1, nil, true, 1)
		first[bs[0].Piece]++
	}
	if first[1] == 0 || first[2] == 0 || first[0]+first[3] != 0 {
		t.Fatalf("first picks by piece: %v", first)
	}
}

// TestPreferPartials checks that a started piece is finished before a rarer
// fresh one is opened.
func TestPreferPartials(t *testing.T) {
	p := New(3, 64, 192, 16, newRNG(1))
	p.AddPeerBitfield(bf(3, 0, 1, 2))
	p.AddPeerBitfield(bf(3, 0, 1))
	p.AddPeerBitfield(bf(3, 0))
	a := p.Pick(nil, 1, bf(3, 0, 1, 2), false, 1) // rarest: piece 2
	if a[0].Piece != 2 {
		t.Fatalf("first pick %v", a)
	}
	p.IncAvailability(2) // piece 2 is no longer the rarest...
	p.IncAvailability(2)
	p.IncAvailability(2)
	b := p.Pick(nil, 2, nil, true, 3) // ...but it is partial
	for _, blk := range b {
		if blk.Piece != 2 {
			t.Fatalf("second pick %v, want piece 2 blocks", b)
		}
	}
	if p.Downloading() != 1 {
		t.Fatalf("Downloading=%d", p.Downloading())
	}
	mustCheck(t, p)
}

func TestPickRespectsPeerBitfield(t *testing.T) {
	p := New(8, 32, 256, 16, newRNG(3))
	has := bf(8, 5)
	p.AddPeerBitfield(has)
	p.SetHave(2)
	got := p.Pick(nil, 1, has, false, 100)
	if len(got) != 2 || got[0].Piece != 5 || got[1].Piece != 5 {
		t.Fatalf("Pick=%v, want both blocks of piece 5", got)
	}
	if got := p.Pick(nil, 1, has, false, 100); len(got) != 0 {
		t.Fatalf("second Pick=%v, want nothing", got)
	}
	if got := p.Pick(nil, 2, nil, false, 100); len(got) != 0 {
		t.Fatalf("Pick with nil bitfield=%v", got)
	}
	// Exactly the 12 free blocks: no end game yet, so no duplicates.
	rest := p.Pick(nil, 3, nil, true, 12)
	for _, b := range rest {
		if b.Piece == 2 || b.Piece == 5 {
			t.Fatalf("picked %v: had or outstanding", b)
		}
	}
	if len(rest) != 12 || !p.InEndgame() {
		t.Fatalf("picked %d, endgame %v", len(rest), p.InEndgame())
	}
	mustCheck(t, p)
}

func TestAbortAndFail(t *testing.T) {
	p := New(2, 32, 64, 16, newRNG(1))
	p.AddSeed()
	bs := p.Pick(nil, 1, nil, true, 2)
	if p.Downloading() != 1 {
		t.Fatal("not downloading")
	}
	p.Abort(bs[0], 2) // not the requester: no effect
	if !p.Requested(bs[0], 1) {
		t.Fatal("abort by stranger dropped the request")
	}
	p.Abort(bs[0], 1)
	p.Abort(bs[1], 1)
	mustCheck(t, p)
	if p.Downloading() != 0 {
		t.Fatal("idle piece not released")
	}
	bs = p.Pick(bs[:0], 1, nil, true, 2)
	for _, b := range bs {
		if c, dup := p.Received(b, 1); dup || (c != (b == bs[1])) {
			t.Fatalf("Received(%v)=%v,%v", b, c, dup)
		}
	}
	if _, dup := p.Received(bs[0], 1); !dup {
		t.Fatal("second copy not a duplicate")
	}
	p.PieceFailed(int(bs[0].Piece))
	mustCheck(t, p)
	again := p.Pick(nil, 1, nil, true, 2)
	if len(again) != 2 || again[0].Piece != bs[0].Piece && again[1].Piece != bs[0].Piece {
		t.Fatalf("failed piece not re-picked: %v", again)
	}
	p.AbortPeer(1)
	mustCheck(t, p)
	if p.Downloading() != 0 {
		t.Fatal("AbortPeer left downloads")
	}
}

func TestEndgame(t *testing.T) {
	p := New(1, 48, 48, 16, newRNG(1))
	p.AddSeed()
	a := p.Pick(nil, 1, nil, true, 10)
	if len(a) != 3 || !p.InEndgame() {
		t.Fatalf("Pick=%v endgame=%v", a, p.InEndgame())
	}
	if more := p.Pick(nil, 1, nil, true, 10); len(more) != 0 {
		t.Fatalf("same peer got duplicates %v", more)
	}
	b := p.Pick(nil, 2, nil, true, 10)
	if len(b) != 3 {
		t.Fatalf("second peer got %v", b)
	}
	if c := p.Pick(nil, 3, nil, true, 10); len(c) != 0 {
		t.Fatalf("third peer got %v beyond MaxRequesters", c)
	}
	mustCheck(t, p)
	p.Received(a[0], 1)
	if others := p.OtherRequesters(a[0], 1, nil); len(others) != 1 || others[0] != 2 {
		t.Fatalf("OtherRequesters=%v", others)
	}
	if _, dup := p.Received(a[0], 2); !dup {
		t.Fatal("late copy not duplicate")
	}
	p.AbortPeer(1) // blocks 1 and 2 still with peer 2
	if c := p.Pick(nil, 3, nil, true, 10); len(c) != 2 {
		t.Fatalf("after AbortPeer third peer got %v", c)
	}
	mustCheck(t, p)
}

func TestPriorityZeroAndComplete(t *testing.T) {
	p := New(3, 16, 48, 16, newRNG(1))
	p.SetPriority(1, 0)
	p.SetHave(0)
	p.SetHave(2)
	if !p.Complete() || p.HaveCount() != 2 {
		t.Fatal("not complete with piece 1 unwanted")
	}
	p.SetPriority(1, 99) // clamped to 7
	if p.Complete() || p.Priority(1) != MaxPriority {
		t.Fatal("priority change ignored")
	}
	mustCheck(t, p)
}

// ---- randomised simulation ----

type simPeer struct {
	id   Peer
	seed bool
	bf   *bitfield.Bitfield
	out  []Block // outstanding requests, in request order
}

func (sp *simPeer) has(b Block) bool {
	for _, o := range sp.out {
		if o == b {
			return true
		}
	}
	return false
}

func (sp *simPeer) drop(b Block) {
	for i, o := range sp.out {
		if o == b {
			sp.out = append(sp.out[:i], sp.out[i+1:]...)
			return
		}
	}
}

func (sp *simPeer) dropPiece(piece uint32) {
	keep := sp.out[:0]
	for _, o := range sp.out {
		if o.Piece != piece {
			keep = append(keep, o)
		}
	}
	sp.out = keep
}

type sim struct {
	t            *testing.T
	rng          *rand.Rand
	p            *Picker
	peers        []*simPeer
	nextID       Peer
	received     map[Block]bool
	maxDup       int
	picked       int
	endgamePicks int
}

func (s *sim) newPeer(seed bool) *simPeer {
	n := s.p.NumPieces()
	sp := &simPeer{id: s.nextID, seed: seed}
	s.nextID++
	if seed {
		s.p.AddSeed()
	} else {
		sp.bf = bitfield.New(n)
		density := s.rng.Float64()
		for i := 0; i < n; i++ {
			if s.rng.Float64() < density {
				sp.bf.Set(i)
			}
		}
		s.p.AddPeerBitfield(sp.bf)
	}
	return sp
}

func (s *sim) requesters(b Block) int {
	c := 0
	for _, q := range s.peers {
		if q.has(b) {
			c++
		}
	}
	return c
}

func (s *sim) pick(sp *simPeer) {
	max := 1 + s.rng.IntN(8)
	got := s.p.Pick(nil, sp.id, sp.bf, sp.seed, max)
	if len(got) > max {
		s.t.Fatalf("Pick returned %d > %d", len(got), max)
	}
	for _, b := range got {
		switch {
		case !s.p.Valid(b):
			s.t.Fatalf("invalid block %v", b)
		case s.p.Have(int(b.Piece)) || s.received[b]:
			s.t.Fatalf("picked had/received block %v", b)
		case !sp.seed && !sp.bf.Has(int(b.Piece)):
			s.t.Fatalf("peer %d lacks piece of %v", sp.id, b)
		case sp.has(b):
			s.t.Fatalf("block %v handed to peer %d twice", b, sp.id)
		case s.p.Priority(int(b.Piece)) == 0:
			s.t.Fatalf("picked unwanted %v", b)
		}
		r := s.requesters(b)
		if r > 0 && !s.p.InEndgame() {
			s.t.Fatalf("duplicate %v outside end game", b)
		} else if r+1 > MaxRequesters {
			s.t.Fatalf("block %v has %d requesters", b, r+1)
		} else if r+1 > s.maxDup {
			s.maxDup = r + 1
		}
		sp.out = append(sp.out, b)
		s.picked++
		if r > 0 {
			s.endgamePicks++
		}
	}
}

func (s *sim) anyOut(sp *simPeer) (Block, bool) {
	if len(sp.out) == 0 {
		return Block{}, false
	}
	return sp.out[s.rng.IntN(len(sp.out))], true
}

func (s *sim) deliver(sp *simPeer) {
	b, ok := s.anyOut(sp)
	if !ok {
		return
	}
	sp.drop(b)
	pc := s.p.pieces[b.Piece]
	wantDup := pc.have || s.received[b] || (pc.prio == 0 && pc.dl < 0)
	complete, dup := s.p.Received(b, sp.id)
	if dup != wantDup {
		s.t.Fatalf("Received(%v) dup=%v want %v", b, dup, wantDup)
	}
	if dup {
		return
	}
	s.received[b] = true
	for _, o := range s.p.OtherRequesters(b, sp.id, nil) {
		for _, q := range s.peers {
			if q.id == o {
				q.drop(b) // CANCEL
			}
		}
		s.p.Abort(b, o)
	}
	if s.requesters(b) != 0 {
		s.t.Fatalf("received %v still outstanding", b)
	}
	piece := int(b.Piece)
	all := true
	for k := 0; k < s.p.BlocksInPiece(piece); k++ {
		all = all && s.received[Block{b.Piece, uint32(k * s.p.blockSize), s.p.BlockLength(piece, k)}]
	}
	if complete != all {
		s.t.Fatalf("pieceComplete=%v, model %v", complete, all)
	}
	if !complete {
		return
	}
	if s.rng.IntN(8) == 0 {
		s.p.PieceFailed(piece)
		for k := range s.received {
			if k.Piece == b.Piece {
				delete(s.received, k)
			}
		}
		for _, q := range s.peers { // the caller cancels what is in flight
			q.dropPiece(b.Piece)
		}
		return
	}
	s.p.PiecePassed(piece)
}

func (s *sim) checkAvailability() {
	for i := 0; i < s.p.NumPieces(); i++ {
		want := 0
		for _, q := range s.peers {
			if q.seed || q.bf.Has(i) {
				want++
			}
		}
		if got := s.p.Availability(i); got != want {
			s.t.Fatalf("Availability(%d)=%d want %d", i, got, want)
		}
	}
}

func runSim(t *testing.T, seed uint64) (steps, maxDup, endgamePicks int) {
	rng := newRNG(seed)
	const block = 16
	pieceLen := int64(block * (1 + rng.IntN(6)))
	if rng.IntN(3) == 0 {
		pieceLen += int64(rng.IntN(block-1) + 1) // piece not a block multiple
	}
	n := 1 + rng.IntN(80)
	total := int64(n-1)*pieceLen + 1 + rng.Int64N(pieceLen)
	s := &sim{t: t, rng: rng, p: New(n, pieceLen, total, block, newRNG(seed+1)), received: map[Block]bool{}}
	// Peer 0 is a seed that never leaves, so the download can finish.
	s.peers = append(s.peers, s.newPeer(true))
	for range 2 + rng.IntN(18) {
		s.peers = append(s.peers, s.newPeer(rng.IntN(5) == 0))
	}
	for i := 0; i < n; i++ {
		if rng.IntN(10) == 0 {
			s.p.SetPriority(i, rng.IntN(MaxPriority+1))
		}
	}
	if rng.IntN(4) == 0 {
		s.p.SetHave(rng.IntN(n)) // resume data
	}
	mustCheck(t, s.p)
	for ; steps < 200000 && s.p.HaveCount() < n; steps++ {
		if steps == 5000 { // want everything from here on
			for i := 0; i < n; i++ {
				if s.p.Priority(i) == 0 {
					s.p.SetPriority(i, 1+rng.IntN(MaxPriority))
				}
			}
		}
		sp := s.peers[rng.IntN(len(s.peers))]
		switch r := rng.IntN(100); {
		case r < 35:
			s.pick(sp)
		case r < 75:
			s.deliver(sp)
		case r < 83:
			if b, ok := s.anyOut(sp); ok {
				sp.drop(b)
				s.p.Abort(b, sp.id)
			}
		case r < 86:
			if sp.id == 0 {
				break
			}
			s.p.AbortPeer(sp.id)
			if sp.seed {
				s.p.RemoveSeed()
			} else {
				s.p.RemovePeerBitfield(sp.bf)
			}
			for i, q := range s.peers {
				if q == sp {
					s.peers[i] = s.newPeer(rng.IntN(5) == 0)
				}
			}
		case r < 95:
			if !sp.seed {
				if i := sp.bf.NextClear(rng.IntN(n)); i >= 0 {
					sp.bf.Set(i)
					s.p.IncAvailability(i)
				}
			}
		case r < 97:
			if steps < 5000 {
				s.p.SetPriority(rng.IntN(n), rng.IntN(MaxPriority+1))
			} else {
				s.p.SetPriority(rng.IntN(n), 1+rng.IntN(MaxPriority))
			}
		default:
			if i := rng.IntN(n); !s.p.Have(i) && rng.IntN(4) == 0 {
				s.p.SetHave(i) // e.g. a recheck found it on disk
				for _, q := range s.peers {
					q.dropPiece(uint32(i))
				}
			}
		}
		mustCheck(t, s.p)
		if steps%97 == 0 {
			s.checkAvailability()
		}
	}
	if !s.p.Complete() || s.p.HaveCount() != n {
		t.Fatalf("seed %d: not complete after %d steps: have %d/%d", seed, steps, s.p.HaveCount(), n)
	}
	if s.p.Downloading() != 0 || s.p.InEndgame() {
		t.Fatalf("complete but Downloading=%d endgame=%v", s.p.Downloading(), s.p.InEndgame())
	}
	s.checkAvailability()
	return steps, s.maxDup, s.endgamePicks
}

func TestSimulation(t *testing.T) {
	seeds := 60
	if testing.Short() {
		seeds = 10
	}
	totalSteps, maxDup, endgame := 0, 0, 0
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		st, d, e := runSim(t, seed)
		totalSteps += st
		maxDup = max(maxDup, d)
		endgame += e
	}
	t.Logf("%d runs, %d steps, %d end-game picks, max requesters per block %d", seeds, totalSteps, endgame, maxDup)
	if maxDup != MaxRequesters || endgame == 0 {
		t.Fatal("simulation never exercised end game duplicates")
	}
}
