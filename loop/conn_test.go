package loop

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
)

// echoServer listens on l and echoes every byte back, alternating between a
// copying Write and a zero-copy WriteSpan of the receive span (which makes
// the span shared, so the loop must move the unconsumed tail instead of
// overwriting it).
//
// Like a frame parser, it sometimes leaves a short tail unconsumed (the
// rest is presented again with the next bytes), except at the stream's end
// (total bytes), where nothing more would come.
func echoServer(t testing.TB, l *Loop, cl *closeLog, total int) *Listener {
	t.Helper()
	var ln *Listener
	var err error
	rng := rand.New(rand.NewPCG(1, 2))
	ln, err = l.Listen("tcp", "127.0.0.1:0", func(c *Conn) Handler {
		seen := 0
		return &handler{
			data: func(c *Conn, b []byte) int {
				n := len(b)
				if rng.IntN(4) == 0 && seen+len(b) < total {
					n -= rng.IntN(min(len(b), 100) + 1)
				}
				seen += n
				if rng.IntN(2) == 0 {
					c.Write(b[:n])
				} else if n > 0 {
					c.WriteSpan(c.RxSpan().Retain(), b[:n])
				}
				return n
			},
			close: func(c *Conn, err error) {
				if cl != nil {
					cl.onClose(c, err)
				}
			},
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestEchoLargeTransfer sends a pattern stream in random chunk sizes through
// an echo server on another loop and checks every byte that comes back.
func TestEchoLargeTransfer(t *testing.T) {
	total := 64 << 20
	if raceEnabled || testing.Short() {
		total = 8 << 20
	}
	cfg := Config{HighWater: 256 << 10, LowWater: 64 << 10}
	srv := startLoop(t, Config{ID: 1, HighWater: 8 << 20})
	cli := startLoop(t, cfg)
	scl, ccl := newCloseLog(), newCloseLog()
	ln := echoServer(t, srv, scl, total)
	addr := addrOf(t, ln)

	const seed = 77
	done := make(chan error, 1)
	rng := rand.New(rand.NewPCG(3, 4))
	chunk := make([]byte, 64<<10)
	sent, got, writables := 0, 0, 0
	pump := func(c *Conn) {
		for sent < total && c.Writable() {
			n := min(1+rng.IntN(len(chunk)), total-sent)
			if rng.IntN(8) == 0 {
				n = min(1+rng.IntN(20), total-sent) // tiny writes coalesce
			}
			fillPattern(chunk[:n], seed, sent)
			c.Write(chunk[:n])
			sent += n
		}
	}
	h := &handler{
		open:     pump,
		writable: func(c *Conn) { writables++; pump(c) },
		data: func(c *Conn, b []byte) int {
			n := len(b)
			if rng.IntN(3) == 0 && got+len(b) < total {
				n -= rng.IntN(min(len(b), 100) + 1)
			}
			for i := 0; i < n; i++ {
				if b[i] != pattern(seed, got+i) {
					done <- errors.New("echo mismatch")
					c.Close(nil)
					return n
				}
			}
			got += n
			if got == total {
				done <- nil
			}
			return n
		},
		close: ccl.onClose,
	}
	start := time.Now()
	onLoop(t, cli, func() {
		if _, err := cli.Dial(addr, 5*time.Second, h); err != nil {
			t.Error(err)
		}
	})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("timeout")
	}
	el := time.Since(start)
	onLoop(t, cli, func() {
		if writables == 0 {
			t.Error("OnWritable never fired although the queue passed HighWater")
		}
	})
	st := cli.Stats()
	t.Logf("%d MiB echoed in %v (%.0f MB/s each way); client: %d reads, %d writevs, %d polls",
		total>>20, el, float64(total)/el.Seconds()/1e6, st.Reads, st.Writes, st.Polls)
	cli.Close()
	if err := ccl.wait(t); !errors.Is(err, ErrLoopClosed) {
		t.Errorf("client OnClose err = %v, want ErrLoopClosed", err)
	}
	if err := scl.wait(t); err != io.EOF {
		t.Errorf("server OnClose err = %v, want io.EOF", err)
	}
	ccl.checkOnce(t)
	srv.Close()
	scl.checkOnce(t)
}

// TestWriteOrdering interleaves Write and WriteSpan and checks that the
// receiver sees the bytes in call order.
func TestWriteOrdering(t *testing.T) {
	pool := bufpool.New()
	pool.Poison = true
	a := startLoop(t, Config{Pool: pool})
	// b gets its own pool: each loop checks its pool when it closes, and a
	// shared one would be checked while the other loop still holds spans.
	b := startLoop(t, Config{})
	const total = 4 << 20
	ln, got, done := listenCollect(t, b, total)
	onLoop(t, a, func() {
		rng := rand.New(rand.NewPCG(5, 6))
		h := &handler{open: func(c *Conn) {
			off := 0
			for off < total {
				n := min(1+rng.IntN(3000), total-off)
				if rng.IntN(2) == 0 {
					s := pool.Get(n + 100)
					fillPattern(s.Bytes()[50:50+n], 9, off)
					c.WriteSpan(s, s.Bytes()[50:50+n])
				} else {
					var buf [3000]byte
					fillPattern(buf[:n], 9, off)
					c.Write(buf[:n])
				}
				off += n
				if rng.IntN(50) == 0 {
					c.Flush()
				}
			}
		}}
		if _, err := a.Dial(addrOf(t, ln), time.Second, h); err != nil {
			t.Error(err)
		}
	})
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("timeout")
	}
	data := got.Bytes()
	for i := range data {
		if data[i] != pattern(9, i) {
			t.Fatalf("byte %d out of order", i)
		}
	}
}

// TestDetachAdoptHandoff moves accepted conns from loop A to loop B after a
// 20-byte prefix, with more data in flight, and checks the stream is
// byte-exact on B.
func TestDetachAdoptHandoff(t *testing.T) {
	pool := bufpool.New()
	pool.Poison = true
	a := startLoop(t, Config{ID: 1, Pool: pool})
	b := startLoop(t, Config{ID: 2, Pool: pool})
	const prefix = 20
	const body = 256 << 10
	iters := 100
	if raceEnabled {
		iters = 30
	}
	results := make(chan error, iters)
	type handoff struct {
		fd int
		p  []byte
	}
	adopt := func(arg any) {
		ho := arg.(*handoff)
		got := 0
		h := &handler{
			data: func(c *Conn, d []byte) int {
				for i := range d {
					if d[i] != pattern(11, prefix+got+i) {
						results <- errors.New("byte mismatch after handoff")
						c.Close(nil)
						return len(d)
					}
				}
				got += len(d)
				if got == body {
					c.Write([]byte("ok"))
				}
				return len(d)
			},
		}
		if _, err := b.Adopt(ho.fd, ho.p, h); err != nil {
			results <- err
			syscall.Close(ho.fd)
		}
	}
	ln, err := a.Listen("tcp", "127.0.0.1:0", func(c *Conn) Handler {
		return &handler{data: func(c *Conn, d []byte) int {
			if len(d) < prefix {
				return 0
			}
			if !bytes.Equal(d[:prefix], patternBytes(11, 0, prefix)) {
				results <- errors.New("bad prefix")
				c.Close(nil)
				return len(d)
			}
			fd, p, err := c.Detach()
			if err != nil {
				results <- err
				return len(d)
			}
			if len(p) != len(d) {
				results <- errors.New("Detach pending differs from data")
			}
			b.Post(adopt, &handoff{fd, p[prefix:]})
			return 0
		}}
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	msg := patternBytes(11, 0, prefix+body)
	for i := 0; i < iters; i++ {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		// Write in two parts so the handoff races with data in flight.
		if _, err := nc.Write(msg[:prefix+i*97%4096]); err != nil {
			t.Fatal(err)
		}
		go func() { nc.Write(msg[prefix+i*97%4096:]) }()
		nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		var ok [2]byte
		if _, err := io.ReadFull(nc, ok[:]); err != nil || string(ok[:]) != "ok" {
			select {
			case e := <-results:
				t.Fatalf("iteration %d: %v", i, e)
			default:
			}
			t.Fatalf("iteration %d: reply %q, %v", i, ok, err)
		}
		nc.Close()
	}
	select {
	case e := <-results:
		t.Fatal(e)
	default:
	}
}

func patternBytes(s uint64, off, n int) []byte {
	b := make([]byte, n)
	fillPattern(b, s, off)
	return b
}

// TestDialRefused dials a port nobody listens on.
func TestDialRefused(t *testing.T) {
	l := startLoop(t, Config{})
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := nl.Addr().(*net.TCPAddr).AddrPort()
	nl.Close()
	cl := newCloseLog()
	opened := false
	onLoop(t, l, func() {
		_, err := l.Dial(addr, time.Second, &handler{open: func(*Conn) { opened = true }, close: cl.onClose})
		if err != nil {
			t.Error(err)
		}
	})
	if err := cl.wait(t); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("OnClose err = %v, want ECONNREFUSED", err)
	}
	onLoop(t, l, func() {
		if opened {
			t.Error("OnOpen for a refused dial")
		}
	})
	cl.checkOnce(t)
}

// TestDialTimeout dials a listener whose accept queue is full: Linux drops
// the SYN, so the connect hangs until the loop's timer closes it.
func TestDialTimeout(t *testing.T) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*syscall.SockaddrInet4).Port))
	// Fill the accept queue (backlog 0 holds one conn).
	var fillers []net.Conn
	defer func() {
		for _, c := range fillers {
			c.Close()
		}
	}()
	for i := 0; i < 4; i++ {
		c, err := net.DialTimeout("tcp", addr.String(), 200*time.Millisecond)
		if err != nil {
			break
		}
		fillers = append(fillers, c)
	}
	l := startLoop(t, Config{})
	cl := newCloseLog()
	start := time.Now()
	onLoop(t, l, func() {
		if _, err := l.Dial(addr, 150*time.Millisecond, &handler{close: cl.onClose}); err != nil {
			t.Error(err)
		}
	})
	err = cl.wait(t)
	if err == nil || !errors.Is(err, ErrDialTimeout) {
		t.Skipf("could not make a dial hang on this kernel (got %v)", err)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("ErrDialTimeout does not match os.ErrDeadlineExceeded")
	}
	if el := time.Since(start); el < 140*time.Millisecond || el > 5*time.Second {
		t.Errorf("timed out after %v, want about 150ms", el)
	}
	cl.checkOnce(t)
}

