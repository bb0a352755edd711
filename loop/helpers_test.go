package loop

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
)

// startLoop runs a loop with a private poisoned pool and closes it at the end
// of the test, checking that Run returned nil and every span came back.
func startLoop(t testing.TB, cfg Config) *Loop {
	t.Helper()
	if cfg.Pool == nil {
		cfg.Pool = bufpool.New()
		cfg.Pool.Poison = true
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- l.Run() }()
	onLoop(t, l, func() {}) // Run has started
	t.Cleanup(func() {
		l.Close()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
		if n := l.Pool().Outstanding(); n != 0 {
			t.Errorf("loop %d: %d spans outstanding after Close", l.ID(), n)
		}
	})
	return l
}

// onLoop runs fn on l and waits for it.
func onLoop(t testing.TB, l *Loop, fn func()) {
	t.Helper()
	done := make(chan struct{})
	if !l.TryPost(func(any) { fn(); close(done) }, nil) {
		t.Fatal("loop closed")
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("loop task timed out")
	}
}

// handler is a Handler built from optional funcs.
type handler struct {
	open     func(c *Conn)
	data     func(c *Conn, b []byte) int
	writable func(c *Conn)
	close    func(c *Conn, err error)
}

func (h *handler) OnOpen(c *Conn) {
	if h.open != nil {
		h.open(c)
	}
}

func (h *handler) OnData(c *Conn, b []byte) int {
	if h.data != nil {
		return h.data(c, b)
	}
	return len(b)
}

func (h *handler) OnWritable(c *Conn) {
	if h.writable != nil {
		h.writable(c)
	}
}

func (h *handler) OnClose(c *Conn, err error) {
	if h.close != nil {
		h.close(c, err)
	}
}

// closeLog records OnClose calls per conn, to check "exactly once".
type closeLog struct {
	mu   sync.Mutex
	errs map[*Conn][]error
	ch   chan error
}

func newCloseLog() *closeLog {
	return &closeLog{errs: map[*Conn][]error{}, ch: make(chan error, 1024)}
}

func (cl *closeLog) onClose(c *Conn, err error) {
	if !c.Loop().InLoop() {
		panic("OnClose off the loop")
	}
	cl.mu.Lock()
	cl.errs[c] = append(cl.errs[c], err)
	cl.mu.Unlock()
	cl.ch <- err
}

func (cl *closeLog) wait(t testing.TB) error {
	t.Helper()
	select {
	case err := <-cl.ch:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("no OnClose")
		return nil
	}
}

func (cl *closeLog) checkOnce(t testing.TB) {
	t.Helper()
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for c, errs := range cl.errs {
		if len(errs) != 1 {
			t.Errorf("conn %p: OnClose called %d times: %v", c, len(errs), errs)
		}
	}
}

func addrOf(t testing.TB, ln *Listener) netip.AddrPort {
	t.Helper()
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// pattern is the deterministic test stream: byte i of a stream with seed s.
func pattern(s uint64, i int) byte {
	x := (uint64(i) + s) * 0x9e3779b97f4a7c15
	return byte(x >> 56)
}

func fillPattern(b []byte, s uint64, off int) {
	for i := range b {
		b[i] = pattern(s, off+i)
	}
}

func netipLoopback(port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
}
