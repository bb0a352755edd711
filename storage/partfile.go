package storage

// The part file: where bytes of unwanted files go.
//
// A torrent whose files have priorities may skip a file (priority 0), but a
// piece that straddles the boundary between a skipped file and a wanted one
// still has to be downloaded, hashed and kept, and its bytes inside the
// skipped file must go somewhere that is not the skipped file: a skipped
// file never appears on disk, not even half-written. As libtorrent's
// part_file does, they go to one file per torrent in the save directory,
// named by Options.PartFile (OpenFiles: ".<infohash>.parts").
//
// Layout of the file (all integers little-endian):
//
//	magic "STPARTS1" | pieces uint32 | 0 uint32 | piece length uint64 |
//	pieces x slot uint32 (0xffffffff: none) | padding to 4096 |
//	slot 0 (piece length bytes) | slot 1 | ...
//
// Rules:
//   - A piece that touches an unwanted file (anywhere) gets a slot on its
//     first write, and from then on every write of that piece goes to the
//     slot as well as to the piece's wanted files. So a slot always holds
//     the newest bytes of its whole piece (engine writes are whole pieces),
//     and reads of a piece with a slot come from the slot.
//   - Bytes of unwanted files are never written to those files; reading a
//     piece without a slot reads the files (a file that was wanted earlier
//     keeps the bytes it got then).
//   - When a file becomes wanted (SetWantedFiles), the bytes of it held in
//     slots are copied into it and synced; then every slot whose piece no
//     longer touches an unwanted file is freed in the header. When no slot
//     is left the part file is deleted.
//   - The part file is looked for on the storage's first data call from a
//     worker (never by Open, which runs on a loop), and its slots are read
//     from then on; nothing is moved until the engine says what it wants.
//     The first SetWantedFiles after Open moves into every wanted file the
//     bytes the slots hold of it, so a restart with changed priorities
//     settles as soon as the engine restores them; CreateEmptyFiles (the
//     torrent is complete) does the same if no SetWantedFiles came, so a
//     torrent completed with a part file left from an earlier run gets all
//     its bytes into its files.
//   - A slot is entered in the header before its data is written: a crash
//     between the two leaves a slot whose piece fails its hash, so the
//     engine downloads it again; nothing claims bytes that are not there.
//
// Cost: nothing for a torrent whose files are all wanted and that has no
// part file, after the first call: FileStorage.partial is clear and the
// data path is as before (one atomic load more). With a file unwanted,
// each read and write takes wmu for reading and part.mu briefly.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ErrPartFile: the part file exists but its header does not describe this
// torrent (another torrent's, or damaged). Wrapped in a *FileError naming
// the part file.
var ErrPartFile = errors.New("storage: part file does not match the torrent")

const (
	partMagic     = "STPARTS1"
	partFixed     = 24 // magic, pieces, reserved, piece length
	partAlign     = 4096
	partNoSlot    = 0xffffffff
	partFileIndex = -1 // the part file, for fileError and faults
)

// partFile is a FileStorage's part file state.
type partFile struct {
	name string
	// loaded is set once the file has been looked for and its header
	// read (under FileStorage.wmu held for writing).
	loaded atomic.Bool
	// dirty is set by writes to the part file and cleared by its sync.
	dirty atomic.Bool

	mu sync.Mutex
	// Guarded by mu (and written only with wmu held for reading or
	// writing). Invariant once loaded: slots[p] is -1 or a slot index k
	// with used[k] set, no two pieces share a slot, and n counts the
	// pieces with a slot; fd >= 0 whenever n > 0.
	fd     int
	slots  []int32
	used   []bool
	n      int
	hdrLen int64
}

func (p *partFile) init(name string) {
	p.name = name
	p.fd = -1
}

// partHeaderLen is the header's length for np pieces, slots start there.
func partHeaderLen(np int) int64 {
	return (int64(partFixed+4*np) + partAlign - 1) / partAlign * partAlign
}

// usePart reports whether a data call must take the part file's path:
// after the part file has been looked for (once, here), only while a file
// is unwanted or the part file holds a piece.
func (s *FileStorage) usePart() (bool, error) {
	if !s.partial.Load() {
		return false, nil
	}
	if err := s.ensurePart(); err != nil {
		return false, err
	}
	return s.partial.Load(), nil
}

