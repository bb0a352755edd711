package shardtorrent

import (
	"sync"
	"sync/atomic"

	"github.com/shardtorrent/shardtorrent/shard"
)

// Incoming MSE handshakes cost two 768-bit modular exponentiations each
// (our key G^x and the secret Ya^x: about 65 us apiece on this project's
// 2-vCPU machine), and they used to run on the accepting loop, which is also
// shard 0's loop: during a storm of MSE handshakes shard 0's peers waited
// behind them. The accepting loop now runs an mse.Receiver made with
// NewDeferredReceiver; when it stops for the Diffie-Hellman work the
// connection's reads are paused and the job goes to this pool; a worker
// computes it and posts the connection back to its loop (Loop.Post, the
// shard queue), which resumes the handshake (dhDone).
//
// The pool is off by default (Settings.MSEWorkers 0, with the measurement
// that made it so). When on, it is bounded: at most dhQueueCap jobs wait for
// a worker. When it is full the accepting loop computes the job itself, as
// before, which slows its accepting down: a storm cannot grow the backlog,
// and the number of connections in a handshake stays bounded by what the
// loop accepts while it computes. Workers start with the first job and stop
// at Session shutdown.
//
// Off is the default as measured on this project's 2-vCPU machine
// (PERF.md "Connection storms"): the pool halves the accepting loop's busy
// time per MSE handshake (BenchmarkMSEStormLoop0) but gives a storm a CPU
// beyond loop 0's thread, taken from the loops serving peers: during a
// 128-dialer MSE storm a transfer from shard 1 kept 0.29x of its rate with
// the pool (one worker) against 0.52x without, in the same run.

// maxDHQueued bounds the jobs waiting for a worker (each is a connection
// already accepted; the bound is on the work queued, not on memory beyond
// the connection itself).
const maxDHQueued = 256

// dhQueueCap is the queue NewSession gives a pool with workers; tests make
// it small to fill it.
var dhQueueCap = maxDHQueued

// dhPool runs the MSE receivers' DH jobs on worker goroutines.
type dhPool struct {
	workers int
	once    sync.Once
	mu      sync.Mutex // guards closed against sends on a closed jobs
	closed  bool
	jobs    chan *acceptConn
	wg      sync.WaitGroup
	// pooled and inline count the jobs computed by a worker and, the
	// queue being full, on the accepting loop.
	pooled, inline atomic.Uint64
}

// newDHPool makes the pool; with no workers its queue has no room, so
// every job is computed on the accepting loop.
func newDHPool(workers, depth int) *dhPool {
	if workers <= 0 {
		depth = 0
	}
	return &dhPool{workers: max(workers, 1), jobs: make(chan *acceptConn, depth)}
}

// trySubmit queues a's pending job; false when the queue is full or the
// pool is closed (the caller then computes the job itself). Safe from any
// goroutine; the accepting loop calls it and must not touch a.rcv until
// dhDone runs.
func (p *dhPool) trySubmit(a *acceptConn) bool {
	if cap(p.jobs) == 0 {
		return false // a pool of depth 0: every job runs inline
	}
	p.once.Do(p.start)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	select {
	case p.jobs <- a:
		p.pooled.Add(1)
		return true
	default:
		return false
	}
}

func (p *dhPool) start() {
	for range p.workers {
		p.wg.Add(1)
		go p.work()
	}
}

// work computes jobs and posts each connection back to its loop. The job
// is inside a.rcv, which nothing else touches meanwhile.
func (p *dhPool) work() {
	defer p.wg.Done()
	for a := range p.jobs {
		a.rcv.Job().Compute()
		a.c.Loop().Post(dhDone, a) // dropped if the loop is closing: the conn goes with it
	}
}

// close stops the workers once the queued jobs are done. Safe from any
// goroutine; a second call only waits.
func (p *dhPool) close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.jobs)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// dhDone resumes a's handshake after its job came back. Runs on a's loop.
func dhDone(arg any) {
	a := arg.(*acceptConn)
	a.dhBusy = false
	if a.finished || a.handing || a.c.Closed() {
		return // refused meanwhile (timeout) or closed by the peer
	}
	a.resumeDH()
}

// resumeDH hands the computed job back to the receiver and goes on: another
// job if the receiver drew another key, else Yb out and reads resumed, which
// presents the bytes after Ya again (OnData). Loop only.
func (a *acceptConn) resumeDH() {
	for {
		if err := a.rcv.ResumeDH(a.rcv.Job()); err != nil {
			a.refuse(shard.NewEncryptionError(err))
			return
		}
		if !a.rcv.WaitingDH() {
			break
		}
		if a.s.dh.trySubmit(a) {
			a.dhBusy = true
			return
		}
		a.s.dh.inline.Add(1)
		a.rcv.Job().Compute()
	}
	if out := a.rcv.Output(); len(out) > 0 {
		a.c.Write(out)
	}
	a.c.SetReadPaused(false)
}

// startDH is called when the receiver stopped for its DH job: the job goes
// to the pool with reads paused, or, the pool being full, is computed here.
// It reports whether the job went to the pool. Loop only.
func (a *acceptConn) startDH() bool {
	if a.s.dh.trySubmit(a) {
		a.dhBusy = true
		a.c.SetReadPaused(true)
		return true
	}
	a.s.dh.inline.Add(1)
	a.rcv.Job().Compute()
	return false
}
