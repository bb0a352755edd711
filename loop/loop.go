package loop

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shardtorrent/shardtorrent/bufpool"
)

// Limits and batch sizes. Each bounds how much one source of work may take
// from one iteration, so a busy conn or a flood of posts cannot starve the rest.
const (
	// DefaultReadSize is the receive span size class.
	DefaultReadSize = 256 << 10
	// DefaultHighWater is the send-queue size above which Conn.Writable reports false.
	DefaultHighWater = 4 << 20
	// DefaultLowWater is the send-queue size below which OnWritable fires again.
	DefaultLowWater = 1 << 20
	// DefaultMaxReadPerConn bounds the bytes read from one conn per iteration.
	DefaultMaxReadPerConn = 1 << 20
	// MaxReserve is the largest receive span a handler may ask for with
	// Conn.Reserve, and the most unconsumed bytes a conn may hold. Past it the
	// conn is closed with ErrRxOverflow: a peer must not make us allocate
	// without bound.
	MaxReserve = 32 << 20

	maxEvents        = 256  // epoll events taken per wait
	maxPostsPerIter  = 1024 // posted tasks run per iteration
	maxTimersPerIter = 1024 // due timers run per iteration
	maxAcceptPerIter = 64   // connections accepted per listener per iteration
	iovMax           = 1024 // IOV_MAX on Linux
	minReadRoom      = 16 << 10
	smallTxSize      = bufpool.BlockSize // span class for Conn.Write copies
	maxTxChunk       = 256 << 10         // largest span one Write copy takes
	acceptBackoff    = 100 * time.Millisecond
)

// Errors reported to handlers and callers.
var (
	// ErrLoopClosed is passed to OnClose for conns closed by Loop.Close, and
	// returned by calls made after the loop has shut down.
	ErrLoopClosed = errors.New("loop: closed")
	// ErrNotInLoop is returned by loop-only calls made from another goroutine.
	ErrNotInLoop = errors.New("loop: call from outside the loop goroutine")
	// ErrConnClosed is returned by Detach on a conn that is not open.
	ErrConnClosed = errors.New("loop: conn not open")
	// ErrFileShort closes a conn whose WriteFile entry met the end of its
	// file: the file was truncated after the bytes were queued.
	ErrFileShort = errors.New("loop: file ended before a queued WriteFile range")
	// ErrTxPending is returned by Detach when the send queue is not empty.
	ErrTxPending = errors.New("loop: detach with queued send data")
	// ErrDialTimeout is passed to OnClose when a Dial does not connect in time.
	// It matches os.ErrDeadlineExceeded with errors.Is.
	ErrDialTimeout = fmt.Errorf("loop: dial timed out: %w", os.ErrDeadlineExceeded)
	// ErrRxOverflow closes a conn whose unconsumed bytes or Reserve exceed MaxReserve.
	ErrRxOverflow = errors.New("loop: receive buffer limit exceeded")
	// ErrBadConsume closes a conn whose OnData returned a count outside [0, len(data)].
	ErrBadConsume = errors.New("loop: OnData returned an invalid count")
)

// Config sets up a Loop. Zero fields take the defaults.
type Config struct {
	ID   int
	Pool *bufpool.Pool // nil = bufpool.Default
	// ReadSize is the receive span size class; default 256 KiB.
	ReadSize int
	// HighWater: Conn.Writable reports false while Buffered() >= HighWater; default 4 MiB.
	HighWater int
	// LowWater: OnWritable fires when the queue drains below LowWater after it
	// had reached HighWater; default 1 MiB. Must not exceed HighWater.
	LowWater int
	// MaxReadPerConn bounds the bytes read from one conn per iteration; default 1 MiB.
	MaxReadPerConn int
	// SocketBuffer, when > 0, sets SO_SNDBUF and SO_RCVBUF on every conn.
	// The default (0) leaves the kernel's autotuning on, which measured best
	// on loopback (see doc.go).
	SocketBuffer int
}

