package loop

import (
	"io"
	"net/netip"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/shardtorrent/shardtorrent/bufpool"
)

// Handler receives a conn's events. Every method runs on the loop goroutine,
// never re-entrantly: a loop call made inside a callback (Close, Write,
// Flush, Dial, Adopt, SetReadPaused) that causes another callback queues it to
// run after the current callback returns. The loop does not recover panics
// from handlers; the shard recovers around plugin calls.
type Handler interface {
	// OnOpen: an outgoing Dial connected, or an accepted or adopted conn was
	// registered. It runs after the call that created the conn has returned.
	OnOpen(c *Conn)
	// OnData: data holds every received byte not yet consumed; it lies in
	// c.RxSpan(). Return how many bytes were consumed from the front; the
	// rest are presented again, followed by newly read bytes. data is valid
	// only during the call: to keep a view, Retain c.RxSpan() and Release it
	// later. The loop never overwrites bytes it has presented while anyone
	// else holds the span (Refs() > 1): it moves the unconsumed tail to a
	// fresh span instead. A frame larger than the span class needs
	// c.Reserve(n).
	OnData(c *Conn, data []byte) int
	// OnWritable: the send queue fell below LowWater after it had reached
	// HighWater (once per such crossing, not on every drain).
	OnWritable(c *Conn)
	// OnClose: called exactly once for every conn that Dial, Adopt or an
	// accept (with a non-nil handler) produced, whatever the reason: io.EOF
	// for a peer's orderly close, the read/write/connect error, the err given
	// to Close, ErrDialTimeout, or ErrLoopClosed on loop shutdown. It may
	// come without OnOpen (a failed dial). Not called after Detach.
	OnClose(c *Conn, err error)
}

// Conn states.
const (
	connDialing = iota
	connOpen
	connClosed
	connDetached
)

// Deferred callback bits (Conn.notify).
const (
	notifyOpen = 1 << iota
	notifyData
	notifyWritable
	notifyClose   // run OnClose, then release the receive span
	notifyRelease // release the receive span (after Detach)
)

// txEntry is one queued piece of output: b lies inside span, and the entry
// holds one reference to span. own marks spans Write copied into: only
// those may be appended to, since their bytes past b belong to nobody, and
// only by a Write of the same cipher epoch.
//
// Crypto barrier (crypto.go): ciph is the SendCipher that was set when the
// entry was queued (nil: plaintext) and epoch the SetSendCipher generation.
// Invariant: b[:sealed] has been rewritten by ciph and b[sealed:] not yet;
// sealed bytes form a prefix of the queue, and only sealed bytes are written.
//
// File entries (sendfile.go) have span == nil and b == nil: they send flen
// bytes of file fd from foff with sendfile(2) and hold one reference, fref,
// that keeps fd open; they are always plaintext (ciph == nil).
type txEntry struct {
	span   *bufpool.Span
	b      []byte
	ciph   SendCipher
	sealed int
	epoch  uint32
	own    bool

	fref FileRef
	ffd  int
	foff int64
	flen int
}

