package loop

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
)

// xorKeyLen is the test keystream's period: a prime, so a byte encrypted at
// the wrong stream position (reordering, double or skipped encryption) shows.
const xorKeyLen = 65521

// xorStream is a position-dependent XOR keystream standing in for RC4: both
// a SendCipher and a RecvCipher. Two instances with one seed stay in step.
type xorStream struct {
	key []byte
	pos int64
}

func newXor(seed uint64) *xorStream {
	k := make([]byte, xorKeyLen)
	fillPattern(k, seed*7919+1000, 0)
	return &xorStream{key: k}
}

// keyAt is the keystream byte at stream position pos.
func (x *xorStream) keyAt(pos int) byte { return x.key[pos%xorKeyLen] }

func (x *xorStream) apply(b []byte) {
	for len(b) > 0 {
		i := int(x.pos % xorKeyLen)
		n := min(len(b), xorKeyLen-i)
		subtle.XORBytes(b[:n], b[:n], x.key[i:i+n])
		b = b[n:]
		x.pos += int64(n)
	}
}

func (x *xorStream) Encrypt(vecs [][]byte) {
	for _, v := range vecs {
		x.apply(v)
	}
}

func (x *xorStream) Decrypt(vecs [][]byte) (int, int, int) {
	n := 0
	for _, v := range vecs {
		x.apply(v)
		n += len(v)
	}
	return 0, n, 0
}

// cipherText is pattern(seed, off..) encrypted at keystream positions kpos...
func cipherText(x *xorStream, seed uint64, off, kpos, n int) []byte {
	b := patternBytes(seed, off, n)
	for i := range b {
		b[i] ^= x.keyAt(kpos + i)
	}
	return b
}

// TestCryptoEcho: 16 MiB in random chunks, mixed Write and WriteSpan (owned
// and shared spans), encrypted both ways by position-dependent ciphers and
// echoed by a server that mixes Write and WriteSpan of its receive span and
// leaves random tails unconsumed. Byte-exact; shared spans keep their
// plaintext; every span comes back to its pool.
func TestCryptoEcho(t *testing.T) {
	total := 16 << 20
	if testing.Short() {
		total = 4 << 20
	}
	spool, cpool := bufpool.New(), bufpool.New()
	spool.Poison, cpool.Poison = true, true
	srv := startLoop(t, Config{ID: 1, Pool: spool, HighWater: 8 << 20})
	cli := startLoop(t, Config{ID: 2, Pool: cpool, HighWater: 256 << 10, LowWater: 64 << 10})

	const seed = 31
	srng := rand.New(rand.NewPCG(7, 8))
	ln, err := srv.Listen("tcp", "127.0.0.1:0", func(c *Conn) Handler {
		c.SetRecvCipher(newXor(1))
		c.SetSendCipher(newXor(2))
		seen := 0
		return &handler{data: func(c *Conn, b []byte) int {
			n := len(b)
			if srng.IntN(4) == 0 && seen+len(b) < total {
				n -= srng.IntN(min(len(b), 100) + 1)
			}
			seen += n
			if srng.IntN(2) == 0 {
				c.Write(b[:n])
			} else if n > 0 {
				c.WriteSpan(c.RxSpan().Retain(), b[:n]) // shared: must be copied
			}
			return n
		}}
	})
	if err != nil {
		t.Fatal(err)
	}

	type heldSpan struct {
		s        *bufpool.Span
		off, len int
	}
	var held []heldSpan
	checkHeld := func(h heldSpan) error {
		if !bytes.Equal(h.s.Bytes()[:h.len], patternBytes(seed, h.off, h.len)) {
			return fmt.Errorf("shared span at stream offset %d was rewritten", h.off)
		}
		h.s.Release()
		return nil
	}
	done := make(chan error, 1)
	rng := rand.New(rand.NewPCG(9, 10))
	chunk := make([]byte, 64<<10)
	sent, got := 0, 0
	pump := func(c *Conn) {
		for sent < total && c.Writable() {
			n := min(1+rng.IntN(len(chunk)), total-sent)
			if rng.IntN(8) == 0 {
				n = min(1+rng.IntN(20), total-sent)
			}
			switch rng.IntN(3) {
			case 0:
				fillPattern(chunk[:n], seed, sent)
				c.Write(chunk[:n])
			case 1: // owned span: encrypted in place
				s := cpool.Get(n + 10)
				fillPattern(s.Bytes()[10:], seed, sent)
				c.WriteSpan(s, s.Bytes()[10:])
			case 2: // shared span: the caller keeps reading it
				s := cpool.Get(n)
				fillPattern(s.Bytes(), seed, sent)
				c.WriteSpan(s.Retain(), s.Bytes())
				held = append(held, heldSpan{s, sent, n})
				if len(held) > 8 {
					if err := checkHeld(held[0]); err != nil {
						done <- err
					}
					held = append(held[:0], held[1:]...)
				}
			}
			sent += n
		}
	}
	h := &handler{
		open: func(c *Conn) {
			c.SetSendCipher(newXor(1))
			c.SetRecvCipher(newXor(2))
			pump(c)
		},
		writable: pump,
		data: func(c *Conn, b []byte) int {
			n := len(b)
			if rng.IntN(3) == 0 && got+len(b) < total {
				n -= rng.IntN(min(len(b), 100) + 1)
			}
			if !bytes.Equal(b[:n], patternBytes(seed, got, n)) {
				done <- fmt.Errorf("echo mismatch near byte %d", got)
				c.Close(nil)
				return n
			}
			got += n
			if got == total {
				done <- nil
			}
			return n
		},
		close: func(*Conn, error) {
			for _, h := range held {
				h.s.Release()
			}
			held = nil
		},
	}
	start := time.Now()
	onLoop(t, cli, func() {
		if _, err := cli.Dial(addrOf(t, ln), 5*time.Second, h); err != nil {
			t.Error(err)
		}
	})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(120 * time.Second):
		t.Fatal("timeout")
	}
	el := time.Since(start)
	onLoop(t, cli, func() {
		for _, h := range held {
			if err := checkHeld(h); err != nil {
				t.Error(err)
			}
		}
		held = nil
	})
	ss, cs := srv.Stats(), cli.Stats()
	t.Logf("%d MiB echoed encrypted in %v (%.0f MB/s each way); crypto copies: server %d, client %d",
		total>>20, el, float64(total)/el.Seconds()/1e6, ss.CryptoCopies, cs.CryptoCopies)
	if ss.CryptoCopies == 0 || cs.CryptoCopies == 0 {
		t.Error("shared spans were sent without a copy")
	}
	cli.Close()
	srv.Close()
	for _, p := range []*bufpool.Pool{spool, cpool} {
		if n := p.Outstanding(); n != 0 {
			t.Errorf("%d spans outstanding after close", n)
		}
	}
}

