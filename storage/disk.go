package storage

import (
	"crypto/sha1"
	"fmt"
	"hash"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"golang.org/x/sys/unix"
)

// Poster runs fn(arg) on the goroutine that owns it (a loop). The loop
// implements it; Disk calls Post from worker goroutines to deliver
// completions. Post must not block for long, and must run functions in the
// order Post was called: a check's progress reports rely on arriving before
// its completion.
type Poster interface {
	Post(fn func(arg any), arg any)
}

// JobKind says what a Job does.
type JobKind uint8

const (
	// JobRead reads Length bytes at (Piece, Begin) into Span, a span from
	// the Disk's pool that the completion handler owns and must release.
	JobRead JobKind = iota + 1
	// JobWritePiece hashes Blocks (the whole of Piece, in order), compares
	// with Hash and sets Pass; if it passes, writes the blocks. Either way
	// the job releases every block's span reference.
	JobWritePiece
	// JobWrite writes Blocks back to back at (Piece, Begin) without hashing
	// and releases them.
	JobWrite
	// JobHashPiece reads Piece from disk and sets Pass if its SHA-1 equals
	// Hash. A missing or short file leaves Pass false and sets Err.
	JobHashPiece
	// JobCheck hashes every piece of the Storage against Hashes, spread over
	// all workers, and fills Have. See Job.Hashes.
	JobCheck
	// JobSync flushes the Storage's written files to the disk (fdatasync).
	JobSync
	// JobClose closes the Storage's files (after syncing them).
	JobClose
	// JobSetWanted calls the Storage's SetWantedFiles(Wanted), off the
	// loop: it may move bytes between the part file and the files.
	JobSetWanted
)

func (k JobKind) String() string {
	switch k {
	case JobRead:
		return "read"
	case JobWritePiece:
		return "write-piece"
	case JobWrite:
		return "write"
	case JobHashPiece:
		return "hash-piece"
	case JobCheck:
		return "check"
	case JobSync:
		return "sync"
	case JobClose:
		return "close"
	case JobSetWanted:
		return "set-wanted"
	}
	return fmt.Sprintf("JobKind(%d)", uint8(k))
}

// BlockRef is one block of a write: Data is a view inside Span, and the job
// owns one reference to Span, which the worker releases when done with it.
type BlockRef struct {
	Span *bufpool.Span
	Data []byte
}

// Job is one unit of disk work. Jobs come from Disk.NewJob, are filled and
// submitted by a loop, and come back, the same pointer, to Done on that loop;
// the loop then hands them to Disk.Free. Between Submit and Done the job
// belongs to the Disk and the loop must not touch it.
type Job struct {
	Kind JobKind
	// Storage is the torrent's storage the job works on: any
	// implementation; the file storage's own fast paths (a worker's
	// iovec scratch, direct writes, the check's size snapshot) are taken
	// when it is a *FileStorage.
	Storage Storage
	Piece   int
	Begin   int64
	Length  int

	// Span is JobRead's result: Length bytes, owned by the completion
	// handler, which must release it. Nil when Err is set.
	Span *bufpool.Span
	// Blocks are the data of JobWritePiece and JobWrite, in order. The job
	// owns one reference to each span and releases it; on completion Blocks
	// is empty (its capacity is kept for the next use of the Job).
	Blocks []BlockRef
	// Hash is the expected SHA-1 for JobWritePiece and JobHashPiece.
	Hash [20]byte
	// Pass is the hash verdict of JobWritePiece and JobHashPiece.
	Pass bool
	// Err is the I/O error, if any. For JobCheck it is the first I/O error
	// other than a missing or short file (those just fail their pieces).
	Err error

	// Done is called on the loop (through Poster) when the job completes.
	// If Poster is nil it is called on the worker goroutine. If Done is nil
	// the job is fire-and-forget: the Disk releases its Span and frees it.
	Done   func(j *Job)
	Poster Poster
	// User is the caller's context; the Disk never touches it.
	User any

	// Hashes are JobCheck's expected piece hashes, one per piece; the slice
	// is read, never kept past Free.
	Hashes [][20]byte
	// Have is JobCheck's result: Have[i] reports that piece i is on disk
	// and hashes right. The caller may supply it (len >= NumPieces, reused);
	// otherwise the check allocates it. Read it only in Done: workers write
	// it until then.
	Have []bool
	// Progress, if set, is called on the loop (through Poster) after every
	// batch of checked pieces, with how many pieces are checked so far.
	Progress func(j *Job, checked int)
	// Wanted is JobSetWanted's mask, one flag per file; read during the
	// job, never kept past Free.
	Wanted []bool

	// Invariant: state is jobFree in the pool, jobFilled between NewJob and
	// Submit, jobQueued from Submit until completion, jobDone after it.
	state atomic.Uint32
	check checkState
}

