package shard

// Durability of written pieces, and the syncs that make them durable.
//
// A piece that passed its hash check and was written is "written": the
// bytes are in the page cache (or, with direct writes, in the device's
// cache) and a power cut may lose them. It becomes "durable" once a
// storage.JobSync of the torrent's storage, submitted after its write
// completed, has completed. Resume data (ResumeData) marks only durable
// pieces present, so a torrent restarted from it never claims a piece that
// is not on disk.
//
// Syncs are batched: one per torrent when syncBatchBytes of pieces are
// waiting or the oldest has waited syncEvery, never per block or per piece, plus one
// before every resume save (requestResume). The batched syncs run only in a
// shard with a ResumeSink (a session with a ResumeDir): without one nobody
// records what they make durable, and SaveResumeData syncs for itself. At most one sync per torrent is
// in flight; a request meanwhile runs another when it completes.
//
// The sync job's completion runs on the disk worker, which stats the
// torrent's files there (no disk I/O on the loop) and posts both results
// to the loop (onSynced).

import (
	"time"

	"github.com/shardtorrent/shardtorrent/bitfield"
	"github.com/shardtorrent/shardtorrent/internal/crashpoint"
	"github.com/shardtorrent/shardtorrent/loop"
	"github.com/shardtorrent/shardtorrent/resume"
	"github.com/shardtorrent/shardtorrent/storage"
)

const (
	// syncBatchBytes of written pieces start a sync at once. Counted in
	// bytes, not pieces: 64 pieces (the first choice) meant a sync per
	// MiB of 16 KiB pieces and 16 syncs per GiB of 1 MiB ones, each
	// holding one of the (by default two) disk workers in fdatasync.
	syncBatchBytes = 256 << 20
	// syncEvery bounds how long a written piece waits for its sync.
	syncEvery = 5 * time.Second
)

// durability is one torrent's sync bookkeeping. Owned by the loop.
//
// Invariants: a piece in pending appears in unsynced or syncing, never
// both, and is had (t.have) unless a ForceRecheck is checking it again;
// syncing and running are empty unless inFlight.
type durability struct {
	// pending marks pieces written but not yet covered by a completed
	// sync; nil until the metadata is known.
	pending  *bitfield.Bitfield
	unsynced []uint32 // written, waiting for the next sync
	syncing  []uint32 // covered by the sync in flight
	// unsyncedBytes is the payload of unsynced.
	unsyncedBytes int64
	oldest        time.Time
	inFlight      bool
	again         bool // a sync was asked for while one was in flight
	// stats are the torrent's file sizes and times taken right after the
	// last completed sync (or the ones its resume data matched); nil when
	// unknown, and then ResumeData claims no piece.
	stats []storage.FileStat
	// waiters want resume data after the next sync starts and completes;
	// running after the one in flight.
	waiters []func(*resume.Data, error)
	running []func(*resume.Data, error)
	// writes counts JobWritePiece jobs in flight; idle runs when it is 0.
	writes int
	idle   []func()
}

// initDurable sizes the bookkeeping once the piece count is known.
func (t *Torrent) initDurable(numPieces int) {
	t.dur.pending = bitfield.New(numPieces)
}

// pieceWritten records that piece passed its hash check and was written:
// it stays out of resume data until a sync covers it. Loop only.
func (t *Torrent) pieceWritten(piece int) {
	crashpoint.Hit("piece-passed")
	d := &t.dur
	if d.pending.Has(piece) {
		return
	}
	d.pending.Set(piece)
	if len(d.unsynced) == 0 {
		d.oldest = t.s.now()
	}
	d.unsynced = append(d.unsynced, uint32(piece))
	d.unsyncedBytes += t.info.PieceSize(piece)
	if d.unsyncedBytes >= t.s.syncBytes && t.s.resume != nil {
		t.startSync()
	}
}

// writeStarted and writeDone count the piece writes in flight, so a close
// can wait for them (whenWritesDone).
func (t *Torrent) writeStarted() { t.dur.writes++ }

func (t *Torrent) writeDone() {
	d := &t.dur
	if d.writes--; d.writes == 0 && len(d.idle) > 0 {
		fns := d.idle
		d.idle = nil
		for _, fn := range fns {
			fn()
		}
	}
}

// whenWritesDone runs fn once no piece write is in flight (at once if
// none is). Loop only.
func (t *Torrent) whenWritesDone(fn func()) {
	if t.dur.writes == 0 {
		fn()
		return
	}
	t.dur.idle = append(t.dur.idle, fn)
}

