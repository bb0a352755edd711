package loadgen

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/shardtorrent/shardtorrent/wire"
)

// Connection states, as stored in conn.state.
const (
	stateIdle int32 = iota
	stateDialing
	stateConnected
	stateFailed  // ended with an error
	stateStopped // ended because the run stopped
)

// errWrongTorrent: the seeder answered for another info-hash.
var errWrongTorrent = errors.New("loadgen: handshake for another info-hash")

// errUnrequested: a block arrived that this connection never asked for.
var errUnrequested = errors.New("loadgen: block that was not requested")

// outReq is one outstanding request. dead marks a slot answered out of
// order; the ring's head skips it.
type outReq struct {
	piece, begin, length uint32
	sent                 time.Duration // since gen.start
	dead                 bool
}

// pieceSlot assembles one piece for verification. Its buffer is allocated
// the first time the slot is used and reused for later pieces.
type pieceSlot struct {
	used    bool
	piece   int
	size    int64
	got     int64
	pending int  // requests sent and not yet answered
	all     bool // every block of the piece has been requested
	bad     bool // a block was rejected: the piece cannot be checked
	buf     []byte
}

// conn is one leecher connection. Everything but the atomics is owned by
// its goroutine (run); Run reads the rest (lat, allowedFast) only
// after that goroutine has returned.
type conn struct {
	g              *gen
	id, ti         int
	t              *Torrent
	idxOnTorrent   int
	peersOnTorrent int

	// Read by the progress reporter.
	state      atomic.Int32
	handshaked atomic.Bool
	unchoked   atomic.Bool
	readyOnce  atomic.Bool
	bytes      atomic.Int64
	blocks     atomic.Int64
	rejects    atomic.Int64
	chokes     atomic.Int64
	hashFails  atomic.Int64
	verified   atomic.Int64
	unchokes   atomic.Int64 // unchoke messages received

	allowedFast int64
	lat         histogram

	nc    net.Conn
	rbuf  []byte
	r, w  int
	wbuf  []byte
	dec   wire.Decoder
	ring  []outReq
	head  int
	count int // entries in the ring, dead ones included
	live  int // outstanding requests

	numPieces   int
	cur         int // piece being requested, -1 for none
	curBegin    int64
	curSize     int64
	seqNext     int
	rng         uint64
	requested   int64
	peerChoking bool
	slots       []pieceSlot

	// The gnet transport only (loop-owned once enrolled): the RC4 state
	// after MSE, and the error that made the handler close the conn.
	cipherState
	endErr error
}

func newConn(g *gen, id, ti, idxOnTorrent int) *conn {
	t := &g.cfg.Torrents[ti]
	c := &conn{g: g, id: id, ti: ti, t: t, idxOnTorrent: idxOnTorrent, numPieces: t.numPieces(),
		cur: -1, peerChoking: true, rng: uint64(id)*0x9E3779B97F4A7C15 + 0x2545F4914F6CDD1D}
	return c
}

// fail ends the connection with err, or nil when the run stopped it. Safe
// from any goroutine, but only before the connection's goroutine starts or
// from that goroutine.
func (c *conn) fail(err error) {
	c.unchoked.Store(false)
	if err != nil {
		c.state.Store(stateFailed)
		c.g.noteErr(err)
	} else {
		c.state.Store(stateStopped)
	}
	c.ready()
}

// ready counts the connection ready once.
func (c *conn) ready() {
	if c.readyOnce.CompareAndSwap(false, true) {
		c.g.markReady()
	}
}

// run dials, handshakes and then reads until the run ends. sem holds a
// token for the dial; it is released once the handshake is done.
func (c *conn) run(ctx context.Context, sem chan struct{}) {
	nc, stop, ok := c.connect(ctx, sem)
	if !ok {
		return
	}
	defer nc.Close()
	defer stop()
	c.fail(c.stopErr(ctx, c.loop()))
}

// connect dials and handshakes on the calling goroutine, for both
// transports. sem holds a token for the dial; it is released once the
// handshake is done or has failed. On failure the conn has failed and ok
// is false. On success the conn is handshaked (and ready, without a block
// quota), nc is the TCP socket (c.nc may wrap it, for RC4), and stop
// undoes the close that the run's end would otherwise do to it: it reports
// false when the run has already stopped and closed the socket.
func (c *conn) connect(ctx context.Context, sem chan struct{}) (nc net.Conn, stop func() bool, ok bool) {
	cfg := &c.g.cfg
	c.state.Store(stateDialing)
	dctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	nc, err := c.g.dial(dctx)
	cancel()
	if err != nil {
		<-sem
		c.fail(c.stopErr(ctx, err))
		return nil, nil, false
	}
	c.nc = nc
	stop = context.AfterFunc(ctx, func() { _ = nc.Close() })
	c.rbuf = make([]byte, cfg.ReadBuffer)
	c.wbuf = make([]byte, 0, 17*cfg.Pipeline+wire.HandshakeLen+64)
	c.ring = make([]outReq, 2*cfg.Pipeline)
	if err := c.handshake(); err != nil {
		<-sem
		stop()
		_ = nc.Close()
		c.fail(c.stopErr(ctx, err))
		return nil, nil, false
	}
	<-sem
	c.handshaked.Store(true)
	c.state.Store(stateConnected)
	if cfg.BlocksPerConn <= 0 {
		c.ready()
	}
	return nc, stop, true
}

