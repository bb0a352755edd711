package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFaultsFailTheirCall: each fault fails the call it names with a
// *FileError carrying the errno and the operation, on every write path
// (buffered, pwritev, direct), reads, syncs and opens; and the storage
// works again once the faults are removed.
func TestFaultsFailTheirCall(t *testing.T) {
	l := testLayout()
	ref := reference(l, 7)
	hashes := pieceHashes(&l, ref)
	const piece = 3 // b.bin, the pad file and c.bin
	off := int64(piece) * l.PieceLength
	data := ref[off : off+l.PieceSize(piece)]
	cases := []struct {
		name   string
		rule   FaultRule
		direct bool
		run    func(f *diskFixture, s *FileStorage) error
		op     string
		errno  error
	}{
		{"ENOSPC on WriteAt", FaultRule{Op: FaultWrite, Err: unix.ENOSPC}, false, func(f *diskFixture, s *FileStorage) error {
			_, err := s.WriteAt(data[:100], piece, 0)
			return err
		}, "write", unix.ENOSPC},
		{"EIO on a piece write (pwritev)", FaultRule{Op: FaultWrite, Path: "c.bin", Err: unix.EIO}, false, func(f *diskFixture, s *FileStorage) error {
			return writePieceJob(f, s, piece, data, hashes[piece])
		}, "write", unix.EIO},
		{"ENOSPC on a direct piece write", FaultRule{Op: FaultWrite, Path: "c.bin", Err: unix.ENOSPC}, true, func(f *diskFixture, s *FileStorage) error {
			return writePieceJob(f, s, piece, data, hashes[piece])
		}, "write", unix.ENOSPC},
		{"third write fails", FaultRule{Op: FaultWrite, After: 2, Err: unix.ENOSPC}, false, func(f *diskFixture, s *FileStorage) error {
			for i := range 3 {
				if _, err := s.WriteAt(data[i*10:i*10+10], piece, int64(i*10)); err != nil {
					if i != 2 {
						t.Fatalf("write %d failed: %v", i+1, err)
					}
					return err
				}
			}
			return nil
		}, "write", unix.ENOSPC},
		{"EROFS on create", FaultRule{Op: FaultOpen, Err: unix.EROFS}, false, func(f *diskFixture, s *FileStorage) error {
			_, err := s.WriteAt(data[:100], piece, 0)
			return err
		}, "create", unix.EROFS},
		{"EACCES on open for a read", FaultRule{Op: FaultOpen, Err: unix.EACCES}, false, func(f *diskFixture, s *FileStorage) error {
			_, err := s.ReadAt(make([]byte, 100), 0, 0)
			return err
		}, "open", unix.EACCES},
		{"EIO on a read job", FaultRule{Op: FaultRead, Err: unix.EIO}, false, func(f *diskFixture, s *FileStorage) error {
			j := f.job(JobRead, s, 0)
			j.Length = 100
			f.run(j)
			err := j.Err
			f.disk.Free(j)
			return err
		}, "read", unix.EIO},
		{"EIO on a hash job", FaultRule{Op: FaultRead, Path: "a.bin", Err: unix.EIO}, false, func(f *diskFixture, s *FileStorage) error {
			j := f.job(JobHashPiece, s, 0)
			j.Hash = hashes[0]
			f.run(j)
			err := j.Err
			f.disk.Free(j)
			return err
		}, "read", unix.EIO},
		{"EIO on sync", FaultRule{Op: FaultSync, Err: unix.EIO}, false, func(f *diskFixture, s *FileStorage) error {
			if _, err := s.WriteAt(data[:100], piece, 0); err != nil {
				t.Fatal(err)
			}
			return s.Sync()
		}, "sync", unix.EIO},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newDiskFixture(t, 2)
			// Every file exists, for the reads; the storage under test
			// opens them afresh.
			w := openTest(t, l)
			writeAll(t, w, ref, 16<<10)
			w.Close()
			s, err := Open(w.Dir(), l)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			s.SetDirectWrites(c.direct)
			plan := NewFaultPlan(c.rule)
			s.SetFaults(plan)
			err = c.run(f, s)
			var fe *FileError
			if !errors.As(err, &fe) || fe.Op != c.op || !errors.Is(err, c.errno) {
				t.Fatalf("err %v, want a *FileError op %q wrapping %v", err, c.op, c.errno)
			}
			if plan.Hits() == 0 {
				t.Fatal("the plan never fired")
			}
			f.checkSpans()
			// The cause is gone: the same storage works again.
			s.SetFaults(nil)
			if err := writePieceJob(f, s, piece, data, hashes[piece]); err != nil {
				t.Fatalf("after clearing the faults: %v", err)
			}
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, l.TotalLength)
			if _, err := s.readAbs(got, 0); err != nil || !bytes.Equal(got, ref) {
				t.Fatalf("data after recovery differs (err %v)", err)
			}
		})
	}
}

