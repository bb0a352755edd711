package shard

// File and piece priorities, as libtorrent 2.0.8's (torrent.cpp
// prioritize_files, update_piece_priorities, prioritize_pieces):
//
//   - A priority is 0 (don't download) to 7 (top); 4 is the default.
//     Larger values are clamped to 7.
//   - Setting file priorities recomputes every piece's priority: a piece
//     starts at 0 and takes the highest priority of the non-empty, non-pad
//     files it overlaps. A piece that straddles a skipped file and a wanted
//     one is therefore downloaded (its bytes in the skipped file go to the
//     storage's part file). This replaces piece priorities set before.
//   - Setting piece priorities overrides the file-derived priority of those
//     pieces (even down to 0 inside a wanted file) until file priorities are
//     set again; they need the metadata (ErrNoMetadata before).
//   - File priorities may be set before the metadata arrives (a magnet):
//     they are kept and applied when it does, before the check.
//   - "Finished" is every wanted piece had (libtorrent's is_finished, our
//     isSeed and StateFinished); "seeding" is every piece had (is_seed,
//     StateSeeding). TorrentFinishedAlert is posted each time the torrent
//     becomes finished; a finished torrent whose file becomes wanted again
//     goes back to downloading (resume_download). The tracker's "completed"
//     event and "left" follow libtorrent: left counts every piece not had,
//     skipped or not, and completed is sent once, when every piece is had.
//
// File indexes here are those of the torrent's visible files: the files of
// its metadata in order with pad files (BEP 47) left out, as the session's
// Torrent.Files lists them. Resume data keeps libtorrent's own indexing
// (every file, pads included).

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/shardtorrent/shardtorrent/picker"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/resume"
	"github.com/shardtorrent/shardtorrent/storage"
)

// Priorities, libtorrent's download_priority_t values.
const (
	// PriorityDontDownload skips a file or piece.
	PriorityDontDownload = picker.DontDownload
	// PriorityLow is libtorrent's low_priority.
	PriorityLow = 1
	// PriorityDefault is the priority of every file and piece until set.
	PriorityDefault = picker.DefaultPriority
	// PriorityTop is the highest priority.
	PriorityTop = picker.MaxPriority
)

// maxPendingFiles bounds the file priorities kept for a torrent without
// metadata: no valid torrent has more files.
const maxPendingFiles = resume.MaxFiles

// ErrPriorityArg matches every *PriorityArgError.
var ErrPriorityArg = errors.New("shard: bad priority argument")

// PriorityArgError is a file or piece index out of range, or a list of
// piece priorities of the wrong length.
type PriorityArgError struct {
	What  string // "file", "piece" or "piece priorities"
	Index int    // the index, or the length given
	Limit int    // the number of files or pieces
}

func (e *PriorityArgError) Error() string {
	if e.What == "piece priorities" {
		return fmt.Sprintf("shard: %d piece priorities for %d pieces", e.Index, e.Limit)
	}
	return fmt.Sprintf("shard: %s %d out of range [0, %d)", e.What, e.Index, e.Limit)
}

// Is makes errors.Is(err, ErrPriorityArg) true.
func (e *PriorityArgError) Is(target error) bool { return target == ErrPriorityArg }

// prioState is a torrent's priorities. Owned by the loop.
type prioState struct {
	// files are the file priorities by metadata index (pads 0); nil while
	// none was ever set or the metadata is unknown.
	files []uint8
	// Before the metadata: pendingVisible by visible index (set through
	// the API or AddParams), pendingFull by metadata index (resume
	// data's file_priority), pendingPieces (resume data's
	// piece_priority). Applied, in that order of precedence, by
	// applyPending.
	pendingVisible []uint8
	pendingFull    []uint8
	pendingPieces  []uint8
	// custom: some priority was set, so pieces may be skipped; without it
	// Status takes the wanted totals as the whole torrent.
	custom bool
	// completeSent: the tracker was told "completed" (or the torrent was
	// complete when added): it is not told again.
	completeSent bool
	// wantedBusy: a SetWantedFiles call runs off the loop (sendWanted);
	// wantedNext is the mask to send when it ends, nil if none; held are
	// complete pieces whose write waits for it (holdWrite). Invariant:
	// wantedNext and held are empty unless wantedBusy.
	wantedBusy bool
	wantedNext []bool
	held       []uint32
}

