package loadgen

import (
	"math/bits"
	"time"
)

// histogram counts durations in log-linear buckets: 16 per power of two,
// so a bucket's width is at most 1/16 of its lower bound (quantiles are
// within about 6%). Values are nanoseconds; anything past the last bucket
// (about 137 s) lands in it.
//
// A histogram is owned by one connection's goroutine; Run merges them
// after the connections stop.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
	max    uint64
}

const (
	histSubBits = 4
	histSub     = 1 << histSubBits
	// histBuckets covers values up to 2^37 ns.
	histBuckets = histSub * (37 - histSubBits + 1)
)

// bucketOf returns v's bucket index.
func bucketOf(v uint64) int {
	if v < histSub {
		return int(v)
	}
	e := bits.Len64(v) - histSubBits - 1 // v>>e is in [16, 32)
	i := histSub*(e+1) + int(v>>uint(e)) - histSub
	return min(i, histBuckets-1)
}

// bucketLow returns the smallest value in bucket i.
func bucketLow(i int) uint64 {
	if i < histSub {
		return uint64(i)
	}
	e := i/histSub - 1
	m := uint64(i%histSub + histSub)
	return m << uint(e)
}

func (h *histogram) record(d int64) {
	if d < 0 {
		d = 0
	}
	v := uint64(d)
	h.counts[bucketOf(v)]++
	h.n++
	h.max = max(h.max, v)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the q-quantile (0 < q <= 1) as the midpoint of the
// bucket holding it (at most the maximum; the maximum itself for the last,
// unbounded bucket), or 0 for an empty histogram.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			if i == histBuckets-1 {
				// The last bucket has no upper bound: max is the best
				// figure there is.
				return time.Duration(h.max)
			}
			lo, hi := bucketLow(i), bucketLow(i+1)
			return time.Duration(min((lo+hi)/2, h.max))
		}
	}
	return time.Duration(h.max)
}
