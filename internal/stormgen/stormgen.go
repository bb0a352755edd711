// Package stormgen is a connection-storm generator: Dialers goroutines that
// each, over and over until the window ends, connect to a target over TCP,
// complete the BitTorrent handshake for one torrent (in plaintext, or
// inside an MSE handshake: the BitTorrent handshake rides as MSE's initial
// payload) until the target's own handshake has arrived, and close. It
// reports completed handshakes per second and the latency from the start
// of the dial to the last byte of the target's handshake.
//
// It is the load for cmd/bench's storm scenario, kept apart from
// internal/loadgen (which measures transfers) because it stresses the
// target's accept path, not its send path.
//
// # Cost on the generator's side
//
// An MSE initiator makes two 768-bit modular exponentiations per
// handshake; with Config.MSE the generator reuses one key pair for all its
// connections (mse.NewInitiatorKey), so it makes one and the target two.
// Goroutine per dialer, blocking net.Conn I/O: the few dozen dialers a
// storm needs make no case for an event loop here.
//
// # Threading
//
// Run is safe from any goroutine; each dialer goroutine owns its buffers
// and its latency histogram, merged after the window.
package stormgen

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardtorrent/shardtorrent/ext/mse"
	"github.com/shardtorrent/shardtorrent/wire"
)

// Config describes one storm.
type Config struct {
	Addr     string   // target, HOST:PORT on 127.0.0.1
	InfoHash [20]byte // a torrent the target serves
	Dialers  int      // concurrent dialers (default 32)
	Duration time.Duration
	// MSE runs every handshake inside MSE (offering plaintext and RC4;
	// the target picks), else a plaintext BitTorrent handshake.
	MSE bool
	// Handshakes, if positive, ends the storm once that many connections
	// have been started (Duration still bounds it): a test's fixed count.
	Handshakes int64
	// Timeout bounds one handshake (default 10 s); a timed-out one counts
	// as a failure.
	Timeout time.Duration
}

// Result is what a storm measured.
type Result struct {
	Handshakes int64   // completed in the window
	Failures   int64   // dial or handshake errors, timeouts included
	Seconds    float64 // the window
	PerSecond  float64 // Handshakes / Seconds
	P50ms      float64 // handshake latency, dial start to the target's handshake
	P99ms      float64
	MaxMs      float64
	// Errors counts failures by message, at most maxErrorKinds kinds.
	Errors map[string]int64
}

// maxErrorKinds bounds Result.Errors.
const maxErrorKinds = 16

// maxSamples bounds each dialer's latency samples (a fixed window makes
// them few: 20,000 handshakes a second for 10 s over 32 dialers is 6,250
// each).
const maxSamples = 1 << 16

// Run runs the storm for cfg.Duration (or until ctx ends) and returns what
// it measured.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Dialers <= 0 {
		cfg.Dialers = 32
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Duration <= 0 {
		return Result{}, errors.New("stormgen: Config.Duration must be positive")
	}
	var key *mse.Key
	if cfg.MSE {
		var err error
		if key, err = mse.GenerateKey(rand.Reader); err != nil {
			return Result{}, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	// over reports the end of the window. Not ctx.Err() alone: a dial
	// whose deadline (the window's end) has passed fails at once with an
	// i/o timeout while ctx's own timer may not have fired yet, and a
	// dialer would spin through thousands of such failures.
	deadline, _ := ctx.Deadline()
	over := func() bool { return ctx.Err() != nil || !time.Now().Before(deadline) }
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		samples  []time.Duration
		errs     = map[string]int64{}
		done     atomic.Int64
		failures atomic.Int64
		started  atomic.Int64
	)
	start := time.Now()
	for i := 0; i < cfg.Dialers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			d := dialer{cfg: &cfg, key: key}
			d.peerID = [20]byte{'-', 'S', 'G', '0', '0', '0', '1', '-', byte(i), byte(i >> 8)}
			local := make([]time.Duration, 0, 1024)
			localErrs := map[string]int64{}
			for !over() {
				if cfg.Handshakes > 0 && started.Add(1) > cfg.Handshakes {
					break
				}
				t0 := time.Now()
				err := d.once(ctx)
				if over() {
					break // cut by the end of the window: not counted
				}
				if err != nil {
					failures.Add(1)
					if len(localErrs) < maxErrorKinds {
						localErrs[err.Error()]++
					}
					continue
				}
				done.Add(1)
				if len(local) < maxSamples {
					local = append(local, time.Since(t0))
				}
			}
			mu.Lock()
			samples = append(samples, local...)
			for k, v := range localErrs {
				if _, ok := errs[k]; ok || len(errs) < maxErrorKinds {
					errs[k] += v
				}
			}
			mu.Unlock()
		}(i)
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	select {
	case <-ctx.Done():
	case <-all: // Handshakes reached
	}
	secs := time.Since(start).Seconds()
	<-all
	res := Result{Handshakes: done.Load(), Failures: failures.Load(), Seconds: secs, Errors: errs}
	res.PerSecond = float64(res.Handshakes) / secs
	if len(samples) > 0 {
		sort.Slice(samples, func(a, b int) bool { return samples[a] < samples[b] })
		q := func(p float64) float64 {
			return float64(samples[min(len(samples)-1, int(p*float64(len(samples))))]) / 1e6
		}
		res.P50ms, res.P99ms, res.MaxMs = q(0.50), q(0.99), float64(samples[len(samples)-1])/1e6
	}
	return res, nil
}

