package loop

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Dial starts a non-blocking TCP connect to addr on this loop. OnOpen
// follows once it connects; OnClose(c, err) if it fails (e.g. ECONNREFUSED,
// matched with errors.Is) or does not connect within timeout (ErrDialTimeout;
// timeout <= 0 means none). An error return means no conn was made and no
// callback will follow. Bytes written before the connect completes are sent
// after it. Loop only.
func (l *Loop) Dial(addr netip.AddrPort, timeout time.Duration, h Handler) (*Conn, error) {
	if !l.InLoop() {
		return nil, ErrNotInLoop
	}
	if l.shutting {
		return nil, ErrLoopClosed
	}
	sa, family := sockaddr(addr)
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	l.tuneSocket(fd)
	c := l.newConn(fd, connDialing, h)
	c.remote = addr
	err = unix.Connect(fd, sa)
	switch err {
	case nil:
		// Connected at once (possible on loopback).
		c.state = connOpen
		c.events = c.wantEvents()
		if c.seq, err = l.register(fd, c, nil, c.events); err != nil {
			unix.Close(fd)
			return nil, err
		}
		c.inEpoll = true
		c.local = localAddr(fd)
		l.deferConn(c, notifyOpen)
		return c, nil
	case unix.EINPROGRESS, unix.EINTR:
	default:
		// Refused and the like: report through OnClose like a late failure,
		// so callers have one failure path.
		c.Close(os.NewSyscallError("connect", err))
		return c, nil
	}
	c.events = unix.EPOLLOUT
	if c.seq, err = l.register(fd, c, nil, c.events); err != nil {
		unix.Close(fd)
		return nil, err
	}
	c.inEpoll = true
	if timeout > 0 {
		c.dialTimer = l.AfterFunc(timeout, dialTimedOut, c)
	}
	return c, nil
}

func dialTimedOut(arg any) {
	c := arg.(*Conn)
	if c.state == connDialing {
		c.Close(ErrDialTimeout)
	}
}

// finishDial handles the first event of a connecting socket.
func (c *Conn) finishDial(ev uint32) {
	v, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && v != 0 {
		err = unix.Errno(v)
	}
	if err == nil && ev&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		err = unix.ECONNRESET
	}
	if err != nil {
		c.Close(os.NewSyscallError("connect", err))
		return
	}
	if ev&unix.EPOLLOUT == 0 {
		return
	}
	if c.dialTimer != nil {
		c.dialTimer.Stop()
		c.dialTimer = nil
	}
	c.state = connOpen
	c.local = localAddr(c.fd)
	c.updateEvents()
	if c.txBytes > 0 && !c.dirtyQueued {
		c.dirtyQueued = true
		c.l.dirty = append(c.l.dirty, c)
	}
	c.l.deferConn(c, notifyOpen)
}

// Adopt takes ownership of a connected socket (made non-blocking here) and
// registers it on this loop. pending holds bytes already read from it
// elsewhere; they are copied into the receive span, and count as plaintext
// even if SetRecvCipher is called before they are consumed (so a conn
// detached after its cipher was installed can be moved: Adopt, then
// SetRecvCipher and SetSendCipher at once). OnOpen follows, then
// OnData with pending first, after the calling callback returns. On error the
// caller still owns fd. Loop only.
func (l *Loop) Adopt(fd int, pending []byte, h Handler) (*Conn, error) {
	if !l.InLoop() {
		return nil, ErrNotInLoop
	}
	if l.shutting {
		return nil, ErrLoopClosed
	}
	if len(pending) > MaxReserve {
		return nil, ErrRxOverflow
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, os.NewSyscallError("fcntl", err)
	}
	rsa, err := unix.Getpeername(fd)
	if err != nil {
		return nil, os.NewSyscallError("getpeername", err)
	}
	l.tuneSocket(fd)
	c := l.newConn(fd, connOpen, h)
	c.remote = addrPort(rsa)
	c.local = localAddr(fd)
	c.events = c.wantEvents()
	if c.seq, err = l.register(fd, c, nil, c.events); err != nil {
		return nil, err
	}
	c.inEpoll = true
	bits := uint8(notifyOpen)
	if len(pending) > 0 {
		c.rx = l.pool.Get(max(l.cfg.ReadSize, len(pending)))
		c.rxEnd = copy(c.rx.Full(), pending)
		// Plaintext already (see Detach): a SetRecvCipher on the new conn
		// applies to the bytes read after them.
		c.rxDec, c.rxFloor = c.rxEnd, c.rxEnd
		bits |= notifyData
	}
	l.deferConn(c, bits)
	return c, nil
}

// tuneSocket sets TCP_NODELAY (small protocol messages must not wait for
// Nagle) and the optional buffer sizes.
func (l *Loop) tuneSocket(fd int) {
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if n := l.cfg.SocketBuffer; n > 0 {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, n)
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, n)
	}
}