// clampPrio clamps p to a priority.
func clampPrio(p int) uint8 { return uint8(max(PriorityDontDownload, min(p, PriorityTop))) }

// initPriorities takes the priorities of AddParams and resume data, and
// applies them if the metadata is known. Loop only, at add.
func (t *Torrent) initPriorities(visible []uint8, d *resume.Data) {
	if d != nil {
		if len(d.FilePriority) > 0 {
			t.prio.pendingFull = make([]uint8, len(d.FilePriority))
			for i, p := range d.FilePriority {
				t.prio.pendingFull[i] = clampPrio(p)
			}
		}
		if len(d.PiecePriority) > 0 {
			t.prio.pendingPieces = make([]uint8, len(d.PiecePriority))
			for i, p := range d.PiecePriority {
				t.prio.pendingPieces[i] = clampPrio(int(p))
			}
		}
	}
	if len(visible) > maxPendingFiles {
		visible = visible[:maxPendingFiles]
	}
	if visible != nil {
		t.prio.pendingVisible = make([]uint8, len(visible))
		for i, p := range visible {
			t.prio.pendingVisible[i] = clampPrio(int(p))
		}
	}
	if t.info != nil {
		t.applyPending()
	}
}

// skipsAny reports whether a priority given at add skips a file or a
// piece (seed mode is then refused, as libtorrent does). Pad files, always
// 0, do not count.
func (t *Torrent) skipsAny() bool {
	for i, p := range t.prio.files {
		if p == 0 && !t.info.Files[i].IsPad() {
			return true
		}
	}
	for _, l := range [][]uint8{t.prio.pendingVisible, t.prio.pendingFull, t.prio.pendingPieces} {
		if slices.Contains(l, 0) {
			return true
		}
	}
	if t.pk != nil {
		for i := range t.info.NumPieces() {
			if t.pk.Priority(i) == 0 {
				return true
			}
		}
	}
	return false
}

// applyPending applies the priorities kept while the metadata was unknown
// (and those given at add): file priorities first, then piece priorities
// over them, as libtorrent's torrent::init. Loop only; needs the metadata.
func (t *Torrent) applyPending() {
	pv, pf, pp := t.prio.pendingVisible, t.prio.pendingFull, t.prio.pendingPieces
	t.prio.pendingVisible, t.prio.pendingFull, t.prio.pendingPieces = nil, nil, nil
	if pv != nil || pf != nil {
		files := t.filePrios()
		for i := range files {
			if i < len(pf) {
				files[i] = pf[i]
			}
		}
		vis := 0
		for i, f := range t.info.Files {
			if f.IsPad() {
				continue
			}
			if vis < len(pv) {
				files[i] = pv[vis]
			}
			vis++
		}
		t.setFilePrios(files)
	}
	if n := t.info.NumPieces(); len(pp) > 0 {
		for i := range min(len(pp), n) {
			t.pk.SetPriority(i, int(pp[i]))
		}
		t.prio.custom = true
	}
}

// filePrios returns a copy of the file priorities by metadata index (the
// defaults if none was set; pads 0). Needs the metadata.
func (t *Torrent) filePrios() []uint8 {
	out := make([]uint8, len(t.info.Files))
	for i, f := range t.info.Files {
		switch {
		case f.IsPad():
		case t.prio.files != nil:
			out[i] = t.prio.files[i]
		default:
			out[i] = PriorityDefault
		}
	}
	return out
}

// setFilePrios makes files (by metadata index, owned by t from now on)
// the file priorities: every piece's priority is recomputed from them
// (libtorrent's update_piece_priorities), and the storage is told which
// files are wanted (sendWanted). Needs the metadata.
func (t *Torrent) setFilePrios(files []uint8) {
	info := t.info
	for i, f := range info.Files {
		if f.IsPad() {
			files[i] = 0
		}
	}
	t.prio.files = files
	t.prio.custom = true
	np := info.NumPieces()
	prios := make([]uint8, np)
	for i, f := range info.Files {
		if f.Length == 0 || files[i] == 0 {
			continue
		}
		first := int(f.Offset / info.PieceLength)
		last := int((f.Offset + f.Length - 1) / info.PieceLength)
		for p := first; p <= last && p < np; p++ {
			prios[p] = max(prios[p], files[i])
		}
	}
	for p, prio := range prios {
		t.pk.SetPriority(p, int(prio))
	}
	t.sendWanted()
}

