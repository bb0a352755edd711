package picker

import "testing"

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
