package shard

// The harness drives a real Shard on a real loop.Loop and storage.Disk, but
// its peers talk to fakeConn instead of sockets: the test feeds them bytes
// built with package wire and decodes what they wrote. Every step runs on the
// loop goroutine (onLoop), as the shard requires, and the clock is fake.

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/loop"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/storage"
	"github.com/shardtorrent/shardtorrent/wire"
	"golang.org/x/sys/unix"
)

// waitTimeout bounds every wait for a disk completion.
const waitTimeout = 5 * time.Second

// loopFatal is panicked by fatalf on the loop and turned into t.Fatal by
// onLoop: t.Fatal itself must not run on the loop goroutine, whose Goexit
// would stop the loop.
type loopFatal string

// fatalf stops the test from code running on the loop.
func fatalf(format string, args ...any) { panic(loopFatal(fmt.Sprintf(format, args...))) }

// onLoop runs fn on l's goroutine and waits for it to return.
func onLoop(t testing.TB, l *loop.Loop, fn func()) {
	t.Helper()
	done := make(chan any, 1)
	l.Post(func(any) {
		defer func() { done <- recover() }()
		fn()
	}, nil)
	select {
	case r := <-done:
		if f, ok := r.(loopFatal); ok {
			t.Fatal(string(f))
		}
		if r != nil {
			panic(r)
		}
	case <-time.After(waitTimeout):
		t.Fatal("onLoop: the loop did not run the task")
	}
}

// alertRec records every alert; it wants every category.
type alertRec struct {
	mu  sync.Mutex
	all []plugin.Alert
}

func (r *alertRec) Post(a plugin.Alert) {
	r.mu.Lock()
	r.all = append(r.all, a)
	r.mu.Unlock()
}

func (r *alertRec) Wants(plugin.Category) bool { return true }

func (r *alertRec) snapshot() []plugin.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]plugin.Alert(nil), r.all...)
}

// alertsOf returns the recorded alerts of type T.
func alertsOf[T plugin.Alert](r *alertRec) []T {
	var out []T
	for _, a := range r.snapshot() {
		if x, ok := a.(T); ok {
			out = append(out, x)
		}
	}
	return out
}

// fakeConn is the conn a peer writes to in tests. Loop only.
type fakeConn struct {
	pool       *bufpool.Pool
	out        []byte // everything written and not yet taken
	writable   bool
	readPaused bool          // SetReadPaused
	rx         *bufpool.Span // the span whose bytes are being fed
	discard    bool          // drop written bytes (allocation tests)
	written    int           // bytes written in total
	files      int           // WriteFile calls (blocks sent zero-copy)
	noFile     bool          // CanWriteFile is false, as for an encrypted conn
	beforeFile func()        // runs in WriteFile before the range is read (a file truncated meanwhile)

	closed    bool
	closeErr  error
	delivered bool // closedWith ran

	hsTaken bool
	hs      *wire.Handshake
	dec     wire.Decoder
}

func (c *fakeConn) Write(b []byte) {
	c.written += len(b)
	if !c.discard {
		c.out = append(c.out, b...)
	}
}

// WriteSpan takes ownership of s, as loop.Conn does; the fake copies and releases it.
func (c *fakeConn) WriteSpan(s *bufpool.Span, b []byte) {
	c.written += len(b)
	if !c.discard {
		c.out = append(c.out, b...)
	}
	s.Release()
}

// WriteFile reads the range at once, as the loop's sendfile would when it
// reaches it, and releases ref, as loop.Conn does once the range is written.
func (c *fakeConn) WriteFile(fd int, off int64, n int, ref loop.FileRef) bool {
	if !c.CanWriteFile() {
		return false
	}
	c.written += n
	c.files++
	if c.beforeFile != nil {
		c.beforeFile()
	}
	if !c.discard {
		k := len(c.out)
		c.out = append(c.out, make([]byte, n)...)
		m, err := unix.Pread(fd, c.out[k:], off)
		if err != nil {
			fatalf("fakeConn.WriteFile: pread: %v", err)
		}
		if m < n {
			// The file ended before the range: the loop's sendfile
			// closes the conn so (loop/sendfile.go), the ref released.
			c.out = c.out[:k]
			ref.Release()
			c.Close(&loop.FileShortError{Ref: ref})
			return true
		}
	}
	ref.Release()
	return true
}

func (c *fakeConn) CanWriteFile() bool    { return !c.closed && !c.noFile }
func (c *fakeConn) Writable() bool        { return c.writable }
func (c *fakeConn) RxSpan() *bufpool.Span { return c.rx }
func (c *fakeConn) Reserve(int)           {}
func (c *fakeConn) SetReadPaused(p bool)  { c.readPaused = p }

