//go:build unix && !linux

package storage

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// pwritev writes the first iovec only; the caller loops on short writes, so
// this is correct if slower than a true pwritev.
func pwritev(fd int, iov []unix.Iovec, off int64) (int, error) {
	p := unsafe.Slice(iov[0].Base, iov[0].Len)
	return unix.Pwrite(fd, p, off)
}

// preadNoWait is unsupported off Linux: RWF_NOWAIT is a Linux flag.
func preadNoWait(fd int, p []byte, off int64) (int, error) { return 0, unix.ENOSYS }

func fdatasync(fd int) error { return unix.Fsync(fd) }

func pagesCached(fd int, off, n int64) (bool, error) { return false, unix.ENOSYS }
