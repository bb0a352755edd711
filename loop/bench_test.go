package loop

import (
	"encoding/binary"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
)

// Piece-traffic benchmark frames (BitTorrent's request and piece messages).
const (
	benchBlock    = bufpool.BlockSize
	benchReqLen   = 17 // 4-byte length, id 6, index, begin, length
	benchPieceHdr = 13 // 4-byte length, id 7, index, begin
	benchPipeline = 64
	benchFileSize = 4 << 20
	benchHeld     = 32 // receive spans the "disk writer" holds at once
)

// pieceSender answers each request with a header (Write) and a block
// (WriteSpan of one shared pre-filled span, retained per block; or, when
// owned, of a fresh span the block is copied into, as a disk read would fill).
type pieceSender struct {
	file  *bufpool.Span
	pool  *bufpool.Pool
	owned bool
	hdr   [benchPieceHdr]byte
}

func (s *pieceSender) OnOpen(*Conn)             {}
func (s *pieceSender) OnWritable(*Conn)         {}
func (s *pieceSender) OnClose(c *Conn, _ error) {}
func (s *pieceSender) OnData(c *Conn, d []byte) int {
	n := 0
	for len(d)-n >= benchReqLen {
		req := d[n : n+benchReqLen]
		n += benchReqLen
		begin := binary.BigEndian.Uint32(req[9:13]) % (benchFileSize / benchBlock) * benchBlock
		binary.BigEndian.PutUint32(s.hdr[0:4], 9+benchBlock)
		s.hdr[4] = 7
		copy(s.hdr[5:13], req[5:13])
		c.Write(s.hdr[:])
		if s.owned {
			b := s.pool.Get(benchBlock)
			copy(b.Bytes(), s.file.Bytes()[begin:begin+benchBlock])
			c.WriteSpan(b, b.Bytes())
			continue
		}
		c.WriteSpan(s.file.Retain(), s.file.Bytes()[begin:begin+benchBlock])
	}
	return n
}

// pieceReceiver keeps benchPipeline requests outstanding, parses pieces in
// place and holds each block's receive span for a while (as a disk write
// would), so the loop must move tails out of shared spans.
type pieceReceiver struct {
	target, requested, received int
	req                         [benchReqLen]byte
	held                        [benchHeld]*bufpool.Span
	heldIdx                     int
	opened                      chan struct{}
	done                        chan struct{} // a value each time received reaches target
	bad                         atomic.Int32
}

func (r *pieceReceiver) OnOpen(*Conn)             { close(r.opened) }
func (r *pieceReceiver) OnWritable(*Conn)         {}
func (r *pieceReceiver) OnClose(c *Conn, _ error) { r.releaseHeld() }

func (r *pieceReceiver) request(c *Conn) {
	binary.BigEndian.PutUint32(r.req[0:4], 13)
	r.req[4] = 6
	binary.BigEndian.PutUint32(r.req[5:9], uint32(r.requested/256))
	binary.BigEndian.PutUint32(r.req[9:13], uint32(r.requested*benchBlock))
	binary.BigEndian.PutUint32(r.req[13:17], benchBlock)
	c.Write(r.req[:])
	r.requested++
}

func (r *pieceReceiver) start(arg any) {
	c := arg.(*Conn)
	for r.requested < r.target && r.requested-r.received < benchPipeline {
		r.request(c)
	}
}

func (r *pieceReceiver) OnData(c *Conn, d []byte) int {
	n := 0
	for len(d)-n >= benchPieceHdr+benchBlock {
		f := d[n:]
		if binary.BigEndian.Uint32(f) != 9+benchBlock || f[4] != 7 {
			r.bad.Add(1)
		}
		n += benchPieceHdr + benchBlock
		if old := r.held[r.heldIdx]; old != nil {
			old.Release()
		}
		r.held[r.heldIdx] = c.RxSpan().Retain()
		r.heldIdx = (r.heldIdx + 1) % benchHeld
		r.received++
		if r.requested < r.target {
			r.request(c)
		}
		if r.received == r.target {
			r.done <- struct{}{}
		}
	}
	return n
}

func (r *pieceReceiver) releaseHeld() {
	for i, s := range r.held {
		if s != nil {
			s.Release()
			r.held[i] = nil
		}
	}
}

// BenchmarkPieceTraffic: two loops in one process over loopback; one op is
// one 16 KiB block delivered (request + header + block).
func BenchmarkPieceTraffic(b *testing.B) { benchPieceTraffic(b, 0, false, false) }

// BenchmarkPieceTrafficSockBuf4M sets SO_SNDBUF/SO_RCVBUF to 4 MiB, which
// turns the kernel's autotuning off (for the Config.SocketBuffer decision).
func BenchmarkPieceTrafficSockBuf4M(b *testing.B) { benchPieceTraffic(b, 4<<20, false, false) }

