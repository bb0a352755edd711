package picker

import (
	"slices"
	"testing"
)

// TestParole: a peer on parole only gets blocks of pieces it starts, which
// nobody else gets (end game included); it does not join others' partial
// pieces; AbortPeer and SetParole(false) open its pieces to everyone.
func TestParole(t *testing.T) {
	const a, b = Peer(1), Peer(2)
	p := New(4, 64, 256, 16, newRNG(5)) // 4 pieces of 4 blocks
	p.AddSeed()
	// b starts a piece before a goes on parole: a must not join it.
	shared := p.Pick(nil, b, nil, true, 1)[0].Piece
	p.SetParole(a, true)
	if !p.OnParole(a) || p.OnParole(b) {
		t.Fatal("OnParole wrong")
	}
	got := p.Pick(nil, a, nil, true, 4)
	if len(got) != 4 {
		t.Fatalf("a on parole picked %v, want one whole fresh piece", got)
	}
	mine := got[0].Piece
	for _, bl := range got {
		if bl.Piece != mine || bl.Piece == shared {
			t.Fatalf("a on parole picked %v: want only blocks of one piece it started, not %d", got, shared)
		}
	}
	// b gets the rest of its own piece and fresh ones, never a's.
	for _, bl := range p.Pick(nil, b, nil, true, 100) {
		if bl.Piece == mine {
			t.Fatalf("b got block %v of a's exclusive piece", bl)
		}
	}
	// Now in end game: duplicates of a's piece are not for b, and a gets
	// no duplicates of b's pieces.
	if !p.InEndgame() {
		t.Fatal("want end game: every block is requested")
	}
	for _, bl := range p.Pick(nil, b, nil, true, 100) {
		if bl.Piece == mine {
			t.Fatalf("end game gave b block %v of a's exclusive piece", bl)
		}
	}
	if dup := p.Pick(nil, a, nil, true, 100); len(dup) != 0 {
		t.Fatalf("end game gave a on parole %v", dup)
	}
	mustCheck(t, p)
	// a chokes us: its piece is open again.
	p.AbortPeer(a)
	reopened := false
	for _, bl := range p.Pick(nil, b, nil, true, 100) {
		reopened = reopened || bl.Piece == mine
	}
	if !reopened {
		t.Fatal("after AbortPeer(a) its piece is still closed to b")
	}
	p.SetParole(a, false)
	if p.OnParole(a) {
		t.Fatal("still on parole")
	}
	mustCheck(t, p)
}

// TestParoleOffOpensPieces: taking a peer off parole opens its exclusive
// partial pieces.
func TestParoleOffOpensPieces(t *testing.T) {
	const a, b = Peer(1), Peer(2)
	p := New(2, 64, 128, 16, newRNG(9))
	p.AddSeed()
	p.SetParole(a, true)
	mine := p.Pick(nil, a, nil, true, 2)[0].Piece // half of one piece
	for _, bl := range p.Pick(nil, b, nil, true, 100) {
		if bl.Piece == mine {
			t.Fatalf("b got %v of a's exclusive piece", bl)
		}
	}
	p.SetParole(a, false)
	// The 2 free blocks of a's piece, then (end game) duplicates of a's 2.
	got := p.Pick(nil, b, nil, true, 100)
	if len(got) != 4 {
		t.Fatalf("after parole ended b picked %v, want the 4 blocks of piece %d", got, mine)
	}
	for _, bl := range got {
		if bl.Piece != mine {
			t.Fatalf("after parole ended b picked %v, want blocks of piece %d", got, mine)
		}
	}
	mustCheck(t, p)
}