// stopErr turns the error a stopped run causes into nil.
func (c *conn) stopErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("conn %d: %w", c.id, err)
}

// handshake sends ours with have none and interested, and reads the
// seeder's. Bytes after its handshake stay in rbuf for loop.
func (c *conn) handshake() error {
	cfg := &c.g.cfg
	_ = c.nc.SetDeadline(time.Now().Add(cfg.DialTimeout))
	if cfg.Encrypt {
		nc, err := encrypt(c.nc, c.t.InfoHash)
		if err != nil {
			return err
		}
		c.nc = nc
	}
	var res wire.Reserved
	res.SetFast()
	hs := wire.Handshake{Reserved: res, InfoHash: c.t.InfoHash, PeerID: c.g.peerID}
	hs.PeerID[19] = byte(c.id)
	hs.PeerID[18] = byte(c.id >> 8)
	b := wire.AppendHandshake(c.wbuf[:0], &hs)
	b = wire.AppendSimple(b, wire.HaveNone)
	b = wire.AppendSimple(b, wire.Interested)
	if _, err := c.nc.Write(b); err != nil {
		return err
	}
	for c.w < wire.HandshakeLen {
		n, err := c.nc.Read(c.rbuf[c.w:])
		c.w += n
		if err != nil {
			return err
		}
	}
	got, err := wire.ParseHandshake(c.rbuf[:c.w])
	if err != nil {
		return err
	}
	if got.InfoHash != c.t.InfoHash {
		return errWrongTorrent
	}
	c.r = wire.HandshakeLen
	_ = c.nc.SetDeadline(time.Time{})
	return nil
}

