package storage

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shardtorrent/shardtorrent/bufpool"
)

// testLoop is a Poster that runs posted functions on its own goroutine, as
// an engine loop would, and can tell whether code is running on it.
type testLoop struct {
	ch  chan posted
	gid atomic.Uint64
}

type posted struct {
	fn  func(any)
	arg any
}

func newTestLoop(t testing.TB) *testLoop {
	l := &testLoop{ch: make(chan posted, 4096)}
	ready := make(chan struct{})
	go func() {
		l.gid.Store(goid())
		close(ready)
		for p := range l.ch {
			p.fn(p.arg)
		}
	}()
	<-ready
	t.Cleanup(func() { close(l.ch) })
	return l
}

func (l *testLoop) Post(fn func(any), arg any) { l.ch <- posted{fn, arg} }

func (l *testLoop) onLoop() bool { return goid() == l.gid.Load() }

// goid parses the current goroutine's id from its stack header; tests only.
func goid() uint64 {
	var buf [64]byte
	s := strings.TrimPrefix(string(buf[:runtime.Stack(buf[:], false)]), "goroutine ")
	id, _ := strconv.ParseUint(s[:strings.IndexByte(s, ' ')], 10, 64)
	return id
}

type diskFixture struct {
	t    testing.TB
	pool *bufpool.Pool
	disk *Disk
	loop *testLoop
	done chan *Job
	// offLoop counts completions that ran anywhere but on the loop.
	offLoop atomic.Int32
	// doneFn is f.onDone, bound once: a method value made per job would be
	// an allocation of the test's, charged to the benchmarks.
	doneFn func(*Job)
	// fast skips the on-loop check (it allocates) in benchmarks.
	fast bool
}

func newDiskFixture(t testing.TB, workers int) *diskFixture {
	f := &diskFixture{t: t, pool: bufpool.New(), loop: newTestLoop(t), done: make(chan *Job, 64)}
	f.pool.Poison = true
	f.disk = NewDisk(workers, f.pool)
	f.doneFn = f.onDone
	_, f.fast = t.(*testing.B)
	t.Cleanup(f.disk.Close)
	return f
}

func (f *diskFixture) onDone(j *Job) {
	if !f.fast && !f.loop.onLoop() {
		f.offLoop.Add(1)
	}
	f.done <- j
}

func (f *diskFixture) job(kind JobKind, s *FileStorage, piece int) *Job {
	j := f.disk.NewJob()
	j.Kind, j.Storage, j.Piece = kind, s, piece
	j.Done, j.Poster = f.doneFn, f.loop
	return j
}

// run submits j and waits for its completion on the loop.
func (f *diskFixture) run(j *Job) *Job {
	f.disk.Submit(j)
	got := <-f.done
	if got != j {
		f.t.Fatalf("completion delivered job %p, submitted %p", got, j)
	}
	if n := f.offLoop.Load(); n != 0 {
		f.t.Fatalf("%d completions ran off the loop", n)
	}
	return got
}

// blocks copies data into 16 KiB pooled spans, as the network path would.
func (f *diskFixture) blocks(j *Job, data []byte) {
	for b := 0; b < len(data); b += bufpool.BlockSize {
		sp := f.pool.Get(min(bufpool.BlockSize, len(data)-b))
		copy(sp.Bytes(), data[b:])
		j.Blocks = append(j.Blocks, BlockRef{Span: sp, Data: sp.Bytes()})
	}
}

func (f *diskFixture) checkSpans() {
	f.t.Helper()
	if n := f.pool.Outstanding(); n != 0 {
		f.t.Fatalf("%d spans outstanding after every job is done", n)
	}
}

func pieceHashes(l *Layout, ref []byte) [][20]byte {
	hs := make([][20]byte, l.NumPieces())
	for p := range hs {
		off := int64(p) * l.PieceLength
		hs[p] = sha1.Sum(ref[off : off+l.PieceSize(p)])
	}
	return hs
}