// TestShortWritesAreResumed: writes the kernel cuts short (as a filling
// disk does) are resumed until every byte is down, on the buffered, the
// pwritev and the direct path; a short write followed by ENOSPC fails.
func TestShortWritesAreResumed(t *testing.T) {
	l := testLayout()
	ref := reference(l, 9)
	hashes := pieceHashes(&l, ref)
	for _, direct := range []bool{false, true} {
		f := newDiskFixture(t, 2)
		s := openTest(t, l)
		s.SetDirectWrites(direct)
		plan := NewFaultPlan(FaultRule{Op: FaultWrite, Short: 777})
		s.SetFaults(plan)
		for p := range l.NumPieces() {
			off := int64(p) * l.PieceLength
			if err := writePieceJob(f, s, p, ref[off:off+l.PieceSize(p)], hashes[p]); err != nil {
				t.Fatalf("direct=%v piece %d: %v", direct, p, err)
			}
		}
		if plan.Hits() < int64(l.TotalLength/777) {
			t.Fatalf("direct=%v: only %d short writes", direct, plan.Hits())
		}
		got := make([]byte, l.TotalLength)
		if _, err := s.readAbs(got, 0); err != nil || !bytes.Equal(got, ref) {
			t.Fatalf("direct=%v: data differs after short writes (err %v)", direct, err)
		}
		f.checkSpans()
	}

	s := openTest(t, l)
	s.SetFaults(NewFaultPlan(
		FaultRule{Op: FaultWrite, Short: 100, Times: 1},
		FaultRule{Op: FaultWrite, Err: unix.ENOSPC}, // the first call never reaches it
	))
	n, err := s.WriteAt(ref[:1000], 0, 0)
	if n != 100 || !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("short then ENOSPC: wrote %d, err %v", n, err)
	}
	// A rule that allows no byte and no error is a zero-byte write.
	s.SetFaults(zeroWrites{})
	if _, err := s.WriteAt(ref[:1000], 0, 0); !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("zero-byte write: %v", err)
	}
}

type zeroWrites struct{}

func (zeroWrites) Fault(op FaultOp, path string, n int) (int, error) {
	if op == FaultWrite {
		return 0, nil
	}
	return n, nil
}

// TestFaultPlanMatching: rules match by operation and path, count their
// calls, fire After calls late and stop after Times.
func TestFaultPlanMatching(t *testing.T) {
	p := NewFaultPlan(
		FaultRule{Op: FaultWrite, Path: "b.bin", After: 1, Times: 2, Err: unix.EIO},
		FaultRule{Op: FaultRead, Err: unix.EACCES},
	)
	type call struct {
		op   FaultOp
		path string
		err  error
	}
	for i, c := range []call{
		{FaultWrite, "a.bin", nil},
		{FaultWrite, "dir/b.bin", nil},       // 1st match, let through
		{FaultWrite, "dir/b.bin", unix.EIO},  // fires
		{FaultSync, "dir/b.bin", nil},        // other op
		{FaultWrite, "dir/b.bin", unix.EIO},  // fires
		{FaultWrite, "dir/b.bin", nil},       // Times reached
		{FaultRead, "anything", unix.EACCES}, // no limit
		{FaultRead, "anything", unix.EACCES},
	} {
		allow, err := p.Fault(c.op, c.path, 10)
		if err != c.err || (err == nil && allow != 10) {
			t.Fatalf("call %d %v %s: (%d, %v), want err %v", i, c.op, c.path, allow, err, c.err)
		}
	}
	if p.Hits() != 4 {
		t.Fatalf("hits %d, want 4", p.Hits())
	}
}

// TestFaultsOffCostNothing: without faults the block read path allocates
// nothing (the check is one pointer load).
func TestFaultsOffCostNothing(t *testing.T) {
	l := testLayout()
	s := openTest(t, l)
	writeAll(t, s, reference(l, 3), 16<<10)
	buf := make([]byte, 16<<10)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := s.ReadAt(buf, 0, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.WriteAt(buf, 0, 0); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%.1f allocations per read and write", n)
	}
}

// writePieceJob hashes and writes data as piece through a JobWritePiece.
func writePieceJob(f *diskFixture, s *FileStorage, piece int, data []byte, hash [20]byte) error {
	j := f.job(JobWritePiece, s, piece)
	j.Hash = hash
	f.blocks(j, data)
	f.run(j)
	err := j.Err
	if err == nil && !j.Pass {
		err = errors.New("piece failed its hash")
	}
	f.disk.Free(j)
	return err
}

// syncRecorder counts the fdatasyncs of each file and injects nothing.
type syncRecorder struct {
	mu    sync.Mutex
	syncs map[string]int
}

func (r *syncRecorder) Fault(op FaultOp, path string, n int) (int, error) {
	if op == FaultSync {
		r.mu.Lock()
		r.syncs[path]++
		r.mu.Unlock()
	}
	return n, nil
}

// TestSyncCoversEvictedFiles: a file written and then evicted from the
// descriptor cache before Sync is still synced (at eviction), so Sync's
// "durable" covers torrents with more files than MaxOpenFiles; a file only
// read is never synced.
func TestSyncCoversEvictedFiles(t *testing.T) {
	const n = MaxOpenFiles + 16
	l := Layout{PieceLength: 16}
	for i := range n {
		l.Files = append(l.Files, FileSpec{Path: fmt.Sprintf("d/f%03d", i), Length: 16})
	}
	l.TotalLength = int64(16 * n)
	s := openTest(t, l)
	rec := &syncRecorder{syncs: map[string]int{}}
	s.SetFaults(rec)
	buf := make([]byte, 16)
	for i := range n - 1 { // the last file is left unwritten
		if _, err := s.WriteAt(buf, i, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ReadAt(buf, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	for i := range n - 1 {
		if p := l.Files[i].Path; rec.syncs[p] == 0 {
			t.Fatalf("%s was written and never synced (%d files, %d descriptors kept)", p, n, MaxOpenFiles)
		}
	}
	if p := l.Files[n-1].Path; rec.syncs[p] != 0 {
		t.Fatalf("%s was never written but synced", p)
	}
	// Nothing written since: a second Sync syncs nothing.
	clear(rec.syncs)
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if len(rec.syncs) != 0 {
		t.Fatalf("a Sync with nothing written synced %v", rec.syncs)
	}
}
