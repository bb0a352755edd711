package shardtorrent

// Resume data in the session: reading it into AddTorrentParams, saving it
// to Settings.ResumeDir off the loops (resumeSaver), and the handle's
// SaveResumeData.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/resume"
	"github.com/shardtorrent/shardtorrent/shard"
	"github.com/shardtorrent/shardtorrent/storage"
)

// ReadResumeData decodes resume data in libtorrent's format (package
// resume) into the parameters that re-add its torrent, as libtorrent's
// read_resume_data: InfoHash, the metadata (MetaInfo, when the data carries
// its "info"), Name, SavePath, Trackers, Paused and Resume. The caller
// may change any of them (SavePath is required) before AddTorrent. Safe
// from any goroutine.
func ReadResumeData(b []byte) (AddTorrentParams, error) {
	d, err := resume.Decode(b)
	if err != nil {
		return AddTorrentParams{}, err
	}
	return ParamsFromResume(d)
}

// ParamsFromResume is ReadResumeData for data already decoded (a
// resume.Store's LoadAll). d is kept as Resume. Safe from any goroutine.
func ParamsFromResume(d *resume.Data) (AddTorrentParams, error) {
	p := AddTorrentParams{
		InfoHash: d.InfoHash,
		Name:     d.Name,
		SavePath: d.SavePath,
		Trackers: d.Trackers,
		Paused:   d.Paused,
		Resume:   d,
		// Older files of ours always said auto_managed 0: trusted only
		// with the policy keys (resume.Data.Policy).
		NotAutoManaged: d.Policy && !d.AutoManaged,
	}
	if len(d.Info) > 0 {
		info, err := metainfo.ParseInfo(d.Info)
		if err != nil {
			return AddTorrentParams{}, fmt.Errorf("shardtorrent: resume data of %s: %w", d.InfoHash, err)
		}
		p.MetaInfo = &metainfo.MetaInfo{Info: *info, InfoBytes: d.Info, InfoHash: d.InfoHash}
		p.Name = ""
	}
	return p, nil
}

// resumeStat stats the files resume data d is to be compared with, here,
// off the loops (AddTorrents runs it in parallel): nil when there is
// nothing to compare or the stat failed (the shard then stats, and
// rejects, itself). A torrent with its own storage (open non-nil) is
// statted by that storage, on the loop.
func resumeStat(d *resume.Data, info *metainfo.Info, savePath string, open storage.Opener) []storage.FileStat {
	if d == nil || d.Files == nil || info == nil || open != nil {
		return nil
	}
	st, err := shard.StatFiles(info, savePath)
	if err != nil {
		return nil
	}
	return st
}

// drain runs every shard's Drain (peers dropped, writes completed, storage
// synced, changed torrents saved), then waits for the saver to write what
// they handed it; all within ctx.
func (s *Session) drain(ctx context.Context) error {
	var dones []chan struct{}
	var first error
	for _, sh := range s.shards {
		done := make(chan struct{})
		if err := s.runOnLoop(ctx, sh, func() { sh.Drain(func() { close(done) }) }); err != nil {
			first = cmp.Or(first, err)
			continue
		}
		dones = append(dones, done)
	}
	for _, done := range dones {
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.saver != nil {
		err := s.saver.flush(ctx)
		s.saver.close()
		first = cmp.Or(first, err)
	}
	return first
}

// resumeSaver writes the resume data the shards hand it (shard.ResumeSink)
// into a resume.Store on its own goroutines: encoding and the fsyncs of
// resume.WriteFileAtomic never run on a loop. Per torrent it keeps only the
// newest request and runs at most one at a time, in order, so a removal
// queued after a save wins. Safe from any goroutine.
type resumeSaver struct {
	store *resume.Store
	log   *slog.Logger

	mu   sync.Mutex
	cond sync.Cond
	// Guarded by mu. Invariant: a key is in queue iff it is in pending;
	// a key in running is being written by one worker.
	pending map[[20]byte]saveItem
	queue   [][20]byte
	running map[[20]byte]bool
	closed  bool
	wg      sync.WaitGroup
}

type saveItem struct {
	ih     metainfo.InfoHash
	d      *resume.Data // nil: remove
	remove bool
}

// saveWorkers is how many resume files are written at once: each write
// waits on two fsyncs, so a few in parallel keep a disk busy at Close.
const saveWorkers = 8

func newResumeSaver(dir string, log *slog.Logger) (*resumeSaver, error) {
	st, err := resume.OpenStore(dir)
	if err != nil {
		return nil, err
	}
	r := &resumeSaver{store: st, log: log, pending: map[[20]byte]saveItem{}, running: map[[20]byte]bool{}}
	r.cond.L = &r.mu
	r.wg.Add(saveWorkers)
	for range saveWorkers {
		go r.work()
	}
	return r, nil
}

// SaveResume implements shard.ResumeSink: it queues d and returns.
func (r *resumeSaver) SaveResume(ih metainfo.InfoHash, d *resume.Data) {
	r.put(saveItem{ih: ih, d: d})
}

// RemoveResume implements shard.ResumeSink.
func (r *resumeSaver) RemoveResume(ih metainfo.InfoHash) {
	r.put(saveItem{ih: ih, remove: true})
}

func (r *resumeSaver) put(it saveItem) {
	k := it.ih.Short()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if _, queued := r.pending[k]; !queued {
		r.queue = append(r.queue, k)
	}
	r.pending[k] = it
	r.cond.Broadcast()
}

// next takes the oldest queued torrent not being written; ok is false once
// closed and drained.
func (r *resumeSaver) next() (saveItem, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		for i, k := range r.queue {
			if r.running[k] {
				continue
			}
			it := r.pending[k]
			delete(r.pending, k)
			r.queue = append(r.queue[:i], r.queue[i+1:]...)
			r.running[k] = true
			return it, true
		}
		if r.closed && len(r.queue) == 0 {
			return saveItem{}, false
		}
		r.cond.Wait()
	}
}

