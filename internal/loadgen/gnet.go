package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/shardtorrent/shardtorrent/ext/mse"
)

// Transport is how the generator's connections do their I/O.
type Transport int

// Transports.
const (
	// Auto (the zero value) picks Goroutines below AutoGnetConns
	// connections and Gnet from there on: what measured faster at each
	// scale (see the package doc, "Transports").
	Auto Transport = iota
	// Gnet runs every connection, once handshaked, on the event loops of
	// one gnet client (github.com/panjf2000/gnet/v2), Config.Loops of them.
	Gnet
	// Goroutines gives every connection its own goroutine doing blocking
	// reads and writes on a net.Conn.
	Goroutines
)

// AutoGnetConns is the connection count from which Auto picks Gnet.
const AutoGnetConns = 1000

// resolve returns the transport Auto stands for with conns connections,
// or t itself.
func (t Transport) resolve(conns int) Transport {
	if t != Auto {
		return t
	}
	if conns >= AutoGnetConns {
		return Gnet
	}
	return Goroutines
}

// ParseTransport parses "auto" (or ""), "gnet" or "goroutines" (alias
// "net").
func ParseTransport(s string) (Transport, error) {
	switch strings.ToLower(s) {
	case "auto", "":
		return Auto, nil
	case "goroutines", "goroutine", "net":
		return Goroutines, nil
	case "gnet":
		return Gnet, nil
	}
	return 0, fmt.Errorf("loadgen: unknown transport %q (auto, goroutines, gnet)", s)
}

func (t Transport) String() string {
	switch t {
	case Gnet:
		return "gnet"
	case Goroutines:
		return "goroutines"
	}
	return "auto"
}

// gnetReadBuffer is the loops' shared read buffer. gnet-fit.md measured
// 256 KiB at about 0.7x the CPU per GB of gnet's 64 KiB default: fewer
// reads, and so bigger request batches and bigger writes at the seeder.
const gnetReadBuffer = 256 << 10

// errGnetEnroll wraps a failure to hand a handshaked socket to gnet.
var errGnetEnroll = errors.New("loadgen: gnet enroll")

// gnetRunner is a Run's gnet client. The event handler's callbacks run on
// the client's loops; each gnet.Conn's Context is its *conn, whose state
// the loop owns from OnOpen on.
type gnetRunner struct {
	gnet.BuiltinEventEngine
	g        *gen
	cli      *gnet.Client
	stopOnce sync.Once
}

// startGnet starts a client with loops event loops.
func startGnet(g *gen, loops int) (*gnetRunner, error) {
	r := &gnetRunner{g: g}
	cli, err := gnet.NewClient(r,
		gnet.WithNumEventLoop(loops),
		gnet.WithReadBufferCap(gnetReadBuffer),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(gnetLogger{}))
	if err != nil {
		return nil, err
	}
	if err := cli.Start(); err != nil {
		return nil, err
	}
	r.cli = cli
	return r, nil
}

// stop closes every connection still on the loops (each OnClose sees
// g.stopping and ends its conn without an error) and waits for the loops
// to exit, after which the conns' loop-owned fields may be read. Safe from
// any goroutine; the second call does nothing.
func (r *gnetRunner) stop() {
	r.stopOnce.Do(func() {
		r.g.stopping.Store(true)
		_ = r.cli.Stop()
	})
}

// OnOpen (loop only) handles what arrived behind the seeder's handshake
// and sends the first requests.
func (r *gnetRunner) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	c := gc.Context().(*conn)
	return nil, c.gnetStep(gc)
}

// OnTraffic (loop only) parses what gnet read in place, in the loop's
// read buffer: gnet's inbound ring stays empty because every call consumes
// everything, so Peek(-1) is that buffer and copies nothing. Only a frame
// cut at the end of a read is copied into the conn's own buffer (no slice
// of gnet's stays valid after OnTraffic), and completed from the next
// read. RC4 peers' bytes are decrypted in place first. The refill requests
// go out in one Write.
func (r *gnetRunner) OnTraffic(gc gnet.Conn) gnet.Action {
	c := gc.Context().(*conn)
	if c.endErr != nil {
		return gnet.Close
	}
	buf, _ := gc.Peek(-1)
	if c.cipher != nil {
		c.vec[0] = buf
		c.cipher.Decrypt(c.vec[:])
		c.vec[0] = nil
	}
	now := time.Since(c.g.start)
	// Complete the partial frame held in rbuf, if any.
	for c.w > c.r && len(buf) > 0 {
		need := c.dec.Need()
		c.room(need)
		k := copy(c.rbuf[c.w:c.r+need], buf)
		c.w += k
		buf = buf[k:]
		n, err := c.parse(c.rbuf[c.r:c.w], now)
		c.r += n
		if err != nil {
			c.endErr = err
			return gnet.Close
		}
		if c.r == c.w {
			c.r, c.w = 0, 0
		}
	}
	if c.r == c.w && len(buf) > 0 {
		n, err := c.parse(buf, now)
		if err != nil {
			c.endErr = err
			return gnet.Close
		}
		if buf = buf[n:]; len(buf) > 0 {
			c.r, c.w = 0, 0
			c.room(max(c.dec.Need(), len(buf)))
			c.w = copy(c.rbuf, buf)
		}
	}
	_, _ = gc.Discard(-1)
	c.refill()
	return c.flush(gc)
}

