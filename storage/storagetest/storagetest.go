// Package storagetest is the conformance suite every storage.Storage must
// pass: the file storage and the memory storage run it in their tests, and
// a custom implementation runs it in its own:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, storagetest.Impl{Open: func(t testing.TB, dir string, l storage.Layout) storage.Storage {
//			s, err := mystore.New(l)
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		}})
//	}
//
// It covers pieces that straddle files, BEP 47 pad files, the odd-sized
// last piece, zero-length files, read-after-write, partial reads, range
// errors, concurrent reads, Sync, Close, DeleteFiles, SetWantedFiles, and
// the Disk's jobs (write with hash, read into a pooled span, hash, check)
// over the implementation. With Impl.Persistent it also checks that data
// survives Close and a new Open; with Impl.OnDisk that unwanted files never
// appear under the directory, not even after a restart.
//
// Run is called from a test goroutine; it runs subtests in sequence.
package storagetest

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/storage"
)

// Impl describes the implementation under test.
type Impl struct {
	// Open returns a new, open Storage of layout l. dir is a directory
	// the suite made for this storage; a storage that keeps files keeps
	// them there. Open is called again with the same dir to reopen.
	Open func(t testing.TB, dir string, l storage.Layout) storage.Storage
	// Persistent: data written and synced survives Close and a new Open
	// of the same dir.
	Persistent bool
	// OnDisk: the storage keeps the layout's files under dir, by their
	// paths, so the suite checks which files exist (unwanted files must
	// not, and DeleteFiles leaves none).
	OnDisk bool
}

// Layouts are the torrents the suite stores: each exercises a shape the
// piece-to-file mapping has to get right. Exported so that an
// implementation's own tests can reuse them.
func Layouts() map[string]storage.Layout {
	const k = 1 << 10
	return map[string]storage.Layout{
		// One file whose last piece is short.
		"odd-last-piece": mk(16*k, []storage.FileSpec{{Path: "one.bin", Length: 3*16*k + 123}}),
		// Pieces straddling several files, a zero-length file among
		// them, a one-byte last file, nested directories.
		"straddle": mk(8*k, []storage.FileSpec{
			{Path: "d/a", Length: 5000},
			{Path: "d/b", Length: 20000},
			{Path: "d/empty", Length: 0},
			{Path: "d/e/c", Length: 11111},
			{Path: "z", Length: 1},
		}),
		// BEP 47: pad files align each file to a piece boundary.
		"pad-files": mk(16*k, []storage.FileSpec{
			{Path: "t/a", Length: 10000},
			{Path: "t/.pad/6384", Length: 6384, Pad: true},
			{Path: "t/b", Length: 20000},
			{Path: "t/.pad/12768", Length: 12768, Pad: true},
			{Path: "t/c", Length: 7},
		}),
		// Many files inside one piece, and a piece holding the end of
		// one file, a whole small one and the start of another.
		"tiny-files": mk(4*k, []storage.FileSpec{
			{Path: "f/1", Length: 100}, {Path: "f/2", Length: 1}, {Path: "f/3", Length: 0},
			{Path: "f/4", Length: 3000}, {Path: "f/5", Length: 5000}, {Path: "f/6", Length: 10},
		}),
	}
}

func mk(pl int64, files []storage.FileSpec) storage.Layout {
	var total int64
	for _, f := range files {
		total += f.Length
	}
	for i := range files {
		files[i].Path = filepath.FromSlash(files[i].Path)
	}
	return storage.Layout{PieceLength: pl, TotalLength: total, Files: files}
}

// Run runs the suite over impl, once per layout of Layouts.
func Run(t *testing.T, impl Impl) {
	ls := Layouts()
	for _, name := range []string{"odd-last-piece", "straddle", "pad-files", "tiny-files"} {
		l := ls[name]
		t.Run(name, func(t *testing.T) {
			t.Run("ReadAfterWrite", func(t *testing.T) { testReadAfterWrite(t, impl, l) })
			t.Run("NeverWritten", func(t *testing.T) { testNeverWritten(t, impl, l) })
			t.Run("Range", func(t *testing.T) { testRange(t, impl, l) })
			t.Run("ZeroLengthAndStat", func(t *testing.T) { testStat(t, impl, l) })
			t.Run("ConcurrentReads", func(t *testing.T) { testConcurrentReads(t, impl, l) })
			t.Run("SyncClose", func(t *testing.T) { testSyncClose(t, impl, l) })
			t.Run("Reopen", func(t *testing.T) { testReopen(t, impl, l) })
			t.Run("Delete", func(t *testing.T) { testDelete(t, impl, l) })
			t.Run("WantedFiles", func(t *testing.T) { testWanted(t, impl, l) })
			t.Run("Disk", func(t *testing.T) { testDisk(t, impl, l) })
		})
	}
}