// loop parses what is buffered, tops up the pipeline, writes, and reads:
// the goroutine transport's read loop.
func (c *conn) loop() error {
	for {
		if err := c.step(); err != nil {
			return err
		}
		if len(c.wbuf) > 0 {
			if _, err := c.nc.Write(c.wbuf); err != nil {
				return err
			}
			c.wbuf = c.wbuf[:0]
		}
		n, err := c.nc.Read(c.rbuf[c.w:])
		c.w += n
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
}

// step handles every whole frame in rbuf[r:w], makes room in rbuf for the
// rest of the next frame (so rbuf[w:] is never empty afterwards), and tops
// the pipeline up, appending the requests to wbuf. Both transports call it
// after reading into rbuf; it does no I/O.
func (c *conn) step() error {
	n, err := c.parse(c.rbuf[c.r:c.w], time.Since(c.g.start))
	c.r += n
	if err != nil {
		return err
	}
	if c.r == c.w {
		c.r, c.w = 0, 0
	} else {
		c.room(max(c.dec.Need(), wire.PieceHeaderLen+c.g.cfg.BlockSize))
	}
	c.refill()
	return nil
}

// parse handles the whole frames at the front of b, received at now, and
// returns how many bytes they took. c.dec.Need() then tells what the
// partial frame after them needs.
func (c *conn) parse(b []byte, now time.Duration) (int, error) {
	off := 0
	for {
		m, n, err := c.dec.Next(b[off:])
		if err != nil || n == 0 {
			return off, err
		}
		if err := c.handle(&m, now); err != nil {
			return off, err
		}
		off += n
	}
}

// room makes rbuf hold need bytes from r: it moves the partial frame at
// rbuf[r:w] to the front, or, for a frame larger than rbuf (a big
// bitfield), grows rbuf once.
func (c *conn) room(need int) {
	if c.r+need <= len(c.rbuf) {
		return
	}
	if need > len(c.rbuf) {
		nb := make([]byte, need)
		c.w = copy(nb, c.rbuf[c.r:c.w])
		c.rbuf, c.r = nb, 0
		return
	}
	c.w = copy(c.rbuf, c.rbuf[c.r:c.w])
	c.r = 0
}

// refill tops the pipeline up and counts the connection ready once its
// BlocksPerConn are all answered.
func (c *conn) refill() {
	c.fill()
	if c.g.cfg.BlocksPerConn > 0 && c.requested >= c.g.cfg.BlocksPerConn && c.live == 0 {
		c.ready()
	}
}

// handle applies one message received at now.
func (c *conn) handle(m *wire.Message, now time.Duration) error {
	if m.KeepAlive {
		return nil
	}
	switch m.ID {
	case wire.Unchoke:
		c.peerChoking = false
		c.unchoked.Store(true)
		c.unchokes.Add(1)
	case wire.Choke:
		// With the fast extension the seeder rejects what it drops, so the
		// outstanding requests are settled by its rejects.
		c.peerChoking = true
		c.unchoked.Store(false)
		c.chokes.Add(1)
	case wire.Piece:
		i, ok := c.take(m.Index, m.Begin, uint32(len(m.Payload)))
		if !ok {
			return errUnrequested
		}
		if c.g.inWindow(now) {
			c.lat.record(int64(now - c.ring[i].sent))
		}
		c.bytes.Add(int64(len(m.Payload)))
		c.blocks.Add(1)
		if c.g.cfg.Verify {
			c.received(int(m.Index), int64(m.Begin), m.Payload, false)
		}
	case wire.Reject:
		if _, ok := c.take(m.Index, m.Begin, m.Length); ok {
			c.rejects.Add(1)
			if c.g.cfg.Verify {
				c.received(int(m.Index), int64(m.Begin), nil, true)
			}
		}
	case wire.AllowedFast:
		c.allowedFast++
	}
	// Have all, bitfield, have, suggest, extended: the seeder has
	// everything; nothing to do.
	return nil
}

// take finds and removes the outstanding request matching a block and
// returns its ring index (valid until the next push).
func (c *conn) take(piece, begin, length uint32) (int, bool) {
	n := len(c.ring)
	for k := 0; k < c.count; k++ {
		i := (c.head + k) % n
		r := &c.ring[i]
		if r.dead || r.piece != piece || r.begin != begin || r.length != length {
			continue
		}
		r.dead = true
		c.live--
		for c.count > 0 && c.ring[c.head].dead {
			c.head = (c.head + 1) % n
			c.count--
		}
		return i, true
	}
	return 0, false
}

// fill tops the pipeline up to Config.Pipeline requests.
func (c *conn) fill() {
	cfg := &c.g.cfg
	if c.peerChoking {
		return
	}
	var now time.Duration
	for c.live < cfg.Pipeline && c.count < len(c.ring) {
		if cfg.BlocksPerConn > 0 && c.requested >= cfg.BlocksPerConn {
			return
		}
		if c.cur < 0 {
			c.pick()
		}
		length := min(int64(cfg.BlockSize), c.curSize-c.curBegin)
		if now == 0 {
			now = time.Since(c.g.start)
		}
		i := (c.head + c.count) % len(c.ring)
		c.ring[i] = outReq{piece: uint32(c.cur), begin: uint32(c.curBegin), length: uint32(length), sent: now}
		c.count++
		c.live++
		c.requested++
		c.wbuf = wire.AppendRequest(c.wbuf, uint32(c.cur), uint32(c.curBegin), uint32(length))
		if cfg.Verify {
			s := c.slotFor(c.cur)
			s.pending++
		}
		c.curBegin += length
		if c.curBegin >= c.curSize {
			if cfg.Verify {
				s := c.slotFor(c.cur)
				s.all = true
			}
			c.cur = -1
		}
	}
}

// next returns the connection's next pseudo-random number (xorshift64*).
func (c *conn) next() uint64 {
	c.rng ^= c.rng >> 12
	c.rng ^= c.rng << 25
	c.rng ^= c.rng >> 27
	return c.rng * 2685821657736338717
}

// pick chooses the next piece to request.
func (c *conn) pick() {
	n := c.numPieces
	var p int
	switch c.g.cfg.Order {
	case Sequential:
		start := c.idxOnTorrent * n / max(c.peersOnTorrent, 1)
		p = (start + c.seqNext) % n
		c.seqNext++
	case Spread:
		p = int((c.g.spread[c.ti].Add(1) - 1) % uint64(n))
	default:
		p = int(c.next() % uint64(n))
	}
	if c.g.cfg.Verify {
		// One assembly per piece at a time: step past pieces in flight.
		for k := 0; k < n && c.findSlot(p) != nil; k++ {
			p = (p + 1) % n
		}
		s := c.newSlot()
		*s = pieceSlot{used: true, piece: p, size: c.t.pieceSize(p), buf: s.buf}
		if int64(cap(s.buf)) < s.size {
			s.buf = make([]byte, c.t.PieceLength)
		}
	}
	c.cur, c.curBegin, c.curSize = p, 0, c.t.pieceSize(p)
}

func (c *conn) findSlot(p int) *pieceSlot {
	for i := range c.slots {
		if c.slots[i].used && c.slots[i].piece == p {
			return &c.slots[i]
		}
	}
	return nil
}

func (c *conn) slotFor(p int) *pieceSlot { return c.findSlot(p) }

func (c *conn) newSlot() *pieceSlot {
	for i := range c.slots {
		if !c.slots[i].used {
			return &c.slots[i]
		}
	}
	c.slots = append(c.slots, pieceSlot{})
	return &c.slots[len(c.slots)-1]
}

// received records a block (or, rejected, its loss) for verification and
// checks the piece once every requested block is settled.
func (c *conn) received(piece int, begin int64, block []byte, rejected bool) {
	s := c.findSlot(piece)
	if s == nil {
		return
	}
	s.pending--
	if rejected {
		s.bad = true
	} else if begin+int64(len(block)) <= s.size {
		copy(s.buf[begin:], block)
		s.got += int64(len(block))
	}
	if !s.all || s.pending > 0 {
		return
	}
	if !s.bad && s.got == s.size {
		if sha1.Sum(s.buf[:s.size]) == c.t.Pieces[piece] {
			c.verified.Add(1)
		} else {
			c.hashFails.Add(1)
		}
	}
	s.used = false
}