// Conn is one TCP connection on a loop. All methods are loop only unless
// marked otherwise.
type Conn struct {
	l      *Loop
	h      Handler
	ctx    any
	fd     int
	seq    uint32
	state  uint8
	paused bool
	// inEpoll is false only while parked: paused after a hang-up, the fd is
	// out of epoll (level-triggered HUP cannot be masked) until resumed.
	inEpoll  bool
	outArmed bool // EPOLLOUT registered: waiting for room in the socket buffer
	events   uint32
	local    netip.AddrPort
	remote   netip.AddrPort

	// Receive side. Invariant: rx == nil or
	// 0 <= rxOff <= rxDec <= rxEnd <= len(rx.Full()) and rxFloor <= rxEnd;
	// bytes [rxOff, rxEnd) are received and not consumed; of those,
	// [rxOff, rxDec) are plaintext that OnData may see and [rxDec, rxEnd)
	// have not been through rxCiph yet (rxDec == rxEnd when rxCiph is nil,
	// outside deliver). Bytes before rxFloor came from Adopt's pending and
	// stay plaintext across SetRecvCipher. The conn holds one reference to rx.
	rx       *bufpool.Span
	rxOff    int
	rxDec    int
	rxEnd    int
	rxFloor  int
	reserve  int
	rxCiph   RecvCipher
	rxNeed   int  // packetSize rxCiph last asked for: raw bytes past rxDec before the next Decrypt
	rxSwitch bool // SetRecvCipher ran inside this conn's OnData; applied when it returns
	inData   bool // OnData of this conn is running

	// Send side. Invariant: txBytes is the sum of len(b)+flen over
	// txq[txHead:]; every entry there holds one span reference, or one
	// FileRef for a file entry.
	txq       []txEntry
	txHead    int
	txBytes   int
	aboveHigh bool // reached HighWater; OnWritable due once below LowWater
	// Send cipher (crypto.go). txPlain is the number of queued bytes whose
	// entry has a cipher but which are not sealed yet.
	txCiph  SendCipher
	txEpoch uint32
	txPlain int

	dirtyQueued bool
	deferQueued bool
	notify      uint8
	closeErr    error
	dialTimer   *Timer
}

func (l *Loop) newConn(fd int, state uint8, h Handler) *Conn {
	return &Conn{l: l, h: h, fd: fd, state: state}
}

// Loop returns the conn's loop. Safe from any goroutine.
func (c *Conn) Loop() *Loop { return c.l }

// Fd returns the socket, or -1 once the conn is closed or detached.
func (c *Conn) Fd() int { return c.fd }

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.remote }

// LocalAddr is our end's address.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// Context returns the value set by SetContext.
func (c *Conn) Context() any { return c.ctx }

// SetContext attaches a value to the conn.
func (c *Conn) SetContext(v any) { c.ctx = v }

// Closed reports whether the conn was closed or detached.
func (c *Conn) Closed() bool { return c.state >= connClosed }

// RxSpan returns the span holding the data passed to the current or last
// OnData (nil when the conn holds none). Retain it to keep a view of that
// data past the callback.
func (c *Conn) RxSpan() *bufpool.Span { return c.rx }

// Reserve asks that the receive span hold at least n bytes counted from the
// first unconsumed byte, for a frame longer than the span class. It stays in
// force until an OnData call presents at least n bytes. n above MaxReserve
// closes the conn with ErrRxOverflow: check peer-controlled lengths first.
func (c *Conn) Reserve(n int) {
	if n > MaxReserve {
		c.Close(ErrRxOverflow)
		return
	}
	c.reserve = n
}

// Buffered returns the bytes queued and not yet written.
func (c *Conn) Buffered() int { return c.txBytes }

// Writable reports Buffered() < HighWater.
func (c *Conn) Writable() bool { return c.txBytes < c.l.cfg.HighWater }

// Write copies b to the send queue: into the free room of the pooled span at
// the queue's tail when it has some, else into new spans. The caller may reuse
// b at once. No allocation in steady state. Writing to a closed conn does
// nothing. Bytes go out at the end of the iteration (or on Flush), in the
// order of Write and WriteSpan calls.
func (c *Conn) Write(b []byte) {
	if c.state >= connClosed || len(b) == 0 {
		return
	}
	c.txBytes += len(b)
	if c.txCiph != nil {
		c.txPlain += len(b)
	}
	if n := len(c.txq); n > c.txHead {
		if e := &c.txq[n-1]; e.own && e.epoch == c.txEpoch {
			k := min(cap(e.b)-len(e.b), len(b))
			e.b = append(e.b, b[:k]...)
			b = b[k:]
		}
	}
	for len(b) > 0 {
		s := c.l.pool.Get(min(max(len(b), smallTxSize), maxTxChunk))
		buf := s.Full()[:0]
		k := min(cap(buf), len(b))
		c.push(txEntry{span: s, b: append(buf, b[:k]...), own: true})
		b = b[k:]
	}
	c.queued()
}