func (r *resumeSaver) work() {
	defer r.wg.Done()
	for {
		it, ok := r.next()
		if !ok {
			return
		}
		var err error
		if it.remove {
			err = r.store.Remove(it.ih)
		} else {
			err = r.store.Save(it.ih, it.d)
		}
		if err != nil {
			r.log.Warn("resume data not saved", "torrent", it.ih, "err", err)
		}
		r.mu.Lock()
		delete(r.running, it.ih.Short())
		r.cond.Broadcast()
		r.mu.Unlock()
	}
}

// flush waits until everything queued so far is written, or ctx ends.
func (r *resumeSaver) flush(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		r.mu.Lock()
		for len(r.queue) > 0 || len(r.running) > 0 {
			r.cond.Wait()
		}
		r.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops the workers after what is queued; later requests are
// dropped. It does not wait for them (flush does).
func (r *resumeSaver) close() {
	r.mu.Lock()
	r.closed = true
	r.cond.Broadcast()
	r.mu.Unlock()
}

// SaveResumeData syncs the torrent's files and returns its resume data in
// libtorrent's format (package resume): the pieces written and synced, the
// file stats after the sync, totals and times, trackers, and its info
// dictionary. It also posts a SaveResumeDataAlert carrying the bytes. A
// torrent without metadata gets a SaveResumeDataFailedAlert and an error
// matching ErrMetadataPending (as the readers and priorities give). Safe
// from any goroutine; the encoding runs on the caller's goroutine, never on
// the loop.
func (t *Torrent) SaveResumeData(ctx context.Context) ([]byte, error) {
	type result struct {
		d   *resume.Data
		err error
	}
	ch := make(chan result, 1)
	if err := t.do(ctx, func(x *shard.Torrent) {
		x.RequestResumeData(func(d *resume.Data, err error) { ch <- result{d, err} })
	}); err != nil {
		return nil, err
	}
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.s.stopped:
		return nil, ErrClosed
	}
	base := plugin.TorrentAlert{InfoHash: t.ih, Torrent: t.Name(), Handle: t}
	if r.err != nil {
		err := r.err
		switch {
		case errors.Is(err, shard.ErrUnknownTorrent):
			err = ErrTorrentGone
		case errors.Is(err, shard.ErrNoMetadata):
			err = fmt.Errorf("%w: %w", ErrMetadataPending, err)
		}
		t.s.alerts.Post(&plugin.SaveResumeDataFailedAlert{TorrentAlert: base, Err: err})
		return nil, err
	}
	b, err := resume.Encode(r.d)
	if err != nil {
		t.s.alerts.Post(&plugin.SaveResumeDataFailedAlert{TorrentAlert: base, Err: err})
		return nil, err
	}
	t.s.alerts.Post(&plugin.SaveResumeDataAlert{TorrentAlert: base, Data: b})
	return b, nil
}

// ForceRecheck drops the torrent's pieces and checks its files in full,
// as libtorrent's force_recheck; it then continues downloading or seeding.
// Safe from any goroutine.
func (t *Torrent) ForceRecheck(ctx context.Context) error {
	return t.do(ctx, func(x *shard.Torrent) { x.ForceRecheck() })
}

// RemoveOption changes what Remove does.
type RemoveOption uint8

// RemoveDeleteFiles deletes the torrent's files once its storage is
// closed (libtorrent's session::delete_files); TorrentDeletedAlert or
// TorrentDeleteFailedAlert reports the outcome.
const RemoveDeleteFiles RemoveOption = 1