// ensurePart looks for the part file once, reads its header and settles
// it against the wanted files (moving what now belongs in files). Safe
// from any goroutine; blocks on the disk the first time.
func (s *FileStorage) ensurePart() error {
	if s.part.loaded.Load() {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.ensurePartLocked()
}

func (s *FileStorage) ensurePartLocked() error {
	if s.part.loaded.Load() {
		return nil
	}
	if err := s.loadPartLocked(); err != nil {
		return err
	}
	s.part.loaded.Store(true)
	s.setPartialLocked()
	return nil
}

// setPartialLocked sets partial from the wanted files and the slots. wmu
// is held for writing.
func (s *FileStorage) setPartialLocked() {
	skipping := false
	for f := range s.layout.Files {
		if s.wanted != nil && !s.wanted[f] && !s.layout.Files[f].Pad {
			skipping = true
			break
		}
	}
	s.partial.Store(skipping || s.part.n > 0)
}

// loadPartLocked reads the part file's header, if the file exists. wmu is
// held for writing.
func (s *FileStorage) loadPartLocked() error {
	if s.isClosed() {
		return ErrClosed
	}
	p := &s.part
	np := s.layout.NumPieces()
	p.slots = make([]int32, np)
	for i := range p.slots {
		p.slots[i] = -1
	}
	p.used = make([]bool, np)
	p.n = 0
	p.hdrLen = partHeaderLen(np)
	fd, err := s.openRel(p.name, unix.O_RDWR)
	if errors.Is(err, ErrMissing) {
		return nil
	}
	if err != nil {
		return &FileError{Op: "open", Path: p.name, Err: err}
	}
	hdr := make([]byte, p.hdrLen)
	if _, err := preadFull(fd, hdr, 0); err != nil {
		unix.Close(fd)
		if err == io.ErrUnexpectedEOF {
			err = ErrPartFile
		}
		return &FileError{Op: "read", Path: p.name, Err: err}
	}
	bad := func(why string, a ...any) error {
		unix.Close(fd)
		return &FileError{Op: "read", Path: p.name, Err: fmt.Errorf("%w: %s", ErrPartFile, fmt.Sprintf(why, a...))}
	}
	if string(hdr[:8]) != partMagic {
		return bad("no part file header")
	}
	if got := binary.LittleEndian.Uint32(hdr[8:]); int64(got) != int64(np) {
		return bad("%d pieces, the torrent has %d", got, np)
	}
	if got := binary.LittleEndian.Uint64(hdr[16:]); int64(got) != s.layout.PieceLength {
		return bad("piece length %d, the torrent's is %d", got, s.layout.PieceLength)
	}
	for i := range np {
		k := binary.LittleEndian.Uint32(hdr[partFixed+4*i:])
		if k == partNoSlot {
			continue
		}
		if int64(k) >= int64(np) || p.used[k] {
			return bad("piece %d in slot %d", i, k)
		}
		p.slots[i], p.used[k] = int32(k), true
		p.n++
	}
	if p.n == 0 { // an empty part file left behind: remove it
		unix.Close(fd)
		return s.removePartLocked()
	}
	p.fd = fd
	return nil
}

// settleLocked moves into their files the bytes that slots hold of files
// that are wanted now and were not (prev; nil: everything is a candidate,
// as on the first load), frees the slots no longer needed, deletes an
// empty part file and sets partial. wmu is held for writing.
func (s *FileStorage) settleLocked(prev []bool) error {
	p := &s.part
	wanted := func(f int) bool { return s.wanted == nil || s.wanted[f] }
	var buf []byte
	moved := false
	for piece, k := range p.slots {
		if k < 0 {
			continue
		}
		var err error
		s.layout.Segments(piece, 0, s.layout.PieceSize(piece), func(file int, off, sz int64) bool {
			if s.layout.Files[file].Pad || !wanted(file) || prev != nil && prev[file] {
				return true
			}
			if buf == nil {
				buf = make([]byte, s.layout.PieceLength)
			}
			b := buf[:sz]
			pos := off + s.fileStart(file) - int64(piece)*s.layout.PieceLength // offset in the piece
			if _, err = preadFull(p.fd, b, p.hdrLen+int64(k)*s.layout.PieceLength+pos); err != nil {
				err = s.fileError("read", partFileIndex, err)
				return false
			}
			if _, err = s.writeFile(file, b, off); err != nil {
				return false
			}
			moved = true
			return true
		})
		if err != nil {
			return err
		}
	}
	if moved { // the files hold the bytes durably before a slot is freed
		if err := s.Sync(); err != nil {
			return err
		}
	}
	for piece, k := range p.slots {
		if k >= 0 && !s.touchesUnwanted(piece) {
			if err := s.freeSlotLocked(piece); err != nil {
				return err
			}
		}
	}
	if p.n == 0 && p.fd >= 0 {
		unix.Close(p.fd)
		p.fd = -1
		p.dirty.Store(false)
		if err := s.removePartLocked(); err != nil {
			return err
		}
	}
	s.setPartialLocked()
	return nil
}

// fileStart is the torrent offset where file starts.
func (s *FileStorage) fileStart(file int) int64 { return s.layout.offs[file] }

// touchesUnwanted reports whether any byte of piece lies in an unwanted
// (non-pad) file. wmu is held.
func (s *FileStorage) touchesUnwanted(piece int) bool {
	if s.wanted == nil {
		return false
	}
	hit := false
	s.layout.Segments(piece, 0, s.layout.PieceSize(piece), func(file int, _, _ int64) bool {
		hit = !s.wanted[file] && !s.layout.Files[file].Pad
		return !hit
	})
	return hit
}

// freeSlotLocked takes piece's slot out of the header. wmu is held for
// writing.
func (s *FileStorage) freeSlotLocked(piece int) error {
	p := &s.part
	k := p.slots[piece]
	var e [4]byte
	binary.LittleEndian.PutUint32(e[:], partNoSlot)
	if _, err := s.pwriteFull(p.fd, partFileIndex, e[:], partFixed+4*int64(piece)); err != nil {
		return err
	}
	p.slots[piece], p.used[k] = -1, false
	p.n--
	p.dirty.Store(true)
	return nil
}

// removePartLocked unlinks the part file; a missing one is no error.
func (s *FileStorage) removePartLocked() error {
	d, err := s.root.acquire(false)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return &FileError{Op: "delete", Path: s.part.name, Err: err}
	}
	defer s.root.release(d)
	if err := unlinkBeneath(d.fd, s.part.name, false); err != nil && !errors.Is(err, unix.ENOENT) {
		return &FileError{Op: "delete", Path: s.part.name, Err: err}
	}
	return nil
}

