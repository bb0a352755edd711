package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// partLayout is three files over 16 KiB pieces: a.bin (pieces 0 and half
// of 1), skip.bin (the rest of piece 1, pieces 2 and 3, the start of
// piece 4), c.bin (the rest).
func partLayout() Layout {
	const pl = 16 << 10
	files := []FileSpec{
		{Path: "t/a.bin", Length: pl + pl/2},
		{Path: "t/skip.bin", Length: 2*pl + pl + 100},
		{Path: "t/c.bin", Length: 2*pl - 100 + 777},
	}
	var total int64
	for _, f := range files {
		total += f.Length
	}
	return Layout{PieceLength: pl, TotalLength: total, Files: files}
}

const testPart = ".0123.parts"

func openPart(t testing.TB, dir string, l Layout) *FileStorage {
	t.Helper()
	s, err := OpenWith(dir, l, Options{PartFile: testPart})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustNotExist(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s exists (%v)", path, err)
	}
}

func readPiece(t *testing.T, s *FileStorage, p int) []byte {
	t.Helper()
	b := make([]byte, s.layout.PieceSize(p))
	if _, err := s.ReadAt(b, p, 0); err != nil {
		t.Fatalf("ReadAt(piece %d): %v", p, err)
	}
	return b
}

// TestSkippedFileNeverOnDisk: a skipped file is never created, not by the
// pieces that straddle it, not half-written, not across restarts, not by
// a check; its bytes live in the part file, which holds only the
// straddling pieces and goes away once the file is wanted again.
func TestSkippedFileNeverOnDisk(t *testing.T) {
	dir := t.TempDir()
	l := partLayout()
	ref := reference(l, 9)
	hashes := pieceHashes(&l, ref)
	skip := filepath.Join(dir, "t", "skip.bin")
	part := filepath.Join(dir, testPart)
	mask := []bool{true, false, true}
	piece := func(p int) []byte { return ref[int64(p)*l.PieceLength : int64(p)*l.PieceLength+l.PieceSize(p)] }

	s := openPart(t, dir, l)
	if err := s.SetWantedFiles(mask); err != nil {
		t.Fatal(err)
	}
	// Half of the wanted pieces first (as a download stopped midway):
	// piece 1 straddles a.bin and skip.bin. Pieces 2 and 3 lie inside
	// skip.bin and are never downloaded.
	for _, p := range []int{0, 1} {
		if _, err := s.WriteAt(piece(p), p, 0); err != nil {
			t.Fatal(err)
		}
	}
	mustNotExist(t, skip)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mustNotExist(t, skip)
	if _, err := os.Stat(part); err != nil {
		t.Fatalf("no part file after writing a straddling piece: %v", err)
	}

	// Restart. The first read, before the engine restores its mask,
	// reads the straddling piece from the part file and creates nothing.
	s = openPart(t, dir, l)
	if got := readPiece(t, s, 1); !bytes.Equal(got, piece(1)) {
		t.Fatal("piece 1 reads back different bytes after a restart")
	}
	mustNotExist(t, skip)
	if err := s.SetWantedFiles(mask); err != nil {
		t.Fatal(err)
	}
	for _, p := range []int{4, 5, 6} { // piece 4 straddles skip.bin and c.bin
		if _, err := s.WriteAt(piece(p), p, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	mustNotExist(t, skip)
	// The part file holds the two straddling pieces only.
	if fi, err := os.Stat(part); err != nil || fi.Size() != partHeaderLen(l.NumPieces())+2*l.PieceLength {
		t.Fatalf("part file: %v, %v; want header + 2 slots", fi, err)
	}
	if err := s.CreateEmptyFiles(); err != nil { // the wanted pieces are done
		t.Fatal(err)
	}
	mustNotExist(t, skip)

	// A check after another restart finds every written piece, the
	// straddling ones through the part file, and creates nothing.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openPart(t, dir, l)
	if err := s.SetWantedFiles(mask); err != nil {
		t.Fatal(err)
	}
	f := newDiskFixture(t, 2)
	j := f.job(JobCheck, s, 0)
	j.Hashes = hashes
	j = f.run(j)
	if j.Err != nil {
		t.Fatal(j.Err)
	}
	for p, ok := range j.Have {
		if want := p != 2 && p != 3; ok != want {
			t.Errorf("check: piece %d have %v, want %v", p, ok, want)
		}
	}
	f.disk.Free(j)
	mustNotExist(t, skip)

	// Wanted again: its bytes move into it, the part file goes.
	if err := s.SetWantedFiles([]bool{true, true, true}); err != nil {
		t.Fatal(err)
	}
	mustNotExist(t, part)
	got, err := os.ReadFile(skip)
	if err != nil {
		t.Fatal(err)
	}
	start := l.Files[0].Length
	if want := ref[start : l.PieceLength*2]; !bytes.Equal(got[:len(want)], want) {
		t.Error("skip.bin's bytes of piece 1 were not moved into it")
	}
	if want := ref[4*l.PieceLength : start+l.Files[1].Length]; !bytes.Equal(got[4*l.PieceLength-start:], want) {
		t.Error("skip.bin's bytes of piece 4 were not moved into it")
	}
	for _, p := range []int{0, 1, 4, 5, 6} {
		if got := readPiece(t, s, p); !bytes.Equal(got, piece(p)) {
			t.Errorf("piece %d differs once every file is wanted", p)
		}
	}
}

// TestPartFileSkipThenWantKeepsFileData: a file skipped after it got data
// keeps that data; pieces written while it is skipped go to the part file
// and reads prefer them; wanting it again writes them into it.
func TestPartFileSkipThenWantKeepsFileData(t *testing.T) {
	dir := t.TempDir()
	l := partLayout()
	old, cur := reference(l, 1), reference(l, 2)
	s := openPart(t, dir, l)
	if _, err := s.WriteAt(old[l.PieceLength:2*l.PieceLength], 1, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetWantedFiles([]bool{true, false, true}); err != nil {
		t.Fatal(err)
	}
	// Piece 2 lies inside skip.bin, which exists: its old bytes read.
	if _, err := s.WriteAt(old[2*l.PieceLength:3*l.PieceLength], 2, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteAt(cur[l.PieceLength:2*l.PieceLength], 1, 0); err != nil {
		t.Fatal(err)
	}
	if got := readPiece(t, s, 1); !bytes.Equal(got, cur[l.PieceLength:2*l.PieceLength]) {
		t.Fatal("a rewritten piece of a skipped file reads its old bytes")
	}
	if err := s.SetWantedFiles([]bool{true, true, true}); err != nil {
		t.Fatal(err)
	}
	if got := readPiece(t, s, 1); !bytes.Equal(got, cur[l.PieceLength:2*l.PieceLength]) {
		t.Fatal("the part file's newer bytes did not reach the file")
	}
	if got := readPiece(t, s, 2); !bytes.Equal(got, old[2*l.PieceLength:3*l.PieceLength]) {
		t.Fatal("bytes a skipped file had before were lost")
	}
	mustNotExist(t, filepath.Join(dir, testPart))
}

// TestPartFileDamagedHeader: a part file that is not ours, or is cut
// short, fails reads with ErrPartFile naming it rather than serving its
// bytes.
func TestPartFileDamagedHeader(t *testing.T) {
	l := partLayout()
	for name, content := range map[string][]byte{
		"garbage":   bytes.Repeat([]byte{7}, 8192),
		"truncated": []byte(partMagic),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, testPart), content, 0o644); err != nil {
				t.Fatal(err)
			}
			s := openPart(t, dir, l)
			_, err := s.ReadAt(make([]byte, 10), 0, 0)
			var fe *FileError
			if !errors.Is(err, ErrPartFile) || !errors.As(err, &fe) || fe.Path != testPart {
				t.Fatalf("read with a damaged part file: %v", err)
			}
		})
	}
}