// dialer is one dialer goroutine's state.
type dialer struct {
	cfg    *Config
	key    *mse.Key
	peerID [20]byte
	n      uint64
	hs     []byte // our handshake
	buf    [4096]byte
}

// errShortHandshake: the target closed before its handshake was complete.
var errShortHandshake = errors.New("stormgen: connection closed inside the handshake")

// errWrongInfoHash: the target answered for another torrent.
var errWrongInfoHash = errors.New("stormgen: the target's handshake names another torrent")

// once runs one connection: dial, handshake, close.
func (d *dialer) once(ctx context.Context) error {
	d.n++
	for i := 10; i < 18; i++ { // a fresh peer id per connection: dialer, count
		d.peerID[i] = byte(d.n >> (8 * uint(i-10)))
	}
	h := wire.Handshake{InfoHash: d.cfg.InfoHash, PeerID: d.peerID}
	h.Reserved[5] |= 0x10 // BEP 10, as every modern client sets
	d.hs = wire.AppendHandshake(d.hs[:0], &h)
	dl := net.Dialer{Timeout: d.cfg.Timeout}
	nc, err := dl.DialContext(ctx, "tcp", d.cfg.Addr)
	if err != nil {
		return err
	}
	// Close with a reset, as an impatient client does: an orderly close
	// would leave every connection in TIME_WAIT on our side, and a storm of
	// 10,000 a second runs out of ephemeral ports on 127.0.0.1 in seconds.
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(d.cfg.Timeout))
	var c io.ReadWriter = nc
	var pending []byte
	if d.cfg.MSE {
		c, pending, err = d.encrypted(nc)
		if err != nil {
			return err
		}
	} else if _, err := nc.Write(d.hs); err != nil {
		return err
	}
	// Read the target's handshake: HandshakeLen bytes (it may send its
	// bitfield and extension handshake right behind; we close on them).
	got := d.buf[:0]
	got = append(got, pending...)
	for len(got) < wire.HandshakeLen {
		k, err := c.Read(d.buf[len(got):])
		got = d.buf[:len(got)+k]
		if err != nil && len(got) < wire.HandshakeLen {
			if errors.Is(err, io.EOF) {
				return errShortHandshake
			}
			return err
		}
	}
	th, err := wire.ParseHandshake(got[:wire.HandshakeLen])
	if err != nil {
		return err
	}
	if th.InfoHash != d.cfg.InfoHash {
		return errWrongInfoHash
	}
	return nil
}

// encrypted runs the MSE initiator with our handshake as its initial
// payload. It returns the stream to read the target's handshake from
// (decrypting when RC4 was selected) and the plaintext bytes read past the
// MSE handshake.
func (d *dialer) encrypted(nc net.Conn) (io.ReadWriter, []byte, error) {
	ini, err := mse.NewInitiatorKey(d.cfg.InfoHash, mse.MethodBoth, d.key, rand.Reader, d.hs)
	if err != nil {
		return nil, nil, err
	}
	if _, err := nc.Write(ini.Output()); err != nil {
		return nil, nil, err
	}
	for {
		k, err := nc.Read(d.buf[:])
		if k > 0 {
			n, serr := ini.Step(d.buf[:k])
			if serr != nil {
				return nil, nil, serr
			}
			if out := ini.Output(); len(out) > 0 {
				if _, err := nc.Write(out); err != nil {
					return nil, nil, err
				}
			}
			if ini.Done() {
				// Move the rest to the front: the caller reads after it.
				rest := d.buf[:copy(d.buf[:], d.buf[n:k])]
				c := ini.Result().Cipher
				if c == nil {
					return nc, rest, nil
				}
				c.Decrypt([][]byte{rest})
				return &rc4Reader{Conn: nc, c: c}, rest, nil
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, nil, fmt.Errorf("stormgen: MSE: %w", errShortHandshake)
			}
			return nil, nil, err
		}
	}
}

// rc4Reader decrypts what it reads; the storm writes nothing after MSE.
type rc4Reader struct {
	net.Conn
	c *mse.RC4
}

func (r *rc4Reader) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	if n > 0 {
		r.c.Decrypt([][]byte{p[:n]})
	}
	return n, err
}
