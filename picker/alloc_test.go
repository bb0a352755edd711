package picker

import (
	"testing"

	"github.com/shardtorrent/shardtorrent/bitfield"
)

const (
	benchPieces   = 4096
	benchPieceLen = 256 << 10
	benchBlock    = 16 << 10
)

// benchPicker returns a 4096-piece picker (16 blocks a piece) with uneven
// availability from 50 partial peers and one seed, its partial-piece free
// list warmed for warm downloads at once.
func benchPicker(tb testing.TB, warm int) *Picker {
	rng := newRNG(42)
	p := New(benchPieces, benchPieceLen, benchPieces*benchPieceLen, benchBlock, newRNG(1))
	for range 50 {
		b := bitfield.New(benchPieces)
		for i := 0; i < benchPieces; i++ {
			if rng.IntN(3) == 0 {
				b.Set(i)
			}
		}
		p.AddPeerBitfield(b)
	}
	p.AddSeed()
	dst := p.Pick(make([]Block, 0, warm*16), 1, nil, true, warm*16)
	if len(dst) != warm*16 {
		tb.Fatalf("warm-up picked %d", len(dst))
	}
	p.AbortPeer(1)
	mustCheck(tb, p)
	return p
}

func TestPickDoesNotAllocate(t *testing.T) {
	p := benchPicker(t, 4*110)
	dst := make([]Block, 0, 64)
	got := testing.AllocsPerRun(100, func() {
		dst = p.Pick(dst[:0], 1, nil, true, 64)
	})
	if got != 0 {
		t.Fatalf("Pick allocates %.1f times", got)
	}
	mustCheck(t, p)
	// A partial peer, and the Pick+AbortPeer cycle.
	has := bitfield.New(benchPieces)
	for i := 0; i < benchPieces; i += 7 {
		has.Set(i)
	}
	got = testing.AllocsPerRun(100, func() {
		dst = p.Pick(dst[:0], 2, has, false, 64)
		p.AbortPeer(2)
	})
	if got != 0 {
		t.Fatalf("Pick+AbortPeer allocates %.1f times", got)
	}
	mustCheck(t, p)
	// A peer on parole: partial pieces it alone sent blocks of (which it
	// continues) and ones another peer sent a block of (which it skips).
	for _, peer := range []Peer{3, 4} {
		for _, bl := range p.Pick(dst[:0], peer, nil, true, 24) {
			if bl.Begin == 0 {
				p.Received(bl, peer)
			}
		}
		p.AbortPeer(peer)
	}
	p.SetParole(3, true)
	got = testing.AllocsPerRun(100, func() {
		dst = p.Pick(dst[:0], 3, nil, true, 64)
		p.AbortPeer(3)
	})
	if got != 0 {
		t.Fatalf("Pick on parole allocates %.1f times", got)
	}
	mustCheck(t, p)
}

func TestReceivedDoesNotAllocate(t *testing.T) {
	p := benchPicker(t, 64)
	blocks := p.Pick(make([]Block, 0, 1024), 1, nil, true, 1024) // 64 pieces
	i := 0
	got := testing.AllocsPerRun(1000, func() {
		b := blocks[i]
		i++
		if complete, _ := p.Received(b, 1); complete {
			p.PiecePassed(int(b.Piece))
		}
	})
	if got != 0 {
		t.Fatalf("Received allocates %.1f times", got)
	}
	mustCheck(t, p)
}

func TestAvailabilityDoesNotAllocate(t *testing.T) {
	p := benchPicker(t, 1)
	rng := newRNG(9)
	// Warm-up: reach the highest availability a piece will see below.
	for i := 0; i < benchPieces; i++ {
		p.IncAvailability(i)
	}
	for i := 0; i < benchPieces; i++ {
		p.DecAvailability(i)
	}
	got := testing.AllocsPerRun(1000, func() {
		i := rng.IntN(benchPieces)
		p.IncAvailability(i)
		p.DecAvailability(i)
	})
	if got != 0 {
		t.Fatalf("Inc/DecAvailability allocates %.1f times", got)
	}
	mustCheck(t, p)
}

// BenchmarkPick measures one Pick of 64 blocks for a seed on a 4096-piece
// torrent, followed by AbortPeer so every iteration starts alike.
func BenchmarkPick(b *testing.B) {
	p := benchPicker(b, 8)
	dst := make([]Block, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		dst = p.Pick(dst[:0], 1, nil, true, 64)
		p.AbortPeer(1)
	}
}

// BenchmarkPickPartialPeer is BenchmarkPick for a peer that has one piece
// in seven, so the buckets must be walked past pieces it lacks.
func BenchmarkPickPartialPeer(b *testing.B) {
	p := benchPicker(b, 8)
	has := bitfield.New(benchPieces)
	for i := 0; i < benchPieces; i += 7 {
		has.Set(i)
	}
	dst := make([]Block, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		dst = p.Pick(dst[:0], 1, has, false, 64)
		p.AbortPeer(1)
	}
}

// BenchmarkReceived measures Received (and PiecePassed every 16th block);
// refilling the pipeline is not timed.
func BenchmarkReceived(b *testing.B) {
	p := benchPicker(b, 8)
	blocks := make([]Block, 0, 1024)
	next := 0
	b.ReportAllocs()
	for b.Loop() {
		if next == len(blocks) {
			b.StopTimer()
			if p.Complete() {
				p = benchPicker(b, 8)
			}
			blocks = p.Pick(blocks[:0], 1, nil, true, 1024)
			next = 0
			b.StartTimer()
		}
		blk := blocks[next]
		next++
		if complete, _ := p.Received(blk, 1); complete {
			p.PiecePassed(int(blk.Piece))
		}
	}
}

// BenchmarkIncAvailability measures a HAVE (and its undo).
func BenchmarkIncAvailability(b *testing.B) {
	p := benchPicker(b, 1)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		p.IncAvailability(i)
		p.DecAvailability(i)
		i = (i + 1) % benchPieces
	}
}