const (
	jobFree uint32 = iota
	jobFilled
	jobQueued
	jobDone
)

// Disk is a pool of goroutines doing disk reads, writes and hashing for any
// number of Storages. All methods are safe from any goroutine.
type Disk struct {
	pool    *bufpool.Pool
	workers int
	jobs    sync.Pool // *Job; pooled so a job costs no allocation

	mu   sync.Mutex
	cond sync.Cond // signalled when q grows or closed is set
	// Guarded by mu. The queue is unbounded so Submit never blocks a loop.
	q      jobQueue
	closed bool

	wg sync.WaitGroup
	// ws are the workers, for Stats; fixed at NewDisk.
	ws []*worker
}

// NewDisk starts workers goroutines (runtime.NumCPU() if workers <= 0).
// Read spans come from pool (bufpool.Default if nil).
func NewDisk(workers int, pool *bufpool.Pool) *Disk {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	if pool == nil {
		pool = bufpool.Default
	}
	d := &Disk{pool: pool, workers: workers}
	d.cond.L = &d.mu
	d.jobs.New = func() any { return new(Job) }
	d.wg.Add(workers)
	for range workers {
		w := &worker{d: d, sha: sha1.New(), iov: make([]unix.Iovec, 0, maxIovecs)}
		d.ws = append(d.ws, w)
		go w.run()
	}
	return d
}

// Workers reports the number of worker goroutines.
func (d *Disk) Workers() int { return d.workers }

// Close lets the workers finish every queued job, then stops them. Jobs
// submitted afterwards complete at once with ErrClosed. Completions are
// still posted, so the loops must keep running until Close returns.
func (d *Disk) Close() {
	d.mu.Lock()
	d.closed = true
	d.cond.Broadcast()
	d.mu.Unlock()
	d.wg.Wait()
}

// NewJob returns a zeroed job from the pool. Safe from any goroutine.
func (d *Disk) NewJob() *Job {
	j := d.jobs.Get().(*Job)
	if !j.state.CompareAndSwap(jobFree, jobFilled) {
		panic("storage: pooled job in use")
	}
	return j
}

// Free returns a completed (or never submitted) job to the pool. It drops
// every reference the job holds but releases nothing: a JobRead's Span
// belongs to the handler. Safe from any goroutine.
func (d *Disk) Free(j *Job) {
	if s := j.state.Load(); s == jobQueued || s == jobFree || !j.state.CompareAndSwap(s, jobFree) {
		panic("storage: Free of a job that is queued or already free")
	}
	// Keep the backing arrays of Blocks and the check's scratch so that a
	// recycled job appends without allocating; drop everything else.
	blocks := j.Blocks[:cap(j.Blocks)]
	clear(blocks)
	sizes := j.check.sizes[:0]
	j.Kind, j.Storage, j.Piece, j.Begin, j.Length = 0, nil, 0, 0, 0
	j.Span, j.Blocks, j.Hash, j.Pass, j.Err = nil, blocks[:0], [20]byte{}, false, nil
	j.Done, j.Poster, j.User = nil, nil, nil
	j.Hashes, j.Have, j.Progress, j.Wanted = nil, nil, nil, nil
	j.check.reset(sizes)
	d.jobs.Put(j)
}

