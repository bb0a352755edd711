package bitfield

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

func mustCheck(t *testing.T, b *Bitfield) {
	t.Helper()
	if err := b.check(); err != nil {
		t.Fatal(err)
	}
}

func TestFromBytes(t *testing.T) {
	tests := []struct {
		name    string
		b       []byte
		n       int
		wantErr error
		count   int
	}{
		{"empty", nil, 0, nil, 0},
		{"exact byte", []byte{0xff}, 8, nil, 8},
		{"partial byte ok", []byte{0xff, 0xe0}, 11, nil, 11},
		{"spare bit set", []byte{0xff, 0xf0}, 11, ErrSpareBits, 0},
		{"lowest spare bit set", []byte{0x00, 0x01}, 9, ErrSpareBits, 0},
		{"too short", []byte{0xff}, 9, ErrLength, 0},
		{"too long", []byte{0xff, 0x00}, 8, ErrLength, 0},
		{"nonempty for zero", []byte{0}, 0, ErrLength, 0},
		{"piece 0 is high bit", []byte{0x80}, 1, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := FromBytes(tt.b, tt.n)
			if tt.wantErr != nil {
				var fe *FormatError
				if !errors.Is(err, tt.wantErr) || !errors.As(err, &fe) {
					t.Fatalf("err = %v, want %v as *FormatError", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			mustCheck(t, b)
			if b.Count() != tt.count || b.Len() != tt.n {
				t.Fatalf("Count=%d Len=%d, want %d %d", b.Count(), b.Len(), tt.count, tt.n)
			}
			if !bytes.Equal(b.Bytes(), tt.b) && len(tt.b) > 0 {
				t.Fatalf("Bytes=%x want %x", b.Bytes(), tt.b)
			}
		})
	}
}

func TestFromBytesCopies(t *testing.T) {
	src := []byte{0x80}
	b, err := FromBytes(src, 8)
	if err != nil {
		t.Fatal(err)
	}
	src[0] = 0xff
	if b.Count() != 1 || b.Has(1) {
		t.Fatal("FromBytes aliases its input")
	}
}

func TestWireLayout(t *testing.T) {
	b := New(10)
	b.Set(0)
	b.Set(9)
	if got, want := b.Bytes(), []byte{0x80, 0x40}; !bytes.Equal(got, want) {
		t.Fatalf("Bytes=%x want %x", got, want)
	}
}

func TestSetClearAllNone(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 63, 64, 65, 1000} {
		b := New(n)
		if !b.None() || b.All() != (n == 0) {
			t.Fatalf("n=%d: new not empty", n)
		}
		b.SetAll()
		mustCheck(t, b)
		if !b.All() || b.Count() != n {
			t.Fatalf("n=%d: SetAll count=%d", n, b.Count())
		}
		if n > 0 {
			b.Clear(n - 1)
			b.Clear(n - 1) // idempotent
			mustCheck(t, b)
			if b.All() || b.Count() != n-1 || b.Has(n-1) {
				t.Fatalf("n=%d: Clear failed", n)
			}
			if got := b.NextClear(0); got != n-1 {
				t.Fatalf("n=%d: NextClear=%d", n, got)
			}
		}
		b.ClearAll()
		mustCheck(t, b)
		if !b.None() {
			t.Fatalf("n=%d: ClearAll", n)
		}
		if b.Has(-1) || b.Has(n) {
			t.Fatal("out of range Has true")
		}
	}
}

func TestSetOutOfRangePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	New(8).Set(8)
}

func TestCloneIndependent(t *testing.T) {
	a := New(20)
	a.Set(3)
	c := a.Clone()
	c.Set(4)
	if a.Has(4) || a.Count() != 1 || c.Count() != 2 {
		t.Fatal("clone shares state")
	}
}

// TestNextSetNextClear compares the iterators with a naive scan on random
// fields, including the spare-bit boundary.
func TestNextSetNextClear(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 200; iter++ {
		n := rng.IntN(200)
		b := New(n)
		for i := 0; i < n; i++ {
			if rng.IntN(4) == 0 {
				b.Set(i)
			}
		}
		mustCheck(t, b)
		for from := -1; from <= n+1; from++ {
			ws, wc := -1, -1
			for i := max(from, 0); i < n; i++ {
				if ws < 0 && b.Has(i) {
					ws = i
				}
				if wc < 0 && !b.Has(i) {
					wc = i
				}
			}
			if got := b.NextSet(from); got != ws {
				t.Fatalf("n=%d NextSet(%d)=%d want %d", n, from, got, ws)
			}
			if got := b.NextClear(from); got != wc {
				t.Fatalf("n=%d NextClear(%d)=%d want %d", n, from, got, wc)
			}
		}
	}
}

func TestZeroValue(t *testing.T) {
	var b Bitfield
	if b.Len() != 0 || !b.All() || !b.None() || b.NextSet(0) != -1 || b.NextClear(0) != -1 {
		t.Fatal("zero value misbehaves")
	}
	mustCheck(t, &b)
}

// FuzzFromBytes requires FromBytes to accept exactly the valid encodings and
// round-trip them through Bytes.
func FuzzFromBytes(f *testing.F) {
	f.Add([]byte{0xff, 0xe0}, 11)
	f.Add([]byte{0xff, 0xf0}, 11)
	f.Add([]byte{}, 0)
	f.Fuzz(func(t *testing.T, data []byte, n int) {
		if n < 0 || n > 1<<16 {
			return
		}
		b, err := FromBytes(data, n)
		valid := len(data) == (n+7)/8 && (n%8 == 0 || data[len(data)-1]&spareMask(n) == 0)
		if valid != (err == nil) {
			t.Fatalf("valid=%v err=%v", valid, err)
		}
		if err != nil {
			return
		}
		mustCheck(t, b)
		if !bytes.Equal(b.Bytes(), data) {
			t.Fatal("round trip mismatch")
		}
	})
}