func (c *fakeConn) Close(err error) {
	if c.closed {
		return
	}
	c.closed = true
	c.closeErr = err
}

// take decodes and returns the messages written since the last take. The
// first 68 bytes a peer writes are its handshake, kept in c.hs.
func (c *fakeConn) take() []wire.Message {
	if !c.hsTaken {
		if len(c.out) < wire.HandshakeLen {
			return nil
		}
		hs, err := wire.ParseHandshake(c.out[:wire.HandshakeLen])
		if err != nil {
			fatalf("our handshake: %v", err)
		}
		c.hs, c.hsTaken = &hs, true
		c.out = c.out[wire.HandshakeLen:]
	}
	c.dec.MaxLen = 1 << 24
	var msgs []wire.Message
	n := 0
	for {
		m, k, err := c.dec.Next(c.out[n:])
		if err != nil {
			fatalf("decoding what we sent: %v", err)
		}
		if k == 0 {
			break
		}
		m.Payload = bytes.Clone(m.Payload)
		msgs = append(msgs, m)
		n += k
	}
	c.out = append(c.out[:0], c.out[n:]...)
	return msgs
}

// closeReason returns the DisconnectReason c was closed with, or 0.
func (c *fakeConn) closeReason() DisconnectReason {
	var de *DisconnectError
	if c.closed && errors.As(c.closeErr, &de) {
		return de.Reason
	}
	return 0
}

// tpeer is a peer with its fake connection.
type tpeer struct {
	*peer
	fc *fakeConn
}

// fakeClock is the shard's clock; read and moved on the loop only.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

// harness is one shard with a fake clock, a recording alert sink and a
// poisoning pool that every test checks for leaks at cleanup.
type harness struct {
	t      testing.TB
	l      *loop.Loop
	pool   *bufpool.Pool
	disk   *storage.Disk
	s      *Shard
	alerts *alertRec
	clock  *fakeClock
	peers  []*tpeer
	dials  []*tpeer // outgoing attempts (fakeDial), oldest first
	// dialErr, if set, fails every dial at once.
	dialErr error
	nextIP  uint32
	done    bool
}

var (
	selfID   = [20]byte{'-', 'S', 'T', '0', '0', '0', '1', '-', 's', 'e', 'l', 'f'}
	remoteID = [20]byte{'-', 'L', 'T', '2', '0', '8', '0', '-'}
)

func newHarness(t testing.TB, set Settings) *harness {
	t.Helper()
	if set.OutEncPolicy == EncEnabled {
		// The protocol tests speak plaintext; encryption_test.go sets
		// the policy it tests on h.s.set after construction.
		set.OutEncPolicy = EncDisabled
	}
	pool := bufpool.New()
	pool.Poison = true
	l, err := loop.New(loop.Config{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	go l.Run()
	h := &harness{
		t:      t,
		l:      l,
		pool:   pool,
		disk:   storage.NewDisk(2, pool),
		alerts: &alertRec{},
		clock:  &fakeClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)},
		nextIP: 1,
	}
	h.s = New(Config{
		Loop: l, Disk: h.disk, Pool: pool, Alerts: h.alerts, PeerID: selfID,
		Settings: set, Seed: 1, Clock: h.clock.Now,
	})
	// New schedules a wall-clock tick; the tests call onTick themselves
	// with the fake clock, so stop it (New's post runs before ours).
	// Dials never leave the process: see fakeDial (peerlist_test.go).
	h.do(func() { h.s.tick.Stop(); h.s.dial = h.fakeDial })
	t.Cleanup(h.close)
	return h
}

// do runs fn on the loop, then delivers the OnClose of every connection fn
// closed, as the real loop does after the callback that closed it.
func (h *harness) do(fn func()) {
	h.t.Helper()
	onLoop(h.t, h.l, func() {
		fn()
		h.deliverCloses()
	})
}

func (h *harness) deliverCloses() {
	for _, tp := range h.peers {
		if tp.fc.closed && !tp.fc.delivered {
			tp.fc.delivered = true
			tp.closedWith(tp.fc.closeErr)
		}
	}
}

// close shuts everything down in the session's order and checks that every
// span went back to the pool.
func (h *harness) close() {
	if h.done {
		return
	}
	h.done = true
	h.do(func() { h.s.Close() })
	h.disk.Close()
	h.do(func() {}) // run the completions the disk posted while closing
	h.l.Close()
	if n := h.pool.Outstanding(); n != 0 {
		h.t.Errorf("after Close, %d spans are still outstanding", n)
	}
}

// tick advances the fake clock by d and runs the shard's housekeeping once.
func (h *harness) tick(d time.Duration) {
	h.t.Helper()
	h.do(func() {
		h.clock.now = h.clock.now.Add(d)
		h.s.onTick()
	})
}

