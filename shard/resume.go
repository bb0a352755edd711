package shard

// Resume data: applying it when a torrent is added, producing it
// (ResumeData, only durable pieces: durable.go), saving it through the
// shard's ResumeSink, and the operations around a torrent's files that go
// with it (ForceRecheck, RemoveWithFiles, closing the storage, draining a
// shard before the session closes).

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/resume"
	"github.com/shardtorrent/shardtorrent/storage"
)

// Errors of resume handling.
var (
	// ErrNoMetadata: the torrent has no metadata yet, so it has no resume
	// data worth saving (libtorrent's save_resume_data_failed for a magnet).
	ErrNoMetadata = errors.New("shard: torrent has no metadata")
	// ErrResumeRejected matches every *ResumeRejectedError.
	ErrResumeRejected = errors.New("shard: resume data rejected")
)

// ResumeRejectedError says why resume data given with a torrent was not
// used (the torrent is then checked in full). File is the file, inside the
// save directory, whose size or time differs, if one did.
type ResumeRejectedError struct {
	Reason string
	File   string
}

func (e *ResumeRejectedError) Error() string {
	if e.File != "" {
		return "shard: resume data rejected: " + e.File + ": " + e.Reason
	}
	return "shard: resume data rejected: " + e.Reason
}

// Is makes errors.Is(err, ErrResumeRejected) true.
func (e *ResumeRejectedError) Is(target error) bool { return target == ErrResumeRejected }

// ResumeSink receives the resume data a shard saves on its own: every
// ResumeSaveInterval for torrents that changed, on completion, on pause and
// when the session closes (Drain). Its methods are called on the shard's
// loop and must not block: the sink encodes and writes on its own
// goroutines. It is shared by the session's shards.
type ResumeSink interface {
	// SaveResume stores d (the sink's to keep) for the torrent ih.
	SaveResume(ih metainfo.InfoHash, d *resume.Data)
	// RemoveResume forgets the torrent ih (it was removed).
	RemoveResume(ih metainfo.InfoHash)
}

// resumeState is a torrent's resume bookkeeping. Owned by the loop.
type resumeState struct {
	// dirty is set when something resume data records changed since the
	// last save was taken (durable pieces, pause, completion, a check).
	dirty bool
	// rejected is set when resume data given at add did not fit.
	rejected bool
	// Totals and times carried over from resume data; this session's
	// payload counters (totalDown, totalUp) add to the totals.
	baseDown, baseUp int64
	added, completed time.Time
	activeBase       int64 // seconds active before this session
	seedingBase      int64
	started          time.Time // when this session's torrent was added
}

// ResumeSaveInterval is how often a shard with a ResumeSink saves the
// torrents that changed, when Config.ResumeSaveInterval is zero.
const ResumeSaveInterval = 5 * time.Minute

// layoutOf is the storage layout of info.
func layoutOf(info *metainfo.Info) storage.Layout { return storage.LayoutOf(info) }

// openStorage opens the torrent's storage with its Opener (AddParams.Storage),
// or the file storage with the session's direct-write setting. Loop only;
// an Opener must not block.
func (t *Torrent) openStorage(info *metainfo.Info) (storage.Storage, error) {
	p := storage.OpenParams{InfoHash: t.ih, Info: info, Layout: layoutOf(info), Dir: t.savePath}
	if t.opener != nil {
		return t.opener(p)
	}
	st, err := storage.OpenFiles(p)
	if err != nil {
		return nil, err
	}
	st.(*storage.FileStorage).SetDirectWrites(t.s.set.DirectWrites)
	return st, nil
}

// StatFiles stats the files of info under savePath, as AddParams.ResumeStat
// wants them: the session calls it off the loops, in parallel, so that
// adding thousands of torrents with resume data costs the loops no disk
// I/O. Safe from any goroutine; blocks on the disk.
func StatFiles(info *metainfo.Info, savePath string) ([]storage.FileStat, error) {
	st, err := storage.Open(savePath, layoutOf(info))
	if err != nil {
		return nil, err
	}
	return st.Stat()
}