// WriteSpan queues b, which must lie inside s, without copying, and takes
// over one reference to s: the loop releases it once b is written or the
// conn closes. Retain s first to keep using it. On a closed conn it releases
// the reference at once. With a SendCipher set, b is encrypted in place at
// flush time when the queue holds the only reference to s, and copied to a
// fresh pooled span first otherwise (see SetSendCipher): the caller's bytes
// are never rewritten while it or anyone else still holds s.
func (c *Conn) WriteSpan(s *bufpool.Span, b []byte) {
	if c.state >= connClosed || len(b) == 0 {
		s.Release()
		return
	}
	full := s.Full()
	base := uintptr(unsafe.Pointer(unsafe.SliceData(full)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if p < base || p+uintptr(len(b)) > base+uintptr(len(full)) {
		panic("loop: WriteSpan: b does not lie inside s")
	}
	c.txBytes += len(b)
	if c.txCiph != nil {
		c.txPlain += len(b)
	}
	c.push(txEntry{span: s, b: b})
	c.queued()
}

// push appends e under the current send cipher.
func (c *Conn) push(e txEntry) {
	e.ciph, e.epoch = c.txCiph, c.txEpoch
	if len(c.txq) == cap(c.txq) && c.txHead > 0 {
		n := copy(c.txq, c.txq[c.txHead:])
		clear(c.txq[n:])
		c.txq = c.txq[:n]
		c.txHead = 0
	}
	c.txq = append(c.txq, e)
}

// queued notes new output: back-pressure state and the end-of-iteration flush.
func (c *Conn) queued() {
	if c.txBytes >= c.l.cfg.HighWater {
		c.aboveHigh = true
	}
	if c.state == connOpen && !c.outArmed && !c.dirtyQueued {
		c.dirtyQueued = true
		c.l.dirty = append(c.l.dirty, c)
	}
}

// Flush writes queued bytes now instead of at the end of the iteration. A
// write error closes the conn (OnClose follows the current callback).
func (c *Conn) Flush() {
	if c.state == connOpen && !c.outArmed && c.txBytes > 0 {
		c.flush()
	}
}

// flush writes the queue with writev, up to iovMax entries per call, and
// file entries with sendfile (sendfile.go), in queue order, until it is
// empty or the socket is full (then EPOLLOUT is armed).
func (c *Conn) flush() {
	l := c.l
	for c.txBytes > 0 {
		if c.txq[c.txHead].fref != nil {
			if !c.sendFile() {
				return
			}
			continue
		}
		end := min(len(c.txq), c.txHead+iovMax)
		c.sealTx(end)
		iov := l.iov[:0]
		want := 0
		more := false // the run stops at a file entry: the kernel may hold it for the file's bytes
		for i := c.txHead; i < end; i++ {
			e := &c.txq[i]
			if e.fref != nil {
				more = true
				break
			}
			v := unix.Iovec{Base: unsafe.SliceData(e.b)}
			v.SetLen(len(e.b))
			iov = append(iov, v)
			want += len(e.b)
		}
		var r uintptr
		var errno unix.Errno
		if more {
			r, errno = c.sendmsgMore(iov)
		} else {
			r, _, errno = unix.Syscall(unix.SYS_WRITEV, uintptr(c.fd),
				uintptr(unsafe.Pointer(unsafe.SliceData(iov))), uintptr(len(iov)))
		}
		l.st.writes.Add(1)
		if errno != 0 {
			switch errno {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				c.setOut(true)
				return
			}
			c.Close(os.NewSyscallError("writev", errno))
			return
		}
		n := int(r)
		l.st.bytesOut.Add(uint64(n))
		c.consumeTx(n)
		if n < want {
			c.setOut(true)
			return
		}
	}
	c.setOut(false)
}

// consumeTx drops n written bytes from the queue front, releasing spans.
func (c *Conn) consumeTx(n int) {
	c.txBytes -= n
	for n > 0 {
		e := &c.txq[c.txHead]
		if e.fref != nil {
			if n < e.flen {
				e.foff += int64(n)
				e.flen -= n
				break
			}
			n -= e.flen
		} else {
			if n < len(e.b) {
				e.b = e.b[n:]
				e.sealed = max(e.sealed-n, 0)
				break
			}
			n -= len(e.b)
		}
		e.release()
		*e = txEntry{}
		c.txHead++
	}
	if c.txHead == len(c.txq) {
		c.txq = c.txq[:0]
		c.txHead = 0
	}
	if c.aboveHigh && c.txBytes < c.l.cfg.LowWater {
		c.aboveHigh = false
		c.l.deferConn(c, notifyWritable)
	}
}

func (c *Conn) releaseTx() {
	for i := c.txHead; i < len(c.txq); i++ {
		c.txq[i].release()
		c.txq[i] = txEntry{}
	}
	c.txq = c.txq[:0]
	c.txHead = 0
	c.txBytes = 0
	c.txPlain = 0
}

func (c *Conn) releaseRx() {
	if c.rx != nil {
		c.rx.Release()
		c.rx = nil
	}
	c.rxOff, c.rxDec, c.rxEnd, c.rxFloor, c.reserve = 0, 0, 0, 0, 0
}

// wantEvents is the epoll interest set for the conn's state.
func (c *Conn) wantEvents() uint32 {
	if c.state == connDialing {
		return unix.EPOLLOUT
	}
	var ev uint32
	if !c.paused {
		ev |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if c.outArmed {
		ev |= unix.EPOLLOUT
	}
	return ev
}

// updateEvents tells epoll about a changed interest set.
func (c *Conn) updateEvents() {
	ev := c.wantEvents()
	if !c.inEpoll || ev == c.events {
		return
	}
	if err := c.l.epollCtl(unix.EPOLL_CTL_MOD, c.fd, c.seq, ev); err != nil {
		c.Close(err)
		return
	}
	c.events = ev
}

func (c *Conn) setOut(on bool) {
	if c.outArmed == on {
		return
	}
	c.outArmed = on
	c.updateEvents()
}

// SetReadPaused stops (true) or resumes (false) reading: EPOLLIN is turned
// off while paused. On resume, bytes still unconsumed are presented again.
func (c *Conn) SetReadPaused(p bool) {
	if c.paused == p || c.state >= connClosed {
		return
	}
	c.paused = p
	if c.state != connOpen {
		return
	}
	if !p && !c.inEpoll {
		c.events = c.wantEvents()
		if err := c.l.epollCtl(unix.EPOLL_CTL_ADD, c.fd, c.seq, c.events); err != nil {
			c.Close(err)
			return
		}
		c.inEpoll = true
	}
	c.updateEvents()
	if !p && c.rxEnd > c.rxOff {
		c.l.deferConn(c, notifyData)
	}
}

// Close closes the conn: the send queue is discarded (its spans released),
// the fd is removed from epoll and closed at once, and OnClose(c, err) runs
// once the current callback (handler call, posted task or timer) returns,
// before the loop handles the next event: never inside the caller. The
// receive span is released after OnClose, so data passed to a running OnData
// stays valid until that call returns. Safe inside OnData and from other
// conns' callbacks. Closing twice does nothing. A conn closed inside the
// Listen accept callback gets no callbacks at all.
func (c *Conn) Close(err error) {
	if c.state >= connClosed {
		return
	}
	c.state = connClosed
	c.closeErr = err
	c.l.unregister(c.fd, c.inEpoll)
	c.inEpoll = false
	unix.Close(c.fd)
	c.fd = -1
	if c.dialTimer != nil {
		c.dialTimer.Stop()
	}
	c.releaseTx()
	c.l.deferConn(c, notifyClose)
}

// Detach takes the conn off the loop without closing the socket: the fd is
// removed from epoll and returned open, with a copy of the received bytes not
// yet consumed. Inside OnData those are all of the current call's data (its
// return value is then ignored): slice off what was parsed. The conn is dead
// afterwards and gets no OnClose. It fails with ErrTxPending when the send
// queue is not empty and ErrConnClosed when the conn is not open. With a
// RecvCipher set, pending is plaintext, and Detach fails with
// ErrCipherPending while the cipher holds received bytes it has not decrypted
// yet (it asked for a longer packet) or a SetRecvCipher made in the running
// OnData has yet to apply: detach at a packet boundary, or from a later
// OnData. The ciphers are the caller's: install them again on the adopted
// conn (Adopt's pending bytes stay plaintext under SetRecvCipher).
//
// Handoff: fd, p, err := c.Detach(); other.Post(adopt, &handoff{fd, p}) and
// other.Adopt(fd, p, h) there.
func (c *Conn) Detach() (fd int, pending []byte, err error) {
	if c.state != connOpen {
		return -1, nil, ErrConnClosed
	}
	if c.txBytes > 0 {
		return -1, nil, ErrTxPending
	}
	if c.rxCiph != nil && (c.rxDec < c.rxEnd || c.rxSwitch) {
		return -1, nil, ErrCipherPending
	}
	fd = c.fd
	c.l.unregister(fd, c.inEpoll)
	c.inEpoll = false
	c.state = connDetached
	c.fd = -1
	if c.rxEnd > c.rxOff {
		pending = append([]byte(nil), c.rx.Full()[c.rxOff:c.rxEnd]...)
	}
	c.releaseTx()
	c.l.deferConn(c, notifyRelease)
	return fd, pending, nil
}

// runNotify runs the deferred callbacks in bits.
func (c *Conn) runNotify(bits uint8) {
	if c.state >= connClosed {
		if bits&notifyClose != 0 && c.h != nil {
			c.h.OnClose(c, c.closeErr)
		}
		if bits&(notifyClose|notifyRelease) != 0 {
			c.releaseRx()
		}
		return
	}
	if bits&notifyOpen != 0 {
		c.h.OnOpen(c)
	}
	if bits&notifyData != 0 && c.state == connOpen && !c.paused {
		c.deliver()
		c.idleRx()
	}
	if bits&notifyWritable != 0 && c.state == connOpen {
		c.h.OnWritable(c)
	}
}

// onEvent handles one epoll event for the conn.
func (c *Conn) onEvent(ev uint32) {
	if c.state == connDialing {
		c.finishDial(ev)
		return
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		if !c.paused {
			c.readEvent()
		} else if ev&unix.EPOLLERR != 0 {
			c.Close(c.sockError())
		} else if ev&unix.EPOLLHUP != 0 {
			// Level-triggered HUP cannot be masked: park the fd outside
			// epoll so the bytes still in the socket are read on resume.
			c.l.unregisterKeep(c.fd)
			c.inEpoll = false
		}
	}
	if c.state == connOpen && ev&unix.EPOLLOUT != 0 {
		c.flush()
	}
}

func (c *Conn) sockError() error {
	v, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return os.NewSyscallError("getsockopt", err)
	}
	if v == 0 {
		return io.ErrUnexpectedEOF
	}
	return os.NewSyscallError("socket", unix.Errno(v))
}

// readEvent reads until the socket is drained (a short read), or
// MaxReadPerConn bytes, presenting the data after each read.
func (c *Conn) readEvent() {
	l := c.l
	budget := l.cfg.MaxReadPerConn
	for budget > 0 && c.state == connOpen && !c.paused {
		buf := c.rxRoom()
		if buf == nil {
			return
		}
		n, err := unix.Read(c.fd, buf)
		l.st.reads.Add(1)
		if n > 0 {
			c.rxEnd += n
			l.st.bytesIn.Add(uint64(n))
			budget -= n
			c.deliver()
			if n < len(buf) {
				break
			}
			continue
		}
		switch err {
		case nil:
			c.Close(io.EOF)
			return
		case unix.EINTR:
			continue
		case unix.EAGAIN:
		default:
			c.Close(os.NewSyscallError("read", err))
			return
		}
		break
	}
	c.idleRx()
}

// idleRx applies the receive-span policy: a conn with nothing unconsumed
// holds no span, so idle conns cost no buffer memory. (Getting a span back
// from the pool is a per-P cache hit, cheaper than the read that needs it.)
func (c *Conn) idleRx() {
	if c.state == connOpen && c.rx != nil && c.rxOff == c.rxEnd {
		c.releaseRx()
	}
}

// deliver decrypts the bytes not yet through the RecvCipher, presents the
// unconsumed plaintext to OnData and advances by the count the handler
// consumed. After a SetRecvCipher inside that OnData it goes round again, so
// bytes already received past the switch are decrypted and presented now,
// not only when more bytes arrive.
func (c *Conn) deliver() {
	for {
		if c.rxCiph == nil {
			c.rxDec = c.rxEnd
		} else if c.rxDec < c.rxEnd {
			c.decryptRx()
			if c.state != connOpen {
				return
			}
		}
		if c.rxDec == c.rxOff {
			return
		}
		data := c.rx.Full()[c.rxOff:c.rxDec]
		if c.reserve > 0 && len(data) >= c.reserve {
			c.reserve = 0
		}
		c.inData = true
		n := c.h.OnData(c, data)
		c.inData = false
		switched := c.rxSwitch
		c.rxSwitch = false
		if c.state != connOpen {
			return
		}
		if n < 0 || n > len(data) {
			c.Close(ErrBadConsume)
			return
		}
		c.rxOff += n
		if switched {
			c.rekeyRx()
		}
		if c.rxOff == c.rxEnd {
			if c.rx.Refs() > 1 {
				c.rx.Release()
				c.rx = nil
			}
			c.rxOff, c.rxDec, c.rxEnd, c.rxFloor = 0, 0, 0, 0
		}
		if !switched || c.paused {
			return
		}
	}
}

// rxRoom returns the free tail to read into, making room first when the
// tail is short or a Reserve does not fit. It never writes over bytes in a
// span someone else holds: a shared span's unconsumed tail is moved to a
// fresh span. It returns nil after closing the conn on ErrRxOverflow.
func (c *Conn) rxRoom() []byte {
	l := c.l
	if c.rx == nil {
		c.rx = l.pool.Get(max(l.cfg.ReadSize, c.reserve, c.rxNeed))
		c.rxOff, c.rxDec, c.rxEnd, c.rxFloor = 0, 0, 0, 0
		return c.rx.Full()
	}
	buf := c.rx.Full()
	// need: bytes the span must hold from rxOff, for a Reserve or for the
	// crypto packet the RecvCipher waits for.
	need := max(c.reserve, c.rxDec-c.rxOff+c.rxNeed)
	if len(buf)-c.rxEnd >= minReadRoom && len(buf)-c.rxOff >= need {
		return buf[c.rxEnd:]
	}
	pend := c.rxEnd - c.rxOff
	want := max(l.cfg.ReadSize, need, pend+minReadRoom)
	if pend >= MaxReserve {
		c.Close(ErrRxOverflow)
		return nil
	}
	if c.rx.Refs() == 1 && len(buf) >= want {
		// Ours alone: views handed to OnData expired when it returned.
		copy(buf, buf[c.rxOff:c.rxEnd])
		c.shiftRx()
		return buf[pend:]
	}
	s := l.pool.Get(want)
	copy(s.Full(), buf[c.rxOff:c.rxEnd])
	c.rx.Release()
	c.rx = s
	c.shiftRx()
	return s.Full()[pend:]
}

// shiftRx rebases the receive offsets after the unconsumed bytes moved to
// the start of the span.
func (c *Conn) shiftRx() {
	c.rxDec -= c.rxOff
	c.rxFloor = max(c.rxFloor-c.rxOff, 0)
	c.rxEnd -= c.rxOff
	c.rxOff = 0
}