// slotFor returns piece's slot, allocating one (and creating the part
// file) if it has none and alloc is set; -1 if none. wmu is held for
// reading.
func (s *FileStorage) slotFor(piece int, alloc bool) (fd int, slot int32, err error) {
	p := &s.part
	p.mu.Lock()
	defer p.mu.Unlock()
	if k := p.slots[piece]; k >= 0 || !alloc {
		if k >= 0 && p.fd < 0 { // closed
			return -1, -1, ErrClosed
		}
		return p.fd, k, nil
	}
	if p.fd < 0 {
		if s.isClosed() {
			return -1, -1, ErrClosed
		}
		fd, err := s.openRel(p.name, unix.O_RDWR|unix.O_CREAT)
		if err != nil {
			return -1, -1, &FileError{Op: "create", Path: p.name, Err: err}
		}
		np := len(p.slots)
		hdr := make([]byte, p.hdrLen)
		copy(hdr, partMagic)
		binary.LittleEndian.PutUint32(hdr[8:], uint32(np))
		binary.LittleEndian.PutUint64(hdr[16:], uint64(s.layout.PieceLength))
		for i := range np {
			binary.LittleEndian.PutUint32(hdr[partFixed+4*i:], partNoSlot)
		}
		if _, err := s.pwriteFull(fd, partFileIndex, hdr, 0); err != nil {
			unix.Close(fd)
			return -1, -1, err
		}
		p.fd = fd
	}
	k := int32(0)
	for p.used[k] { // n < pieces, so a free slot exists
		k++
	}
	var e [4]byte
	binary.LittleEndian.PutUint32(e[:], uint32(k))
	if _, err := s.pwriteFull(p.fd, partFileIndex, e[:], partFixed+4*int64(piece)); err != nil {
		return -1, -1, err
	}
	p.slots[piece], p.used[k] = k, true
	p.n++
	p.dirty.Store(true)
	return p.fd, k, nil
}

