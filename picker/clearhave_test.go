package picker

import "testing"

// TestClearHave: a lost piece is wanted and pickable again, and a piece of
// priority 0 is lost without becoming wanted.
func TestClearHave(t *testing.T) {
	cases := []struct {
		name         string
		prio         int
		wantComplete bool
		wantPicked   bool
	}{
		{"wanted", 1, false, true},
		{"unwanted", 0, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := New(2, 16, 32, 16, newRNG(1))
			p.SetPriority(1, c.prio)
			p.SetHave(0)
			p.SetHave(1)
			p.ClearHave(1)
			p.ClearHave(1) // idempotent
			mustCheck(t, p)
			if p.Have(1) || p.HaveCount() != 1 || p.Complete() != c.wantComplete {
				t.Fatalf("have %v count %d complete %v", p.Have(1), p.HaveCount(), p.Complete())
			}
			got := p.Pick(nil, 1, bf(2, 0, 1), false, 4)
			if picked := len(got) == 1 && got[0].Piece == 1; picked != c.wantPicked {
				t.Fatalf("picked %v, want piece 1 picked %v", got, c.wantPicked)
			}
		})
	}
}