// TestOpenRefusesBadPartFileName: the part file's name is one path
// component inside the save directory, and no torrent file may have it.
func TestOpenRefusesBadPartFileName(t *testing.T) {
	l := partLayout()
	for _, name := range []string{"../x.parts", "/tmp/x.parts", "sub/x.parts"} {
		if _, err := OpenWith(t.TempDir(), l, Options{PartFile: name}); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("part file %q: %v, want ErrUnsafePath", name, err)
		}
	}
	if _, err := OpenWith(t.TempDir(), l, Options{PartFile: "t"}); err != nil {
		t.Errorf("part file named like a directory of the torrent: %v", err)
	}
	l.Files[0].Path = "p.parts"
	if _, err := OpenWith(t.TempDir(), l, Options{PartFile: "p.parts"}); !errors.Is(err, ErrLayout) {
		t.Errorf("part file named like a torrent file: %v, want ErrLayout", err)
	}
}

// TestMemoryBudget: a memory storage over its budget refuses the write
// with a *BudgetError, evicts nothing, and gives memory back on Close.
func TestMemoryBudget(t *testing.T) {
	l := partLayout()
	ref := reference(l, 3)
	b := NewMemoryBudget(2*l.PieceLength + 1)
	m, err := NewMemory(l, b)
	if err != nil {
		t.Fatal(err)
	}
	write := func(p int) error {
		return m.WriteBlocks([]BlockRef{{Data: ref[int64(p)*l.PieceLength : int64(p)*l.PieceLength+l.PieceSize(p)]}}, p, 0)
	}
	for _, p := range []int{0, 3} {
		if err := write(p); err != nil {
			t.Fatal(err)
		}
	}
	err = write(1)
	var be *BudgetError
	if !errors.Is(err, ErrBudget) || !errors.As(err, &be) || be.Piece != 1 || be.Need != l.PieceLength || be.Used != 2*l.PieceLength {
		t.Fatalf("write over the budget: %v", err)
	}
	if err := write(0); err != nil { // a rewrite takes no new memory
		t.Fatal(err)
	}
	for _, p := range []int{0, 3} {
		got := make([]byte, l.PieceSize(p))
		if _, err := m.ReadAt(got, p, 0); err != nil || !bytes.Equal(got, ref[int64(p)*l.PieceLength:][:len(got)]) {
			t.Fatalf("piece %d after the refused write: %v", p, err)
		}
	}
	if _, err := m.ReadAt(make([]byte, 1), 1, 0); !errors.Is(err, ErrMissing) {
		t.Fatalf("the refused piece: %v, want ErrMissing", err)
	}
	// A second storage on the same budget shares it.
	m2, _ := NewMemory(l, b)
	if err := m2.WriteBlocks([]BlockRef{{Data: ref[:l.PieceLength]}}, 0, 0); !errors.Is(err, ErrBudget) {
		t.Fatalf("a storage sharing a full budget: %v", err)
	}
	if err := m.Close(); err != nil || b.Used() != 0 {
		t.Fatalf("Close: %v, %d bytes still charged", err, b.Used())
	}
	if err := m2.WriteBlocks([]BlockRef{{Data: ref[:l.PieceLength]}}, 0, 0); err != nil {
		t.Fatalf("after the other storage closed: %v", err)
	}
}