// Submit queues j. It never blocks beyond a short lock: the queue has no
// bound. Safe from any goroutine.
func (d *Disk) Submit(j *Job) {
	if !j.state.CompareAndSwap(jobFilled, jobQueued) {
		panic("storage: Submit of a job not from NewJob, or submitted twice")
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		j.Err = ErrClosed
		d.finish(j)
		return
	}
	d.q.push(j)
	d.cond.Signal()
	d.mu.Unlock()
}

// requeue puts j (a running check) back at the tail n times, so that its
// batches take turns with other jobs.
func (d *Disk) requeue(j *Job, n int) {
	d.mu.Lock()
	for range n {
		d.q.push(j)
	}
	if n == 1 {
		d.cond.Signal()
	} else {
		d.cond.Broadcast()
	}
	d.mu.Unlock()
}

// next blocks until a job is queued, or returns nil once closed and empty.
func (d *Disk) next() *Job {
	d.mu.Lock()
	for d.q.n == 0 && !d.closed {
		d.cond.Wait()
	}
	var j *Job
	if d.q.n > 0 {
		j = d.q.pop()
	}
	d.mu.Unlock()
	return j
}

// finish completes j: releases whatever a job with no handler would leak,
// then hands it to Done through the Poster.
func (d *Disk) finish(j *Job) {
	releaseBlocks(j)
	j.state.Store(jobDone)
	switch {
	case j.Done == nil:
		if j.Span != nil {
			j.Span.Release()
		}
		d.Free(j)
	case j.Poster != nil:
		j.Poster.Post(runDone, j)
	default:
		j.Done(j)
	}
}

// runDone is a plain function, not a closure, so posting costs nothing.
func runDone(arg any) {
	j := arg.(*Job)
	j.Done(j)
}

func blocksLen(blocks []BlockRef) int64 {
	var n int64
	for _, b := range blocks {
		n += int64(len(b.Data))
	}
	return n
}

func releaseBlocks(j *Job) {
	for i := range j.Blocks {
		if s := j.Blocks[i].Span; s != nil {
			s.Release()
		}
		j.Blocks[i] = BlockRef{}
	}
	j.Blocks = j.Blocks[:0]
}

// jobQueue is a growable ring of jobs. A running check may sit in it more
// than once, which rules out an intrusive list.
type jobQueue struct {
	buf  []*Job // len is a power of two
	head int
	n    int
}

func (q *jobQueue) push(j *Job) {
	if q.n == len(q.buf) {
		buf := make([]*Job, max(64, 2*len(q.buf)))
		for i := range q.n {
			buf[i] = q.buf[(q.head+i)&(len(q.buf)-1)]
		}
		q.buf, q.head = buf, 0
	}
	q.buf[(q.head+q.n)&(len(q.buf)-1)] = j
	q.n++
}

func (q *jobQueue) pop() *Job {
	j := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) & (len(q.buf) - 1)
	q.n--
	return j
}

// hashChunk is the most a worker reads per pread when hashing: 1 MiB keeps
// the buffer in L2 while SHA-1 walks it, and the system call cost is noise.
const hashChunk = 1 << 20

// worker is one disk goroutine and its scratch, reused for every job.
type worker struct {
	d   *Disk
	sha hash.Hash
	sum [20]byte
	iov []unix.Iovec // cap maxIovecs, for pwritev
	// buf is the read buffer for hashing, hashChunk bytes, made on first
	// use. Plain memory rather than a pool span: it lives as long as the
	// worker, and a span held forever would show in Pool.Outstanding.
	buf []byte
	// pbuf is the aligned piece buffer of direct writes (direct.go), grown
	// to the largest piece written, made on first use.
	pbuf []byte
	// stats are this worker's counters (stats.go); written only here.
	stats workerStats
}

func (w *worker) run() {
	defer w.d.wg.Done()
	for {
		j := w.d.next()
		if j == nil {
			return
		}
		began := time.Now()
		if j.Kind == JobCheck {
			w.check(j) // finishes the job itself when its last batch is done
			w.stats.observe(LatencyCheck, time.Since(began))
			continue
		}
		w.do(j)
		w.stats.observe(latencyKind(j.Kind), time.Since(began))
		w.d.finish(j)
	}
}