// infoFromResume returns the info dictionary carried by resume data d if
// it hashes to ih (a magnet re-added from its resume data starts with its
// metadata), else nil.
func infoFromResume(ih metainfo.InfoHash, d *resume.Data) (*metainfo.Info, []byte) {
	if d == nil || len(d.Info) == 0 || !ih.HasV1() || metainfo.HashV1(sha1.Sum(d.Info)) != ih.V1 {
		return nil, nil
	}
	info, err := metainfo.ParseInfo(d.Info)
	if err != nil {
		return nil, nil
	}
	return info, bytes.Clone(d.Info)
}

// applyResume trusts d's pieces without hashing if d belongs to the
// torrent and its files are as d recorded them (stats are the files' stats
// now; nil: stat them here). Otherwise it posts a FastresumeRejectedAlert
// and returns false: the caller checks the torrent in full. Loop only.
func (t *Torrent) applyResume(d *resume.Data, stats []storage.FileStat) bool {
	t.setState(plugin.StateCheckingResume)
	np := t.info.NumPieces()
	reject := func(err *ResumeRejectedError) bool {
		t.rs.rejected = true
		t.s.post(&plugin.FastresumeRejectedAlert{TorrentAlert: t.alertBase(), File: err.File, Err: err})
		return false
	}
	if d.InfoHash.Short() != t.wireIH {
		return reject(&ResumeRejectedError{Reason: fmt.Sprintf("resume data of another torrent (%s)", d.InfoHash)})
	}
	if len(d.Pieces) != np {
		return reject(&ResumeRejectedError{Reason: fmt.Sprintf("%d piece flags for %d pieces", len(d.Pieces), np)})
	}
	if d.Files != nil {
		if stats == nil {
			var err error
			if stats, err = t.st.Stat(); err != nil {
				return reject(&ResumeRejectedError{Reason: err.Error()})
			}
		}
		if len(stats) != len(d.Files) {
			return reject(&ResumeRejectedError{Reason: fmt.Sprintf("%d file stats for %d files", len(d.Files), len(stats))})
		}
		for i, f := range d.Files {
			if f.Size != stats[i].Size || f.MTime != stats[i].MTime {
				return reject(&ResumeRejectedError{
					File:   filepath.Join(t.info.Files[i].Path...),
					Reason: fmt.Sprintf("size %d, modified %d; resume data says size %d, modified %d", stats[i].Size, stats[i].MTime, f.Size, f.MTime),
				})
			}
		}
		t.dur.stats = stats
	}
	t.rs.baseDown, t.rs.baseUp = d.TotalDownloaded, d.TotalUploaded
	if d.AddedTime > 0 {
		t.rs.added = time.Unix(d.AddedTime, 0)
	}
	if d.CompletedTime > 0 {
		t.rs.completed = time.Unix(d.CompletedTime, 0)
	}
	t.rs.activeBase, t.rs.seedingBase = d.ActiveTime, d.SeedingTime
	n := 0
	for i := 0; i < np; i++ {
		if d.Has(i) {
			t.pk.SetHave(i)
			t.have.Set(i)
			n++
			if d.SeedMode && d.Pieces[i]&resume.PieceVerified == 0 {
				t.markUnverified(i) // hashed on its first request (seedmode.go)
			}
		}
	}
	if t.pk.Complete() {
		// A torrent complete when it was saved has announced completion.
		t.onFinishedOnce = true
	}
	t.rs.dirty = false // as saved
	t.filesReady(n)
	return true
}

