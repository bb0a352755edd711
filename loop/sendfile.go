package loop

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FileShortError closes a conn whose WriteFile entry met the end of its
// file (truncated after the bytes were queued): the peer was promised bytes
// the file no longer has. Ref is the entry's FileRef, already released by
// the time OnClose sees the error: it names the file, it holds nothing open.
// errors.Is(err, ErrFileShort) matches it. Not changed once made: safe from
// any goroutine.
type FileShortError struct {
	Ref FileRef
}

// Error is ErrFileShort's text. Safe from any goroutine.
func (e *FileShortError) Error() string { return ErrFileShort.Error() }

// Is matches ErrFileShort. Safe from any goroutine.
func (e *FileShortError) Is(target error) bool { return target == ErrFileShort }

// FileRef keeps a file descriptor open while a WriteFile entry waits in a
// send queue. The loop calls Release exactly once: after the entry's last
// byte is written, or when the conn closes or detaches with it queued.
// Release runs on the loop goroutine and must not block.
type FileRef interface {
	Release()
}

// CanWriteFile reports whether WriteFile would queue: the conn is open (or
// dialing) and no SendCipher is set, since a cipher must see every byte.
// Loop only.
func (c *Conn) CanWriteFile() bool {
	return c.state < connClosed && c.txCiph == nil
}

// WriteFile queues n bytes of file fd from offset off, to be sent with
// sendfile(2) straight from the page cache to the socket, in order with the
// Write and WriteSpan calls around it, and takes over ref, which must keep fd
// open until the loop releases it (see FileRef). It counts in Buffered,
// HighWater and LowWater like n written bytes. The bytes are read when the
// queue reaches them, not now: the caller promises they are in the page
// cache (or accepts that the loop may wait for the disk) and that they do
// not change meanwhile.
//
// It returns false, releasing nothing and queueing nothing, when
// CanWriteFile is false: the caller sends the bytes another way and keeps
// ref. n <= 0 releases ref and returns true. No allocation when ref is a
// pointer. Loop only.
func (c *Conn) WriteFile(fd int, off int64, n int, ref FileRef) bool {
	if !c.CanWriteFile() {
		return false
	}
	if n <= 0 {
		ref.Release()
		return true
	}
	c.txBytes += n
	c.push(txEntry{fref: ref, ffd: fd, foff: off, flen: n})
	c.queued()
	return true
}

// release drops the entry's reference: its span, or its FileRef.
func (e *txEntry) release() {
	if e.fref != nil {
		e.fref.Release()
		return
	}
	e.span.Release()
}

// sendFile sends the file entry at the queue's head with sendfile(2). It
// reports whether flush may go on: false once the socket is full (EPOLLOUT
// armed) or the conn closed on an error. A file shorter than the entry
// (truncated since it was queued) closes the conn with a *FileShortError.
func (c *Conn) sendFile() bool {
	l := c.l
	e := &c.txq[c.txHead]
	for {
		l.sfOff = e.foff
		r, _, errno := unix.Syscall6(unix.SYS_SENDFILE, uintptr(c.fd), uintptr(e.ffd),
			uintptr(unsafe.Pointer(&l.sfOff)), uintptr(e.flen), 0, 0)
		l.st.writes.Add(1)
		switch errno {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			c.setOut(true)
			return false
		default:
			c.Close(os.NewSyscallError("sendfile", errno))
			return false
		}
		n := int(r)
		if n == 0 {
			c.Close(&FileShortError{Ref: e.fref}) // allocates once, on the way out
			return false
		}
		want := e.flen
		l.st.bytesOut.Add(uint64(n))
		c.consumeTx(n)
		if n < want {
			c.setOut(true)
			return false
		}
		return true
	}
}

// sendmsgMore writes iov with sendmsg(MSG_MORE): the bytes right before a
// file entry (a message header) may wait in the socket for the file's
// bytes, so they leave in one segment instead of a 13-byte one of their own.
func (c *Conn) sendmsgMore(iov []unix.Iovec) (uintptr, unix.Errno) {
	l := c.l
	l.msg = unix.Msghdr{Iov: unsafe.SliceData(iov)}
	l.msg.SetIovlen(len(iov))
	r, _, errno := unix.Syscall(unix.SYS_SENDMSG, uintptr(c.fd),
		uintptr(unsafe.Pointer(&l.msg)), unix.MSG_MORE|unix.MSG_NOSIGNAL)
	l.msg.Iov = nil // pin no span through the scratch
	return r, errno
}