// TestStorageInterfaceAllocs: the per-block calls through the Storage
// interface allocate nothing, for both implementations, with and without
// a file skipped (the part file's path).
func TestStorageInterfaceAllocs(t *testing.T) {
	l := partLayout()
	ref := reference(l, 4)
	fsAll := openPart(t, t.TempDir(), l)
	fsSkip := openPart(t, t.TempDir(), l)
	if err := fsSkip.SetWantedFiles([]bool{true, false, true}); err != nil {
		t.Fatal(err)
	}
	mem, err := NewMemory(l, nil)
	if err != nil {
		t.Fatal(err)
	}
	const blk = 4096
	for name, s := range map[string]Storage{"file": fsAll, "file-skipping": fsSkip, "memory": mem} {
		t.Run(name, func(t *testing.T) {
			p := 1 // straddles the skipped file
			data := ref[int64(p)*l.PieceLength : int64(p+1)*l.PieceLength]
			bl := make([]BlockRef, 0, len(data)/blk)
			for b := 0; b < len(data); b += blk {
				bl = append(bl, BlockRef{Data: data[b : b+blk]})
			}
			if err := s.WriteBlocks(bl, p, 0); err != nil { // first write: files, slot, memory
				t.Fatal(err)
			}
			buf := make([]byte, blk)
			var werr, rerr error
			allocs := testing.AllocsPerRun(200, func() {
				if err := s.WriteBlocks(bl[:1], p, 0); err != nil {
					werr = err
				}
				if _, err := s.ReadAt(buf, p, blk); err != nil {
					rerr = err
				}
				s.TryReadNoWait(buf, p, blk)
			})
			if werr != nil || rerr != nil {
				t.Fatal(werr, rerr)
			}
			if allocs != 0 {
				t.Errorf("%.1f allocations per block write, read and no-wait read", allocs)
			}
		})
	}
}

