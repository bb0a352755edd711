package storage

import (
	"testing"
	"time"
)

// TestDiskStats: bytes and job latencies are counted by kind; a piece that
// fails its hash or a read that fails writes or reads no counted byte but
// still counts as a job.
func TestDiskStats(t *testing.T) {
	f := newDiskFixture(t, 2)
	l := testLayout()
	ref := reference(l, 5)
	hashes := pieceHashes(&l, ref)
	s := openTest(t, l)
	const piece = 3
	off := int64(piece) * l.PieceLength
	data := ref[off : off+l.PieceSize(piece)]
	size := uint64(len(data))

	steps := []struct {
		name  string
		job   func() *Job
		read  uint64
		write uint64
		kind  LatencyKind
	}{
		{"failing piece", func() *Job {
			j := f.job(JobWritePiece, s, piece)
			j.Hash = hashes[piece]
			j.Hash[0] ^= 1
			f.blocks(j, data)
			return j
		}, 0, 0, LatencyWrite},
		{"good piece", func() *Job {
			j := f.job(JobWritePiece, s, piece)
			j.Hash = hashes[piece]
			f.blocks(j, data)
			return j
		}, 0, size, LatencyWrite},
		{"read", func() *Job {
			j := f.job(JobRead, s, piece)
			j.Begin, j.Length = 1000, 20_000
			return j
		}, 20_000, 0, LatencyRead},
		{"oversized read", func() *Job {
			j := f.job(JobRead, s, piece)
			j.Length = 1 << 30
			return j
		}, 0, 0, LatencyRead},
		{"hash", func() *Job {
			j := f.job(JobHashPiece, s, piece)
			j.Hash = hashes[piece]
			return j
		}, size, 0, LatencyHash},
		{"sync", func() *Job { return f.job(JobSync, s, 0) }, 0, 0, LatencySync},
	}
	var want DiskStats
	for _, st := range steps {
		j := f.run(st.job())
		if j.Span != nil {
			j.Span.Release()
		}
		f.disk.Free(j)
		want.ReadBytes += st.read
		want.WriteBytes += st.write
		want.Latency[st.kind].Count++
		got := f.disk.Stats()
		if got.ReadBytes != want.ReadBytes || got.WriteBytes != want.WriteBytes {
			t.Fatalf("after %s: read %d written %d, want %d and %d", st.name, got.ReadBytes, got.WriteBytes, want.ReadBytes, want.WriteBytes)
		}
		for k := range NumLatencyKinds {
			h := got.Latency[k]
			var inBuckets uint64
			for _, n := range h.Buckets {
				inBuckets += n
			}
			if h.Count != want.Latency[k].Count || inBuckets+h.Over != h.Count {
				t.Fatalf("after %s: %v jobs %d (buckets %d + over %d), want %d", st.name, k, h.Count, inBuckets, h.Over, want.Latency[k].Count)
			}
		}
	}
	f.checkSpans()
}

// TestLatencyBuckets: a duration lands in the first bucket whose bound it
// does not exceed, or over the last one.
func TestLatencyBuckets(t *testing.T) {
	cases := []struct {
		d      time.Duration
		bucket int // -1: over
	}{
		{0, 0},
		{16 * time.Microsecond, 0},
		{17 * time.Microsecond, 1},
		{time.Millisecond, 6},
		{LatencyBucketBound(NumLatencyBuckets - 1), NumLatencyBuckets - 1},
		{time.Second, -1},
	}
	for _, c := range cases {
		var s workerStats
		s.observe(LatencyRead, c.d)
		h := &s.lat[LatencyRead]
		for i := range NumLatencyBuckets {
			want := uint64(0)
			if i == c.bucket {
				want = 1
			}
			if h.buckets[i].Load() != want {
				t.Errorf("%v: bucket %d (<= %v) holds %d, want %d", c.d, i, LatencyBucketBound(i), h.buckets[i].Load(), want)
			}
		}
		if over := h.over.Load(); (over == 1) != (c.bucket < 0) {
			t.Errorf("%v: over = %d", c.d, over)
		}
		if h.count.Load() != 1 || h.sum.Load() != uint64(c.d) {
			t.Errorf("%v: count %d sum %d", c.d, h.count.Load(), h.sum.Load())
		}
	}
}