// BenchmarkPieceTrafficCrypto is BenchmarkPieceTraffic with the test XOR
// keystream cipher on both conns, both ways. The blocks come from one shared
// span (a cached piece), so each is copied before encryption.
func BenchmarkPieceTrafficCrypto(b *testing.B) { benchPieceTraffic(b, 0, true, false) }

// BenchmarkPieceTrafficCryptoOwned sends each block from a fresh span the
// queue holds alone (filled as a disk read would), encrypted in place.
func BenchmarkPieceTrafficCryptoOwned(b *testing.B) { benchPieceTraffic(b, 0, true, true) }

// pieceTraffic is a running sender/receiver pair for benchmarks and
// allocation tests.
type pieceTraffic struct {
	send, recv *Loop
	file       *bufpool.Span
	c          *Conn // the receiver's conn
	r          *pieceReceiver
	n          int       // blocks asked for by the next run
	more       func(any) // posted by run; a field so posting it does not allocate
}

func startPieceTraffic(tb testing.TB, sockBuf int, crypto, owned bool) *pieceTraffic {
	tb.Helper()
	spool, rpool := bufpool.New(), bufpool.New()
	p := &pieceTraffic{
		send: startLoop(tb, Config{ID: 1, Pool: spool, SocketBuffer: sockBuf}),
		recv: startLoop(tb, Config{ID: 2, Pool: rpool, SocketBuffer: sockBuf}),
		file: spool.Get(benchFileSize),
		r:    &pieceReceiver{opened: make(chan struct{}), done: make(chan struct{}, 1)},
	}
	p.more = func(any) {
		p.r.target += p.n
		p.r.start(p.c)
	}
	fillPattern(p.file.Bytes(), 1, 0)
	snd := &pieceSender{file: p.file, pool: spool, owned: owned}
	ln, err := p.send.Listen("tcp", "127.0.0.1:0", func(c *Conn) Handler {
		if crypto {
			c.SetSendCipher(newXor(11))
			c.SetRecvCipher(newXor(12))
		}
		return snd
	})
	if err != nil {
		tb.Fatal(err)
	}
	onLoop(tb, p.recv, func() {
		p.c, err = p.recv.Dial(addrOf(tb, ln), time.Second, p.r)
		if err == nil && crypto {
			p.c.SetSendCipher(newXor(12))
			p.c.SetRecvCipher(newXor(11))
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	<-p.r.opened
	return p
}

// run delivers n more blocks and waits for them.
func (p *pieceTraffic) run(n int) {
	p.n = n
	p.recv.Post(p.more, nil)
	<-p.r.done
}

func (p *pieceTraffic) stop(tb testing.TB) {
	if p.r.bad.Load() != 0 {
		tb.Error("corrupt piece frames")
	}
	onLoop(tb, p.recv, func() { p.r.releaseHeld() })
	p.file.Release()
}

func benchPieceTraffic(b *testing.B, sockBuf int, crypto, owned bool) {
	p := startPieceTraffic(b, sockBuf, crypto, owned)
	defer p.stop(b)
	s0, r0 := p.send.Stats(), p.recv.Stats()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.SetBytes(benchBlock)
	b.ReportAllocs()
	b.ResetTimer()
	p.run(b.N)
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	s1, r1 := p.send.Stats(), p.recv.Stats()
	b.ReportMetric(float64(s1.Writes-s0.Writes)/float64(b.N), "writev/block")
	b.ReportMetric(float64(r1.Reads-r0.Reads)/float64(b.N), "read/block")
	b.ReportMetric(float64(r1.Polls-r0.Polls)/float64(b.N), "rxpoll/block")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N), "mallocs/block")
	if crypto {
		b.ReportMetric(float64(s1.CryptoCopies-s0.CryptoCopies)/float64(b.N), "cryptocopies/block")
	}
}

// BenchmarkPost posts a pointer-arg task from one goroutine to a running loop.
func BenchmarkPost(b *testing.B) {
	l := startLoop(b, Config{})
	var n int
	fn := func(arg any) { *arg.(*int)++ }
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		l.Post(fn, &n)
	}
	onLoop(b, l, func() {})
	b.StopTimer()
	st := l.Stats()
	b.ReportMetric(float64(st.Wakeups)/float64(b.N), "wakeups/op")
}

// BenchmarkPostParallel posts from GOMAXPROCS goroutines at once.
func BenchmarkPostParallel(b *testing.B) {
	l := startLoop(b, Config{})
	var n atomic.Int64
	fn := func(arg any) { arg.(*atomic.Int64).Add(1) }
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Post(fn, &n)
		}
	})
	onLoop(b, l, func() {})
}