// switchReceiver checks a stream of pattern(seed) whose first boundary bytes
// are plaintext on the wire and the rest encrypted with newXor(key) from
// keystream position 0. It switches its RecvCipher inside OnData exactly at
// the boundary, consuming only up to it, and checks that whatever arrived
// past the boundary in that call is still ciphertext.
type switchReceiver struct {
	seed             uint64
	key              uint64
	boundary, total  int
	got              int
	switched         bool
	pastAtSwitch     int // bytes presented past the boundary in the switching call
	callsAfterSwitch int
	rng              *rand.Rand
	done             chan error
}

func (r *switchReceiver) fail(c *Conn, err error) int {
	r.done <- err
	c.Close(nil)
	return 0
}

func (r *switchReceiver) OnOpen(*Conn)         {}
func (r *switchReceiver) OnWritable(*Conn)     {}
func (r *switchReceiver) OnClose(*Conn, error) {}
func (r *switchReceiver) OnData(c *Conn, b []byte) int {
	if !r.switched {
		k := min(len(b), r.boundary-r.got)
		if k < len(b) || r.got+k == r.boundary {
			// The boundary is in this call: the bytes past it are ciphertext.
			x := newXor(r.key)
			if want := cipherText(x, r.seed, r.boundary, 0, len(b)-k); !bytes.Equal(b[k:], want) {
				return r.fail(c, errors.New("bytes past the boundary were not encrypted on the wire (or decrypted early)"))
			}
		} else if r.rng.IntN(3) == 0 {
			k -= r.rng.IntN(k + 1) // leave a plaintext tail
		}
		if !bytes.Equal(b[:k], patternBytes(r.seed, r.got, k)) {
			return r.fail(c, fmt.Errorf("plaintext part differs near byte %d", r.got))
		}
		r.got += k
		if r.got == r.boundary {
			c.SetRecvCipher(newXor(r.key))
			r.switched = true
			r.pastAtSwitch = len(b) - k
		}
		return k
	}
	r.callsAfterSwitch++
	n := len(b)
	if r.rng.IntN(3) == 0 && r.got+n < r.total {
		n -= r.rng.IntN(min(n, 100) + 1)
	}
	if !bytes.Equal(b[:n], patternBytes(r.seed, r.got, n)) {
		return r.fail(c, fmt.Errorf("decrypted part differs near byte %d", r.got))
	}
	r.got += n
	if r.got == r.total {
		r.done <- nil
	}
	return n
}

