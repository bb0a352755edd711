package ipfilter

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func a(s string) netip.Addr { return netip.MustParseAddr(s) }

func dump(f *Filter) string {
	var b strings.Builder
	for i, r := range f.Ranges() {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%v-%v=%d", r.First, r.Last, r.Flags)
	}
	return b.String()
}

type rule struct {
	first, last string
	flags       uint32
}

func TestAddRuleMerging(t *testing.T) {
	cases := []struct {
		name  string
		rules []rule
		want  string
	}{
		{"one", []rule{{"1.0.0.0", "1.0.0.9", 1}}, "1.0.0.0-1.0.0.9=1"},
		{"disjoint out of order", []rule{{"5.0.0.0", "5.0.0.9", 1}, {"1.0.0.0", "1.0.0.9", 1}},
			"1.0.0.0-1.0.0.9=1 5.0.0.0-5.0.0.9=1"},
		{"adjacent merge after", []rule{{"1.0.0.0", "1.0.0.9", 1}, {"1.0.0.10", "1.0.0.19", 1}}, "1.0.0.0-1.0.0.19=1"},
		{"adjacent merge before", []rule{{"1.0.0.10", "1.0.0.19", 1}, {"1.0.0.0", "1.0.0.9", 1}}, "1.0.0.0-1.0.0.19=1"},
		{"adjacent different flags", []rule{{"1.0.0.0", "1.0.0.9", 1}, {"1.0.0.10", "1.0.0.19", 2}},
			"1.0.0.0-1.0.0.9=1 1.0.0.10-1.0.0.19=2"},
		{"overlap same flags", []rule{{"1.0.0.0", "1.0.0.9", 1}, {"1.0.0.5", "1.0.0.19", 1}}, "1.0.0.0-1.0.0.19=1"},
		{"later allow punches a hole", []rule{{"1.0.0.0", "1.0.0.255", 1}, {"1.0.0.10", "1.0.0.19", 0}},
			"1.0.0.0-1.0.0.9=1 1.0.0.20-1.0.0.255=1"},
		{"later overrides middle", []rule{{"1.0.0.0", "1.0.0.255", 1}, {"1.0.0.10", "1.0.0.19", 2}},
			"1.0.0.0-1.0.0.9=1 1.0.0.10-1.0.0.19=2 1.0.0.20-1.0.0.255=1"},
		{"later covers several", []rule{{"1.0.0.0", "1.0.0.9", 1}, {"1.0.0.20", "1.0.0.29", 2}, {"1.0.0.40", "1.0.0.49", 1},
			{"1.0.0.5", "1.0.0.44", 3}}, "1.0.0.0-1.0.0.4=1 1.0.0.5-1.0.0.44=3 1.0.0.45-1.0.0.49=1"},
		{"later allow removes all", []rule{{"1.0.0.0", "1.0.0.9", 1}, {"1.0.0.20", "1.0.0.29", 1}, {"0.0.0.0", "255.255.255.255", 0}}, ""},
		{"full range", []rule{{"0.0.0.0", "255.255.255.255", 1}}, "0.0.0.0-255.255.255.255=1"},
		{"full range then hole at ends", []rule{{"0.0.0.0", "255.255.255.255", 1}, {"0.0.0.0", "0.0.0.0", 0},
			{"255.255.255.255", "255.255.255.255", 0}}, "0.0.0.1-255.255.255.254=1"},
		{"hole then refill merges back", []rule{{"1.0.0.0", "1.0.0.255", 1}, {"1.0.0.10", "1.0.0.19", 0}, {"1.0.0.10", "1.0.0.19", 1}},
			"1.0.0.0-1.0.0.255=1"},
		{"v4-mapped is v4", []rule{{"::ffff:1.0.0.0", "::ffff:1.0.0.9", 1}}, "1.0.0.0-1.0.0.9=1"},
		{"v6", []rule{{"2001:db8::", "2001:db8::ffff", 1}, {"2001:db8::1:0", "2001:db8::1:ffff", 1}}, "2001:db8::-2001:db8::1:ffff=1"},
		{"v6 across the 64-bit halves", []rule{{"2001:db8::ffff:ffff:ffff:ffff", "2001:db8:0:1::", 1},
			{"2001:db8:0:1::1", "2001:db8:0:1::1", 1}}, "2001:db8::ffff:ffff:ffff:ffff-2001:db8:0:1::1=1"},
		{"v6 full range with hole", []rule{{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1}, {"::1", "::1", 0}},
			"::-::=1 ::2-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff=1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := New()
			for _, r := range c.rules {
				if err := f.AddRule(a(r.first), a(r.last), r.flags); err != nil {
					t.Fatal(err)
				}
			}
			got := dump(f)
			if got != c.want {
				t.Fatalf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

// TestAddRuleAgainstModel checks the range table against a per-address
// model over a small space, with random overlapping rules.
func TestAddRuleAgainstModel(t *testing.T) {
	const space = 256
	seed := uint64(1)
	rnd := func(n int) int {
		seed = seed*6364136223846793005 + 1442695040888963407
		return int(seed>>33) % n
	}
	for iter := 0; iter < 300; iter++ {
		f := New()
		var model [space]uint32
		for r := 0; r < 1+rnd(12); r++ {
			x, y := rnd(space), rnd(space)
			if y < x {
				x, y = y, x
			}
			fl := uint32(rnd(3))
			if err := f.AddRule(netip.AddrFrom4([4]byte{10, 0, 0, byte(x)}), netip.AddrFrom4([4]byte{10, 0, 0, byte(y)}), fl); err != nil {
				t.Fatal(err)
			}
			for i := x; i <= y; i++ {
				model[i] = fl
			}
		}
		for i := 0; i < space; i++ {
			if got := f.Access(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})); got != model[i] {
				t.Fatalf("iter %d: 10.0.0.%d: got %d want %d (%s)", iter, i, got, model[i], dump(f))
			}
		}
		rs := f.v4.r
		for i := range rs {
			if rs[i].flags == 0 || rs[i].last.less(rs[i].first) {
				t.Fatalf("bad range %d in %s", i, dump(f))
			}
			if i > 0 && (!rs[i-1].last.less(rs[i].first) || rs[i-1].flags == rs[i].flags && adjacent(rs[i-1].last, rs[i].first)) {
				t.Fatalf("invariant broken at %d: %s", i, dump(f))
			}
		}
	}
}

func TestAccess(t *testing.T) {
	f := New()
	must(t, f.AddRule(a("1.2.3.0"), a("1.2.3.255"), Blocked))
	must(t, f.AddRule(a("2001:db8::"), a("2001:db8::ff"), Blocked))
	for _, c := range []struct {
		addr string
		want bool
	}{
		{"1.2.2.255", false}, {"1.2.3.0", true}, {"1.2.3.128", true}, {"1.2.3.255", true}, {"1.2.4.0", false},
		{"::ffff:1.2.3.4", true}, {"::ffff:1.2.4.4", false}, {"2001:db8::1", true}, {"2001:db8::100", false},
		{"fe80::1%eth0", false}, {"127.0.0.1", false},
	} {
		if got := f.IsBlocked(a(c.addr)); got != c.want {
			t.Errorf("%s: got %v want %v", c.addr, got, c.want)
		}
	}
	var nilF *Filter
	if nilF.Access(a("1.2.3.4")) != 0 || nilF.Len() != 0 {
		t.Fatal("nil filter blocks")
	}
	if New().Access(netip.Addr{}) != 0 {
		t.Fatal("invalid address blocked")
	}
}

func TestAddRuleErrors(t *testing.T) {
	f := New()
	for _, c := range [][2]netip.Addr{
		{a("1.2.3.4"), a("2001:db8::1")},
		{a("1.2.3.4"), a("1.2.3.3")},
		{{}, a("1.2.3.3")},
	} {
		if err := f.AddRule(c[0], c[1], Blocked); !errors.Is(err, ErrBadRange) {
			t.Errorf("%v-%v: %v, want ErrBadRange", c[0], c[1], err)
		}
	}
}

func TestAccessNoAlloc(t *testing.T) {
	f := New()
	for i := 0; i < 10000; i++ {
		must(t, f.AddRule(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 127}), Blocked))
	}
	must(t, f.AddRule(a("2001:db8::"), a("2001:db8::ff"), Blocked))
	v4, v6, mapped := a("10.3.4.5"), a("2001:db8::7"), a("::ffff:10.3.4.200")
	var sink uint32
	if n := testing.AllocsPerRun(1000, func() {
		sink += f.Access(v4) + f.Access(v6) + f.Access(mapped)
	}); n != 0 {
		t.Fatalf("Access allocates %v times", n)
	}
	if sink == 0 {
		t.Fatal("nothing blocked")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func BenchmarkAccess(b *testing.B) {
	f := New()
	for i := 0; i < 1000000; i++ {
		x := uint32(i) * 4096
		if err := (f.AddRule(netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), 0}),
			netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), 99}), Blocked)); err != nil {
			b.Fatal(err)
		}
	}
	addr := a("77.88.99.50")
	b.ReportAllocs()
	b.ResetTimer()
	var sink uint32
	for i := 0; i < b.N; i++ {
		sink += f.Access(addr)
	}
	_ = sink
}