// sendWanted tells the storage which files are wanted (its
// SetWantedFiles: a skipped file is never created, the bytes of pieces
// straddling its boundary go to the file storage's part file). The call
// may block on the disk (it moves bytes out of the part file), so it runs
// as a JobSetWanted on a disk worker, one at a time per torrent, the
// latest mask last (libtorrent's outstanding file priority and its
// deferred ones). While one runs, piece writes wait (holdWrite), so no
// byte of a newly skipped file reaches that file. A failure stops the
// torrent (wantedDone). Loop only.
func (t *Torrent) sendWanted() {
	mask := make([]bool, len(t.prio.files))
	for i, p := range t.prio.files {
		mask[i] = p > 0
	}
	if t.prio.wantedBusy {
		t.prio.wantedNext = mask
		return
	}
	t.startWanted(mask)
}

func (t *Torrent) startWanted(mask []bool) {
	t.prio.wantedBusy = true
	j := t.s.disk.NewJob()
	j.Kind = storage.JobSetWanted
	j.Storage = t.st
	j.Wanted = mask
	j.Poster = t.s.loop
	j.User = t
	j.Done = onWantedSet
	t.s.disk.Submit(j)
}

func onWantedSet(j *storage.Job) {
	t := j.User.(*Torrent)
	err := j.Err
	t.s.disk.Free(j)
	t.wantedDone(err)
}

// wantedDone ends a SetWantedFiles call: the next mask goes out, or the
// writes held meanwhile are submitted (dropped, to be downloaded again, if
// the call failed and stopped the torrent).
func (t *Torrent) wantedDone(err error) {
	t.prio.wantedBusy = false
	if t.removed {
		t.prio.wantedNext, t.prio.held = nil, nil
		return
	}
	if err != nil {
		t.prio.wantedNext = nil
		t.fail(err)
	}
	if next := t.prio.wantedNext; next != nil && err == nil {
		t.prio.wantedNext = nil
		t.startWanted(next)
		return
	}
	held := t.prio.held
	t.prio.held = nil
	for _, p := range held {
		pb := t.downloading[p]
		if pb == nil || pb.got != len(pb.blocks) {
			continue // dropped meanwhile (a recheck), or already written
		}
		if err != nil {
			t.dropPieceBuf(p)
			t.pk.PieceFailed(int(p))
			continue
		}
		t.pieceComplete(p)
	}
}

// holdWrite keeps a complete piece's blocks (in t.downloading) instead of
// writing it while the storage is learning which files are wanted; true if
// held. wantedDone submits it.
func (t *Torrent) holdWrite(piece uint32) bool {
	if !t.prio.wantedBusy {
		return false
	}
	t.prio.held = append(t.prio.held, piece)
	return true
}

// visibleToFull returns the metadata index of visible file v, or -1.
func (t *Torrent) visibleToFull(v int) int {
	if v < 0 {
		return -1
	}
	vis := 0
	for i, f := range t.info.Files {
		if f.IsPad() {
			continue
		}
		if vis == v {
			return i
		}
		vis++
	}
	return -1
}

// numVisible is the number of visible files. Needs the metadata.
func (t *Torrent) numVisible() int {
	n := 0
	for _, f := range t.info.Files {
		if !f.IsPad() {
			n++
		}
	}
	return n
}

// SetFilePriorities sets the priority of every visible file: prios[i] for
// file i (clamped to 0..7), PriorityDefault for files past the end of
// prios, as libtorrent's prioritize_files. Without metadata they are kept
// and applied when it arrives. Piece priorities set before are replaced
// by the ones the files give. Loop only.
func (t *Torrent) SetFilePriorities(prios []uint8) error {
	if t.removed {
		return ErrUnknownTorrent
	}
	if t.info == nil {
		if len(prios) > maxPendingFiles {
			return &PriorityArgError{What: "file", Index: len(prios) - 1, Limit: maxPendingFiles}
		}
		t.prio.pendingVisible = make([]uint8, len(prios))
		for i, p := range prios {
			t.prio.pendingVisible[i] = clampPrio(int(p))
		}
		return nil
	}
	was := t.isSeed()
	files := t.filePrios()
	vis := 0
	for i, f := range t.info.Files {
		if f.IsPad() {
			continue
		}
		files[i] = PriorityDefault
		if vis < len(prios) {
			files[i] = clampPrio(int(prios[vis]))
		}
		vis++
	}
	t.setFilePrios(files)
	t.prioritiesChanged(was)
	return nil
}