// writePartial is writeBlocks while the part file may be involved.
func (s *FileStorage) writePartial(blocks []BlockRef, piece int, begin int64, total int, iov []unix.Iovec) error {
	s.wmu.RLock()
	defer s.wmu.RUnlock()
	if !s.partial.Load() { // settled meanwhile: nothing unwanted, no slots
		return s.writeFiles(blocks, piece, begin, total, nil, iov)
	}
	fd, k, err := s.slotFor(piece, s.touchesUnwanted(piece))
	if err != nil {
		return err
	}
	if k >= 0 {
		off := s.part.hdrLen + int64(k)*s.layout.PieceLength + begin
		for bi := 0; bi < len(blocks); {
			iov = iov[:0]
			var batch int64
			for ; bi < len(blocks) && len(iov) < maxIovecs; bi++ {
				if d := blocks[bi].Data; len(d) > 0 {
					iov = append(iov, unix.Iovec{Base: &d[0]})
					iov[len(iov)-1].SetLen(len(d))
					batch += int64(len(d))
				}
			}
			if len(iov) > 0 {
				if err := s.pwritevFull(fd, partFileIndex, iov, off); err != nil {
					return err
				}
			}
			off += batch
		}
		s.part.dirty.Store(true)
	}
	return s.writeFiles(blocks, piece, begin, total, s.wanted, iov)
}

// readPartial is ReadAt while the part file may be involved: a piece with
// a slot reads from it, any other from the files.
func (s *FileStorage) readPartial(b []byte, piece int, begin int64) (int, error) {
	s.wmu.RLock()
	defer s.wmu.RUnlock()
	fd, k, err := s.slotFor(piece, false)
	if err != nil {
		return 0, err
	}
	if k < 0 {
		return s.readAbs(b, int64(piece)*s.layout.PieceLength+begin)
	}
	if _, err := s.fault(FaultRead, partFileIndex, len(b)); err != nil {
		return 0, s.fileError("read", partFileIndex, err)
	}
	n, err := preadFull(fd, b, s.part.hdrLen+int64(k)*s.layout.PieceLength+begin)
	if err != nil {
		return n, s.fileError("read", partFileIndex, err)
	}
	return n, nil
}

// SetWantedFiles sets which files are wanted (see Storage): an unwanted
// file is never created, the bytes of written pieces inside it go to the
// part file, and a file that becomes wanted gets them back. len(wanted)
// must be the number of files (pad files' entries are ignored). Safe from
// any goroutine; blocks on the disk (it may move bytes), so call it from a
// worker, not a loop.
func (s *FileStorage) SetWantedFiles(wanted []bool) error {
	if len(wanted) != len(s.layout.Files) {
		return fmt.Errorf("%w: %d wanted flags for %d files", ErrLayout, len(wanted), len(s.layout.Files))
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.ensurePartLocked(); err != nil {
		return err
	}
	var prev []bool // nil: the first call, every wanted file may have bytes to move
	if s.maskSet {
		prev = s.wanted
		if prev == nil {
			prev = make([]bool, len(wanted))
			for i := range prev {
				prev[i] = true
			}
		}
	}
	s.maskSet = true
	all := true
	for _, w := range wanted {
		all = all && w
	}
	if all {
		s.wanted = nil
	} else {
		s.wanted = append([]bool(nil), wanted...)
	}
	return s.settleLocked(prev)
}

// sync fdatasyncs the part file if it was written since its last sync.
func (p *partFile) sync() error {
	if !p.dirty.Swap(false) {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fd < 0 {
		return nil
	}
	if err := fdatasync(p.fd); err != nil {
		p.dirty.Store(true)
		return &FileError{Op: "sync", Path: p.name, Err: err}
	}
	return nil
}

// close syncs and closes the part file's descriptor. The caller holds
// wmu for writing; later data calls see the storage closed before they
// could reopen it.
func (p *partFile) close() error {
	err := p.sync()
	p.mu.Lock()
	if p.fd >= 0 {
		unix.Close(p.fd)
		p.fd = -1
	}
	p.mu.Unlock()
	return err
}

// isClosed reports whether Close has been called.
func (s *FileStorage) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// preadFull reads all of b at off; a file too short is io.ErrUnexpectedEOF.
func preadFull(fd int, b []byte, off int64) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Pread(fd, b[n:], off+int64(n))
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return n, err
		case m == 0:
			return n, io.ErrUnexpectedEOF
		}
		n += m
	}
	return n, nil
}