// Listener accepts TCP connections on a loop.
type Listener struct {
	l      *Loop
	fd     int
	addr   net.Addr
	accept func(c *Conn) Handler
	closed bool
	resume *Timer // re-arms accepting after fd exhaustion
}

// Listen opens a TCP listener registered on this loop. Each accepted conn is
// passed to accept (on the loop) before OnOpen; accept returns its handler,
// or nil to close it at once (no callbacks). Safe before Run, from the loop,
// and from any other goroutine (it then waits for the loop to run it).
func (l *Loop) Listen(network, addr string, accept func(c *Conn) Handler) (*Listener, error) {
	ta, err := net.ResolveTCPAddr(network, addr)
	if err != nil {
		return nil, err
	}
	var ln *Listener
	err = l.do(func() error {
		var err error
		ln, err = l.listen(network, ta, accept)
		return err
	})
	return ln, err
}

func (l *Loop) listen(network string, ta *net.TCPAddr, accept func(c *Conn) Handler) (*Listener, error) {
	if l.shutting {
		return nil, ErrLoopClosed
	}
	ap := ta.AddrPort()
	if !ap.Addr().IsValid() {
		any := netip.IPv6Unspecified() // dual-stack unless the system says otherwise
		if network == "tcp4" {
			any = netip.IPv4Unspecified()
		}
		ap = netip.AddrPortFrom(any, ap.Port())
	}
	sa, family := sockaddr(ap)
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	fail := func(op string, err error) (*Listener, error) {
		unix.Close(fd)
		return nil, os.NewSyscallError(op, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		return fail("listen", err)
	}
	lsa, err := unix.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	ln := &Listener{l: l, fd: fd, accept: accept, addr: net.TCPAddrFromAddrPort(addrPort(lsa))}
	if _, err := l.register(fd, nil, ln, unix.EPOLLIN); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return ln, nil
}

// Addr returns the bound address. Safe from any goroutine.
func (ln *Listener) Addr() net.Addr { return ln.addr }

// Close stops accepting and closes the socket. Safe from any goroutine (it
// waits for the loop); closing twice, or after the loop closed, returns nil.
func (ln *Listener) Close() error {
	err := ln.l.do(func() error {
		ln.close()
		return nil
	})
	if errors.Is(err, ErrLoopClosed) {
		return nil
	}
	return err
}

func (ln *Listener) close() {
	if ln.closed {
		return
	}
	ln.closed = true
	if ln.resume != nil {
		ln.resume.Stop()
	}
	ln.l.unregister(ln.fd, true)
	unix.Close(ln.fd)
}

// onAccept accepts up to maxAcceptPerIter conns.
func (ln *Listener) onAccept() {
	l := ln.l
	for i := 0; i < maxAcceptPerIter && !ln.closed; i++ {
		fd, sa, err := unix.Accept4(ln.fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch err {
		case nil:
		case unix.EAGAIN:
			return
		case unix.EINTR, unix.ECONNABORTED:
			continue
		case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
			// Out of fds: level-triggered epoll would spin. Stop watching
			// the listener for a while.
			ln.pause()
			return
		default:
			return
		}
		l.st.accepts.Add(1)
		l.tuneSocket(fd)
		c := l.newConn(fd, connOpen, nil)
		c.remote = addrPort(sa)
		c.local = localAddr(fd)
		h := ln.accept(c)
		if h == nil || c.state != connOpen {
			if c.state == connOpen {
				c.state = connClosed
				unix.Close(fd)
				c.fd = -1
			}
			c.releaseTx()
			continue
		}
		c.h = h
		c.events = c.wantEvents()
		if c.seq, err = l.register(fd, c, nil, c.events); err != nil {
			c.Close(err)
			continue
		}
		c.inEpoll = true
		l.deferConn(c, notifyOpen)
	}
}

func (ln *Listener) pause() {
	l := ln.l
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, ln.fd, nil)
	if ln.resume == nil {
		ln.resume = l.AfterFunc(acceptBackoff, resumeAccept, ln)
	} else {
		ln.resume.Reset(acceptBackoff)
	}
}

func resumeAccept(arg any) {
	ln := arg.(*Listener)
	if ln.closed {
		return
	}
	l := ln.l
	seq := l.files[ln.fd].seq
	_ = l.epollCtl(unix.EPOLL_CTL_ADD, ln.fd, seq, unix.EPOLLIN)
}

// sockaddr converts an address for connect/bind. IPv4 and IPv4-mapped
// addresses use AF_INET.
func sockaddr(ap netip.AddrPort) (unix.Sockaddr, int) {
	a := ap.Addr().Unmap()
	if a.Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}, unix.AF_INET
	}
	sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	return sa, unix.AF_INET6
}

func addrPort(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
	}
	return netip.AddrPort{}
}

func localAddr(fd int) netip.AddrPort {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}
	}
	return addrPort(sa)
}