// fixture is one storage under test with the torrent's content.
type fixture struct {
	impl Impl
	dir  string
	l    storage.Layout
	data []byte // the whole torrent; pad files' bytes are zero
	s    storage.Storage
}

func newFixture(t *testing.T, impl Impl, l storage.Layout) *fixture {
	f := &fixture{impl: impl, dir: t.TempDir(), l: l, data: content(l, 1)}
	f.s = impl.Open(t, f.dir, l)
	t.Cleanup(func() { f.s.Close() })
	return f
}

// content is the torrent's bytes for seed: random, zero in pad files.
func content(l storage.Layout, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 14))
	b := make([]byte, l.TotalLength)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	var off int64
	for _, f := range l.Files {
		if f.Pad {
			clear(b[off : off+f.Length])
		}
		off += f.Length
	}
	return b
}

func (f *fixture) piece(p int) []byte {
	start := int64(p) * f.l.PieceLength
	return f.data[start : start+f.l.PieceSize(p)]
}

// blocks cuts b into BlockRefs of at most n bytes, without spans (the
// storage must not touch them).
func blocks(b []byte, n int) []storage.BlockRef {
	var out []storage.BlockRef
	for len(b) > 0 {
		k := min(n, len(b))
		out = append(out, storage.BlockRef{Data: b[:k]})
		b = b[k:]
	}
	return out
}

// writeAll writes every piece, in a shuffled order, in 1000-byte blocks
// (so blocks straddle file boundaries too).
func (f *fixture) writeAll(t testing.TB) {
	t.Helper()
	order := rand.New(rand.NewPCG(7, 7)).Perm(f.l.NumPieces())
	for _, p := range order {
		if err := f.s.WriteBlocks(blocks(f.piece(p), 1000), p, 0); err != nil {
			t.Fatalf("WriteBlocks(piece %d): %v", p, err)
		}
	}
}

// verifyAll reads every piece whole and compares.
func (f *fixture) verifyAll(t testing.TB, s storage.Storage) {
	t.Helper()
	for p := range f.l.NumPieces() {
		got := make([]byte, f.l.PieceSize(p))
		n, err := s.ReadAt(got, p, 0)
		if err != nil || n != len(got) {
			t.Fatalf("ReadAt(piece %d) = %d, %v; want %d bytes", p, n, err, len(got))
		}
		if !bytes.Equal(got, f.piece(p)) {
			t.Fatalf("piece %d reads back different bytes", p)
		}
	}
}

func testReadAfterWrite(t *testing.T, impl Impl, l storage.Layout) {
	f := newFixture(t, impl, l)
	f.writeAll(t)
	f.verifyAll(t, f.s)
	// Partial reads at every interesting offset: piece and file
	// boundaries, one byte, odd lengths.
	r := rand.New(rand.NewPCG(3, 3))
	for range 200 {
		p := r.IntN(l.NumPieces())
		size := l.PieceSize(p)
		begin := r.Int64N(size)
		n := 1 + r.Int64N(size-begin)
		got := make([]byte, n)
		if m, err := f.s.ReadAt(got, p, begin); err != nil || int64(m) != n {
			t.Fatalf("ReadAt(piece %d, %d, +%d) = %d, %v", p, begin, n, m, err)
		}
		if want := f.piece(p)[begin : begin+n]; !bytes.Equal(got, want) {
			t.Fatalf("ReadAt(piece %d, %d, +%d): wrong bytes", p, begin, n)
		}
		// TryReadNoWait may say "not now"; when it reads, it reads right.
		clear(got)
		if m, ok := f.s.TryReadNoWait(got, p, begin); ok {
			if int64(m) != n || !bytes.Equal(got, f.piece(p)[begin:begin+n]) {
				t.Fatalf("TryReadNoWait(piece %d, %d, +%d) = %d, ok, wrong bytes", p, begin, n, m)
			}
		}
	}
	// A partial write over written data: the new bytes, and only them.
	p := l.NumPieces() - 1
	patch := bytes.Repeat([]byte{0xA5}, int(min(3000, l.PieceSize(p))))
	begin := l.PieceSize(p) - int64(len(patch))
	if err := f.s.WriteBlocks(blocks(patch, 700), p, begin); err != nil {
		t.Fatal(err)
	}
	copy(f.piece(p)[begin:], patch)
	zeroPads(f.l, f.data) // pad bytes read as zeros whatever was written
	f.verifyAll(t, f.s)
}