// Stats are cumulative counters. Safe to read from any goroutine.
type Stats struct {
	Polls    uint64 // epoll_wait calls
	Reads    uint64 // read syscalls on conns
	Writes   uint64 // writev syscalls
	BytesIn  uint64
	BytesOut uint64
	Wakeups  uint64 // eventfd wakeups taken by the loop
	Posts    uint64 // tasks posted
	Accepts  uint64
	// CryptoCopies counts WriteSpan spans copied before encryption because
	// someone else held a reference (see Conn.SetSendCipher).
	CryptoCopies uint64
}

type stats struct {
	polls, reads, writes, bytesIn, bytesOut, wakeups, posts, accepts atomic.Uint64
	cryptoCopies                                                     atomic.Uint64
}

// Loop states, guarded by Loop.mu.
const (
	stateNew     = iota // Run not yet called: setup calls run on the caller
	stateRunning        // Run owns the loop state
	stateClosing        // shutting down: posts are refused
	stateClosed
)

// task is one posted function.
type task struct {
	fn  func(arg any)
	arg any
}

// file is the loop's entry for one registered fd. seq is echoed back in
// each epoll event (EpollEvent.Pad), so an event queued for a conn that was
// closed in the same batch does not reach a new conn that reused its fd.
type file struct {
	seq uint32
	c   *Conn
	ln  *Listener
}

// Loop is one epoll reactor. Its state is owned by the goroutine running Run
// (the loop goroutine); other goroutines reach it only through Post, TryPost,
// Close, Stats, ID and InLoop.
type Loop struct {
	cfg  Config
	pool *bufpool.Pool
	epfd int
	evfd int

	// Inbox. Invariant: wakePending == 1 exactly when inbox is non-empty or a
	// wakeup was requested; both change only under mu, so the loop can read
	// wakePending without the lock as a "something is queued" hint.
	mu          sync.Mutex
	state       int    // guarded by mu
	inbox       []task // guarded by mu
	wakePending atomic.Uint32
	closeReq    atomic.Bool
	done        chan struct{}
	tid         atomic.Int32 // OS thread of Run; 0 when not running

	// Everything below is owned by the loop goroutine.
	running  []task // batch taken from inbox; swapped with it (double buffer, no allocation)
	runIdx   int
	shutting bool // shutdown sweep in progress: no new conns or listeners
	now      time.Time
	base     time.Time // zero of the timer clock
	timers   timerHeap
	timerSeq uint64
	events   [maxEvents]unix.EpollEvent
	ctlEv    unix.EpollEvent // scratch for EpollCtl, so it does not escape per call
	evbuf    [8]byte         // eventfd read scratch
	files    []file          // indexed by fd
	seq      uint32
	dirty    []*Conn // conns with queued bytes to flush at the end of the iteration
	deferred []*Conn // conns with callbacks to run once the current callback returns
	inDefer  bool
	iov      []unix.Iovec // writev scratch, iovMax long
	msg      unix.Msghdr  // sendmsg scratch (sendfile.go), so it does not escape per call
	sfOff    int64        // sendfile offset scratch (sendfile.go)
	cvecs    [][]byte     // Encrypt argument scratch, made on first use (iovMax cap)
	rvec     [1][]byte    // Decrypt argument scratch
	st       stats
	load     loadState // busy share and iteration rate (load.go)
	runErr   error
}

// eventfdOne is the 8-byte native-endian 1 written to wake the loop.
var eventfdOne = func() (b [8]byte) {
	binary.NativeEndian.PutUint64(b[:], 1)
	return
}()