// TestBackPressure: with the reader paused, Writable turns false at
// HighWater; OnWritable fires once the reader drains it below LowWater.
func TestBackPressure(t *testing.T) {
	srv := startLoop(t, Config{})
	cli := startLoop(t, Config{HighWater: 1 << 20, LowWater: 256 << 10})
	var server atomic.Pointer[Conn]
	accepted := make(chan struct{})
	ln, err := srv.Listen("tcp", "127.0.0.1:0", func(c *Conn) Handler {
		c.SetReadPaused(true)
		server.Store(c)
		close(accepted)
		return &handler{}
	})
	if err != nil {
		t.Fatal(err)
	}
	writable := make(chan int, 4)
	var cc *Conn
	onLoop(t, cli, func() {
		cc, err = cli.Dial(addrOf(t, ln), time.Second, &handler{writable: func(c *Conn) { writable <- c.Buffered() }})
	})
	if err != nil {
		t.Fatal(err)
	}
	<-accepted
	block := make([]byte, 64<<10)
	// Queue until the kernel buffers are full and the queue passes HighWater.
	deadline := time.Now().Add(10 * time.Second)
	for {
		full := false
		onLoop(t, cli, func() {
			for cc.Writable() {
				cc.Write(block)
			}
			full = !cc.Writable()
			cc.Flush()
			full = full && !cc.Writable()
		})
		if full {
			break
		}
		for len(writable) > 0 { // legit: the kernel took the queue
			<-writable
		}
		if time.Now().After(deadline) {
			t.Fatal("queue never stayed above HighWater")
		}
	}
	for len(writable) > 0 { // from the rounds before the queue stayed full
		<-writable
	}
	select {
	case n := <-writable:
		t.Fatalf("OnWritable with reader paused (buffered %d)", n)
	case <-time.After(50 * time.Millisecond):
	}
	onLoop(t, srv, func() { server.Load().SetReadPaused(false) })
	select {
	case n := <-writable:
		if n >= 256<<10 {
			t.Errorf("OnWritable at Buffered %d, want < LowWater", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no OnWritable after drain")
	}
}

// TestCloseSemantics covers OnClose exactly once in each path: Close inside
// OnData (deferred, data still valid), closing another conn from a callback,
// peer EOF, and loop shutdown.
func TestCloseSemantics(t *testing.T) {
	srv := startLoop(t, Config{})
	cli := startLoop(t, Config{})
	scl, ccl := newCloseLog(), newCloseLog()
	var conns []*Conn
	ln, err := srv.Listen("tcp", "127.0.0.1:0", func(c *Conn) Handler {
		conns = append(conns, c)
		return &handler{
			data: func(c *Conn, d []byte) int {
				switch d[0] {
				case 'x': // close self inside OnData
					c.Close(errors.New("self"))
					if !c.Closed() {
						t.Error("Closed false after Close")
					}
					_ = append([]byte(nil), d...) // data still readable
					c.Close(errors.New("twice"))
					c.Write([]byte("ignored"))
				case 'o': // close every other conn
					for _, o := range conns {
						if o != c {
							o.Close(errors.New("other"))
						}
					}
				}
				return len(d)
			},
			close: scl.onClose,
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	dial := func() net.Conn {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return nc
	}
	c1 := dial()
	c1.Write([]byte("x"))
	if err := scl.wait(t); err == nil || err.Error() != "self" {
		t.Fatalf("got %v, want self", err)
	}
	c1.Close()
	c2, c3 := dial(), dial()
	time.Sleep(50 * time.Millisecond)
	c3.Write([]byte("o"))
	if err := scl.wait(t); err == nil || err.Error() != "other" {
		t.Fatalf("got %v, want other", err)
	}
	c2.Close()
	c3.Close()
	if err := scl.wait(t); err != io.EOF {
		t.Fatalf("got %v, want EOF", err)
	}
	// Loop shutdown closes client conns with ErrLoopClosed.
	var opened atomic.Int32
	for i := 0; i < 3; i++ {
		onLoop(t, cli, func() {
			cli.Dial(addrOf(t, ln), time.Second, &handler{open: func(*Conn) { opened.Add(1) }, close: ccl.onClose})
		})
	}
	for opened.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	cli.Close()
	for i := 0; i < 3; i++ {
		if err := ccl.wait(t); !errors.Is(err, ErrLoopClosed) {
			t.Errorf("got %v, want ErrLoopClosed", err)
		}
	}
	for i := 0; i < 3; i++ {
		if err := scl.wait(t); err != io.EOF {
			t.Errorf("server side: got %v, want EOF", err)
		}
	}
	srv.Close()
	scl.checkOnce(t)
	ccl.checkOnce(t)
	onLoopClosed := cli.TryPost(func(any) {}, nil)
	if onLoopClosed {
		t.Error("TryPost accepted after Close")
	}
}

// TestReserveLargeFrame sends 1 MiB frames with a 4-byte length prefix; the
// handler asks for room with Reserve and sees each frame whole.
func TestReserveLargeFrame(t *testing.T) {
	srv := startLoop(t, Config{})
	cli := startLoop(t, Config{})
	const frame = 1 << 20
	const frames = 8
	got := make(chan int, frames)
	ln, err := srv.Listen("tcp", "127.0.0.1:0", func(c *Conn) Handler {
		n := 0
		return &handler{data: func(c *Conn, d []byte) int {
			used := 0
			for {
				rest := d[used:]
				if len(rest) < 4 {
					return used
				}
				l := int(rest[0])<<24 | int(rest[1])<<16 | int(rest[2])<<8 | int(rest[3])
				if len(rest) < 4+l {
					c.Reserve(4 + l)
					return used
				}
				if !bytes.Equal(rest[4:4+l], patternBytes(uint64(n), 0, l)) {
					t.Error("frame corrupt")
				}
				n++
				got <- len(c.RxSpan().Full())
				used += 4 + l
			}
		}}
	})
	if err != nil {
		t.Fatal(err)
	}
	onLoop(t, cli, func() {
		cli.Dial(addrOf(t, ln), time.Second, &handler{open: func(c *Conn) {
			for i := 0; i < frames; i++ {
				c.Write([]byte{0, 0x10, 0, 0})
				c.Write(patternBytes(uint64(i), 0, frame))
			}
		}})
	})
	for i := 0; i < frames; i++ {
		select {
		case n := <-got:
			if n < frame+4 {
				t.Errorf("span %d smaller than the reserved frame", n)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("timeout")
		}
	}
}

// TestIdleConnsHoldNoSpan: once all received bytes are consumed a conn holds
// no receive span, so many idle conns cost no buffer memory.
func TestIdleConnsHoldNoSpan(t *testing.T) {
	pool := bufpool.New()
	srv := startLoop(t, Config{Pool: pool})
	const n = 200
	var recv atomic.Int32
	var conns []*Conn
	ln, err := srv.Listen("tcp", "127.0.0.1:0", func(c *Conn) Handler {
		conns = append(conns, c)
		return &handler{data: func(c *Conn, d []byte) int { recv.Add(int32(len(d))); return len(d) }}
	})
	if err != nil {
		t.Fatal(err)
	}
	var ncs []net.Conn
	for i := 0; i < n; i++ {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		ncs = append(ncs, nc)
		nc.Write([]byte("hello"))
	}
	defer func() {
		for _, nc := range ncs {
			nc.Close()
		}
	}()
	for recv.Load() < 5*n {
		time.Sleep(time.Millisecond)
	}
	onLoop(t, srv, func() {
		for _, c := range conns {
			if c.RxSpan() != nil {
				t.Fatal("idle conn holds a receive span")
			}
		}
	})
	if o := pool.Outstanding(); o != 0 {
		t.Errorf("%d spans outstanding with %d idle conns", o, n)
	}
}

// listenCollect listens on l and gathers what the first connection sends;
// done closes once total bytes have arrived (got is then safe to read).
func listenCollect(t *testing.T, l *Loop, total int) (ln *Listener, got *bytes.Buffer, done chan struct{}) {
	t.Helper()
	got, done = new(bytes.Buffer), make(chan struct{})
	ln, err := l.Listen("tcp", "127.0.0.1:0", func(c *Conn) Handler {
		return &handler{data: func(c *Conn, d []byte) int {
			got.Write(d)
			if got.Len() == total {
				close(done)
			}
			return len(d)
		}}
	})
	if err != nil {
		t.Fatal(err)
	}
	return ln, got, done
}
