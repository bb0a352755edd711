package storage

import (
	"crypto/sha1"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/shardtorrent/shardtorrent/bufpool"
)

// benchStorage is one file of size bytes of random data, written and synced.
func benchStorage(b *testing.B, size, pieceLen int64) (*FileStorage, []byte) {
	b.Helper()
	l := Layout{PieceLength: pieceLen, TotalLength: size, Files: []FileSpec{{Path: "data.bin", Length: size}}}
	s := openTest(b, l)
	ref := make([]byte, size)
	r := rand.New(rand.NewPCG(9, 9))
	for i := 0; i+8 <= len(ref); i += 8 {
		v := r.Uint64()
		for k := range 8 {
			ref[i+k] = byte(v >> (8 * k))
		}
	}
	if _, err := s.WriteAt(ref, 0, 0); err != nil && size <= pieceLen {
		b.Fatal(err)
	} else if size > pieceLen {
		writeAll(b, s, ref, 1<<20)
	}
	if err := s.Sync(); err != nil {
		b.Fatal(err)
	}
	return s, ref
}

// BenchmarkWritePiece hashes and writes 1 MiB pieces arriving as 64 blocks
// of 16 KiB, keeping two jobs per worker in flight.
func BenchmarkWritePiece(b *testing.B) {
	const pieceLen = 1 << 20
	const pieces = 16 // the file is rewritten in a cycle
	f := newDiskFixture(b, 0)
	s, ref := benchStorage(b, pieces*pieceLen, pieceLen)
	hashes := pieceHashes(s.Layout(), ref)
	// The blocks of every piece, filled once; each job takes a reference,
	// as the network path hands over received blocks without copying.
	spans := make([][]*bufpool.Span, pieces)
	for p := range spans {
		for k := 0; k < pieceLen; k += bufpool.BlockSize {
			sp := f.pool.Get(bufpool.BlockSize)
			copy(sp.Bytes(), ref[p*pieceLen+k:])
			spans[p] = append(spans[p], sp)
		}
	}
	inflight := 2 * f.disk.Workers()
	b.SetBytes(pieceLen)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i >= inflight {
			j := <-f.done
			if !j.Pass || j.Err != nil {
				b.Fatalf("Pass=%v Err=%v", j.Pass, j.Err)
			}
			f.disk.Free(j)
		}
		p := i % pieces
		j := f.job(JobWritePiece, s, p)
		j.Hash = hashes[p]
		for _, sp := range spans[p] {
			j.Blocks = append(j.Blocks, BlockRef{Span: sp.Retain(), Data: sp.Bytes()})
		}
		f.disk.Submit(j)
	}
	for range min(b.N, inflight) {
		f.disk.Free(<-f.done)
	}
	b.StopTimer()
	for _, ps := range spans {
		for _, sp := range ps {
			sp.Release()
		}
	}
	f.checkSpans()
}

// BenchmarkCheck checks a 64 MiB torrent (STORAGE_BENCH_CHECK_MIB to change)
// with every worker. "warm" reads from the page cache; "cold" evicts the
// file from it first (POSIX_FADV_DONTNEED on that file only).
func BenchmarkCheck(b *testing.B) {
	size := int64(64 << 20)
	if v, err := strconv.Atoi(os.Getenv("STORAGE_BENCH_CHECK_MIB")); err == nil && v > 0 {
		size = int64(v) << 20
	}
	for _, pieceLen := range []int64{16 << 10, 256 << 10, 4 << 20} {
		for _, cache := range []string{"warm", "cold"} {
			b.Run(fmt.Sprintf("piece=%dKiB/%s", pieceLen>>10, cache), func(b *testing.B) {
				f := newDiskFixture(b, 0)
				s, ref := benchStorage(b, size, pieceLen)
				hashes := pieceHashes(s.Layout(), ref)
				have := make([]bool, len(hashes))
				b.SetBytes(size)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if cache == "cold" {
						b.StopTimer()
						evict(b, filepath.Join(s.Dir(), "data.bin"))
						b.StartTimer()
					}
					j := f.job(JobCheck, s, 0)
					j.Hashes, j.Have = hashes, have
					f.run(j)
					for p, ok := range j.Have {
						if !ok {
							b.Fatalf("piece %d failed", p)
						}
					}
					f.disk.Free(j)
				}
			})
		}
	}
}

// BenchmarkReadBlock reads 16 KiB blocks from a cached file: through the
// worker round trip (what a loop pays per JobRead), with TryReadNoWait on
// the calling goroutine, and with a plain blocking ReadAt for reference.
func BenchmarkReadBlock(b *testing.B) {
	const size, pieceLen, blk = 8 << 20, 256 << 10, 16 << 10
	const blocks = size / blk
	b.Run("worker", func(b *testing.B) {
		f := newDiskFixture(b, 0)
		s, _ := benchStorage(b, size, pieceLen)
		b.SetBytes(blk)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			k := i % blocks
			j := f.job(JobRead, s, k*blk/pieceLen)
			j.Begin, j.Length = int64(k*blk%pieceLen), blk
			f.disk.Submit(j)
			j = <-f.done
			if j.Err != nil {
				b.Fatal(j.Err)
			}
			j.Span.Release()
			f.disk.Free(j)
		}
	})
	b.Run("nowait", func(b *testing.B) {
		s, _ := benchStorage(b, size, pieceLen)
		buf := make([]byte, blk)
		if _, err := s.ReadAt(buf, 0, 0); err != nil { // opens the file
			b.Fatal(err)
		}
		b.SetBytes(blk)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			k := i % blocks
			if _, ok := s.TryReadNoWait(buf, k*blk/pieceLen, int64(k*blk%pieceLen)); !ok {
				b.Fatal("not served from the page cache")
			}
		}
	})
	b.Run("nowait-miss", func(b *testing.B) {
		s, _ := benchStorage(b, size, pieceLen)
		buf := make([]byte, blk)
		if _, err := s.ReadAt(buf, 0, 0); err != nil {
			b.Fatal(err)
		}
		// A miss starts the kernel's readahead before it returns EAGAIN, so
		// before every call the block is evicted again, once a blocking
		// read has waited out that readahead (pages under I/O stay put).
		path := filepath.Join(s.Dir(), "data.bin")
		misses := 0
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			if _, err := s.ReadAt(buf, 1, 0); err != nil {
				b.Fatal(err)
			}
			evict(b, path)
			b.StartTimer()
			if _, ok := s.TryReadNoWait(buf, 1, 0); !ok {
				misses++
			}
		}
		// Not always 1: pages still under readahead I/O survive eviction.
		b.ReportMetric(float64(misses)/float64(b.N), "miss/op")
	})
	b.Run("pread", func(b *testing.B) {
		s, _ := benchStorage(b, size, pieceLen)
		buf := make([]byte, blk)
		b.SetBytes(blk)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			k := i % blocks
			if _, err := s.ReadAt(buf, k*blk/pieceLen, int64(k*blk%pieceLen)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSHA1 is the ceiling for a check: one core hashing 1 MiB.
func BenchmarkSHA1(b *testing.B) {
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	for range b.N {
		sha1.Sum(buf)
	}
}