func (w *worker) do(j *Job) {
	s := j.Storage
	if s == nil {
		j.Err = fmt.Errorf("storage: %v job without a Storage", j.Kind)
		return
	}
	switch j.Kind {
	case JobRead:
		// Check the length before taking a span for it.
		if err := checkRange(s.Layout(), j.Piece, j.Begin, j.Length); err != nil {
			j.Err = err
			return
		}
		sp := w.d.pool.Get(j.Length)
		if _, err := s.ReadAt(sp.Bytes(), j.Piece, j.Begin); err != nil {
			sp.Release()
			j.Err = err
			return
		}
		w.stats.readBytes.Add(uint64(j.Length))
		j.Span = sp
	case JobWritePiece:
		if total := blocksLen(j.Blocks); total != s.Layout().PieceSize(j.Piece) {
			j.Err = fmt.Errorf("%w: %d bytes of blocks for piece %d", ErrRange, total, j.Piece)
			return
		}
		w.sha.Reset()
		fs, _ := s.(*FileStorage)
		if fs != nil && fs.DirectWrites() {
			// One copy into aligned memory, hashed there, written past
			// the page cache (direct.go says why).
			buf := alignedBuf(&w.pbuf, int(fs.layout.PieceSize(j.Piece)))
			n := 0
			for _, b := range j.Blocks {
				n += copy(buf[n:], b.Data)
			}
			w.sha.Write(buf)
			if j.Pass = [20]byte(w.sha.Sum(w.sum[:0])) == j.Hash; j.Pass {
				j.Err = fs.writePieceDirect(buf, j.Piece)
				w.countWrite(len(buf), j.Err)
			}
			return
		}
		for _, b := range j.Blocks {
			w.sha.Write(b.Data)
		}
		j.Pass = [20]byte(w.sha.Sum(w.sum[:0])) == j.Hash
		if j.Pass {
			j.Err = w.write(s, fs, j)
			w.countWrite(int(blocksLen(j.Blocks)), j.Err)
		}
	case JobWrite:
		fs, _ := s.(*FileStorage)
		j.Err = w.write(s, fs, j)
		w.countWrite(int(blocksLen(j.Blocks)), j.Err)
	case JobHashPiece:
		if s.Layout().PieceSize(j.Piece) == 0 {
			j.Err = fmt.Errorf("%w: piece %d", ErrRange, j.Piece)
			return
		}
		j.Pass, j.Err = w.hashPiece(s, j.Piece, &j.Hash)
	case JobSync:
		j.Err = s.Sync()
	case JobSetWanted:
		j.Err = s.SetWantedFiles(j.Wanted)
	case JobClose:
		j.Err = s.Sync()
		if err := s.Close(); j.Err == nil {
			j.Err = err
		}
	default:
		j.Err = fmt.Errorf("storage: unknown job kind %v", j.Kind)
	}
}

// write writes j's blocks at (Piece, Begin) into s; fs is s when it is the
// file storage, which then uses the worker's iovec scratch.
func (w *worker) write(s Storage, fs *FileStorage, j *Job) error {
	if fs != nil {
		return fs.writeBlocks(j.Blocks, j.Piece, j.Begin, w.iov)
	}
	return s.WriteBlocks(j.Blocks, j.Piece, j.Begin)
}

// hashPiece reads piece in hashChunk reads and compares its SHA-1 to want.
func (w *worker) hashPiece(s Storage, piece int, want *[20]byte) (bool, error) {
	if w.buf == nil {
		w.buf = make([]byte, hashChunk)
	}
	size := s.Layout().PieceSize(piece)
	w.sha.Reset()
	for off := int64(0); off < size; off += hashChunk {
		b := w.buf[:min(hashChunk, size-off)]
		if _, err := s.ReadAt(b, piece, off); err != nil {
			return false, err
		}
		w.stats.readBytes.Add(uint64(len(b)))
		w.sha.Write(b)
	}
	return [20]byte(w.sha.Sum(w.sum[:0])) == *want, nil
}