// ResumeData returns the torrent's resume data as of now: the pieces that
// are durable (written and synced, or found on disk by a check, or trusted
// from earlier resume data), the file stats taken after the last sync, the
// totals and times. Pieces are left out (nil), so a reload checks in full,
// while the torrent is checking or before any sync gave the file stats.
// Loop only.
func (t *Torrent) ResumeData() *resume.Data {
	now := t.s.now()
	d := &resume.Data{
		InfoHash:        t.ih,
		Name:            t.Name(),
		SavePath:        t.savePath,
		TotalDownloaded: t.rs.baseDown + t.totalDown,
		TotalUploaded:   t.rs.baseUp + t.totalUp,
		Trackers:        t.trackers,
		Paused:          t.paused && !t.autoManaged, // a queue stop is not saved (queue.go)
		Info:            t.meta.infoBytes,
		AddedTime:       t.rs.added.Unix(),
		ActiveTime:      t.rs.activeBase + int64(now.Sub(t.rs.started)/time.Second),
		SeedingTime:     t.rs.seedingBase,
	}
	if !t.rs.completed.IsZero() {
		d.CompletedTime = t.rs.completed.Unix()
	}
	t.savePolicy(d) // policy.go
	if t.info != nil {
		t.resumePriorities(d) // priority.go
	}
	if t.info == nil || t.checking || t.dur.stats == nil {
		return d
	}
	np := t.info.NumPieces()
	d.Pieces = make([]byte, np)
	for i := 0; i < np; i++ {
		switch {
		case !t.have.Has(i) || t.dur.pending.Has(i):
		case t.Unverified(i):
			// Seed mode's word only: present, not verified, and the
			// torrent stays in seed mode on reload (as libtorrent).
			d.Pieces[i] = resume.PieceHave
			d.SeedMode = true
		default:
			d.Pieces[i] = resume.PieceHave | resume.PieceVerified
		}
	}
	d.Files = make([]resume.FileStat, len(t.dur.stats))
	for i, s := range t.dur.stats {
		d.Files[i] = resume.FileStat{Size: s.Size, MTime: s.MTime}
	}
	return d
}

// initResume sets the times of a torrent that has no resume data yet.
func (t *Torrent) initResume() {
	t.rs.started = t.s.now()
	t.rs.added = t.rs.started
}

// resumeChanged notes a change resume data records, and saves at once
// when save is set and the shard has a sink.
func (t *Torrent) resumeChanged(save bool) {
	t.rs.dirty = true
	if save {
		t.saveResume()
	}
}

// saveResume syncs the torrent and hands its resume data to the shard's
// sink. Nothing without a sink or metadata. Loop only.
func (t *Torrent) saveResume() {
	sink := t.s.resume
	if sink == nil || t.info == nil || t.removed {
		return
	}
	t.requestResume(func(_ *resume.Data, err error) {
		if err != nil || t.removed {
			return
		}
		t.rs.dirty = false
		sink.SaveResume(t.ih, t.ResumeData())
	})
}

// saveChanged saves every torrent that changed since its last save; the
// shard's tick calls it every ResumeSaveInterval. Loop only.
func (s *Shard) saveChanged(now time.Time) {
	if s.resume == nil || now.Before(s.nextSave) {
		return
	}
	s.nextSave = now.Add(s.saveEvery)
	for _, t := range s.torrents {
		if t.rs.dirty && !t.checking {
			t.saveResume()
		}
	}
}

// filesReady ends a check (or the acceptance of resume data) with n
// pieces present: the checked alert, the state, OnFilesChecked, and, unless
// paused, announcing and connecting.
func (t *Torrent) filesReady(n int) {
	t.s.post(&plugin.TorrentCheckedAlert{TorrentAlert: t.alertBase(), Have: n, Total: t.info.NumPieces()})
	if t.pk.Complete() {
		t.finishedAtLoad() // priority.go
		_ = t.st.CreateEmptyFiles()
	} else {
		t.setState(plugin.StateDownloading)
	}
	t.setFilesChecked()
	t.wakeHad() // readers waiting for pieces the check found (stream.go)
	if t.removed || t.paused {
		return
	}
	t.startAnnouncing()
	// Peers that connected while we were checking saw an empty bitfield;
	// tell them what we have now.
	for _, p := range t.peers {
		if p.active() {
			for i := 0; i < t.info.NumPieces(); i++ {
				if t.have.Has(i) {
					p.sendHave(uint32(i))
				}
			}
			p.updateInterest()
		}
	}
	t.connectMore(t.s.now())
}