// OnClose (loop only) ends the conn: without an error when the run is
// stopping, else with the error that made the handler close it or the
// socket's.
func (r *gnetRunner) OnClose(gc gnet.Conn, err error) gnet.Action {
	c := gc.Context().(*conn)
	switch {
	case r.g.stopping.Load():
		c.fail(nil)
	case c.endErr != nil:
		c.fail(fmt.Errorf("conn %d: %w", c.id, c.endErr))
	case err == nil || errors.Is(err, io.EOF):
		c.fail(fmt.Errorf("conn %d: %w", c.id, io.ErrUnexpectedEOF))
	default:
		c.fail(fmt.Errorf("conn %d: %w", c.id, err))
	}
	return gnet.None
}

// gnetStep (loop only) runs step over what rbuf holds and writes wbuf.
// An error is kept in endErr for OnClose, and the conn is closed.
func (c *conn) gnetStep(gc gnet.Conn) gnet.Action {
	if c.endErr == nil {
		c.endErr = c.step()
	}
	if c.endErr != nil {
		return gnet.Close
	}
	return c.flush(gc)
}

// flush (loop only) encrypts wbuf for RC4 peers and writes it.
func (c *conn) flush(gc gnet.Conn) gnet.Action {
	if len(c.wbuf) == 0 {
		return gnet.None
	}
	if c.cipher != nil {
		c.vec[0] = c.wbuf
		c.cipher.Encrypt(c.vec[:])
		c.vec[0] = nil
	}
	// Write sends straight from wbuf when gnet's outbound buffer is empty
	// and copies only what the socket did not take, so wbuf is free again
	// when it returns.
	if _, err := gc.Write(c.wbuf); err != nil {
		c.endErr = err
		return gnet.Close
	}
	c.wbuf = c.wbuf[:0]
	return gnet.None
}

// runGnet dials and handshakes on the calling goroutine (as run does, so
// MSE and the dial timeout stay simple blocking code), then hands the
// socket to r's loops, which own the conn from then on. sem holds a token
// for the dial; it is released once the handshake is done.
func (c *conn) runGnet(ctx context.Context, sem chan struct{}, r *gnetRunner) {
	nc, stop, ok := c.connect(ctx, sem)
	if !ok {
		return
	}
	if rc, ok := c.nc.(*rc4Conn); ok {
		// handshake's first Read took every decrypted byte rc held.
		c.cipher = rc.c
	}
	if !stop() {
		// The run stopped while handshaking: the socket is closed.
		c.fail(nil)
		return
	}
	c.nc = nil
	// EnrollContext dups the socket onto a loop, closes nc, and returns
	// after OnOpen ran there; from then on the loop owns c.
	if _, err := r.cli.EnrollContext(nc, c); err != nil {
		c.fail(c.stopErr(ctx, fmt.Errorf("%w: %w", errGnetEnroll, err)))
	}
}

// cipherState is the gnet transport's RC4 state after an MSE handshake
// (nil for plaintext): reads are decrypted in place in rbuf, wbuf is
// encrypted in place before each Write. vec is scratch so neither
// allocates.
type cipherState struct {
	cipher *mse.RC4
	vec    [1][]byte
}

// gnetLogger sends gnet's warnings and errors to slog's default logger and
// drops its debug and info lines (a "Starting gnet client" line per Run).
// Fatalf logs at error level and does not exit: a load generator should
// report, not end the process it runs in. Safe from any goroutine.
type gnetLogger struct{}

func (gnetLogger) Debugf(string, ...any) {}
func (gnetLogger) Infof(string, ...any)  {}
func (gnetLogger) Warnf(format string, args ...any) {
	slog.Warn("loadgen: gnet: " + fmt.Sprintf(format, args...))
}
func (gnetLogger) Errorf(format string, args ...any) {
	slog.Error("loadgen: gnet: " + fmt.Sprintf(format, args...))
}
func (gnetLogger) Fatalf(format string, args ...any) {
	slog.Error("loadgen: gnet (fatal): " + fmt.Sprintf(format, args...))
}
