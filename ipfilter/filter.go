// Package ipfilter is a session-wide IP filter in libtorrent's ip_filter
// model: access flags over ranges of IPv4 and IPv6 addresses, where a rule
// added later overrides the parts of earlier rules it overlaps. The ranges
// are kept sorted and non-overlapping (adjacent ranges with equal flags are
// merged), so Access is a binary search: O(log n), no allocation.
//
// Threading: a Filter is built by one goroutine (New, AddRule, Load*), then
// read by any number (Access, Blocked, Len). Do not call AddRule on a Filter
// a session is using; build a new one and swap it in
// (Session.SetIPFilter).
package ipfilter

import (
	"errors"
	"fmt"
	"net/netip"
)

// Blocked is the access flag that refuses a peer (libtorrent's
// ip_filter::blocked). Addresses no rule covers have access 0 (allowed).
const Blocked uint32 = 1

// ErrBadRange is returned by AddRule for a range whose ends are of different
// families (IPv4 and IPv6), invalid, or out of order.
var ErrBadRange = errors.New("ipfilter: bad range")

// key is an address as a 128-bit unsigned integer; IPv4 uses lo only.
type key struct{ hi, lo uint64 }

func (a key) less(b key) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

// next is a+1; callers never ask for the successor of the maximum.
func (a key) next() key {
	if a.lo == ^uint64(0) {
		return key{a.hi + 1, 0}
	}
	return key{a.hi, a.lo + 1}
}

// prev is a-1; callers never ask for the predecessor of zero.
func (a key) prev() key {
	if a.lo == 0 {
		return key{a.hi - 1, ^uint64(0)}
	}
	return key{a.hi, a.lo - 1}
}

// adjacent reports whether b == a+1 (no wrap-around).
func adjacent(a, b key) bool { return a.less(b) && a.next() == b }

func keyOf(a netip.Addr) key {
	if a.Is4() {
		b := a.As4()
		return key{0, uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])}
	}
	b := a.As16()
	var k key
	for i := 0; i < 8; i++ {
		k.hi = k.hi<<8 | uint64(b[i])
		k.lo = k.lo<<8 | uint64(b[8+i])
	}
	return k
}

func addrOf(k key, v4 bool) netip.Addr {
	if v4 {
		x := uint32(k.lo)
		return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
	}
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(k.hi >> (56 - 8*i))
		b[8+i] = byte(k.lo >> (56 - 8*i))
	}
	return netip.AddrFrom16(b)
}

// rng is one stored range. Invariant (per table): ranges are sorted by
// first, do not overlap, have flags != 0, and two adjacent ranges never
// carry equal flags.
type rng struct {
	first, last key
	flags       uint32
}

type table struct{ r []rng }

// access is the flags of the range holding k, or 0.
func (t *table) access(k key) uint32 {
	lo, hi := 0, len(t.r)
	for lo < hi { // lo = number of ranges with first <= k
		m := int(uint(lo+hi) >> 1)
		if !k.less(t.r[m].first) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return 0
	}
	if r := &t.r[lo-1]; !r.last.less(k) {
		return r.flags
	}
	return 0
}

// add sets flags on [first, last], overriding what was there.
func (t *table) add(first, last key, flags uint32) {
	n := len(t.r)
	if n == 0 || t.r[n-1].last.less(first) { // fast path: past the end (sorted input)
		if flags == 0 {
			return
		}
		if n > 0 && t.r[n-1].flags == flags && adjacent(t.r[n-1].last, first) {
			t.r[n-1].last = last
			return
		}
		t.r = append(t.r, rng{first, last, flags})
		return
	}
	// i: first range ending at or after first; j: first range starting after last.
	i := search(n, func(x int) bool { return !t.r[x].last.less(first) })
	j := search(n, func(x int) bool { return last.less(t.r[x].first) })
	var buf [3]rng
	out := buf[:0]
	if i < j && t.r[i].first.less(first) {
		out = append(out, rng{t.r[i].first, first.prev(), t.r[i].flags})
	}
	if flags != 0 {
		out = append(out, rng{first, last, flags})
	}
	if i < j && last.less(t.r[j-1].last) {
		out = append(out, rng{last.next(), t.r[j-1].last, t.r[j-1].flags})
	}
	t.r = replace(t.r, i, j, out)
	// Merge equal-flag neighbours around the splice.
	k := i - 1
	if k < 0 {
		k = 0
	}
	end := i + len(out)
	for k < end && k+1 < len(t.r) {
		if t.r[k].flags == t.r[k+1].flags && adjacent(t.r[k].last, t.r[k+1].first) {
			t.r[k].last = t.r[k+1].last
			t.r = append(t.r[:k+1], t.r[k+2:]...)
			end--
			continue
		}
		k++
	}
}