// TestSetWantedFilesConcurrentWithData: reads and writes of every piece
// while another goroutine skips and unskips the middle file: every read
// returns the piece's bytes, and once everything is wanted the files hold
// all of them and the part file is gone.
func TestSetWantedFilesConcurrentWithData(t *testing.T) {
	dir := t.TempDir()
	l := partLayout()
	ref := reference(l, 6)
	s := openPart(t, dir, l)
	piece := func(p int) []byte { return ref[int64(p)*l.PieceLength : int64(p)*l.PieceLength+l.PieceSize(p)] }
	for p := range l.NumPieces() {
		if _, err := s.WriteAt(piece(p), p, 0); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	errs := make(chan error, 4)
	var ops atomic.Int64
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, l.PieceLength)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ops.Add(1)
				p := (g + i) % l.NumPieces()
				b := buf[:l.PieceSize(p)]
				if g == 0 {
					if _, err := s.WriteAt(piece(p), p, 0); err != nil {
						errs <- err
						return
					}
					continue
				}
				if _, err := s.ReadAt(b, p, 0); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(b, piece(p)) {
					errs <- fmt.Errorf("piece %d read wrong bytes", p)
					return
				}
				if n, ok := s.TryReadNoWait(b, p, 0); ok && (n != len(b) || !bytes.Equal(b, piece(p))) {
					errs <- fmt.Errorf("piece %d: no-wait read wrong bytes", p)
					return
				}
			}
		}()
	}
	// At least 40 toggles, and until the others made 600 calls, so the
	// toggles overlap the data path whatever the scheduling.
	for i := 0; i < 40 || ops.Load() < 600 && len(errs) == 0; i++ {
		if err := s.SetWantedFiles([]bool{true, i%2 == 1, true}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := s.SetWantedFiles([]bool{true, true, true}); err != nil {
		t.Fatal(err)
	}
	mustNotExist(t, filepath.Join(dir, testPart))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i, f := range l.Files {
		got, err := os.ReadFile(filepath.Join(dir, f.Path))
		if err != nil || !bytes.Equal(got, ref[s.layout.offs[i]:s.layout.offs[i]+f.Length]) {
			t.Errorf("%s differs after the toggling (%v)", f.Path, err)
		}
	}
}

// TestDeleteFilesRemovesPartFile: removing a torrent with its files takes
// the part file too, and the directories it leaves empty.
func TestDeleteFilesRemovesPartFile(t *testing.T) {
	dir := t.TempDir()
	l := partLayout()
	ref := reference(l, 8)
	s := openPart(t, dir, l)
	if err := s.SetWantedFiles([]bool{true, false, true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteAt(ref[l.PieceLength:2*l.PieceLength], 1, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, testPart)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteFiles(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("%d entries left in the save directory after DeleteFiles", len(left))
	}
}

// TestCreateEmptyFilesSettlesLeftoverPartFile: a part file left by an
// earlier run, reopened by an engine that sets no mask (every file
// wanted), is emptied into the files when the torrent completes.
func TestCreateEmptyFilesSettlesLeftoverPartFile(t *testing.T) {
	dir := t.TempDir()
	l := partLayout()
	ref := reference(l, 10)
	s := openPart(t, dir, l)
	if err := s.SetWantedFiles([]bool{true, false, true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteAt(ref[l.PieceLength:2*l.PieceLength], 1, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEmptyFiles(); err != nil { // the mask is set: nothing moves
		t.Fatal(err)
	}
	mustNotExist(t, filepath.Join(dir, "t", "skip.bin"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openPart(t, dir, l)
	if err := s.CreateEmptyFiles(); err != nil {
		t.Fatal(err)
	}
	mustNotExist(t, filepath.Join(dir, testPart))
	got, err := os.ReadFile(filepath.Join(dir, "t", "skip.bin"))
	if start := l.Files[0].Length; err != nil || !bytes.Equal(got, ref[start:2*l.PieceLength]) {
		t.Fatalf("skip.bin after settling: %d bytes, %v", len(got), err)
	}
}