// waitFor polls cond on the loop until it holds.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ok := false
		h.do(func() { ok = cond() })
		if ok {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// testData returns n deterministic pseudo-random bytes.
func testData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// tfile is a torrent over one generated file.
type tfile struct {
	mi   *metainfo.MetaInfo
	data []byte
	src  string // the directory holding the complete file
}

// makeTorrent writes size bytes to a new file and creates a torrent of it.
func makeTorrent(t testing.TB, size int, pieceLen int64) *tfile {
	t.Helper()
	dir := t.TempDir()
	data := testData(size, uint64(size))
	path := filepath.Join(dir, "payload.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, mi, err := metainfo.Create(path, metainfo.CreateOptions{PieceLength: pieceLen})
	if err != nil {
		t.Fatal(err)
	}
	return &tfile{mi: mi, data: data, src: dir}
}

// block returns the bytes of (piece, begin, length).
func (f *tfile) block(piece, begin, length uint32) []byte {
	off := int64(piece)*f.mi.Info.PieceLength + int64(begin)
	return f.data[off : off+int64(length)]
}

// add adds f with data in dir and waits until its check is done.
func (h *harness) add(f *tfile, dir string) *Torrent {
	h.t.Helper()
	var tor *Torrent
	h.do(func() {
		var err error
		tor, err = h.s.AddTorrent(AddParams{Info: &f.mi.Info, InfoHash: f.mi.InfoHash, SavePath: dir})
		if err != nil {
			fatalf("AddTorrent: %v", err)
		}
	})
	h.waitFor("the check", func() bool { return !tor.checking })
	return tor
}

// seed adds f over its complete data; leech adds it over an empty directory.
func (h *harness) seed(f *tfile) *Torrent { return h.add(f, f.src) }

func (h *harness) leech(f *tfile) *Torrent { return h.add(f, h.t.TempDir()) }

// connect makes a connection to tor (counted against the session limit, as
// AdoptIncoming and connectMore do) and opens it. Loop only.
func (h *harness) connect(tor *Torrent, outgoing bool) *tpeer {
	if !h.s.reserveConn() {
		fatalf("connection limit")
	}
	h.nextIP++
	addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(h.nextIP >> 8), byte(h.nextIP)}), 6881)
	fc := &fakeConn{pool: h.pool, writable: true}
	tp := &tpeer{peer: tor.newPeer(addr, outgoing), fc: fc}
	h.peers = append(h.peers, tp)
	tp.open(fc)
	return tp
}

// feed hands b to the peer as the loop would: in a receive span, which the
// peer may retain views of. It returns what data consumed. Loop only.
func (h *harness) feed(tp *tpeer, b []byte) int {
	sp := h.pool.Get(len(b))
	copy(sp.Bytes(), b)
	tp.fc.rx = sp
	n := tp.data(sp.Bytes()[:len(b)])
	tp.fc.rx = nil
	sp.Release()
	return n
}

// handshake returns the 68 bytes of a remote peer's handshake for tor.
func handshake(tor *Torrent, id [20]byte, fast, extended bool) []byte {
	hs := wire.Handshake{InfoHash: tor.wireIH, PeerID: id}
	if fast {
		hs.Reserved.SetFast()
	}
	if extended {
		hs.Reserved.SetExtended()
	}
	return wire.AppendHandshake(nil, &hs)
}

// peerID returns a distinct remote peer id.
func peerID(i int) [20]byte {
	id := remoteID
	id[8], id[9] = byte(i>>8), byte(i)
	return id
}

// handshaken connects a peer that completes a fast, extended handshake, and
// drops what we sent so far. Loop only.
func (h *harness) handshaken(tor *Torrent, i int, extra ...[]byte) *tpeer {
	tp := h.connect(tor, false)
	b := handshake(tor, peerID(i), true, true)
	for _, e := range extra {
		b = append(b, e...)
	}
	if n := h.feed(tp, b); n != len(b) {
		fatalf("data consumed %d of %d bytes", n, len(b))
	}
	if !tp.active() {
		fatalf("peer %d is not active after its handshake", i)
	}
	tp.fc.take()
	return tp
}

// ids lists the ids of msgs.
func ids(msgs []wire.Message) []wire.MessageID {
	out := make([]wire.MessageID, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}

// only returns the messages of msgs with id.
func only(msgs []wire.Message, id wire.MessageID) []wire.Message {
	var out []wire.Message
	for _, m := range msgs {
		if !m.KeepAlive && m.ID == id {
			out = append(out, m)
		}
	}
	return out
}

func simple(id wire.MessageID) []byte { return wire.AppendSimple(nil, id) }

func join(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
