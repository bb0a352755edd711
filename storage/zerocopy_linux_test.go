package storage

import (
	"bytes"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCachedFileRange: before any descriptor is open it declines, and
// while the files are written and not synced; after the data is written
// and synced (so cached and clean), every block inside one non-pad file
// comes back as a descriptor and offset whose bytes are the block's, blocks
// across files or in a pad decline, and every reference is released.
// After the pages of a file are evicted, its blocks decline.
func TestCachedFileRange(t *testing.T) {
	l := testLayout()
	s := openTest(t, l)
	if _, _, _, ok := s.CachedFileRange(0, 0, 4096); ok {
		t.Fatal("CachedFileRange succeeded before any file was open")
	}
	ref := reference(l, 5)
	writeAll(t, s, ref, 16<<10)
	if _, _, _, ok := s.CachedFileRange(0, 0, 4096); ok {
		t.Fatal("CachedFileRange served a file written since its last Sync")
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	const blk = 4096
	served, declined := 0, 0
	for p := range l.NumPieces() {
		for b := int64(0); b < l.PieceSize(p); b += blk {
			n := int(min(blk, l.PieceSize(p)-b))
			fd, off, r, ok := s.CachedFileRange(p, b, n)
			abs := int64(p)*l.PieceLength + b
			single := false
			l.Segments(p, b, int64(n), func(f int, _, sz int64) bool {
				single = sz == int64(n) && !l.Files[f].Pad
				return false
			})
			if s.noCachestat.Load() {
				t.Skip("no cachestat(2) on this kernel")
			}
			if ok != single {
				t.Fatalf("piece %d begin %d: ok %v, want %v", p, b, ok, single)
			}
			if !ok {
				declined++
				continue
			}
			got := make([]byte, n)
			if m, err := unix.Pread(fd, got, off); err != nil || m != n {
				t.Fatalf("pread: %d, %v", m, err)
			}
			if !bytes.Equal(got, ref[abs:abs+int64(n)]) {
				t.Fatalf("piece %d begin %d: wrong bytes at the returned offset", p, b)
			}
			r.Release()
			served++
		}
	}
	if served == 0 || declined == 0 {
		t.Errorf("served %d, declined %d: want both", served, declined)
	}
	s.mu.Lock()
	for h := s.lru.next; h != &s.lru; h = h.next {
		if h.refs != 0 {
			t.Errorf("file %d: %d references left", h.file, h.refs)
		}
	}
	s.mu.Unlock()

	// Evict a.bin (piece 0 lies in it) and age the remembered probes past
	// zeroCopyMemo: the next call probes again and declines.
	fd, err := unix.Open(filepath.Join(s.dir, "a.bin"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	for h := s.lru.next; h != &s.lru; h = h.next {
		if h.file == 0 && h.cachedHi == 0 {
			t.Errorf("file %d: no probe remembered", h.file)
		}
		h.cachedAt -= int64(2 * zeroCopyMemo)
	}
	s.mu.Unlock()
	if full, _ := pagesCached(fd, 0, blk); full {
		t.Skip("FADV_DONTNEED left the pages cached")
	}
	if _, _, _, ok := s.CachedFileRange(0, 0, blk); ok {
		t.Error("CachedFileRange served an evicted block")
	}
}

// TestCachedFileRangeAllocs: a remembered probe serves without allocating.
func TestCachedFileRangeAllocs(t *testing.T) {
	l := testLayout()
	s := openTest(t, l)
	writeAll(t, s, reference(l, 6), 16<<10)
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, _, r, ok := s.CachedFileRange(0, 0, 4096); ok {
		r.Release()
	} else {
		t.Skip("not served (no cachestat?)")
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, _, r, ok := s.CachedFileRange(0, 4096, 4096); ok {
			r.Release()
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per call", allocs)
	}
}