// syncDue starts the batched sync of a torrent whose oldest written piece
// has waited syncEvery. Called from the torrent's tick. Loop only.
func (t *Torrent) syncDue(now time.Time) {
	if d := &t.dur; len(d.unsynced) > 0 && !d.inFlight && now.Sub(d.oldest) >= syncEvery && t.s.resume != nil {
		t.startSync()
	}
}

// syncWanted reports whether the torrent must keep ticking for a sync.
func (t *Torrent) syncWanted() bool { return t.s.resume != nil && len(t.dur.unsynced) > 0 }

// startSync submits a JobSync covering every piece written so far, or
// marks one to follow the sync in flight. Loop only.
func (t *Torrent) startSync() {
	d := &t.dur
	if t.st == nil {
		return
	}
	if d.inFlight {
		d.again = true
		return
	}
	d.inFlight, d.again = true, false
	d.syncing = append(d.syncing[:0], d.unsynced...)
	d.unsynced, d.unsyncedBytes = d.unsynced[:0], 0
	d.running, d.waiters = d.waiters, d.running[:0]
	j := t.s.disk.NewJob()
	j.Kind = storage.JobSync
	j.Storage = t.st
	j.User = &syncResult{t: t, st: t.st, disk: t.s.disk, loop: t.s.loop}
	j.Done = onSyncJob // on the worker: it stats the files there
	t.s.disk.Submit(j)
}

// syncResult carries a sync's outcome from the disk worker to the loop.
type syncResult struct {
	t     *Torrent
	st    storage.Storage
	disk  *storage.Disk
	loop  *loop.Loop
	err   error
	stats []storage.FileStat
}

// onSyncJob runs on the disk worker (the job has no Poster): it stats the
// synced files and posts the result to the torrent's loop.
func onSyncJob(j *storage.Job) {
	r := j.User.(*syncResult)
	r.err = j.Err
	r.disk.Free(j)
	if r.err == nil {
		r.stats, r.err = r.st.Stat()
	}
	// If the loop is gone (session closed) nobody is waiting any more.
	r.loop.TryPost(onSynced, r)
}

// onSynced applies a completed sync on the loop: the pieces it covered
// become durable, waiters get their resume data.
func onSynced(arg any) {
	r := arg.(*syncResult)
	t := r.t
	d := &t.dur
	d.inFlight = false
	running := d.running
	d.running = nil
	if t.removed {
		for _, cb := range running {
			cb(nil, ErrUnknownTorrent)
		}
		return
	}
	if r.err != nil {
		// Not durable: they wait for the next sync (if the torrent
		// recovers from the error).
		for _, p := range d.syncing {
			d.unsynced = append(d.unsynced, p)
			d.unsyncedBytes += t.info.PieceSize(int(p))
		}
		d.syncing = d.syncing[:0]
		for _, cb := range running {
			cb(nil, r.err)
		}
		t.fail(r.err)
		return
	}
	if len(d.syncing) > 0 {
		for _, p := range d.syncing {
			d.pending.Clear(int(p))
		}
		d.syncing = d.syncing[:0]
		t.rs.dirty = true
		crashpoint.Hit("piece-synced")
	}
	d.stats = r.stats
	for _, cb := range running {
		cb(t.ResumeData(), nil)
	}
	if d.again || (len(d.waiters) > 0 && !d.inFlight) {
		t.startSync()
	}
}

// failWaiters answers every pending resume request with err.
func (t *Torrent) failWaiters(err error) {
	d := &t.dur
	ws := append(d.waiters, d.running...)
	d.waiters, d.running = nil, nil
	for _, cb := range ws {
		cb(nil, err)
	}
}

// requestResume syncs the torrent's storage and then calls cb with its
// resume data (on the loop), or with an error: ErrNoMetadata for a torrent
// without metadata, ErrUnknownTorrent if it is removed first, or the sync's
// error. Loop only.
func (t *Torrent) requestResume(cb func(*resume.Data, error)) {
	if t.removed {
		cb(nil, ErrUnknownTorrent)
		return
	}
	if t.info == nil || t.st == nil {
		cb(nil, ErrNoMetadata)
		return
	}
	t.dur.waiters = append(t.dur.waiters, cb)
	t.startSync()
}

// RequestResumeData syncs the torrent's files, then calls cb on the loop
// with resume data marking every durable piece; see requestResume for the
// errors. Loop only.
func (t *Torrent) RequestResumeData(cb func(*resume.Data, error)) { t.requestResume(cb) }