// TestParoleContinuesOwnPiece: a peer put on parole keeps getting the free
// blocks of a partial piece whose every requested or received block is
// its own (libtorrent's requested_from "exclusive" test), and that piece
// then becomes exclusive to it; a piece another peer requested or sent a
// block of is not for it. Piece 1 of 4 blocks is the only piece a has.
func TestParoleContinuesOwnPiece(t *testing.T) {
	const a, b = Peer(1), Peer(2)
	blk := func(k int) Block { return Block{Piece: 1, Begin: uint32(16 * k), Length: 16} }
	tests := []struct {
		name  string
		setup func(t *testing.T, p *Picker)
		want  []uint32 // Begin of the blocks a on parole gets, in order
	}{
		{
			name:  "nothing started",
			setup: func(*testing.T, *Picker) {},
			want:  []uint32{0, 16, 32, 48},
		},
		{
			name: "a received 2 blocks", // the reported stall
			setup: func(t *testing.T, p *Picker) {
				receive(t, p, a, 0, 1)
			},
			want: []uint32{32, 48},
		},
		{
			name: "a has 2 blocks outstanding",
			setup: func(t *testing.T, p *Picker) {
				if got := p.Pick(nil, a, bf(2, 1), false, 2); len(got) != 2 {
					t.Fatalf("a picked %v", got)
				}
			},
			want: []uint32{32, 48},
		},
		{
			name: "a received one, has one outstanding",
			setup: func(t *testing.T, p *Picker) {
				receive(t, p, a, 0)
				p.Pick(nil, a, bf(2, 1), false, 1)
			},
			want: []uint32{32, 48},
		},
		{
			name: "unrequested block from a",
			setup: func(t *testing.T, p *Picker) {
				p.Received(blk(2), a)
			},
			want: []uint32{0, 16, 48},
		},
		{
			name: "a's block still listed with b (end-game cancel pending)",
			setup: func(t *testing.T, p *Picker) {
				p.Pick(nil, b, bf(2, 1), false, 1)
				p.Received(blk(0), a) // a's copy arrived first
			},
			want: []uint32{16, 32, 48},
		},
		{
			name: "b received a block",
			setup: func(t *testing.T, p *Picker) {
				receive(t, p, a, 0)
				p.Received(blk(1), b)
			},
			want: nil,
		},
		{
			name: "b has a block outstanding",
			setup: func(t *testing.T, p *Picker) {
				receive(t, p, a, 0)
				p.Pick(nil, b, bf(2, 1), false, 1)
			},
			want: nil,
		},
		{
			name: "b's request aborted",
			setup: func(t *testing.T, p *Picker) {
				receive(t, p, a, 0)
				got := p.Pick(nil, b, bf(2, 1), false, 1)
				p.Abort(got[0], b)
			},
			want: []uint32{16, 32, 48},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := New(2, 64, 128, 16, newRNG(5))
			p.AddPeerBitfield(bf(2, 1)) // a
			p.AddPeerBitfield(bf(2, 1)) // b
			tc.setup(t, p)
			mustCheck(t, p)
			p.SetParole(a, true)
			got := p.Pick(nil, a, bf(2, 1), false, 4)
			var begins []uint32
			for _, bl := range got {
				if bl.Piece != 1 {
					t.Fatalf("a picked %v outside piece 1", bl)
				}
				begins = append(begins, bl.Begin)
			}
			if !slices.Equal(begins, tc.want) {
				t.Fatalf("a on parole picked begins %v, want %v", begins, tc.want)
			}
			mustCheck(t, p)
			if len(got) == 0 {
				return
			}
			// The piece is a's alone now: no blocks for b, not even
			// end-game duplicates, and none for a either.
			if more := p.Pick(nil, b, bf(2, 1), false, 8); len(more) != 0 {
				t.Fatalf("b got %v of a's paroled piece", more)
			}
			if more := p.Pick(nil, a, bf(2, 1), false, 8); len(more) != 0 {
				t.Fatalf("a on parole got end-game duplicates %v", more)
			}
			// a sends the rest: the piece completes.
			complete := false
			for k := range 4 {
				c, _ := p.Received(blk(k), a)
				complete = complete || c
			}
			if !complete {
				t.Fatal("piece 1 not complete after a's blocks")
			}
			p.PiecePassed(1)
			mustCheck(t, p)
		})
	}
}

// receive has peer pick and receive the given blocks of piece 1.
func receive(t *testing.T, p *Picker, peer Peer, blocks ...int) {
	t.Helper()
	got := p.Pick(nil, peer, bf(2, 1), false, len(blocks))
	for i, bl := range got {
		if int(bl.Begin)/16 != blocks[i] {
			t.Fatalf("picked %v, want blocks %v of piece 1", got, blocks)
		}
		p.Received(bl, peer)
	}
	if len(got) != len(blocks) {
		t.Fatalf("picked %v, want blocks %v of piece 1", got, blocks)
	}
}

// TestParoleStalledPieceRepro is the reported stall: a peer that received
// half a piece nobody else has, then went on parole, got nothing more.
func TestParoleStalledPieceRepro(t *testing.T) {
	p := New(2, 64, 128, 16, newRNG(5))
	has := bf(2, 1)
	p.AddPeerBitfield(has)
	for _, b := range p.Pick(nil, 1, has, false, 2) {
		p.Received(b, 1)
	}
	p.SetParole(1, true)
	if got := p.Pick(nil, 1, has, false, 4); len(got) != 2 {
		t.Fatalf("peer on parole picked %v, want the 2 missing blocks of piece 1", got)
	}
	mustCheck(t, p)
}
