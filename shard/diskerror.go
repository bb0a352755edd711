package shard

import (
	"errors"
	"time"

	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/storage"
)

// A torrent's error state, after a disk operation failed (libtorrent's
// torrent::handle_disk_error and set_error).
//
// Any write, read, sync, open or check failure with a real I/O error
// (ENOSPC, EIO, EROFS, EACCES, a file deleted or truncated under a
// verified piece) puts the torrent alone in its error state:
//   - FileErrorAlert (file, operation, errno) when the error names a file,
//     then TorrentErrorAlert; the first error wins, later ones of the same
//     episode (other jobs that were in flight) are not posted again;
//   - Status.Err and Status.ErrorFile are set, Status.State keeps what the
//     torrent was doing (downloading 50 % stays downloading);
//   - the torrent is paused: its peers are dropped, incoming connections are
//     refused (acceptsConnection), announcing stops (EventStopped);
//   - a piece whose write failed is not marked present: the picker gets it
//     back (onPieceWritten) and it is downloaded again.
//
// Resume clears the state and continues from the pieces already verified,
// without a check, unless the data behind verified pieces went away (a read
// found a file missing or short) or the check itself failed: then the
// torrent is checked again first. That re-check is our addition: libtorrent's
// clear_error re-checks only a torrent that never finished its check.
//
// A read that fails on a verified piece is a disk error too, as in
// libtorrent (file_too_short, no_such_file), not a lost piece: the data the
// torrent promised is gone and every other piece of that file is suspect.
// Pieces that seed mode never verified are different (seedmode.go): a
// missing or short file there just fails that piece.

// diskErrState is a torrent's error-state detail. Owned by the loop.
type diskErrState struct {
	// file is the path (inside the save directory) of the file whose
	// operation failed, "" if the error named none.
	file string
	// recheck: Resume must check the files before trusting them again.
	recheck bool
}

// fail puts the torrent in its error state after err; see the top of this
// file. Loop only.
func (t *Torrent) fail(err error) {
	if t.removed || errors.Is(err, storage.ErrClosed) {
		return // the storage went away with the torrent
	}
	if t.err != nil {
		return // already failed: the first error is the one reported
	}
	t.err = err
	defer t.noteState() // aggregate.go
	var fe *storage.FileError
	if errors.As(err, &fe) {
		t.diskErr.file = fe.Path
		if fe.Op == "read" && dataMissing(fe.Err) || fe.Op == "open" && errors.Is(fe.Err, storage.ErrMissing) {
			t.diskErr.recheck = true
		}
		t.s.post(&plugin.FileErrorAlert{TorrentAlert: t.alertBase(), File: fe.Path, Op: fe.Op, Err: fe.Err})
	}
	if t.info != nil && !t.filesChecked {
		t.diskErr.recheck = true // the check itself failed
	}
	t.s.post(&plugin.TorrentErrorAlert{TorrentAlert: t.alertBase(), Err: err})
	t.failWaits(err) // readers blocked on a piece get the error (stream.go)
	if t.paused {
		t.stopAnnouncing()
		return
	}
	t.pauseInternal()
}

// clearError leaves the error state (Resume) and reports whether the files
// must be checked again before the torrent continues. Loop only.
func (t *Torrent) clearError() (recheck bool) {
	if t.err == nil {
		return false
	}
	recheck = t.diskErr.recheck && t.info != nil
	t.err = nil
	t.diskErr = diskErrState{}
	// The error dropped every peer, through no fault of theirs: dial the
	// addresses again at once rather than after MinReconnectTime (the
	// node retries a disk error by Resume, and a download that resumes
	// must find its peers again).
	for _, c := range t.cands {
		if !c.connected {
			c.lastTried = time.Time{}
		}
	}
	if len(t.cands) > 0 {
		t.dueAt(t.s.now(), t.s.now())
	}
	return recheck
}

// recheckAfterError forgets what the torrent had and checks its files
// again: pieces still on disk and whole come back without a download.
// Loop only.
func (t *Torrent) recheckAfterError() {
	for piece := range t.downloading {
		t.dropPieceBuf(piece)
		t.pk.PieceFailed(int(piece))
	}
	for i := t.have.NextSet(0); i >= 0; i = t.have.NextSet(i + 1) {
		t.pk.ClearHave(i)
	}
	t.have.ClearAll()
	t.seed = seedModeState{} // the check verifies every piece it finds
	t.startCheck()
}

// ErrorFile returns the file named by the torrent's error, "" if none (or
// no error). Loop only.
func (t *Torrent) ErrorFile() string { return t.diskErr.file }

// Storage returns the torrent's storage, nil before its metadata is
// known: tests inject disk faults through it (the file storage's
// SetFaults). Loop
// only; the Storage's own methods are safe from any goroutine.
func (t *Torrent) Storage() storage.Storage { return t.st }