// ForceRecheck drops every have bit and checks the torrent's files in
// full, as libtorrent's force_recheck: peers are disconnected, and the
// torrent continues (downloading or seeding) after the check. Nothing for
// a torrent without metadata or already checking. Loop only.
func (t *Torrent) ForceRecheck() {
	if t.info == nil || t.checking || t.removed {
		return
	}
	t.stopAnnouncing()
	t.disconnectAll(ReasonTorrentStop)
	for i := 0; i < t.info.NumPieces(); i++ {
		if t.have.Has(i) {
			t.pk.ClearHave(i)
			t.have.Clear(i)
		}
	}
	// Pieces written but not synced stay pending: the check may find
	// them in the page cache, which does not make them durable.
	t.filesChecked = false
	t.rs.dirty = true
	t.startCheck()
}

// RemoveWithFiles removes the torrent, as Remove, and then deletes its
// files (after its storage is closed), posting TorrentDeletedAlert or
// TorrentDeleteFailedAlert. Loop only.
func (t *Torrent) RemoveWithFiles() {
	if t.removed {
		return
	}
	t.deleteFiles = true
	t.Remove()
}

// closeStorage submits the JobClose of the torrent's storage (sync, then
// close) and, for a torrent removed with its files, deletes them. Both run
// on a disk worker; failures are posted as FileErrorAlert and
// TorrentDeleteFailedAlert.
func (t *Torrent) closeStorage() {
	if t.st == nil {
		return
	}
	c := &closeJob{sink: t.s.alerts, base: t.alertBase(), st: t.st, disk: t.s.disk, delete: t.deleteFiles}
	j := t.s.disk.NewJob()
	j.Kind = storage.JobClose
	j.Storage = t.st
	j.User = c
	j.Done = onCloseJob // on the worker: deleting files blocks on the disk
	t.s.disk.Submit(j)
}

// closeJob is what a close completion needs; it never touches the torrent.
type closeJob struct {
	sink   AlertSink
	base   plugin.TorrentAlert
	st     storage.Storage
	disk   *storage.Disk
	delete bool
}

func (c *closeJob) post(a plugin.Alert) {
	if c.sink != nil {
		c.sink.Post(a)
	}
}

func onCloseJob(j *storage.Job) {
	c := j.User.(*closeJob)
	err := j.Err
	c.disk.Free(j)
	if err != nil && !errors.Is(err, storage.ErrClosed) {
		c.post(fileErrorAlert(c.base, err))
	}
	if !c.delete {
		return
	}
	if err := c.st.DeleteFiles(); err != nil {
		c.post(&plugin.TorrentDeleteFailedAlert{TorrentAlert: c.base, Err: err})
		return
	}
	c.post(&plugin.TorrentDeletedAlert{TorrentAlert: c.base})
}

// fileErrorAlert describes a storage failure, naming the file and the
// operation when err carries them.
func fileErrorAlert(base plugin.TorrentAlert, err error) *plugin.FileErrorAlert {
	a := &plugin.FileErrorAlert{TorrentAlert: base, Err: err}
	var fe *storage.FileError
	if errors.As(err, &fe) {
		a.File, a.Op = fe.Path, fe.Op
	}
	return a
}

// Drain prepares the shard for the session's close: every torrent stops
// announcing and drops its peers, its piece writes in flight complete, its
// storage is synced, and, with a sink, the torrents that changed since
// their last save are saved. done runs on the loop when all of that is
// over. The torrents stay in the shard (Close removes them). Loop only.
func (s *Shard) Drain(done func()) {
	left := 1
	finish := func() {
		if left--; left == 0 {
			done()
		}
	}
	for _, t := range s.torrents {
		if t.removed {
			continue
		}
		left++
		t.draining = true
		t.stopAnnouncing()
		t.disconnectAll(ReasonShutdown)
		t.whenWritesDone(func() {
			if t.info == nil || t.st == nil {
				finish()
				return
			}
			save := s.resume != nil && (t.rs.dirty || len(t.dur.unsynced) > 0)
			t.requestResume(func(_ *resume.Data, err error) {
				if save && err == nil {
					t.rs.dirty = false
					s.resume.SaveResume(t.ih, t.ResumeData())
				}
				finish()
			})
		})
	}
	finish()
}