// SetFilePriority sets the priority of visible file i (clamped to 0..7).
// Without metadata it is kept and applied when the metadata arrives.
// Loop only.
func (t *Torrent) SetFilePriority(i int, prio uint8) error {
	if t.removed {
		return ErrUnknownTorrent
	}
	if t.info == nil {
		if i < 0 || i >= maxPendingFiles {
			return &PriorityArgError{What: "file", Index: i, Limit: maxPendingFiles}
		}
		for len(t.prio.pendingVisible) <= i {
			t.prio.pendingVisible = append(t.prio.pendingVisible, PriorityDefault)
		}
		t.prio.pendingVisible[i] = clampPrio(int(prio))
		return nil
	}
	full := t.visibleToFull(i)
	if full < 0 {
		return &PriorityArgError{What: "file", Index: i, Limit: t.numVisible()}
	}
	was := t.isSeed()
	files := t.filePrios()
	files[full] = clampPrio(int(prio))
	t.setFilePrios(files)
	t.prioritiesChanged(was)
	return nil
}

// FilePriorities returns the priority of every visible file; without
// metadata, those set so far (libtorrent's file_priorities). Loop only.
func (t *Torrent) FilePriorities() []uint8 {
	if t.info == nil {
		return append([]uint8(nil), t.prio.pendingVisible...)
	}
	out := make([]uint8, 0, len(t.info.Files))
	for i, f := range t.info.Files {
		if !f.IsPad() {
			out = append(out, t.FilePriorityAt(i))
		}
	}
	return out
}

// FilePriorityAt returns the priority of file i of the metadata (pads
// included, and 0). Needs the metadata; loop only.
func (t *Torrent) FilePriorityAt(i int) uint8 {
	switch {
	case t.info.Files[i].IsPad():
		return 0
	case t.prio.files != nil:
		return t.prio.files[i]
	}
	return PriorityDefault
}

// SetPiecePriorities sets the priority of every piece (clamped to 0..7),
// overriding what the file priorities gave them (libtorrent's
// prioritize_pieces). It needs the metadata (ErrNoMetadata) and exactly
// one priority per piece. Loop only.
func (t *Torrent) SetPiecePriorities(prios []uint8) error {
	if t.removed {
		return ErrUnknownTorrent
	}
	if t.info == nil {
		return ErrNoMetadata
	}
	if np := t.info.NumPieces(); len(prios) != np {
		return &PriorityArgError{What: "piece priorities", Index: len(prios), Limit: np}
	}
	was := t.isSeed()
	for i, p := range prios {
		t.pk.SetPriority(i, int(clampPrio(int(p))))
	}
	t.prio.custom = true
	t.prioritiesChanged(was)
	return nil
}

// SetPiecePriority sets the priority of one piece (libtorrent's
// piece_priority setter). Needs the metadata. Loop only.
func (t *Torrent) SetPiecePriority(piece int, prio uint8) error {
	if t.removed {
		return ErrUnknownTorrent
	}
	if t.info == nil {
		return ErrNoMetadata
	}
	if np := t.info.NumPieces(); piece < 0 || piece >= np {
		return &PriorityArgError{What: "piece", Index: piece, Limit: np}
	}
	was := t.isSeed()
	t.pk.SetPriority(piece, int(clampPrio(int(prio))))
	t.prio.custom = true
	t.prioritiesChanged(was)
	return nil
}

// PiecePriorities returns the priority of every piece; nil without
// metadata. Loop only.
func (t *Torrent) PiecePriorities() []uint8 {
	if t.info == nil {
		return nil
	}
	out := make([]uint8, t.info.NumPieces())
	for i := range out {
		out[i] = uint8(t.pk.Priority(i))
	}
	return out
}

// prioritiesChanged follows a change of priorities (wasFinished: the
// torrent was finished before it): resume data is due, peers' interest and
// requests follow, and the torrent becomes finished or downloads again
// (libtorrent's update_peer_interest).
func (t *Torrent) prioritiesChanged(wasFinished bool) {
	t.resumeChanged(false)
	if t.checking || !t.filesChecked || t.removed {
		return // the end of the check sets the state (filesReady)
	}
	for _, p := range t.peers {
		if p.active() {
			p.updateInterest()
			p.fillRequests()
		}
	}
	switch fin := t.isSeed(); {
	case !wasFinished && fin:
		t.finished()
	case wasFinished && !fin:
		t.resumeDownload()
	}
}