func search(n int, f func(int) bool) int {
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if !f(m) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// replace puts v in place of s[i:j].
func replace(s []rng, i, j int, v []rng) []rng {
	tail := len(s) - j
	nl := i + len(v) + tail
	if nl > cap(s) {
		ns := make([]rng, nl, nl+nl/4)
		copy(ns, s[:i])
		copy(ns[i+len(v):], s[j:])
		copy(ns[i:], v)
		return ns
	}
	old := len(s)
	s = s[:max(nl, old)]
	copy(s[i+len(v):], s[j:old])
	copy(s[i:], v)
	return s[:nl]
}

// Filter holds the IPv4 and IPv6 rules. The zero value and a nil *Filter
// allow everything. See the package comment for its threading rule.
type Filter struct {
	v4, v6 table
}

// New returns an empty filter (everything allowed). Safe from any goroutine.
func New() *Filter { return &Filter{} }

// AddRule gives every address in [first, last] the access flags, overriding
// earlier rules where they overlap (libtorrent's ip_filter::add_rule).
// first and last must be of one family; IPv4-mapped IPv6 addresses count as
// IPv4; zones are ignored. flags 0 allows the range. Not safe concurrently
// with any other method (build the filter, then share it).
func (f *Filter) AddRule(first, last netip.Addr, flags uint32) error {
	if !first.IsValid() || !last.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrBadRange)
	}
	first, last = first.Unmap().WithZone(""), last.Unmap().WithZone("")
	if first.Is4() != last.Is4() {
		return fmt.Errorf("%w: %v and %v are of different families", ErrBadRange, first, last)
	}
	if last.Less(first) {
		return fmt.Errorf("%w: %v is after %v", ErrBadRange, first, last)
	}
	t := &f.v6
	if first.Is4() {
		t = &f.v4
	}
	t.add(keyOf(first), keyOf(last), flags)
	return nil
}

// Access returns the flags of the rule covering a, or 0 when none does (a
// nil Filter returns 0). An IPv4-mapped IPv6 address is looked up as IPv4.
// O(log n), no allocation. Safe from any goroutine once the filter is no
// longer modified.
func (f *Filter) Access(a netip.Addr) uint32 {
	if f == nil || !a.IsValid() {
		return 0
	}
	if a.Is4In6() {
		a = a.Unmap()
	}
	if a.Is4() {
		return f.v4.access(keyOf(a))
	}
	return f.v6.access(keyOf(a))
}

// IsBlocked reports whether Access(a) has the Blocked flag. Safe from any
// goroutine once the filter is no longer modified.
func (f *Filter) IsBlocked(a netip.Addr) bool { return f.Access(a)&Blocked != 0 }

// Len is the number of stored ranges (IPv4 plus IPv6) after merging. Safe
// from any goroutine once the filter is no longer modified.
func (f *Filter) Len() int {
	if f == nil {
		return 0
	}
	return len(f.v4.r) + len(f.v6.r)
}

// Range is one stored range, as Ranges returns it.
type Range struct {
	First, Last netip.Addr
	Flags       uint32
}

// Ranges returns the stored ranges, IPv4 first, each family in address
// order (libtorrent's export_filter). It allocates; for inspection and
// tests. Safe from any goroutine once the filter is no longer modified.
func (f *Filter) Ranges() []Range {
	if f == nil {
		return nil
	}
	out := make([]Range, 0, f.Len())
	for _, r := range f.v4.r {
		out = append(out, Range{addrOf(r.first, true), addrOf(r.last, true), r.flags})
	}
	for _, r := range f.v6.r {
		out = append(out, Range{addrOf(r.first, false), addrOf(r.last, false), r.flags})
	}
	return out
}