// zeroPads clears the bytes of pad files in data.
func zeroPads(l storage.Layout, data []byte) {
	var off int64
	for _, fl := range l.Files {
		if fl.Pad {
			clear(data[off : off+fl.Length])
		}
		off += fl.Length
	}
}

func testNeverWritten(t *testing.T, impl Impl, l storage.Layout) {
	f := newFixture(t, impl, l)
	buf := make([]byte, l.PieceSize(0))
	if _, err := f.s.ReadAt(buf, 0, 0); !errors.Is(err, storage.ErrMissing) {
		t.Fatalf("ReadAt of a piece never written: %v, want ErrMissing", err)
	}
	if _, ok := f.s.TryReadNoWait(buf, 0, 0); ok {
		t.Fatal("TryReadNoWait of a piece never written succeeded")
	}
}

func testRange(t *testing.T, impl Impl, l storage.Layout) {
	f := newFixture(t, impl, l)
	f.writeAll(t)
	np := l.NumPieces()
	last := l.PieceSize(np - 1)
	cases := []struct {
		name  string
		piece int
		begin int64
		n     int
	}{
		{"negative piece", -1, 0, 1},
		{"piece past the end", np, 0, 1},
		{"negative offset", 0, -1, 1},
		{"past the piece", 0, l.PieceSize(0) - 1, 2},
		{"past the odd last piece", np - 1, 0, int(last) + 1},
		{"offset past the piece", np - 1, last + 1, 0},
	}
	for _, c := range cases {
		buf := make([]byte, c.n)
		if _, err := f.s.ReadAt(buf, c.piece, c.begin); !errors.Is(err, storage.ErrRange) {
			t.Errorf("ReadAt %s: %v, want ErrRange", c.name, err)
		}
		if _, ok := f.s.TryReadNoWait(buf, c.piece, c.begin); ok && c.n > 0 {
			t.Errorf("TryReadNoWait %s succeeded", c.name)
		}
		if err := f.s.WriteBlocks(blocks(buf, 1000), c.piece, c.begin); !errors.Is(err, storage.ErrRange) {
			t.Errorf("WriteBlocks %s: %v, want ErrRange", c.name, err)
		}
	}
	f.verifyAll(t, f.s) // nothing of the refused writes landed
}

func testStat(t *testing.T, impl Impl, l storage.Layout) {
	f := newFixture(t, impl, l)
	st, err := f.s.Stat()
	if err != nil || len(st) != len(l.Files) {
		t.Fatalf("Stat = %v, %v", st, err)
	}
	for i, fl := range l.Files {
		if want := int64(-1); !fl.Pad && st[i].Size != want {
			t.Errorf("file %s before any write: size %d, want -1", fl.Path, st[i].Size)
		}
	}
	f.writeAll(t)
	if err := f.s.CreateEmptyFiles(); err != nil {
		t.Fatal(err)
	}
	if st, err = f.s.Stat(); err != nil {
		t.Fatal(err)
	}
	for i, fl := range l.Files {
		if st[i].Size != fl.Length {
			t.Errorf("file %s: size %d, want %d", fl.Path, st[i].Size, fl.Length)
		}
		if impl.OnDisk && !fl.Pad {
			if fi, err := os.Lstat(filepath.Join(f.dir, fl.Path)); err != nil || fi.Size() != fl.Length {
				t.Errorf("file %s on disk: %v, %v", fl.Path, fi, err)
			}
		}
		if impl.OnDisk && fl.Pad {
			if _, err := os.Lstat(filepath.Join(f.dir, fl.Path)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("pad file %s exists on disk (%v)", fl.Path, err)
			}
		}
	}
}

