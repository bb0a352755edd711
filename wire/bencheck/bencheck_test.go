package bencheck

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		in        string
		lenient   error // Check
		canonical error // CheckCanonical
	}{
		{"i42e", nil, nil},
		{"i-7e", nil, nil},
		{"i0e", nil, nil},
		{"i-0e", nil, ErrSyntax},
		{"i042e", nil, ErrSyntax},
		{"ie", ErrSyntax, ErrSyntax},
		{"i-e", ErrSyntax, ErrSyntax},
		{"i12", ErrTruncated, ErrTruncated},
		{"4:spam", nil, nil},
		{"0:", nil, nil},
		{"04:spam", ErrSyntax, ErrSyntax},
		{"5:spam", ErrTruncated, ErrTruncated},
		{"134000000:x", ErrTruncated, ErrTruncated}, // a length bomb
		{"99999999999999999999999:x", ErrTruncated, ErrTruncated},
		{"d1:ai1e1:bl1:x1:yee", nil, nil},
		{"d1:ae", ErrSyntax, ErrSyntax},    // key without a value
		{"di1ei2ee", ErrSyntax, ErrSyntax}, // integer key
		{"d1:a", ErrTruncated, ErrTruncated},
		{"le", nil, nil},
		{"l", ErrTruncated, ErrTruncated},
		{"i1ei2e", ErrTrailing, ErrTrailing},
		{"x", ErrSyntax, ErrSyntax},
		{"", ErrTruncated, ErrTruncated},
		{strings.Repeat("l", 8) + strings.Repeat("e", 8), nil, nil},
		{strings.Repeat("l", 9) + strings.Repeat("e", 9), ErrTooDeep, ErrTooDeep},
		{"d1:v" + strings.Repeat("l", 500_000), ErrTooDeep, ErrTooDeep},
	}
	for _, tc := range cases {
		name := tc.in
		if len(name) > 30 {
			name = name[:30] + "..."
		}
		if err := Check([]byte(tc.in), 8); !errors.Is(err, tc.lenient) {
			t.Errorf("Check(%q) = %v, want %v", name, err, tc.lenient)
		}
		if err := CheckCanonical([]byte(tc.in), 8); !errors.Is(err, tc.canonical) {
			t.Errorf("CheckCanonical(%q) = %v, want %v", name, err, tc.canonical)
		}
	}
}

func TestEnd(t *testing.T) {
	b := []byte("d1:ali1ei2ee1:bi3ee")
	if end, err := End(b, 4, 8); err != nil || end != 12 {
		t.Fatalf("End of the list = %d, %v; want 12", end, err)
	}
}

func TestCheckAllocatesNothing(t *testing.T) {
	b := []byte("d1:ad1:bl4:spami-3eee1:c134000000:xe")
	if n := testing.AllocsPerRun(100, func() { _ = Check(b, 8) }); n != 0 {
		t.Fatalf("%v allocations per Check", n)
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{"d1:ai1ee", "l4:spami0ee", "i-0e", "3:abc", "d1:v134000000:x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := Check(b, 16)
		if cerr := CheckCanonical(b, 16); cerr == nil && err != nil {
			t.Fatalf("canonical accepts what lenient refuses: %v", err)
		}
		if err == nil {
			if end, e := End(b, 0, 16); e == nil && end != len(b) {
				t.Fatalf("End %d of a checked value of %d bytes", end, len(b))
			}
		}
	})
}
