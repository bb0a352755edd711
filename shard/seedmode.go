package shard

import (
	"errors"
	"fmt"

	"github.com/shardtorrent/shardtorrent/bitfield"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/storage"
)

// Seed mode, like libtorrent's: AddParams.SeedMode marks every piece
// present without reading a byte, so a torrent starts serving at once, but
// each piece is unverified until hashed. The first time a peer asks for a
// block of an unverified piece, the piece is hashed (one JobHashPiece per
// piece, however many blocks and peers ask) before any byte of it is sent;
// the requests of every peer for it wait in their upload queues meanwhile
// (serve stops at the first one).
//
//   - Pass: the piece is verified and served.
//   - Fail (wrong hash, or its file missing or short): the piece is marked
//     missing (losePiece: the picker wants it again, OnPieceLost sends
//     lt_donthave to peers that speak it, the waiting requests are
//     rejected), the torrent leaves seeding (state downloading) and fetches
//     the piece, and FileErrorAlert with Op "hash" and ErrCorruptPiece names
//     the piece's file; a HashFailedAlert names the piece. Pieces still
//     unverified stay so, and are hashed when asked for: a corrupted file is
//     never served.
//   - Any other I/O error is a disk error of the torrent (diskerror.go).
//
// libtorrent differs on a failure: it leaves seed mode for good and
// re-checks the whole torrent (leave_seed_mode(check_files)); we keep
// serving the pieces that verify and fetch the one that did not.

// ErrCorruptPiece: a piece seed mode trusted failed its hash when first
// asked for (FileErrorAlert.Err, with Op "hash"). Match with errors.Is.
var ErrCorruptPiece = errors.New("shard: piece on disk does not match its hash")

// PieceHashError is the FileErrorAlert error of a seed-mode piece that
// failed: which piece, and why (ErrCorruptPiece, or the storage's
// ErrMissing or io.ErrUnexpectedEOF for a missing or short file).
type PieceHashError struct {
	Piece int
	Err   error
}

func (e *PieceHashError) Error() string { return fmt.Sprintf("piece %d: %v", e.Piece, e.Err) }
func (e *PieceHashError) Unwrap() error { return e.Err }

// seedModeState tracks the pieces seed mode has not verified. Owned by the
// loop. Invariant: unverified is nil or has a bit set for each piece that is
// had and never hashed, verifying ⊆ unverified; both nil outside seed mode.
type seedModeState struct {
	unverified *bitfield.Bitfield
	verifying  *bitfield.Bitfield // pieces with a JobHashPiece in flight
}

// enterSeedMode marks every piece present and unverified. Loop only.
func (t *Torrent) enterSeedMode() {
	n := t.info.NumPieces()
	for i := range n {
		t.pk.SetHave(i)
		t.have.Set(i)
	}
	if n == 0 {
		return
	}
	t.seed.unverified = bitfield.New(n)
	t.seed.unverified.SetAll()
	t.seed.verifying = bitfield.New(n)
}

// markUnverified puts piece i, which the torrent has, back on seed mode's
// word: resume data saved in seed mode marks the pieces never hashed.
// Loop only.
func (t *Torrent) markUnverified(i int) {
	if t.seed.unverified == nil {
		n := t.info.NumPieces()
		t.seed.unverified = bitfield.New(n)
		t.seed.verifying = bitfield.New(n)
	}
	t.seed.unverified.Set(i)
}

// Unverified reports whether piece i is had on seed mode's word only (not
// hashed yet). Loop only.
func (t *Torrent) Unverified(i int) bool {
	u := t.seed.unverified
	return u != nil && i >= 0 && i < u.Len() && u.Has(i)
}

// awaitVerified reports whether a request for piece must wait for its seed
// mode hash, starting the hash if none is in flight. Loop only.
func (t *Torrent) awaitVerified(piece uint32) bool {
	u := t.seed.unverified
	if u == nil || !u.Has(int(piece)) {
		return false
	}
	if !t.seed.verifying.Has(int(piece)) {
		t.seed.verifying.Set(int(piece))
		j := t.s.disk.NewJob()
		j.Kind = storage.JobHashPiece
		j.Storage = t.st
		j.Piece = int(piece)
		j.Hash = t.hashes[piece]
		j.Poster = t.s.loop
		j.User = t
		j.Done = onSeedHashed
		t.s.disk.Submit(j)
	}
	return true
}

func onSeedHashed(j *storage.Job) {
	t := j.User.(*Torrent)
	piece, pass, err := j.Piece, j.Pass, j.Err
	t.s.disk.Free(j)
	if t.removed || t.seed.unverified == nil || !t.seed.unverified.Has(piece) {
		return // removed, or re-checked meanwhile
	}
	t.seed.verifying.Clear(piece)
	switch {
	case err != nil && !dataMissing(err):
		t.fail(err) // stays unverified: hashed again after Resume
		return
	case err == nil && pass:
		t.seed.unverified.Clear(piece)
		if t.seed.unverified.None() {
			t.seed = seedModeState{} // every piece verified
		}
	default:
		t.seed.unverified.Clear(piece)
		t.seedPieceFailed(piece, err)
	}
	// Wake the peers whose queue waited on this piece (a failed piece's
	// requests are rejected there).
	for _, p := range t.peers {
		if p.active() && p.upHead < len(p.upQ) && p.c != nil {
			p.serve()
		}
	}
}

// seedPieceFailed reports a seed-mode piece that did not verify and marks
// it missing. Loop only.
func (t *Torrent) seedPieceFailed(piece int, err error) {
	file := ""
	var fe *storage.FileError
	if errors.As(err, &fe) {
		file, err = fe.Path, fe.Err
	} else {
		err = ErrCorruptPiece
		file = t.pieceFile(piece)
	}
	t.s.post(&plugin.HashFailedAlert{TorrentAlert: t.alertBase(), Piece: piece})
	t.s.post(&plugin.FileErrorAlert{TorrentAlert: t.alertBase(), File: file, Op: "hash", Err: &PieceHashError{Piece: piece, Err: err}})
	t.losePiece(piece)
}

// pieceFile names the first file holding data of piece (pad files
// skipped).
func (t *Torrent) pieceFile(piece int) string {
	l := t.st.Layout()
	name := ""
	l.Segments(piece, 0, l.PieceSize(piece), func(file int, off, sz int64) bool {
		if l.Files[file].Pad {
			return true
		}
		name = l.Files[file].Path
		return false
	})
	return name
}