func testConcurrentReads(t *testing.T, impl Impl, l storage.Layout) {
	f := newFixture(t, impl, l)
	f.writeAll(t)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 4 * l.NumPieces() {
				p := (g + i) % l.NumPieces()
				got := make([]byte, l.PieceSize(p))
				if _, err := f.s.ReadAt(got, p, 0); err != nil {
					errs <- err.Error()
					return
				}
				if !bytes.Equal(got, f.piece(p)) {
					errs <- "concurrent read of piece gave wrong bytes"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func testSyncClose(t *testing.T, impl Impl, l storage.Layout) {
	f := newFixture(t, impl, l)
	f.writeAll(t)
	if err := f.s.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if err := f.s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := f.s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	buf := make([]byte, l.PieceSize(0))
	if _, err := f.s.ReadAt(buf, 0, 0); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("ReadAt after Close: %v, want ErrClosed", err)
	}
	if err := f.s.WriteBlocks(blocks(buf, 1000), 0, 0); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("WriteBlocks after Close: %v, want ErrClosed", err)
	}
	if _, ok := f.s.TryReadNoWait(buf, 0, 0); ok {
		t.Error("TryReadNoWait after Close succeeded")
	}
	if _, err := f.s.Stat(); err != nil {
		t.Errorf("Stat after Close: %v", err)
	}
}

func testReopen(t *testing.T, impl Impl, l storage.Layout) {
	if !impl.Persistent {
		t.Skip("the implementation keeps nothing past Close")
	}
	f := newFixture(t, impl, l)
	f.writeAll(t)
	if err := f.s.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := impl.Open(t, f.dir, l)
	defer s2.Close()
	f.verifyAll(t, s2)
}

func testDelete(t *testing.T, impl Impl, l storage.Layout) {
	f := newFixture(t, impl, l)
	f.writeAll(t)
	if err := f.s.CreateEmptyFiles(); err != nil {
		t.Fatal(err)
	}
	if err := f.s.DeleteFiles(); err != nil {
		t.Fatalf("DeleteFiles: %v", err)
	}
	if impl.OnDisk {
		if left := listFiles(t, f.dir); len(left) > 0 {
			t.Errorf("files left after DeleteFiles: %v", left)
		}
	}
	st, err := f.s.Stat()
	if err != nil {
		t.Fatal(err)
	}
	for i, fl := range l.Files {
		if !fl.Pad && st[i].Size != -1 {
			t.Errorf("file %s after DeleteFiles: size %d, want -1", fl.Path, st[i].Size)
		}
	}
	s2 := impl.Open(t, f.dir, l)
	defer s2.Close()
	buf := make([]byte, l.PieceSize(0))
	if _, err := s2.ReadAt(buf, 0, 0); !errors.Is(err, storage.ErrMissing) {
		t.Errorf("ReadAt after DeleteFiles and a new Open: %v, want ErrMissing", err)
	}
}

// listFiles returns every regular file and link below dir, relative.
func listFiles(t testing.TB, dir string) []string {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func testWanted(t *testing.T, impl Impl, l storage.Layout) {
	f := newFixture(t, impl, l)
	if err := f.s.SetWantedFiles(make([]bool, len(l.Files)+1)); err == nil {
		t.Error("SetWantedFiles with one flag too many succeeded")
	}
	// Skip every other real file (the first one kept), so that pieces
	// straddle wanted and unwanted files.
	wanted := make([]bool, len(l.Files))
	skipped := map[string]bool{}
	real := 0
	for i, fl := range l.Files {
		wanted[i] = fl.Pad || real%2 == 0 || len(l.Files) == 1
		if !fl.Pad {
			real++
		}
		if !wanted[i] {
			skipped[fl.Path] = true
		}
	}
	if err := f.s.SetWantedFiles(wanted); err != nil {
		t.Fatalf("SetWantedFiles: %v", err)
	}
	f.writeAll(t)
	f.verifyAll(t, f.s) // bytes of unwanted files read back too
	if err := f.s.Sync(); err != nil {
		t.Fatal(err)
	}
	f.checkSkipped(t, skipped)
	if impl.Persistent {
		// A restart: the same mask again, the same bytes, still no
		// unwanted file.
		if err := f.s.Close(); err != nil {
			t.Fatal(err)
		}
		f.s = impl.Open(t, f.dir, l)
		if err := f.s.SetWantedFiles(wanted); err != nil {
			t.Fatal(err)
		}
		f.verifyAll(t, f.s)
		f.checkSkipped(t, skipped)
	}
	// Everything wanted again: the bytes are in the files, read back the
	// same, and nothing but the torrent's files is left on disk.
	all := make([]bool, len(l.Files))
	for i := range all {
		all[i] = true
	}
	if err := f.s.SetWantedFiles(all); err != nil {
		t.Fatalf("SetWantedFiles(all): %v", err)
	}
	f.verifyAll(t, f.s)
	if err := f.s.CreateEmptyFiles(); err != nil {
		t.Fatal(err)
	}
	if impl.OnDisk {
		want := map[string]bool{}
		for _, fl := range l.Files {
			if !fl.Pad {
				want[fl.Path] = true
			}
		}
		for _, p := range listFiles(t, f.dir) {
			if !want[p] {
				t.Errorf("%s left on disk once every file is wanted", p)
			}
			delete(want, p)
		}
		for p := range want {
			t.Errorf("%s missing once every file is wanted", p)
		}
		if err := f.s.Close(); err != nil {
			t.Fatal(err)
		}
		// The files alone hold the data now.
		for i, fl := range l.Files {
			if fl.Pad {
				continue
			}
			got, err := os.ReadFile(filepath.Join(f.dir, fl.Path))
			start := fileStart(l, i)
			if err != nil || !bytes.Equal(got, f.data[start:start+fl.Length]) {
				t.Errorf("file %s on disk differs from its bytes (%v)", fl.Path, err)
			}
		}
	}
}

// checkSkipped fails if any skipped file exists on disk.
func (f *fixture) checkSkipped(t *testing.T, skipped map[string]bool) {
	t.Helper()
	if !f.impl.OnDisk {
		return
	}
	for _, p := range listFiles(t, f.dir) {
		if skipped[p] {
			t.Errorf("unwanted file %s exists on disk", p)
		}
	}
}

func fileStart(l storage.Layout, i int) int64 {
	var off int64
	for _, f := range l.Files[:i] {
		off += f.Length
	}
	return off
}

// testDisk runs the storage under the Disk's jobs, as the engine does:
// pieces written from pooled spans with their hash checked, reads into
// pooled spans, a hash of a stored piece, a full check.
func testDisk(t *testing.T, impl Impl, l storage.Layout) {
	f := newFixture(t, impl, l)
	pool := bufpool.New()
	pool.Poison = true
	d := storage.NewDisk(2, pool)
	defer d.Close()
	done := make(chan *storage.Job, 1)
	run := func(j *storage.Job) *storage.Job {
		j.Storage = f.s
		j.Done = func(j *storage.Job) { done <- j }
		d.Submit(j)
		return <-done
	}
	np := l.NumPieces()
	hashes := make([][20]byte, np)
	for p := range np {
		hashes[p] = sha1.Sum(f.piece(p))
	}
	for p := range np {
		j := d.NewJob()
		j.Kind, j.Piece, j.Hash = storage.JobWritePiece, p, hashes[p]
		if p == 0 {
			j.Hash[0]++ // a piece that fails its hash is not written
		}
		for b := f.piece(p); len(b) > 0; {
			k := min(4096, len(b))
			sp := pool.Get(k)
			copy(sp.Bytes(), b[:k])
			j.Blocks = append(j.Blocks, storage.BlockRef{Span: sp, Data: sp.Bytes()})
			b = b[k:]
		}
		j = run(j)
		if j.Err != nil || j.Pass != (p != 0) {
			t.Fatalf("JobWritePiece %d: pass %v, err %v", p, j.Pass, j.Err)
		}
		d.Free(j)
	}
	if n := pool.Outstanding(); n != 0 {
		t.Fatalf("%d spans outstanding after the writes: the storage kept or lost references", n)
	}
	for p := 1; p < np; p++ {
		j := d.NewJob()
		j.Kind, j.Piece, j.Begin, j.Length = storage.JobRead, p, 1, int(l.PieceSize(p)-1)
		j = run(j)
		if j.Err != nil || !bytes.Equal(j.Span.Bytes(), f.piece(p)[1:]) {
			t.Fatalf("JobRead %d: %v", p, j.Err)
		}
		j.Span.Release()
		d.Free(j)
		j = d.NewJob()
		j.Kind, j.Piece, j.Hash = storage.JobHashPiece, p, hashes[p]
		if j = run(j); j.Err != nil || !j.Pass {
			t.Fatalf("JobHashPiece %d: pass %v, err %v", p, j.Pass, j.Err)
		}
		d.Free(j)
	}
	j := d.NewJob()
	j.Kind, j.Hashes = storage.JobCheck, hashes
	j = run(j)
	if j.Err != nil {
		t.Fatalf("JobCheck: %v", j.Err)
	}
	for p, ok := range j.Have {
		if ok != (p != 0) {
			t.Errorf("JobCheck: piece %d have %v", p, ok)
		}
	}
	d.Free(j)
	if n := pool.Outstanding(); n != 0 {
		t.Fatalf("%d spans outstanding", n)
	}
}
