package storage

import (
	"sync/atomic"
	"time"
)

// Disk counters: bytes read and written, jobs done, and a latency
// histogram per kind of job. Each worker keeps its own (workerStats, in
// the worker's struct, so workers never share a cache line of counters);
// only that worker writes them, once per job, and Disk.Stats sums them
// from any goroutine. A job's latency is its execution on the worker
// (what the disk and the hashing cost), not its wait in the queue.

// LatencyKind groups jobs for the latency histograms.
type LatencyKind uint8

// Latency kinds.
const (
	LatencyRead  LatencyKind = iota // JobRead
	LatencyWrite                    // JobWritePiece (hash and write), JobWrite
	LatencyHash                     // JobHashPiece
	LatencyCheck                    // one batch of a JobCheck (up to 4 MiB hashed)
	LatencySync                     // JobSync, JobClose, JobSetWanted
	NumLatencyKinds
)

var latencyNames = [NumLatencyKinds]string{"read", "write", "hash", "check", "sync"}

// String names the kind ("read", "write", "hash", "check", "sync").
func (k LatencyKind) String() string {
	if k < NumLatencyKinds {
		return latencyNames[k]
	}
	return "unknown"
}

// NumLatencyBuckets is the number of finite histogram buckets; bucket i
// counts jobs that took at most LatencyBucketBound(i).
const NumLatencyBuckets = 16

// LatencyBucketBound is the upper bound of bucket i: 16 µs << i, so the
// finite buckets span 16 µs to 524 ms.
func LatencyBucketBound(i int) time.Duration { return (16 * time.Microsecond) << i }

// Histogram is one kind's job latencies: Buckets[i] counts jobs of at
// most LatencyBucketBound(i) and more than the bound before (not
// cumulative); Over counts the slower ones.
type Histogram struct {
	Count   uint64
	Sum     time.Duration
	Buckets [NumLatencyBuckets]uint64
	Over    uint64
}

// DiskStats are the Disk's counters since NewDisk.
type DiskStats struct {
	ReadBytes, WriteBytes uint64 // bytes read (reads, hashing, checks) and written
	Latency               [NumLatencyKinds]Histogram
}

// workerStats is one worker's counters; written by that worker only.
type workerStats struct {
	readBytes, writeBytes atomic.Uint64
	lat                   [NumLatencyKinds]struct {
		count, sum, over atomic.Uint64
		buckets          [NumLatencyBuckets]atomic.Uint64
	}
}

// observe records one job of kind k that took d. Worker only.
func (s *workerStats) observe(k LatencyKind, d time.Duration) {
	h := &s.lat[k]
	h.count.Add(1)
	h.sum.Add(uint64(max(d, 0)))
	for i := range NumLatencyBuckets {
		if d <= LatencyBucketBound(i) {
			h.buckets[i].Add(1)
			return
		}
	}
	h.over.Add(1)
}

// latencyKind is the histogram a job kind goes to.
func latencyKind(k JobKind) LatencyKind {
	switch k {
	case JobRead:
		return LatencyRead
	case JobWritePiece, JobWrite:
		return LatencyWrite
	case JobHashPiece:
		return LatencyHash
	case JobCheck:
		return LatencyCheck
	}
	return LatencySync
}

// Stats sums every worker's counters. Safe from any goroutine.
func (d *Disk) Stats() DiskStats {
	var out DiskStats
	for _, w := range d.ws {
		s := &w.stats
		out.ReadBytes += s.readBytes.Load()
		out.WriteBytes += s.writeBytes.Load()
		for k := range out.Latency {
			h, o := &s.lat[k], &out.Latency[k]
			o.Count += h.count.Load()
			o.Sum += time.Duration(h.sum.Load())
			o.Over += h.over.Load()
			for i := range o.Buckets {
				o.Buckets[i] += h.buckets[i].Load()
			}
		}
	}
	return out
}

// countWrite adds the bytes of a write that succeeded. Worker only.
func (w *worker) countWrite(n int, err error) {
	if err == nil {
		w.stats.writeBytes.Add(uint64(n))
	}
}