func TestJobWritePiece(t *testing.T) {
	f := newDiskFixture(t, 2)
	l := testLayout()
	ref := reference(l, 5)
	hashes := pieceHashes(&l, ref)
	s := openTest(t, l)
	const piece = 3 // spans b.bin, the pad file and c.bin
	off := int64(piece) * l.PieceLength
	data := ref[off : off+l.PieceSize(piece)]

	// A piece that fails its hash writes nothing.
	j := f.job(JobWritePiece, s, piece)
	j.Hash = hashes[piece]
	j.Hash[0] ^= 1
	f.blocks(j, data)
	f.run(j)
	if j.Pass || j.Err != nil || len(j.Blocks) != 0 {
		t.Fatalf("bad piece: Pass=%v Err=%v blocks left=%d", j.Pass, j.Err, len(j.Blocks))
	}
	f.disk.Free(j)
	f.checkSpans()
	for _, name := range []string{"dir/sub/b.bin", "dir/c.bin"} {
		if _, err := os.Stat(filepath.Join(s.Dir(), filepath.FromSlash(name))); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s written by a piece that failed its hash: %v", name, err)
		}
	}

	// A good piece is written.
	j = f.job(JobWritePiece, s, piece)
	j.Hash = hashes[piece]
	f.blocks(j, data)
	f.run(j)
	if !j.Pass || j.Err != nil {
		t.Fatalf("good piece: Pass=%v Err=%v", j.Pass, j.Err)
	}
	f.disk.Free(j)
	f.checkSpans()
	got := make([]byte, len(data))
	if _, err := s.ReadAt(got, piece, 0); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("piece read back wrong: %v", err)
	}

	// Then JobRead hands the same bytes back in a span the handler owns.
	j = f.job(JobRead, s, piece)
	j.Begin, j.Length = 1000, 20_000
	f.run(j)
	if j.Err != nil || !bytes.Equal(j.Span.Bytes(), data[1000:21_000]) {
		t.Fatalf("JobRead: %v", j.Err)
	}
	j.Span.Release()
	f.disk.Free(j)

	// A JobRead with a length no piece holds fails before taking a span.
	j = f.job(JobRead, s, piece)
	j.Length = 1 << 30
	f.run(j)
	if !errors.Is(j.Err, ErrRange) || j.Span != nil {
		t.Fatalf("oversized JobRead: Err=%v", j.Err)
	}
	f.disk.Free(j)

	// JobHashPiece on what was written, and on a piece not yet written.
	j = f.job(JobHashPiece, s, piece)
	j.Hash = hashes[piece]
	f.run(j)
	if !j.Pass || j.Err != nil {
		t.Fatalf("JobHashPiece: Pass=%v Err=%v", j.Pass, j.Err)
	}
	f.disk.Free(j)
	last := l.NumPieces() - 1 // c.bin is short (sparse up to piece 3) and d.bin missing
	j = f.job(JobHashPiece, s, last)
	j.Hash = hashes[last]
	f.run(j)
	if j.Pass || !errIsMissing(j.Err) {
		t.Fatalf("JobHashPiece of a missing file: Pass=%v Err=%v", j.Pass, j.Err)
	}
	f.disk.Free(j)
	f.checkSpans()
}

func TestJobWritePieceRejectsWrongLength(t *testing.T) {
	f := newDiskFixture(t, 1)
	l := testLayout()
	s := openTest(t, l)
	j := f.job(JobWritePiece, s, 0)
	f.blocks(j, make([]byte, 1000))
	f.run(j)
	if j.Pass || !errors.Is(j.Err, ErrRange) {
		t.Fatalf("Pass=%v Err=%v", j.Pass, j.Err)
	}
	f.disk.Free(j)
	f.checkSpans()
}

