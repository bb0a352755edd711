package storage

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The raw calls below exist because x/sys/unix's Pwritev and Preadv2 take
// [][]byte and build a fresh []Iovec on every call; ours take the caller's
// scratch iovecs (a worker's, or one on the stack) and allocate nothing.

// offLoHi splits a file offset into the (pos_l, pos_h) pair the preadv
// family takes; on 64-bit kernels pos_h is shifted out and ignored.
func offLoHi(off int64) (lo, hi uintptr) {
	const longBits = unix.SizeofLong * 8
	return uintptr(off), uintptr(uint64(off) >> (longBits - 1) >> 1)
}

// pwritev writes iov at off with one system call. len(iov) must be in
// [1, maxIovecs].
func pwritev(fd int, iov []unix.Iovec, off int64) (int, error) {
	lo, hi := offLoHi(off)
	r, _, e := unix.Syscall6(unix.SYS_PWRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)), lo, hi, 0)
	if e != 0 {
		return int(r), e
	}
	return int(r), nil
}

// preadNoWait is preadv2(fd, {p}, off, RWF_NOWAIT): it copies what the page
// cache holds and fails with EAGAIN rather than wait for the disk. On a
// kernel or filesystem without support it fails with EOPNOTSUPP (or ENOSYS,
// or EINVAL on kernels that predate the flag).
func preadNoWait(fd int, p []byte, off int64) (int, error) {
	iov := unix.Iovec{Base: &p[0]}
	iov.SetLen(len(p))
	lo, hi := offLoHi(off)
	r, _, e := unix.Syscall6(unix.SYS_PREADV2, uintptr(fd), uintptr(unsafe.Pointer(&iov)), 1, lo, hi, unix.RWF_NOWAIT)
	if e != 0 {
		return int(r), e
	}
	return int(r), nil
}

// fdatasync flushes a file's data (and the metadata needed to read it back).
func fdatasync(fd int) error { return unix.Fdatasync(fd) }

// pageSize is the unit cachestat counts in.
var pageSize = int64(unix.Getpagesize())

// pagesCached reports whether every page of [off, off+n) of fd is in the
// page cache, by cachestat(2), which looks without reading anything.
func pagesCached(fd int, off, n int64) (bool, error) {
	first, last := off/pageSize, (off+n-1)/pageSize
	r := unix.CachestatRange{Off: uint64(first * pageSize), Len: uint64((last - first + 1) * pageSize)}
	var st unix.Cachestat_t
	if err := unix.Cachestat(uint(fd), &r, &st, 0); err != nil {
		return false, err
	}
	return int64(st.Cache) >= last-first+1, nil
}