// sendSwitched queues pattern(seed)[0:boundary] in plaintext, then switches
// the send cipher and queues the rest, in random Write/WriteSpan chunks. The
// last write before and the first after the switch are small Writes, which
// must not share an encryption (the tail-append barrier).
func sendSwitched(c *Conn, pool *bufpool.Pool, seed uint64, key uint64, boundary, total int) {
	rng := rand.New(rand.NewPCG(seed, 99))
	send := func(from, to int) {
		for off := from; off < to; {
			n := min(1+rng.IntN(40000), to-off)
			if to-off <= 40 || off == from {
				n = min(n, 7)
			}
			if rng.IntN(2) == 0 {
				c.Write(patternBytes(seed, off, n))
			} else {
				s := pool.Get(n)
				fillPattern(s.Bytes(), seed, off)
				c.WriteSpan(s, s.Bytes())
			}
			off += n
		}
	}
	send(0, boundary)
	c.SetSendCipher(newXor(key))
	send(boundary, total)
}

// TestCryptoSendSwitchMidStream: bytes queued before SetSendCipher go out in
// plaintext and bytes after it encrypted, across partial writes (the
// receiver is paused until the whole stream is queued, so the queue backs up
// in the middle of entries). The receiver switches exactly at the boundary.
func TestCryptoSendSwitchMidStream(t *testing.T) {
	for _, tc := range []struct {
		name            string
		boundary, total int
	}{
		{"handshake-then-stream", 68, 4 << 20},
		{"large-plaintext-part", 3<<20 + 12345, 6 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := bufpool.New()
			pool.Poison = true
			snd := startLoop(t, Config{ID: 1, Pool: pool, HighWater: 64 << 20})
			rcv := startLoop(t, Config{ID: 2})
			r := &switchReceiver{seed: 41, key: 5, boundary: tc.boundary, total: tc.total,
				rng: rand.New(rand.NewPCG(1, 1)), done: make(chan error, 2)}
			var rc *Conn
			accepted := make(chan struct{})
			ln, err := rcv.Listen("tcp", "127.0.0.1:0", func(c *Conn) Handler {
				c.SetReadPaused(true)
				rc = c
				close(accepted)
				return r
			})
			if err != nil {
				t.Fatal(err)
			}
			queued := make(chan struct{})
			onLoop(t, snd, func() {
				_, err := snd.Dial(addrOf(t, ln), time.Second, &handler{open: func(c *Conn) {
					sendSwitched(c, pool, r.seed, r.key, tc.boundary, tc.total)
					c.Flush()
					close(queued)
				}})
				if err != nil {
					t.Error(err)
				}
			})
			<-accepted
			<-queued
			time.Sleep(20 * time.Millisecond) // let the kernel buffers fill
			onLoop(t, rcv, func() { rc.SetReadPaused(false) })
			select {
			case err := <-r.done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(60 * time.Second):
				t.Fatal("timeout")
			}
			t.Logf("bytes past the boundary in the switching OnData: %d", r.pastAtSwitch)
		})
	}
}

