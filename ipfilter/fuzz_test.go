package ipfilter

import (
	"bytes"
	"testing"
)

// FuzzLoad: any input loads or fails with an error, never panics, and a
// loaded filter keeps its invariants (sorted, disjoint, merged, blocked).
func FuzzLoad(f *testing.F) {
	for _, s := range []string{mixed, "1.2.3.4\n", "a:1.2.3.4-1.2.3.5", "1.2.3.0 - 1.2.3.9 , 5 , x", "::/0\n0.0.0.0/0",
		"\x1f\x8b\x08\x00", "1.2.3.4-::1", "010.0.0.1/08"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		flt, st, err := Load(bytes.NewReader(b))
		if err != nil {
			return
		}
		if st.Ranges != flt.Len() || st.BadLines < len(st.Errors) {
			t.Fatalf("stats %+v, %d ranges", st, flt.Len())
		}
		for _, tb := range []*table{&flt.v4, &flt.v6} {
			for i, r := range tb.r {
				if r.flags != Blocked || r.last.less(r.first) {
					t.Fatalf("bad range %+v", r)
				}
				if i > 0 && !tb.r[i-1].last.less(r.first) || i > 0 && adjacent(tb.r[i-1].last, r.first) {
					t.Fatalf("unmerged ranges %+v %+v", tb.r[i-1], r)
				}
			}
		}
	})
}
