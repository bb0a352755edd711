package storage

import (
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Fault injection, for tests: a FileStorage with Faults set asks them before
// each system call on a data file (open, pread, pwrite/pwritev, fdatasync)
// whether the call fails, or, for writes, how many bytes it may write.
// It needs no root and no special filesystem: the fault is an errno
// (unix.ENOSPC, unix.EIO, unix.EROFS, unix.EACCES) returned in place of the
// system call, or a short write followed by whatever the next call is told.
//
// A Storage without Faults pays one atomic pointer load per system call.
// Faults are a test facility: no flag or setting of the engine sets them.

// FaultOp names the system call a fault is asked about.
type FaultOp uint8

// Operations Faults are consulted on.
const (
	// FaultOpen: opening a file, for reading or (create) writing.
	FaultOpen FaultOp = iota + 1
	// FaultRead: one pread of a file.
	FaultRead
	// FaultWrite: one pwrite or pwritev of a file, buffered or direct.
	FaultWrite
	// FaultSync: one fdatasync of a file.
	FaultSync
)

func (o FaultOp) String() string {
	switch o {
	case FaultOpen:
		return "open"
	case FaultRead:
		return "read"
	case FaultWrite:
		return "write"
	case FaultSync:
		return "sync"
	}
	return "FaultOp(?)"
}

// Faults decides the fate of a FileStorage's system calls. Fault is called
// just before the call, on whatever goroutine makes it (disk workers,
// concurrently), so implementations must be safe from any goroutine.
//
// op is the call, path the file's path inside the save directory (as in
// its FileSpec), n the bytes the call would transfer (0 for open and sync).
// A non-nil err fails the call with err, as if the system call returned it
// (the storage wraps it in a *FileError). Otherwise allow is how many of
// the n bytes a write may transfer: allow < n makes a short write (the
// storage then asks again for the rest, as it does after a real short
// write); allow is ignored for the other operations.
type Faults interface {
	Fault(op FaultOp, path string, n int) (allow int, err error)
}

// faultBox lets an interface value sit behind an atomic pointer.
type faultBox struct{ f Faults }

// SetFaults makes every later system call of s consult f; nil removes the
// faults. Safe from any goroutine; calls already past their check are not
// affected. While faults are set, TryReadNoWait declines (the loop's
// page-cache read would bypass them) and reads go to the disk workers.
func (s *FileStorage) SetFaults(f Faults) {
	if f == nil {
		s.faults.Store(nil)
		return
	}
	s.faults.Store(&faultBox{f})
}

// fault asks the Storage's faults about one call on file. With no faults
// set it returns (n, nil) after one atomic load.
func (s *FileStorage) fault(op FaultOp, file int, n int) (int, error) {
	b := s.faults.Load()
	if b == nil {
		return n, nil
	}
	allow, err := b.f.Fault(op, s.filePath(file), n)
	if err != nil {
		return 0, err
	}
	return max(0, min(allow, n)), nil
}

// FaultRule is one rule of a FaultPlan: the After+1th and later calls of Op
// on files whose path contains Path ("" matches every file) fail with Err,
// Times times (0: for as long as the rule is in the plan). With Err nil
// and Short > 0 the matching writes are cut to Short bytes instead.
type FaultRule struct {
	Op    FaultOp
	Path  string
	After int // matching calls let through before the rule fires
	Times int // how many calls it fires on; 0 is no limit
	Err   error
	Short int

	seen, fired int
}

// FaultPlan is a Faults made of rules: the first rule that fires decides a
// call. Safe from any goroutine.
type FaultPlan struct {
	mu    sync.Mutex
	rules []FaultRule
	hits  atomic.Int64
}

// NewFaultPlan returns a plan of rules, checked in order. The rules are
// copied; the plan is safe from any goroutine.
func NewFaultPlan(rules ...FaultRule) *FaultPlan {
	return &FaultPlan{rules: append([]FaultRule(nil), rules...)}
}

// Fault implements Faults.
func (p *FaultPlan) Fault(op FaultOp, path string, n int) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.rules {
		r := &p.rules[i]
		if r.Op != op || (r.Path != "" && !strings.Contains(path, r.Path)) {
			continue
		}
		r.seen++
		if r.seen <= r.After || (r.Times > 0 && r.fired >= r.Times) {
			continue
		}
		r.fired++
		p.hits.Add(1)
		if r.Err != nil {
			return 0, r.Err
		}
		if r.Short > 0 && op == FaultWrite {
			return min(r.Short, n), nil
		}
	}
	return n, nil
}

// Hits reports how many calls the plan's rules have fired on so far. Safe
// from any goroutine.
func (p *FaultPlan) Hits() int64 { return p.hits.Load() }

// pwritevFault is pwritev with the faults asked first: an error fails the
// call, a short allowance writes only that many bytes of iov.
func (s *FileStorage) pwritevFault(fd, file int, iov []unix.Iovec, off int64) (int, error) {
	total := 0
	for i := range iov {
		total += int(iov[i].Len)
	}
	allow, err := s.fault(FaultWrite, file, total)
	if err != nil {
		return 0, err
	}
	if allow == 0 {
		return 0, nil
	}
	if allow < total {
		k, rest := 0, allow
		for int(iov[k].Len) < rest {
			rest -= int(iov[k].Len)
			k++
		}
		saved := iov[k].Len
		iov[k].SetLen(rest)
		n, err := pwritev(fd, iov[:k+1], off)
		iov[k].Len = saved
		return n, err
	}
	return pwritev(fd, iov, off)
}