// TestCryptoRecvSwitchLeftover: a 68-byte plaintext handshake and 1000
// encrypted bytes arrive in one read. OnData switches the RecvCipher and
// consumes the handshake; the 1000 bytes already received are decrypted and
// presented at once, with nothing more arriving.
func TestCryptoRecvSwitchLeftover(t *testing.T) {
	const hs, rest = 68, 1000
	rcv := startLoop(t, Config{})
	r := &switchReceiver{seed: 43, key: 6, boundary: hs, total: hs + rest,
		rng: rand.New(rand.NewPCG(2, 2)), done: make(chan error, 2)}
	var rc *Conn
	accepted := make(chan struct{})
	ln, err := rcv.Listen("tcp", "127.0.0.1:0", func(c *Conn) Handler {
		c.SetReadPaused(true)
		rc = c
		close(accepted)
		return r
	})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	wire := append(patternBytes(r.seed, 0, hs), cipherText(newXor(r.key), r.seed, hs, 0, rest)...)
	if _, err := nc.Write(wire); err != nil {
		t.Fatal(err)
	}
	<-accepted
	time.Sleep(20 * time.Millisecond)
	var reads0 uint64
	onLoop(t, rcv, func() {
		reads0 = rcv.Stats().Reads
		rc.SetReadPaused(false)
	})
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("leftover ciphertext was not presented")
	}
	onLoop(t, rcv, func() {
		if r.pastAtSwitch != rest {
			t.Errorf("switching OnData saw %d bytes past the handshake, want all %d in one read", r.pastAtSwitch, rest)
		}
		if n := rcv.Stats().Reads - reads0; n > 2 {
			t.Logf("%d reads", n)
		}
	})
}

// TestCryptoSharedSpanCopied: on an encrypted conn a WriteSpan span that
// someone else holds is copied and the copy encrypted, leaving the holder's
// bytes plaintext (Stats.CryptoCopies counts it); a span the queue holds
// alone, and Write's own spans, are encrypted in place.
func TestCryptoSharedSpanCopied(t *testing.T) {
	pool := bufpool.New()
	pool.Poison = true
	snd := startLoop(t, Config{ID: 1, Pool: pool})
	rcv := startLoop(t, Config{ID: 2})
	const n = 3000
	const seed = 51
	done := make(chan error, 1)
	got := 0
	ln, err := rcv.Listen("tcp", "127.0.0.1:0", func(c *Conn) Handler {
		c.SetRecvCipher(newXor(8))
		return &handler{data: func(c *Conn, b []byte) int {
			if !bytes.Equal(b, patternBytes(seed, got, len(b))) {
				done <- errors.New("receiver got wrong plaintext")
			}
			got += len(b)
			if got == 3*n {
				done <- nil
			}
			return len(b)
		}}
	})
	if err != nil {
		t.Fatal(err)
	}
	opened := make(chan *Conn, 1)
	onLoop(t, snd, func() {
		if _, err := snd.Dial(addrOf(t, ln), time.Second, &handler{open: func(c *Conn) { opened <- c }}); err != nil {
			t.Error(err)
		}
	})
	c := <-opened
	onLoop(t, snd, func() {
		x := newXor(8)
		c.SetSendCipher(newXor(8))
		shared := pool.Get(n)
		fillPattern(shared.Bytes(), seed, 0)
		owned := pool.Get(n)
		fillPattern(owned.Bytes(), seed, n)
		c.WriteSpan(shared.Retain(), shared.Bytes())
		c.WriteSpan(owned, owned.Bytes())
		c.Write(patternBytes(seed, 2*n, n))
		copies0, gets0 := snd.Stats().CryptoCopies, pool.Gets()

		c.sealTx(len(c.txq)) // what flush does first; inspect before writev
		q := c.txq[c.txHead:]
		if len(q) != 3 {
			t.Fatalf("%d queue entries, want 3", len(q))
		}
		if q[0].span == shared {
			t.Error("shared span was not copied")
		}
		if !bytes.Equal(shared.Bytes(), patternBytes(seed, 0, n)) {
			t.Error("shared span was rewritten")
		}
		if q[1].span != owned {
			t.Error("exclusively held span was copied")
		}
		if d := snd.Stats().CryptoCopies - copies0; d != 1 {
			t.Errorf("CryptoCopies went up by %d, want 1", d)
		}
		if d := pool.Gets() - gets0; d != 1 {
			t.Errorf("%d spans taken from the pool, want 1 (the copy)", d)
		}
		for i, e := range q {
			if want := cipherText(x, seed, i*n, i*n, n); !bytes.Equal(e.b, want) {
				t.Errorf("entry %d not encrypted in place at the right stream position", i)
			}
		}
		shared.Release()
	})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("timeout")
	}
}

// packetCipher frames: 2-byte big-endian length, then that many bytes
// encrypted with an xorStream. It strips the header (consume) and asks for
// the whole packet before decrypting it (packetSize).
type packetCipher struct {
	x        *xorStream
	need     int // packetSize last returned
	short    int // calls with fewer bytes than asked for
	headers  int
	maxInput int
}