// New creates a loop: an epoll instance and its wakeup eventfd. Call Run on a
// dedicated goroutine.
func New(cfg Config) (*Loop, error) {
	if cfg.Pool == nil {
		cfg.Pool = bufpool.Default
	}
	if cfg.ReadSize <= 0 {
		cfg.ReadSize = DefaultReadSize
	}
	if cfg.ReadSize < 2*minReadRoom {
		cfg.ReadSize = 2 * minReadRoom
	}
	if cfg.HighWater <= 0 {
		cfg.HighWater = DefaultHighWater
	}
	if cfg.LowWater <= 0 {
		cfg.LowWater = min(DefaultLowWater, cfg.HighWater)
	}
	if cfg.LowWater > cfg.HighWater {
		return nil, fmt.Errorf("loop: LowWater %d above HighWater %d", cfg.LowWater, cfg.HighWater)
	}
	if cfg.MaxReadPerConn <= 0 {
		cfg.MaxReadPerConn = DefaultMaxReadPerConn
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(evfd)
		unix.Close(epfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	now := time.Now()
	l := &Loop{
		cfg:  cfg,
		pool: cfg.Pool,
		epfd: epfd,
		evfd: evfd,
		done: make(chan struct{}),
		now:  now,
		base: now,
		iov:  make([]unix.Iovec, iovMax),
	}
	return l, nil
}

// ID returns Config.ID. Safe from any goroutine.
func (l *Loop) ID() int { return l.cfg.ID }

// Pool returns the span pool the loop reads into and copies writes into.
// Safe from any goroutine.
func (l *Loop) Pool() *bufpool.Pool { return l.pool }

// InLoop reports whether the caller runs on the loop goroutine. It costs a
// gettid syscall: meant for assertions, not hot paths. Safe from any goroutine.
func (l *Loop) InLoop() bool {
	t := l.tid.Load()
	return t != 0 && t == int32(unix.Gettid())
}

// Now returns the loop's cached clock, refreshed once per iteration (after
// each epoll_wait). Loop only.
func (l *Loop) Now() time.Time { return l.now }

// Stats returns the counters. Safe from any goroutine.
func (l *Loop) Stats() Stats {
	return Stats{
		Polls:    l.st.polls.Load(),
		Reads:    l.st.reads.Load(),
		Writes:   l.st.writes.Load(),
		BytesIn:  l.st.bytesIn.Load(),
		BytesOut: l.st.bytesOut.Load(),
		Wakeups:  l.st.wakeups.Load(),
		Posts:    l.st.posts.Load(),
		Accepts:  l.st.accepts.Load(),

		CryptoCopies: l.st.cryptoCopies.Load(),
	}
}

// Run runs the loop until Close. It locks the calling goroutine to its OS
// thread; call it from a goroutine dedicated to this loop. It returns nil
// after Close, ErrLoopClosed if the loop was closed or already run, or the
// epoll_wait error that stopped it (the loop shuts down the same way).
func (l *Loop) Run() error {
	l.mu.Lock()
	if l.state != stateNew {
		l.mu.Unlock()
		return ErrLoopClosed
	}
	l.state = stateRunning
	l.mu.Unlock()

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	l.tid.Store(int32(unix.Gettid()))
	l.now = time.Now()
	l.load.start(l.now)

	for !l.closeReq.Load() {
		if err := l.iterate(); err != nil {
			l.runErr = err
			break
		}
	}
	l.shutdown()
	l.tid.Store(0)
	l.closeFds()
	close(l.done)
	return l.runErr
}

// Close stops the loop: posted tasks accepted so far run, then every
// listener is closed and every conn is closed with OnClose(c, ErrLoopClosed),
// timers are dropped, and Run returns. Safe from any goroutine. From another
// goroutine it waits until the loop has shut down; from the loop (inside a
// callback) it returns at once and the shutdown follows the current callback.
// Calling it again is a no-op.
func (l *Loop) Close() error {
	l.mu.Lock()
	switch l.state {
	case stateNew:
		// Never ran: whatever Listen registered is closed here, on the caller.
		l.state = stateClosed
		l.mu.Unlock()
		l.shutdown()
		l.closeFds()
		close(l.done)
		return nil
	case stateRunning:
		l.closeReq.Store(true)
		l.wakeLocked()
	}
	l.mu.Unlock()
	if !l.InLoop() {
		<-l.done
	}
	return nil
}

// Post queues fn(arg) to run on the loop, after the I/O events of the
// iteration that takes it. Tasks run FIFO per poster. It does not allocate
// once the inbox has grown to the burst size (pass a pointer as arg; a
// non-pointer arg is boxed by the caller's conversion to any). The eventfd is
// written only on the empty-to-pending transition, so a burst costs one
// wakeup. Tasks posted after the loop began shutting down are dropped; use
// TryPost to learn that. Safe from any goroutine.
func (l *Loop) Post(fn func(arg any), arg any) {
	l.TryPost(fn, arg)
}

// TryPost is Post that reports false when the loop is shutting down or closed
// and fn will never run. Safe from any goroutine.
func (l *Loop) TryPost(fn func(arg any), arg any) bool {
	l.mu.Lock()
	if l.state >= stateClosing {
		l.mu.Unlock()
		return false
	}
	l.inbox = append(l.inbox, task{fn, arg})
	l.st.posts.Add(1)
	if l.state == stateRunning {
		l.wakeLocked()
	} else {
		l.wakePending.Store(1)
	}
	l.mu.Unlock()
	return true
}

// wakeLocked writes the eventfd unless a wakeup is already pending. Called
// with mu held, so it can never write to an eventfd that shutdown closed.
func (l *Loop) wakeLocked() {
	if !l.wakePending.CompareAndSwap(0, 1) {
		return
	}
	for {
		_, err := unix.Write(l.evfd, eventfdOne[:])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			// Counter saturated: the loop is awake anyway.
			return
		}
		return
	}
}

// do runs fn on the loop: directly if called from the loop or before Run,
// else through TryPost, waiting for the result.
func (l *Loop) do(fn func() error) error {
	if l.InLoop() {
		return fn()
	}
	l.mu.Lock()
	switch l.state {
	case stateNew:
		// Run cannot start while we hold mu, so the loop state is ours.
		defer l.mu.Unlock()
		return fn()
	case stateRunning:
	default:
		l.mu.Unlock()
		return ErrLoopClosed
	}
	l.mu.Unlock()
	ch := make(chan error, 1)
	if !l.TryPost(func(any) { ch <- fn() }, nil) {
		return ErrLoopClosed
	}
	return <-ch
}

// iterate is one pass: wait, I/O events, due timers, posted tasks, flush.
func (l *Loop) iterate() error {
	// The previous wake-up (l.now) to here was busy; the wait follows.
	before := time.Now()
	n, err := unix.EpollWait(l.epfd, l.events[:], l.pollTimeout())
	l.st.polls.Add(1)
	busy := before.Sub(l.now)
	l.now = time.Now()
	l.load.account(busy, l.now.Sub(before), l.now)
	if err != nil {
		if err == unix.EINTR {
			return nil
		}
		return os.NewSyscallError("epoll_wait", err)
	}
	for i := 0; i < n; i++ {
		l.dispatch(&l.events[i])
		l.runDeferred()
	}
	l.runTimers()
	l.runPosts()
	l.flushDirty()
	return nil
}

// pollTimeout is the epoll_wait timeout in ms: 0 when work is already
// waiting, else until the earliest timer (rounded up), else forever.
func (l *Loop) pollTimeout() int {
	if l.runIdx < len(l.running) || l.wakePending.Load() != 0 || len(l.dirty) > 0 ||
		len(l.deferred) > 0 || l.closeReq.Load() {
		return 0
	}
	if len(l.timers) == 0 {
		return -1
	}
	d := l.timers[0].when - l.nowNs()
	if d <= 0 {
		return 0
	}
	ms := (d + int64(time.Millisecond) - 1) / int64(time.Millisecond)
	if ms > 1<<30 {
		ms = 1 << 30
	}
	return int(ms)
}

func (l *Loop) dispatch(ev *unix.EpollEvent) {
	fd := int(ev.Fd)
	if fd == l.evfd {
		_, _ = unix.Read(l.evfd, l.evbuf[:])
		l.st.wakeups.Add(1)
		return
	}
	if fd < 0 || fd >= len(l.files) {
		return
	}
	f := &l.files[fd]
	if f.seq != uint32(ev.Pad) {
		return // stale: the fd was closed and reused within this batch
	}
	switch {
	case f.c != nil:
		f.c.onEvent(ev.Events)
	case f.ln != nil:
		f.ln.onAccept()
	}
}

// runPosts runs up to maxPostsPerIter posted tasks.
func (l *Loop) runPosts() {
	for done := 0; done < maxPostsPerIter; done++ {
		if l.runIdx == len(l.running) {
			if l.wakePending.Load() == 0 {
				return
			}
			clear(l.running)
			l.mu.Lock()
			l.wakePending.Store(0)
			l.running, l.inbox = l.inbox, l.running[:0]
			l.mu.Unlock()
			l.runIdx = 0
			if len(l.running) == 0 {
				return
			}
		}
		t := l.running[l.runIdx]
		l.running[l.runIdx] = task{}
		l.runIdx++
		t.fn(t.arg)
		l.runDeferred()
	}
}

// register adds fd to the table and to epoll with events.
func (l *Loop) register(fd int, c *Conn, ln *Listener, events uint32) (uint32, error) {
	for fd >= len(l.files) {
		l.files = append(l.files, file{})
	}
	l.seq++
	if l.seq == 0 {
		l.seq++
	}
	seq := l.seq
	if err := l.epollCtl(unix.EPOLL_CTL_ADD, fd, seq, events); err != nil {
		return 0, err
	}
	l.files[fd] = file{seq: seq, c: c, ln: ln}
	return seq, nil
}

// epollCtl adds or modifies fd's events, tagging them with seq.
func (l *Loop) epollCtl(op, fd int, seq uint32, events uint32) error {
	l.ctlEv = unix.EpollEvent{Events: events, Fd: int32(fd), Pad: int32(seq)}
	if err := unix.EpollCtl(l.epfd, op, fd, &l.ctlEv); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// unregister removes fd from epoll and the table (the fd stays open).
func (l *Loop) unregister(fd int, inEpoll bool) {
	if inEpoll {
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	}
	if fd >= 0 && fd < len(l.files) {
		l.files[fd] = file{}
	}
}

// unregisterKeep removes fd from epoll but keeps its table entry (a parked conn).
func (l *Loop) unregisterKeep(fd int) {
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
}

// deferConn queues c for runDeferred.
func (l *Loop) deferConn(c *Conn, bits uint8) {
	c.notify |= bits
	if !c.deferQueued {
		c.deferQueued = true
		l.deferred = append(l.deferred, c)
	}
}

// runDeferred runs the callbacks that loop calls asked for (OnOpen, OnData
// for pending bytes, OnWritable, OnClose) once the callback that asked has
// returned, so no handler is ever re-entered.
func (l *Loop) runDeferred() {
	if l.inDefer || len(l.deferred) == 0 {
		return
	}
	l.inDefer = true
	for i := 0; i < len(l.deferred); i++ {
		c := l.deferred[i]
		l.deferred[i] = nil
		c.deferQueued = false
		bits := c.notify
		c.notify = 0
		c.runNotify(bits)
	}
	l.deferred = l.deferred[:0]
	l.inDefer = false
}

// flushDirty writes out every conn that queued bytes this iteration, then
// runs the callbacks that flushing caused; those may queue more, so it
// repeats a few times before leaving the rest to the next iteration.
func (l *Loop) flushDirty() {
	for round := 0; round < 4 && len(l.dirty) > 0; round++ {
		for i := 0; i < len(l.dirty); i++ {
			c := l.dirty[i]
			l.dirty[i] = nil
			c.dirtyQueued = false
			if c.state == connOpen && !c.outArmed && c.txBytes > 0 {
				c.flush()
			}
		}
		l.dirty = l.dirty[:0]
		l.runDeferred()
	}
}

// shutdown runs on the loop goroutine (or on Close's caller when Run never
// ran): accepted posts run, then listeners and conns are closed.
func (l *Loop) shutdown() {
	l.mu.Lock()
	if l.state == stateRunning {
		l.state = stateClosing
	}
	l.mu.Unlock()
	// Posts accepted before the state change run now, so a handoff posted by
	// another loop is adopted (and then closed below) rather than leaked.
	for l.runIdx < len(l.running) || l.wakePending.Load() != 0 {
		l.runPosts()
	}
	l.shutting = true
	for fd := range l.files {
		f := l.files[fd]
		switch {
		case f.c != nil:
			f.c.Close(ErrLoopClosed)
		case f.ln != nil:
			f.ln.close()
		}
	}
	l.runDeferred()
	for _, c := range l.dirty {
		c.dirtyQueued = false
	}
	clear(l.dirty)
	l.dirty = l.dirty[:0]
	for _, t := range l.timers {
		t.idx = -1
	}
	clear(l.timers)
	l.timers = l.timers[:0]
	l.mu.Lock()
	l.state = stateClosed
	l.mu.Unlock()
}

func (l *Loop) closeFds() {
	unix.Close(l.evfd)
	unix.Close(l.epfd)
}