func TestJobCheck(t *testing.T) {
	l := testLayout()
	l.PieceLength = 4 << 10 // many pieces, several batches per worker
	ref := reference(l, 6)
	hashes := pieceHashes(&l, ref)

	check := func(t *testing.T, f *diskFixture, s *FileStorage) []bool {
		t.Helper()
		var progress []int
		j := f.job(JobCheck, s, 0)
		j.Hashes = hashes
		j.Progress = func(j *Job, checked int) {
			if !f.loop.onLoop() {
				t.Error("progress off the loop")
			}
			progress = append(progress, checked)
		}
		f.run(j)
		if j.Err != nil {
			t.Fatal(j.Err)
		}
		if len(progress) == 0 || progress[len(progress)-1] != len(hashes) {
			t.Fatalf("progress %v does not end at %d", progress, len(hashes))
		}
		have := j.Have
		f.disk.Free(j)
		f.checkSpans()
		return have
	}
	// wantHave lists the pieces expected to fail.
	wantHave := func(t *testing.T, have []bool, bad func(p int) bool) {
		t.Helper()
		if len(have) != len(hashes) {
			t.Fatalf("Have has %d entries, want %d", len(have), len(hashes))
		}
		for p, ok := range have {
			if ok == bad(p) {
				t.Errorf("piece %d: have=%v", p, ok)
			}
		}
	}
	// pieceOverlaps reports whether piece p holds any byte of file i.
	pieceOverlaps := func(p, file int) bool {
		hit := false
		l.Segments(p, 0, l.PieceSize(p), func(f int, _, _ int64) bool { hit = hit || f == file; return true })
		return hit
	}

	for _, workers := range []int{1, 2, 4} {
		t.Run("workers="+strconv.Itoa(workers), func(t *testing.T) {
			f := newDiskFixture(t, workers)
			s := openTest(t, l)
			wantHave(t, check(t, f, s), func(int) bool { return true }) // nothing on disk
			// Missing files fail from the size snapshot, never opened or read.
			if s.open != 0 {
				t.Fatalf("check of missing files opened %d of them", s.open)
			}

			writeAll(t, s, ref, 16<<10)
			wantHave(t, check(t, f, s), func(int) bool { return false })

			corrupt := []int{0, 7, len(hashes) - 1}
			for _, p := range corrupt {
				if _, err := s.WriteAt([]byte{0xff ^ ref[int64(p)*l.PieceLength]}, p, 0); err != nil {
					t.Fatal(err)
				}
			}
			wantHave(t, check(t, f, s), func(p int) bool { return p == 0 || p == 7 || p == len(hashes)-1 })

			if err := os.Remove(filepath.Join(s.Dir(), l.Files[4].Path)); err != nil {
				t.Fatal(err)
			}
			wantHave(t, check(t, f, s), func(p int) bool {
				return p == 0 || p == 7 || p == len(hashes)-1 || pieceOverlaps(p, 4)
			})
		})
	}
}

func TestJobCheckWrongHashCount(t *testing.T) {
	f := newDiskFixture(t, 2)
	s := openTest(t, testLayout())
	j := f.job(JobCheck, s, 0)
	j.Hashes = make([][20]byte, 3)
	f.run(j)
	if !errors.Is(j.Err, ErrLayout) {
		t.Fatalf("Err=%v", j.Err)
	}
	f.disk.Free(j)
}

func TestDiskSubmitAfterClose(t *testing.T) {
	f := newDiskFixture(t, 1)
	s := openTest(t, testLayout())
	f.disk.Close()
	j := f.run(f.job(JobSync, s, 0))
	if !errors.Is(j.Err, ErrClosed) {
		t.Fatalf("Err=%v", j.Err)
	}
	f.disk.Free(j)
}

// TestJobReadRecyclesJobs guards the pooled job path: a read submitted and
// completed through the loop allocates nothing in steady state.
func TestJobReadRecyclesJobs(t *testing.T) {
	f := newDiskFixture(t, 2)
	l := testLayout()
	s := openTest(t, l)
	writeAll(t, s, reference(l, 7), 16<<10)
	done := make(chan *Job, 1)
	onDone := func(j *Job) { j.Span.Release(); f.disk.Free(j); done <- j }
	cycle := func() {
		j := f.disk.NewJob()
		j.Kind, j.Storage, j.Piece, j.Begin, j.Length = JobRead, s, 3, 0, 16<<10
		j.Done, j.Poster = onDone, f.loop
		f.disk.Submit(j)
		<-done
	}
	for range 100 {
		cycle()
	}
	allocs := testing.AllocsPerRun(1000, cycle)
	t.Logf("allocations per JobRead cycle: %v", allocs)
	if allocs > 0.1 {
		t.Fatalf("JobRead cycle allocates %v times", allocs)
	}
	f.checkSpans()
}