func (p *packetCipher) Decrypt(vecs [][]byte) (consume, produce, packetSize int) {
	if len(vecs) != 1 {
		panic("packetCipher: want one vector")
	}
	in := vecs[0]
	p.maxInput = max(p.maxInput, len(in))
	if len(in) < p.need || len(in) == 0 {
		p.short++
	}
	if len(in) < 2 {
		p.need = 2
		return 0, 0, 2
	}
	l := int(binary.BigEndian.Uint16(in))
	if len(in) < 2+l {
		p.need = 2 + l
		return 0, 0, 2 + l
	}
	p.x.apply(in[2 : 2+l])
	p.headers++
	p.need = 2
	return 2, l, 2
}

// TestCryptoRecvPacketCipher: a RecvCipher that strips a 2-byte header per
// packet (consume) and waits for whole packets (packetSize), with packets
// larger than the receive span, empty packets, headers split across reads,
// a handler that leaves tails unconsumed and holds receive spans.
func TestCryptoRecvPacketCipher(t *testing.T) {
	total := 4 << 20
	if raceEnabled {
		total = 1 << 20
	}
	const seed, key = 61, 9
	// The wire: packets of 0..65535 payload bytes.
	rng := rand.New(rand.NewPCG(3, 3))
	x := newXor(key)
	var wire []byte
	for off := 0; off < total; {
		l := 0
		switch rng.IntN(10) {
		case 0: // empty packet: header only
		case 1:
			l = 40000 + rng.IntN(25536) // larger than the 32 KiB receive span
		default:
			l = 1 + rng.IntN(3000)
		}
		l = min(l, total-off)
		wire = binary.BigEndian.AppendUint16(wire, uint16(l))
		wire = append(wire, cipherText(x, seed, off, off, l)...)
		off += l
	}
	rcv := startLoop(t, Config{ReadSize: 32 << 10})
	pc := &packetCipher{x: newXor(key)}
	done := make(chan error, 1)
	got := 0
	var held []*bufpool.Span
	hrng := rand.New(rand.NewPCG(4, 4))
	ln, err := rcv.Listen("tcp", "127.0.0.1:0", func(c *Conn) Handler {
		c.SetRecvCipher(pc)
		return &handler{
			data: func(c *Conn, b []byte) int {
				n := len(b)
				if hrng.IntN(3) == 0 && got+n < total {
					n -= hrng.IntN(min(n, 300) + 1)
				}
				if !bytes.Equal(b[:n], patternBytes(seed, got, n)) {
					done <- fmt.Errorf("plaintext differs near byte %d", got)
					c.Close(nil)
					return n
				}
				got += n
				if hrng.IntN(4) == 0 { // a holder: the loop must not write over presented bytes
					held = append(held, c.RxSpan().Retain())
					if len(held) > 4 {
						held[0].Release()
						held = append(held[:0], held[1:]...)
					}
				}
				if got == total {
					done <- nil
				}
				return n
			},
			close: func(*Conn, error) {
				for _, s := range held {
					s.Release()
				}
				held = nil
			},
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	go func() {
		w := rand.New(rand.NewPCG(5, 5))
		for off := 0; off < len(wire); {
			n := min(1+w.IntN(20000), len(wire)-off)
			if w.IntN(4) == 0 {
				n = min(1+w.IntN(3), len(wire)-off) // split headers
			}
			if _, err := nc.Write(wire[off : off+n]); err != nil {
				return
			}
			off += n
			if w.IntN(16) == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("timeout")
	}
	onLoop(t, rcv, func() {
		if pc.short != 0 {
			t.Errorf("Decrypt called %d times with fewer bytes than its packetSize", pc.short)
		}
		if pc.maxInput < 40000 {
			t.Errorf("largest Decrypt input %d: packets larger than the span never arrived whole", pc.maxInput)
		}
		t.Logf("%d packets, largest Decrypt input %d", pc.headers, pc.maxInput)
		for _, s := range held {
			s.Release()
		}
		held = nil
	})
}

// badCipher returns produce past its input.
type badCipher struct{}

func (badCipher) Decrypt(vecs [][]byte) (int, int, int) { return 0, len(vecs[0]) + 1, 0 }

// TestCryptoBadDecryptCloses: invalid counts from a RecvCipher close the conn
// with ErrBadDecrypt.
func TestCryptoBadDecryptCloses(t *testing.T) {
	rcv := startLoop(t, Config{})
	cl := newCloseLog()
	ln, err := rcv.Listen("tcp", "127.0.0.1:0", func(c *Conn) Handler {
		c.SetRecvCipher(badCipher{})
		return &handler{close: cl.onClose}
	})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte("x"))
	if err := cl.wait(t); !errors.Is(err, ErrBadDecrypt) {
		t.Fatalf("OnClose err = %v, want ErrBadDecrypt", err)
	}
}

// TestCryptoDetachAdopt moves a conn after its RecvCipher was installed:
// Detach refuses while the switch is pending, works from the next OnData
// (pending is plaintext), and the adopting loop installs the same cipher at
// once without decrypting the pending bytes twice.
func TestCryptoDetachAdopt(t *testing.T) {
	pool := bufpool.New()
	pool.Poison = true
	a := startLoop(t, Config{ID: 1, Pool: pool})
	b := startLoop(t, Config{ID: 2, Pool: pool})
	const hs, body = 20, 200 << 10
	const seed, key = 71, 10
	results := make(chan error, 4)
	type handoff struct {
		fd int
		p  []byte
		rc RecvCipher
	}
	adopt := func(arg any) {
		ho := arg.(*handoff)
		got := hs + 0
		h := &handler{data: func(c *Conn, d []byte) int {
			if !bytes.Equal(d, patternBytes(seed, got, len(d))) {
				results <- fmt.Errorf("mismatch after handoff near byte %d", got)
				c.Close(nil)
				return len(d)
			}
			got += len(d)
			if got == hs+body {
				results <- nil
			}
			return len(d)
		}}
		c, err := b.Adopt(ho.fd, ho.p, h)
		if err != nil {
			results <- err
			return
		}
		c.SetRecvCipher(ho.rc)
	}
	ln, err := a.Listen("tcp", "127.0.0.1:0", func(c *Conn) Handler {
		rc := newXor(key)
		switched := false
		return &handler{data: func(c *Conn, d []byte) int {
			if !switched {
				if len(d) < hs {
					return 0
				}
				c.SetRecvCipher(rc)
				switched = true
				if _, _, err := c.Detach(); !errors.Is(err, ErrCipherPending) {
					results <- fmt.Errorf("Detach during the switch: %v, want ErrCipherPending", err)
				}
				return hs
			}
			fd, p, err := c.Detach()
			if err != nil {
				results <- err
				return 0
			}
			b.Post(adopt, &handoff{fd, p, rc})
			return 0
		}}
	})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	wire := append(patternBytes(seed, 0, hs), cipherText(newXor(key), seed, hs, 0, body)...)
	if _, err := nc.Write(wire[:hs+1000]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if _, err := nc.Write(wire[hs+1000:]); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-results:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("timeout")
	}
}

// TestCryptoSteadyStateNoAllocs: piece traffic encrypted both ways (requests
// and pieces, shared and owned blocks) allocates nothing per block once warm.
func TestCryptoSteadyStateNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, owned := range []bool{false, true} {
		t.Run(fmt.Sprintf("owned=%v", owned), func(t *testing.T) {
			p := startPieceTraffic(t, 0, true, owned)
			defer p.stop(t)
			const blocks = 64
			var ms0, ms1 runtime.MemStats
			p.run(blocks * 4) // warm: pools, queues, scratch
			runtime.ReadMemStats(&ms0)
			const rounds = 50
			for range rounds {
				p.run(blocks)
			}
			runtime.ReadMemStats(&ms1)
			per := float64(ms1.Mallocs-ms0.Mallocs) / (rounds * blocks)
			t.Logf("%.4f allocations per block (%d in %d blocks)", per, ms1.Mallocs-ms0.Mallocs, rounds*blocks)
			if per > 0.02 {
				t.Errorf("%.4f allocations per block, want 0", per)
			}
			allocs := testing.AllocsPerRun(20, func() { p.run(blocks) })
			if allocs > 0 {
				t.Errorf("AllocsPerRun: %v allocations per %d blocks", allocs, blocks)
			}
		})
	}
}

// TestCryptoSendBarrier drives the send queue without a socket: plaintext
// before the first SetSendCipher, two ciphers and back to plaintext, partial
// writes (consumeTx) between seals, a Write appended to a partly sealed tail
// entry, and a seal of only a prefix of the queue. The bytes left in the
// queue must be exactly the wire image, each byte encrypted once, by the
// cipher in force when it was queued, at its stream position.
func TestCryptoSendBarrier(t *testing.T) {
	pool := bufpool.New()
	pool.Poison = true
	l, err := New(Config{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c := l.newConn(-1, connDialing, &handler{}) // queues, never flushes
	const seed = 81
	x1, x2 := newXor(1), newXor(2)
	var wire []byte // expected bytes on the wire, in order
	k1, k2 := 0, 0  // keystream positions
	off := 0
	write := func(n int, span bool, ciph int) {
		if span {
			s := pool.Get(n)
			fillPattern(s.Bytes(), seed, off)
			c.WriteSpan(s, s.Bytes())
		} else {
			c.Write(patternBytes(seed, off, n))
		}
		b := patternBytes(seed, off, n)
		for i := range b {
			switch ciph {
			case 1:
				b[i] ^= x1.keyAt(k1)
				k1++
			case 2:
				b[i] ^= x2.keyAt(k2)
				k2++
			}
		}
		wire = append(wire, b...)
		off += n
	}
	written := 0
	consume := func(n int) { c.consumeTx(n); written += n }
	check := func(step string) {
		t.Helper()
		var q []byte
		for _, e := range c.txq[c.txHead:] {
			q = append(q, e.b[:e.sealed]...)
			if e.ciph == nil {
				q = append(q, e.b[e.sealed:]...)
			} else if e.sealed < len(e.b) {
				break // unsealed bytes of a cipher entry are not wire bytes yet
			}
		}
		if !bytes.Equal(q, wire[written:written+len(q)]) {
			t.Fatalf("%s: queue differs from the wire image", step)
		}
	}

	s1 := newXor(1)
	write(5, false, 0)
	c.SetSendCipher(s1)
	write(5, false, 1) // must not be appended to the plaintext entry
	write(3000, true, 1)
	c.sealTx(len(c.txq))
	check("first seal")
	consume(7) // partial write: the plaintext entry and 2 bytes of the next
	check("after a partial write")
	write(10, false, 1)
	c.sealTx(len(c.txq))
	consume(3000)
	write(20, false, 1) // appended to the partly written, sealed tail entry
	if e := c.txq[len(c.txq)-1]; e.sealed == 0 || e.sealed == len(e.b) {
		t.Fatalf("tail entry sealed %d of %d: the append did not land in it", e.sealed, len(e.b))
	}
	c.SetSendCipher(newXor(2))
	write(100, true, 2)
	write(7, false, 2)
	c.SetSendCipher(nil)
	write(9, false, 0)
	c.SetSendCipher(s1) // back to the first cipher: its stream goes on in queue order
	write(50, false, 1)
	c.sealTx(c.txHead + 2) // only a prefix
	check("prefix seal")
	c.sealTx(len(c.txq))
	check("full seal")
	if c.txPlain != 0 {
		t.Fatalf("txPlain = %d after sealing everything", c.txPlain)
	}
	consume(c.txBytes)
	if len(wire) != written {
		t.Fatalf("wrote %d of %d bytes", written, len(wire))
	}
	c.releaseTx()
	if n := pool.Outstanding(); n != 0 {
		t.Fatalf("%d spans outstanding", n)
	}
}

// TestCryptoRecvSwitchToNil: switching to nil inside OnData presents the
// bytes the old cipher had not processed (here a packet it was still waiting
// for) exactly as received.
func TestCryptoRecvSwitchToNil(t *testing.T) {
	rcv := startLoop(t, Config{})
	x := newXor(3)
	wire := binary.BigEndian.AppendUint16(nil, 4)
	wire = append(wire, cipherText(x, 91, 0, 0, 4)...)
	wire = append(wire, 0, 200, 'r', 'a', 'w') // an incomplete packet: stays raw
	got := make(chan []byte, 2)
	ln, err := rcv.Listen("tcp", "127.0.0.1:0", func(c *Conn) Handler {
		c.SetRecvCipher(&packetCipher{x: newXor(3)})
		return &handler{data: func(c *Conn, d []byte) int {
			got <- append([]byte(nil), d...)
			c.SetRecvCipher(nil)
			return len(d)
		}}
	})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write(wire); err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]byte{patternBytes(91, 0, 4), {0, 200, 'r', 'a', 'w'}} {
		select {
		case d := <-got:
			if !bytes.Equal(d, want) {
				t.Fatalf("OnData %d got %q, want %q", i, d, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("OnData %d missing", i)
		}
	}
}