// wantDeadlinePiece raises a skipped piece that was given a deadline to
// PriorityTop, as libtorrent's set_piece_deadline does ("just in case this
// piece had priority 0"): peers that have it become interesting, and a
// finished torrent downloads again, so a reader of a skipped file gets its
// bytes. The raise stays after the deadline goes, as in libtorrent.
func (t *Torrent) wantDeadlinePiece(piece int) {
	if t.pk.Priority(piece) != PriorityDontDownload || t.have.Has(piece) {
		return
	}
	was := t.isSeed()
	t.pk.SetPriority(piece, PriorityTop)
	t.prio.custom = true
	t.prioritiesChanged(was)
}

// wantPiece reports whether piece i is one the torrent still wants: not
// had, and not skipped. Needs the metadata.
func (t *Torrent) wantPiece(i int) bool { return !t.have.Has(i) && t.pk.Priority(i) > 0 }

// doneState is the state of a torrent with every wanted piece: seeding if
// it has every piece, finished otherwise (libtorrent's is_seed).
func (t *Torrent) doneState() plugin.TorrentState {
	if t.have.All() {
		return plugin.StateSeeding
	}
	return plugin.StateFinished
}

// finishedAtLoad sets the state of a torrent that has every wanted piece
// when added (check, resume data or seed mode): no TorrentFinishedAlert,
// and a torrent with every piece does not announce "completed" again.
func (t *Torrent) finishedAtLoad() {
	t.setState(t.doneState())
	t.onFinishedOnce = true
	t.prio.completeSent = t.have.All()
}

// announceCompletedOnce tells the trackers "completed" the first time the
// torrent has every piece (libtorrent's m_complete_sent): a torrent that
// finished with skipped files has not completed.
func (t *Torrent) announceCompletedOnce() {
	if t.prio.completeSent || !t.have.All() {
		return
	}
	t.prio.completeSent = true
	t.announceCompleted()
}

// resumeDownload takes a finished torrent back to downloading after a
// skipped piece became wanted again (libtorrent's resume_download): its
// next finish posts TorrentFinishedAlert again, its completion time is
// cleared, and seeds, dropped as redundant when it finished, are dialled
// again at once.
func (t *Torrent) resumeDownload() {
	t.setState(plugin.StateDownloading)
	t.onFinishedOnce = false
	t.rs.completed = time.Time{}
	if t.paused {
		return
	}
	// Seeds were dropped as redundant when the torrent finished: that was
	// no failure, and its reason is gone, so they are due at once rather
	// than after MinReconnectTime.
	for _, c := range t.cands {
		if c.seed && !c.connected {
			c.lastTried = zeroTime
		}
	}
	now := t.s.now()
	t.nextDial = now
	t.connectMore(now)
}

// wantedBytes returns libtorrent's total_wanted and total_wanted_done: the
// bytes of the pieces not skipped, and of those had. A torrent with every
// piece, or without any priority set, wants all of it. Needs the
// metadata; O(pieces) once a priority was set.
func (t *Torrent) wantedBytes(total, done int64) (int64, int64) {
	if !t.prio.custom || t.have.All() {
		return total, done
	}
	var wanted, wantedDone int64
	for i := range t.info.NumPieces() {
		if t.pk.Priority(i) == 0 {
			continue
		}
		sz := t.info.PieceSize(i)
		wanted += sz
		if t.have.Has(i) {
			wantedDone += sz
		}
	}
	return wanted, wantedDone
}

// resumePriorities fills d's file_priority and piece_priority as
// libtorrent's write_resume_data: file priorities when any was set (not in
// seed mode), piece priorities when any differs from the default. Needs
// the metadata.
func (t *Torrent) resumePriorities(d *resume.Data) {
	if t.prio.files != nil && !d.SeedMode {
		d.FilePriority = make([]int, len(t.prio.files))
		for i, p := range t.prio.files {
			d.FilePriority[i] = int(p)
		}
	}
	np := t.info.NumPieces()
	for i := range np {
		if t.pk.Priority(i) == PriorityDefault {
			continue
		}
		d.PiecePriority = make([]byte, np)
		for j := range np {
			d.PiecePriority[j] = byte(t.pk.Priority(j))
		}
		return
	}
}
