package picker

import (
	"slices"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bitfield"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// piecesOf lists the pieces of bs in order of first appearance.
func piecesOf(bs []Block) []uint32 {
	var out []uint32
	for _, b := range bs {
		if len(out) == 0 || out[len(out)-1] != b.Piece {
			out = append(out, b.Piece)
		}
	}
	return out
}

// TestDeadlinePiecesFirstSoonestFirst: deadline pieces come before every
// priority group, soonest first, even a DontDownload piece; a peer without
// a piece skips it; moving, clearing and having a piece update the order.
func TestDeadlinePiecesFirstSoonestFirst(t *testing.T) {
	p := New(16, 64, 16*64, 16, newRNG(1)) // 4 blocks a piece
	p.SetPriority(1, MaxPriority)
	p.SetPriority(12, DontDownload)
	p.SetDeadline(9, t0.Add(2*time.Second))
	p.SetDeadline(3, t0.Add(time.Second))
	p.SetDeadline(12, t0.Add(3*time.Second))
	mustCheck(t, p)

	if n := p.FreeDeadlineBlocks(nil, true, t0.Add(time.Hour)); n != 12 {
		t.Fatalf("FreeDeadlineBlocks for a seed %d, want 12", n)
	}
	if n := p.FreeDeadlineBlocks(bf(16, 3, 4), false, t0.Add(time.Hour)); n != 4 {
		t.Fatalf("FreeDeadlineBlocks for a peer with piece 3 %d, want 4", n)
	}
	if n := p.FreeDeadlineBlocks(nil, true, t0.Add(2*time.Second)); n != 8 {
		t.Fatalf("FreeDeadlineBlocks due within 2 s: %d, want 8 (pieces 3 and 9)", n)
	}
	if !p.HasDeadline(9) || p.HasDeadline(1) {
		t.Fatal("HasDeadline wrong")
	}
	got := p.PickDeadline(nil, 1, nil, true, 6, t0, 0)
	if want := []uint32{3, 9}; !slices.Equal(piecesOf(got), want) || len(got) != 6 {
		t.Fatalf("first peer got pieces %v (%d blocks), want %v in 6 blocks", piecesOf(got), len(got), want)
	}
	mustCheck(t, p)
	if n := p.FreeDeadlineBlocks(nil, true, t0.Add(time.Hour)); n != 6 {
		t.Fatalf("FreeDeadlineBlocks after 6 were picked: %d, want 6", n)
	}
	// A peer that has 12 but not 9 gets 12's blocks only.
	got = p.PickDeadline(nil, 2, bf(16, 12, 3), false, 100, t0, 0)
	if want := []uint32{12}; !slices.Equal(piecesOf(got), want) || len(got) != 4 {
		t.Fatalf("partial peer got %v, want all of piece 12", got)
	}
	// The rest of 9, then nothing: every deadline block is requested.
	got = p.PickDeadline(nil, 3, nil, true, 100, t0, 0)
	if want := []uint32{9}; !slices.Equal(piecesOf(got), want) || len(got) != 2 {
		t.Fatalf("third peer got %v, want the last 2 blocks of 9", got)
	}
	if got = p.PickDeadline(nil, 4, nil, true, 100, t0, 0); len(got) != 0 {
		t.Fatalf("with every deadline block requested a peer got %v", got)
	}
	// The regular picker then serves priority order, deadline pieces aside.
	if got = p.Pick(nil, 4, nil, true, 4); !slices.Equal(piecesOf(got), []uint32{1}) {
		t.Fatalf("regular Pick got %v, want the priority-7 piece 1", piecesOf(got))
	}
	mustCheck(t, p)

	// Moving a deadline reorders; the first-request time is kept.
	p.SetDeadline(5, t0.Add(5*time.Second))
	p.SetDeadline(6, t0.Add(4*time.Second))
	p.SetDeadline(6, t0.Add(6*time.Second))
	if got = p.PickDeadline(nil, 5, nil, true, 8, t0, 0); !slices.Equal(piecesOf(got), []uint32{5, 6}) {
		t.Fatalf("after moving 6 behind 5 got %v", piecesOf(got))
	}
	_, first, ok := p.Deadline(3)
	p.SetDeadline(3, t0.Add(10*time.Second))
	if _, first2, _ := p.Deadline(3); !ok || !first.Equal(t0) || !first2.Equal(first) {
		t.Fatalf("first request of 3: %v, after moving %v; want %v both times", first, first2, t0)
	}
	// Clearing and having drop deadlines; a had piece takes none.
	p.ClearDeadline(9)
	p.PiecePassed(12)
	p.SetDeadline(12, t0)
	for _, piece := range []int{9, 12} {
		if _, _, ok := p.Deadline(piece); ok {
			t.Errorf("piece %d still has a deadline", piece)
		}
	}
	if n := p.NumDeadlines(); n != 3 { // 3, 5, 6
		t.Fatalf("NumDeadlines=%d, want 3", n)
	}
	mustCheck(t, p)
}

// TestDeadlineEndgameOnlyLatePieces: duplicates go out for a deadline piece
// that is past its deadline and has been downloading for longer than the
// piece time, never for a piece that is merely due, not for other pieces
// outside the torrent's end game, not twice to one peer, not to a peer on
// parole.
func TestDeadlineEndgameOnlyLatePieces(t *testing.T) {
	const pieceTime = 2 * time.Second
	p := New(8, 64, 8*64, 16, newRNG(1))
	p.SetDeadline(0, t0)
	p.SetDeadline(5, t0.Add(time.Hour)) // far off: never late in this test
	if got := p.PickDeadline(nil, 1, nil, true, 8, t0, pieceTime); !slices.Equal(piecesOf(got), []uint32{0, 5}) {
		t.Fatalf("peer 1 got %v, want pieces 0 and 5", piecesOf(got))
	}
	// Peer 1 also holds a regular piece fully requested.
	if got := p.Pick(nil, 1, nil, true, 4); len(got) != 4 || got[0].Piece == 0 || got[0].Piece == 5 {
		t.Fatalf("regular pick %v", got)
	}
	if p.InEndgame() {
		t.Fatal("in end game with idle pieces left")
	}
	cases := []struct {
		name string
		now  time.Time
		want int // duplicates of piece 0 for peer 2
	}{
		{"due, not yet timed out", t0.Add(pieceTime - time.Nanosecond), 0},
		{"late", t0.Add(pieceTime), 4},
	}
	for _, c := range cases {
		got := p.PickDeadline(nil, 2, nil, true, 100, c.now, pieceTime)
		if len(got) != c.want {
			t.Fatalf("%s: peer 2 got %v, want %d duplicates of piece 0", c.name, got, c.want)
		}
		for _, b := range got {
			if b.Piece != 0 {
				t.Fatalf("%s: duplicate of non-late piece %d", c.name, b.Piece)
			}
			if !p.Requested(b, 1) || !p.Requested(b, 2) {
				t.Fatalf("%s: %v not outstanding with both peers", c.name, b)
			}
		}
		mustCheck(t, p)
	}
	late := t0.Add(time.Minute)
	// Two requesters per block at most; never twice to the same peer.
	if got := p.PickDeadline(nil, 3, nil, true, 100, late, pieceTime); len(got) != 0 {
		t.Fatalf("a third peer got %v, want nothing (MaxRequesters)", got)
	}
	p.AbortPeer(2)
	if got := p.PickDeadline(nil, 1, nil, true, 100, late, pieceTime); len(got) != 0 {
		t.Fatalf("peer 1 got its own blocks again: %v", got)
	}
	p.SetParole(4, true)
	if got := p.PickDeadline(nil, 4, nil, true, 100, late, pieceTime); len(got) != 0 {
		t.Fatalf("a peer on parole got duplicates %v", got)
	}
	// The regular end game is unaffected: with idle pieces left, the
	// regular picker hands out no duplicates of the regular piece.
	for _, b := range p.Pick(nil, 3, nil, true, 8) {
		if p.Requested(b, 1) {
			t.Fatalf("regular Pick duplicated %v outside end game", b)
		}
	}
	mustCheck(t, p)
}

// TestDeadlineRandomOps drives deadlines, picks, receipts, aborts and hash
// results at random and checks every invariant after each step.
func TestDeadlineRandomOps(t *testing.T) {
	const n = 24
	rng := newRNG(7)
	p := New(n, 64, n*64-10, 16, newRNG(3))
	peerHas := []*bitfield.Bitfield{nil, bf(n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), nil}
	now := t0
	var dst []Block
	var outstanding []struct {
		b    Block
		peer Peer
	}
	for step := range 20000 {
		now = now.Add(time.Duration(rng.IntN(300)) * time.Millisecond)
		peer := Peer(rng.IntN(3))
		switch op := rng.IntN(10); op {
		case 0:
			p.SetDeadline(rng.IntN(n), now.Add(time.Duration(rng.IntN(5000))*time.Millisecond))
		case 1:
			p.ClearDeadline(rng.IntN(n))
		case 2:
			p.SetPriority(rng.IntN(n), rng.IntN(MaxPriority+1))
		case 3, 4:
			dst = p.PickDeadline(dst[:0], peer, peerHas[peer], peerHas[peer] == nil, 1+rng.IntN(6), now, time.Second)
			for _, b := range dst {
				outstanding = append(outstanding, struct {
					b    Block
					peer Peer
				}{b, peer})
			}
		case 5:
			dst = p.Pick(dst[:0], peer, peerHas[peer], peerHas[peer] == nil, 1+rng.IntN(6))
			for _, b := range dst {
				outstanding = append(outstanding, struct {
					b    Block
					peer Peer
				}{b, peer})
			}
		case 6, 7, 8:
			if len(outstanding) == 0 {
				continue
			}
			i := rng.IntN(len(outstanding))
			o := outstanding[i]
			outstanding = slices.Delete(outstanding, i, i+1)
			if rng.IntN(4) == 0 {
				p.Abort(o.b, o.peer)
				continue
			}
			if complete, _ := p.Received(o.b, o.peer); complete {
				if rng.IntN(5) == 0 {
					p.PieceFailed(int(o.b.Piece))
				} else {
					p.PiecePassed(int(o.b.Piece))
				}
			}
		case 9:
			p.AbortPeer(peer)
			outstanding = slices.DeleteFunc(outstanding, func(o struct {
				b    Block
				peer Peer
			}) bool {
				return o.peer == peer
			})
		}
		if err := p.check(); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
	}
}

func TestPickDeadlineDoesNotAllocate(t *testing.T) {
	p := benchPicker(t, 64)
	for i := range 32 {
		p.SetDeadline(100+i*3, t0.Add(time.Duration(i)*time.Second))
	}
	dst := make([]Block, 0, 64)
	now := t0.Add(time.Hour) // every deadline piece is late: the busy path runs too
	got := testing.AllocsPerRun(100, func() {
		dst = p.PickDeadline(dst[:0], 1, nil, true, 64, now, time.Second)
		dst = p.PickDeadline(dst[:0], 2, nil, true, 64, now, time.Second)
		p.AbortPeer(1)
		p.AbortPeer(2)
	})
	if got != 0 {
		t.Fatalf("PickDeadline allocates %.1f times", got)
	}
	mustCheck(t, p)
}
