package loop

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
)

// countRef is a FileRef that counts its releases.
type countRef struct{ n atomic.Int32 }

func (r *countRef) Release() { r.n.Add(1) }

// patternFile writes n bytes of pattern(seed, i) to a temporary file and
// returns it open for reading.
func patternFile(t testing.TB, seed uint64, n int) *os.File {
	t.Helper()
	b := make([]byte, n)
	fillPattern(b, seed, 0)
	path := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestWriteFileInterleaved mixes Write, WriteSpan and WriteFile on one
// connection, with random sizes and Flushes, 16 MiB in all so the socket
// fills and sendfile and writev both write partially and resume on EPOLLOUT.
// The receiver must see the pattern stream byte for byte, and every FileRef
// must be released exactly once.
func TestWriteFileInterleaved(t *testing.T) {
	pool := bufpool.New()
	pool.Poison = true
	a := startLoop(t, Config{Pool: pool, HighWater: 1 << 20, LowWater: 256 << 10})
	b := startLoop(t, Config{})
	const seed, total = 11, 16 << 20
	f := patternFile(t, seed, total)
	ln, got, done := listenCollect(t, b, total)
	var ref countRef
	files := 0
	rng := rand.New(rand.NewPCG(7, 8))
	off := 0
	// queue writes until HighWater, then again on each OnWritable.
	fill := func(c *Conn) {
		for off < total && c.Writable() {
			n := min(1+rng.IntN(40000), total-off)
			switch rng.IntN(4) {
			case 0:
				s := pool.Get(n + 100)
				fillPattern(s.Bytes()[50:50+n], seed, off)
				c.WriteSpan(s, s.Bytes()[50:50+n])
			case 1:
				buf := make([]byte, n)
				fillPattern(buf, seed, off)
				c.Write(buf)
			default: // a header-sized Write then a file range, as a piece message
				h := min(13, n)
				var hb [13]byte
				fillPattern(hb[:h], seed, off)
				c.Write(hb[:h])
				if n > h {
					if !c.WriteFile(int(f.Fd()), int64(off+h), n-h, &ref) {
						t.Error("WriteFile refused on a plaintext conn")
					}
					files++
				}
			}
			off += n
			if rng.IntN(30) == 0 {
				c.Flush()
			}
		}
	}
	closed := make(chan error, 1)
	onLoop(t, a, func() {
		h := &handler{open: fill, writable: fill, close: func(c *Conn, err error) { closed <- err }}
		if _, err := a.Dial(addrOf(t, ln), time.Second, h); err != nil {
			t.Error(err)
		}
	})
	select {
	case <-done:
	case err := <-closed:
		t.Fatalf("sender closed: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("timeout")
	}
	data := got.Bytes()
	for i := range data {
		if data[i] != pattern(seed, i) {
			t.Fatalf("byte %d wrong", i)
		}
	}
	onLoop(t, a, func() {
		if int(ref.n.Load()) != files {
			t.Errorf("%d FileRef releases for %d WriteFile calls", ref.n.Load(), files)
		}
	})
	if files < 100 {
		t.Errorf("only %d WriteFile calls", files)
	}
}

// TestWriteFileCipherRefused: with a SendCipher set WriteFile queues
// nothing, keeps the ref and returns false; entries queued before the
// cipher was set still go out in plaintext.
func TestWriteFileCipherRefused(t *testing.T) {
	l, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c := l.newConn(-1, connDialing, &handler{}) // queues, never flushes
	var ref countRef
	if !c.CanWriteFile() || !c.WriteFile(5, 0, 100, &ref) {
		t.Fatal("plaintext conn refused WriteFile")
	}
	c.SetSendCipher(newXor(1))
	if c.CanWriteFile() || c.WriteFile(5, 0, 100, &ref) {
		t.Fatal("WriteFile accepted with a SendCipher set")
	}
	if c.Buffered() != 100 {
		t.Errorf("Buffered %d, want 100", c.Buffered())
	}
	c.sealTx(len(c.txq)) // a file entry has no bytes to encrypt
	if e := c.txq[c.txHead]; e.fref == nil || e.ciph != nil || e.flen != 100 {
		t.Errorf("file entry %+v", e)
	}
	c.releaseTx()
	if ref.n.Load() != 1 {
		t.Errorf("%d releases, want 1", ref.n.Load())
	}
	var ref2 countRef
	if c.WriteFile(5, 0, 0, &ref2) || ref2.n.Load() != 0 {
		t.Error("zero-length WriteFile with a cipher set: accepted or released its ref")
	}
}

// TestWriteFileCloseReleases: closing a conn whose queue holds file entries
// that the peer never read releases each ref once; a file shorter than its
// queued range closes the conn with a FileShortError naming its ref.
func TestWriteFileCloseReleases(t *testing.T) {
	srv := startLoop(t, Config{})
	cli := startLoop(t, Config{})
	accepted := make(chan struct{})
	ln, err := srv.Listen("tcp", "127.0.0.1:0", func(c *Conn) Handler {
		c.SetReadPaused(true)
		close(accepted)
		return &handler{}
	})
	if err != nil {
		t.Fatal(err)
	}
	f := patternFile(t, 3, 1<<20)
	var ref countRef
	queued := 0
	cl := newCloseLog()
	var cc *Conn
	onLoop(t, cli, func() {
		cc, err = cli.Dial(addrOf(t, ln), time.Second, &handler{close: cl.onClose})
	})
	if err != nil {
		t.Fatal(err)
	}
	<-accepted
	onLoop(t, cli, func() {
		for range 64 { // 64 MiB: far more than the socket buffers take
			cc.WriteFile(int(f.Fd()), 0, 1<<20, &ref)
			queued++
		}
		cc.Flush()
		if cc.Buffered() == 0 {
			t.Error("queue drained into a paused reader")
		}
		cc.Close(nil)
	})
	if err := cl.wait(t); err != nil {
		t.Errorf("OnClose(%v), want nil", err)
	}
	if int(ref.n.Load()) != queued {
		t.Errorf("%d releases for %d queued", ref.n.Load(), queued)
	}

	// Short file: the range runs past its end.
	cl2 := newCloseLog()
	ln2, err := srv.Listen("tcp", "127.0.0.1:0", func(c *Conn) Handler { return &handler{} })
	if err != nil {
		t.Fatal(err)
	}
	var ref2 countRef
	onLoop(t, cli, func() {
		_, err = cli.Dial(addrOf(t, ln2), time.Second, &handler{open: func(c *Conn) {
			c.WriteFile(int(f.Fd()), 1<<20-10, 20, &ref2)
		}, close: cl2.onClose})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = cl2.wait(t)
	var fse *FileShortError
	if !errors.Is(err, ErrFileShort) || !errors.As(err, &fse) || fse.Ref != FileRef(&ref2) {
		t.Errorf("OnClose(%v), want a FileShortError naming the entry's ref", err)
	}
	if ref2.n.Load() != 1 {
		t.Errorf("%d releases, want 1", ref2.n.Load())
	}
}

// TestWriteFileAllocs: a header Write, a WriteFile of one 16 KiB block and a
// Flush allocate nothing in steady state.
func TestWriteFileAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	a := startLoop(t, Config{Pool: bufpool.New()}) // not poisoned: a poisoned pool does not reuse spans
	f := patternFile(t, 1, 1<<20)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	drained := make(chan int64, 1)
	go func() {
		s, err := ln.Accept()
		if err != nil {
			drained <- -1
			return
		}
		n, _ := io.CopyBuffer(io.Discard, s, make([]byte, 1<<20))
		s.Close()
		drained <- n
	}()
	opened := make(chan *Conn, 1)
	onLoop(t, a, func() {
		if _, err := a.Dial(ln.Addr().(*net.TCPAddr).AddrPort(), time.Second,
			&handler{open: func(c *Conn) { opened <- c }}); err != nil {
			t.Error(err)
		}
	})
	c := <-opened
	var ref countRef
	var hdr [13]byte
	runs := 0
	onLoop(t, a, func() {
		block := func() {
			c.Write(hdr[:])
			c.WriteFile(int(f.Fd()), int64(runs%64)<<14, 16<<10, &ref)
			c.Flush()
			// The loop is busy here, so EPOLLOUT cannot resume a full
			// socket: push the rest while the reader drains it, so the
			// queue stays one block deep as in steady serving.
			for c.Buffered() > 0 {
				c.setOut(false)
				c.flush()
			}
			runs++
		}
		for range 100 {
			block()
		}
		if allocs := testing.AllocsPerRun(1000, block); allocs != 0 {
			t.Errorf("%v allocations per block", allocs)
		}
		c.Close(nil)
	})
	if n := <-drained; n < 0 {
		t.Fatal("accept failed")
	}
	if int(ref.n.Load()) != runs {
		t.Errorf("%d releases for %d blocks", ref.n.Load(), runs)
	}
}
