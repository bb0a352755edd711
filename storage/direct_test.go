package storage

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestJobWritePieceDirect writes every piece of several layouts with direct
// writes on (aligned pieces, an odd last piece, multi-file pieces with pad
// files and unaligned boundaries), in an order that is not the file order,
// and reads the whole torrent back.
func TestJobWritePieceDirect(t *testing.T) {
	single := Layout{PieceLength: 64 << 10, TotalLength: 5*(64<<10) + 777,
		Files: []FileSpec{{Path: "one.bin", Length: 5*(64<<10) + 777}}}
	cases := []struct {
		name string
		l    Layout
	}{
		{"single file, odd last piece", single},
		{"multi-file with pads", testLayout()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newDiskFixture(t, 2)
			ref := reference(tc.l, 9)
			hashes := pieceHashes(&tc.l, ref)
			s := openTest(t, tc.l)
			s.SetDirectWrites(true)
			n := tc.l.NumPieces()
			for i := range n {
				piece := (i*3 + 1) % n // every piece once, out of order when n%3 != 0
				if n%3 == 0 {
					piece = n - 1 - i
				}
				off := int64(piece) * tc.l.PieceLength
				j := f.job(JobWritePiece, s, piece)
				j.Hash = hashes[piece]
				f.blocks(j, ref[off:off+tc.l.PieceSize(piece)])
				f.run(j)
				if !j.Pass || j.Err != nil {
					t.Fatalf("piece %d: Pass=%v Err=%v", piece, j.Pass, j.Err)
				}
				f.disk.Free(j)
			}
			f.checkSpans()
			got := make([]byte, tc.l.TotalLength)
			var off int64
			for _, fs := range tc.l.Files {
				if !fs.Pad {
					b, err := os.ReadFile(filepath.Join(s.Dir(), fs.Path))
					if err != nil && fs.Length > 0 {
						t.Fatal(err)
					}
					if int64(len(b)) != fs.Length {
						t.Fatalf("%s: %d bytes on disk, want %d", fs.Path, len(b), fs.Length)
					}
					copy(got[off:], b)
				}
				off += fs.Length
			}
			if !bytes.Equal(got, ref) {
				t.Fatal("data read back differs from what was written")
			}
			t.Logf("direct writes in effect: %v", s.DirectWrites())
		})
	}
}

// TestDirectWriteBypassesPageCache proves the direct path is taken: after
// a piece is written with direct writes on, its aligned pages are not in
// the page cache, while the same piece written buffered is.
func TestDirectWriteBypassesPageCache(t *testing.T) {
	l := Layout{PieceLength: 256 << 10, TotalLength: 2 * (256 << 10),
		Files: []FileSpec{{Path: "one.bin", Length: 2 * (256 << 10)}}}
	f := newDiskFixture(t, 1)
	ref := reference(l, 3)
	hashes := pieceHashes(&l, ref)
	s := openTest(t, l)
	write := func(piece int, direct bool) {
		s.SetDirectWrites(direct)
		j := f.job(JobWritePiece, s, piece)
		j.Hash = hashes[piece]
		off := int64(piece) * l.PieceLength
		f.blocks(j, ref[off:off+l.PieceSize(piece)])
		f.run(j)
		if !j.Pass || j.Err != nil {
			t.Fatalf("piece %d: Pass=%v Err=%v", piece, j.Pass, j.Err)
		}
		f.disk.Free(j)
	}
	write(0, false)
	write(1, true)
	if !s.DirectWrites() {
		t.Skip("this filesystem does not support O_DIRECT; the buffered fallback was used")
	}
	fd, err := unix.Open(filepath.Join(s.Dir(), "one.bin"), unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	pages := func(piece int) uint64 {
		r := unix.CachestatRange{Off: uint64(piece) * uint64(l.PieceLength), Len: uint64(l.PieceLength)}
		var st unix.Cachestat_t
		if err := unix.Cachestat(uint(fd), &r, &st, 0); err != nil {
			t.Skipf("cachestat: %v", err)
		}
		return st.Cache
	}
	if p := pages(0); p == 0 {
		t.Fatalf("buffered piece: %d pages cached, want them all", p)
	}
	if p := pages(1); p != 0 {
		t.Fatalf("direct piece: %d pages cached, want none", p)
	}
}

// TestDirectWriteEINVALFallsBack: a direct write the filesystem refuses
// with EINVAL (here: an alignment of 1 forced on the handle, so an odd
// offset and length reach O_DIRECT) is written buffered instead, and the
// storage stops trying direct writes.
func TestDirectWriteEINVALFallsBack(t *testing.T) {
	const pl = 4097
	l := Layout{PieceLength: pl, TotalLength: 3 * pl, Files: []FileSpec{{Path: "odd.bin", Length: 3 * pl}}}
	s := openTest(t, l)
	s.SetDirectWrites(true)
	ref := reference(l, 11)
	h, err := s.acquire(0, true)
	if err != nil {
		t.Fatal(err)
	}
	if fd, _ := s.directFD(h); fd < 0 {
		s.release(h)
		t.Skip("this filesystem does not support O_DIRECT")
	}
	h.align.Store(1)
	s.release(h)
	var buf []byte
	data := alignedBuf(&buf, pl)
	copy(data, ref[pl:2*pl])
	if err := s.writePieceDirect(data, 1); err != nil {
		t.Fatalf("write: %v", err)
	}
	if s.DirectWrites() {
		t.Fatal("direct writes still on after EINVAL")
	}
	got := make([]byte, pl)
	if _, err := s.ReadAt(got, 1, 0); err != nil || !bytes.Equal(got, ref[pl:2*pl]) {
		t.Fatalf("piece read back wrong: %v", err)
	}
}
