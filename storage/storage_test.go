package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// testLayout is a multi-file torrent with empty files in the middle and at
// the end, a pad file, a nested directory and an odd last piece.
func testLayout() Layout {
	fs := []FileSpec{
		{Path: "a.bin", Length: 100_000},
		{Path: "empty1", Length: 0},
		{Path: filepath.Join("dir", "sub", "b.bin"), Length: 3_000},
		{Path: filepath.Join(".pad", "1"), Length: 5_000, Pad: true},
		{Path: filepath.Join("dir", "c.bin"), Length: 250_001},
		{Path: "d.bin", Length: 1},
		{Path: filepath.Join("dir", "empty2"), Length: 0},
	}
	return Layout{PieceLength: 32 << 10, TotalLength: sum(fs), Files: fs}
}

// reference is the torrent's content as one flat slice; pad bytes are zero.
func reference(l Layout, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0))
	ref := make([]byte, l.TotalLength)
	var off int64
	for _, f := range l.Files {
		if !f.Pad {
			for i := off; i < off+f.Length; i++ {
				ref[i] = byte(r.Uint32())
			}
		}
		off += f.Length
	}
	return ref
}

func openTest(t testing.TB, l Layout) *FileStorage {
	t.Helper()
	s, err := Open(t.TempDir(), l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// writeAll writes ref piece by piece, in blocks of blk bytes.
func writeAll(t testing.TB, s *FileStorage, ref []byte, blk int) {
	t.Helper()
	l := s.Layout()
	for p := range l.NumPieces() {
		size := l.PieceSize(p)
		for b := int64(0); b < size; b += int64(blk) {
			n := min(int64(blk), size-b)
			off := int64(p)*l.PieceLength + b
			if _, err := s.WriteAt(ref[off:off+n], p, b); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestStorageRoundTrip(t *testing.T) {
	l := testLayout()
	s := openTest(t, l)
	ref := reference(l, 1)
	writeAll(t, s, ref, 16<<10)

	// Whole pieces, then random ranges.
	for p := range l.NumPieces() {
		got := make([]byte, l.PieceSize(p))
		if _, err := s.ReadAt(got, p, 0); err != nil {
			t.Fatalf("piece %d: %v", p, err)
		}
		off := int64(p) * l.PieceLength
		if !bytes.Equal(got, ref[off:off+int64(len(got))]) {
			t.Fatalf("piece %d differs from the reference", p)
		}
	}
	r := rand.New(rand.NewPCG(2, 0))
	for range 200 {
		p := r.IntN(l.NumPieces())
		size := l.PieceSize(p)
		begin := r.Int64N(size)
		n := 1 + r.Int64N(size-begin)
		got := make([]byte, n)
		if _, err := s.ReadAt(got, p, begin); err != nil {
			t.Fatal(err)
		}
		off := int64(p)*l.PieceLength + begin
		if !bytes.Equal(got, ref[off:off+n]) {
			t.Fatalf("ReadAt(%d, %d, %d) differs from the reference", p, begin, n)
		}
	}

	// Each file on disk holds exactly its slice of the reference; the pad
	// file was never created.
	var off int64
	for _, f := range l.Files {
		data, err := os.ReadFile(filepath.Join(s.Dir(), f.Path))
		switch {
		case f.Pad || f.Length == 0:
			if !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s exists before CreateEmptyFiles (pad or empty)", f.Path)
			}
		case err != nil:
			t.Fatal(err)
		case !bytes.Equal(data, ref[off:off+f.Length]):
			t.Errorf("%s differs from the reference", f.Path)
		}
		off += f.Length
	}
	if err := s.CreateEmptyFiles(); err != nil {
		t.Fatal(err)
	}
	for _, f := range l.Files {
		if f.Length == 0 {
			if st, err := os.Stat(filepath.Join(s.Dir(), f.Path)); err != nil || st.Size() != 0 {
				t.Errorf("empty file %s: %v", f.Path, err)
			}
		}
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
}

func TestStorageRangeChecks(t *testing.T) {
	s := openTest(t, testLayout())
	last := s.Layout().NumPieces() - 1
	buf := make([]byte, 10)
	for _, c := range []struct {
		piece int
		begin int64
		n     int
	}{{-1, 0, 10}, {last + 1, 0, 10}, {0, -1, 10}, {0, 32<<10 - 5, 10}, {last, s.Layout().PieceSize(last), 1}} {
		if _, err := s.ReadAt(buf[:c.n], c.piece, c.begin); !errors.Is(err, ErrRange) {
			t.Errorf("ReadAt(%d, %d, %d) = %v, want ErrRange", c.piece, c.begin, c.n, err)
		}
		if _, err := s.WriteAt(buf[:c.n], c.piece, c.begin); !errors.Is(err, ErrRange) {
			t.Errorf("WriteAt(%d, %d, %d) = %v, want ErrRange", c.piece, c.begin, c.n, err)
		}
	}
}

func TestStorageReadMissingAndShortFiles(t *testing.T) {
	l := Layout{PieceLength: 1024, TotalLength: 4096, Files: files(2048, 2048)}
	s := openTest(t, l)
	buf := make([]byte, 1024)
	if _, err := s.ReadAt(buf, 0, 0); !errors.Is(err, ErrMissing) {
		t.Fatalf("read of a missing file: %v, want ErrMissing", err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir(), "b.bin"), make([]byte, 1500), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadAt(buf, 2, 0); err != nil {
		t.Fatalf("read inside the short file: %v", err)
	}
	if _, err := s.ReadAt(buf, 3, 0); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("read past the end of a short file: %v, want io.ErrUnexpectedEOF", err)
	}
	var fe *FileError
	if _, err := s.ReadAt(buf, 3, 0); !errors.As(err, &fe) || fe.Path != "b.bin" {
		t.Fatalf("error %v does not name the file", err)
	}
}

// TestOpenRefusesPathEscapes guards the second check on torrent file names:
// whatever the caller let through, nothing may land outside the save dir.
func TestOpenRefusesPathEscapes(t *testing.T) {
	sep := string(filepath.Separator)
	for _, p := range []string{
		"..",
		".." + sep + "evil",
		"a" + sep + ".." + sep + ".." + sep + "evil",
		"a" + sep + "..",
		sep + "etc" + sep + "passwd",
		"",
		".",
		"a\x00b",
	} {
		l := Layout{PieceLength: 16, TotalLength: 5, Files: []FileSpec{{Path: "ok", Length: 4}, {Path: p, Length: 1}}}
		_, err := Open(t.TempDir(), l)
		if !errors.Is(err, ErrUnsafePath) {
			t.Errorf("Open with path %q: %v, want ErrUnsafePath", p, err)
		}
	}
	// Names that merely look odd are fine.
	for _, p := range []string{"..a", "a..", "a" + sep + "...", "a" + sep + "." + sep + "b"} {
		l := Layout{PieceLength: 16, TotalLength: 1, Files: []FileSpec{{Path: p, Length: 1}}}
		if _, err := Open(t.TempDir(), l); err != nil {
			t.Errorf("Open with path %q: %v", p, err)
		}
	}
}

func TestTryReadNoWaitAfterWrite(t *testing.T) {
	l := testLayout()
	s := openTest(t, l)
	buf := make([]byte, 16<<10)
	if _, ok := s.TryReadNoWait(buf, 0, 0); ok {
		t.Fatal("TryReadNoWait succeeded before any file was open")
	}
	ref := reference(l, 3)
	writeAll(t, s, ref, 16<<10)
	// Piece 3 spans b.bin, the pad file and c.bin: all in the page cache.
	for p := range l.NumPieces() {
		got := make([]byte, l.PieceSize(p))
		n, ok := s.TryReadNoWait(got, p, 0)
		if !ok {
			if s.noWait.Load() {
				t.Skip("RWF_NOWAIT unsupported on this filesystem")
			}
			t.Fatalf("piece %d: TryReadNoWait on just-written data not ok (n=%d)", p, n)
		}
		off := int64(p) * l.PieceLength
		if n != len(got) || !bytes.Equal(got, ref[off:off+int64(n)]) {
			t.Fatalf("piece %d: TryReadNoWait returned wrong data", p)
		}
	}
}

// TestStorageManyFilesEvictsDescriptors runs more files than MaxOpenFiles
// through the LRU, with reads and writes interleaved.
func TestStorageManyFilesEvictsDescriptors(t *testing.T) {
	lengths := make([]int64, 3*MaxOpenFiles)
	for i := range lengths {
		lengths[i] = 1000 + int64(i)
	}
	fs := make([]FileSpec, len(lengths))
	for i, n := range lengths {
		fs[i] = FileSpec{Path: fmt.Sprintf("f%03d", i), Length: n}
	}
	l := Layout{PieceLength: 4096, TotalLength: sum(fs), Files: fs}
	s := openTest(t, l)
	ref := reference(l, 4)
	writeAll(t, s, ref, 1000)
	for p := l.NumPieces() - 1; p >= 0; p-- {
		got := make([]byte, l.PieceSize(p))
		if _, err := s.ReadAt(got, p, 0); err != nil {
			t.Fatal(err)
		}
		off := int64(p) * l.PieceLength
		if !bytes.Equal(got, ref[off:off+int64(len(got))]) {
			t.Fatalf("piece %d differs", p)
		}
	}
	s.mu.Lock()
	open := s.open
	s.mu.Unlock()
	if open > MaxOpenFiles {
		t.Fatalf("%d descriptors open, bound is %d", open, MaxOpenFiles)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadAt(make([]byte, 1), 0, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReadAt after Close: %v", err)
	}
}

// TestStorageReadOnlyHandleUpgradesOnWrite: a file first opened by a read
// (O_RDONLY) must take writes afterwards.
func TestStorageReadOnlyHandleUpgradesOnWrite(t *testing.T) {
	l := Layout{PieceLength: 1024, TotalLength: 2048, Files: files(2048)}
	s := openTest(t, l)
	if err := os.WriteFile(filepath.Join(s.Dir(), "a.bin"), make([]byte, 2048), 0o644); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	if _, err := s.ReadAt(buf, 1, 0); err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte{7}, 1024)
	if _, err := s.WriteAt(want, 1, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadAt(buf, 1, 0); err != nil || !bytes.Equal(buf, want) {
		t.Fatalf("read after upgrade: %v", err)
	}
}

// TestStorageConcurrentAccess hammers the descriptor LRU from several
// goroutines (run it with -race).
func TestStorageConcurrentAccess(t *testing.T) {
	fs := make([]FileSpec, 2*MaxOpenFiles)
	for i := range fs {
		fs[i] = FileSpec{Path: fmt.Sprintf("f%03d", i), Length: 700}
	}
	l := Layout{PieceLength: 1024, TotalLength: sum(fs), Files: fs}
	s := openTest(t, l)
	ref := reference(l, 8)
	const goroutines = 4
	errs := make(chan error, goroutines)
	for g := range goroutines {
		go func() {
			for p := g; p < l.NumPieces(); p += goroutines {
				off := int64(p) * l.PieceLength
				data := ref[off : off+l.PieceSize(p)]
				if _, err := s.WriteAt(data, p, 0); err != nil {
					errs <- err
					return
				}
				got := make([]byte, len(data))
				if _, err := s.ReadAt(got, p, 0); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, data) {
					errs <- fmt.Errorf("piece %d differs", p)
					return
				}
			}
			errs <- nil
		}()
	}
	for range goroutines {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestStorageCloseWhileInUse: Close must not pull a descriptor from under a
// concurrent operation; the last user closes it.
func TestStorageCloseWhileInUse(t *testing.T) {
	l := Layout{PieceLength: 1024, TotalLength: 1024, Files: files(1024)}
	s := openTest(t, l)
	h, err := s.acquire(0, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Pwrite(h.fd, []byte("x"), 0); err != nil {
		t.Fatalf("descriptor closed while in use: %v", err)
	}
	s.release(h)
	if _, err := unix.Pwrite(h.fd, []byte("x"), 0); err == nil {
		t.Fatal("descriptor still open after its last user let go")
	}
}
