package storage

// Direct writes: verified pieces written with O_DIRECT, past the page cache.
//
// Why: on this project's reference machine (KVM guest, ext4 on virtio) a
// buffered write into a new file costs about 1.9-2.3 CPU-s per GiB, almost
// all of it the kernel allocating and filling page-cache pages; the same
// write with O_DIRECT costs about 0.2 CPU-s per GiB and runs at over 1 GB/s.
// A downloading client is dominated by that cost, so a piece that passed its
// hash is copied once into an aligned per-worker buffer (memory copy runs at
// 27 GB/s here: 0.04 s per GiB) and written from there. libtorrent offers the
// same trade as disk_io_write_mode = disable_os_cache.
//
// What it costs: the written data is not left in the page cache, so a
// client re-serving pieces it just downloaded reads them from the disk (or
// the host's cache) through a disk worker rather than from the page cache on
// the loop. That is why it is a setting (SetDirectWrites), off by default.
//
// Invariants:
//   - A direct write covers whole alignment units only: the file offset, the
//     length and the buffer address are multiples of the filesystem's
//     direct-I/O alignment (statx STATX_DIOALIGN). Any unaligned head or
//     tail of a segment (multi-file boundaries, a file's odd last bytes) is
//     written through the buffered descriptor, so the two never share a
//     page-cache page in one write.
//   - The buffered descriptor stays the one every read and the fd cache
//     see; the O_DIRECT descriptor is an extra on the same handle, opened on
//     the first direct write and closed with the handle.
//   - Where the filesystem reports no direct-I/O support (alignment 0, open
//     with O_DIRECT fails, or a direct write fails with EINVAL), the storage
//     falls back to buffered writes for good and says so through
//     DirectWrites.

import (
	"errors"
	"io"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SetDirectWrites turns direct (O_DIRECT) writes of verified pieces on or
// off; see the top of direct.go for the trade. Safe from any goroutine;
// takes effect for pieces written afterwards.
func (s *FileStorage) SetDirectWrites(on bool) { s.direct.Store(on) }

// DirectWrites reports whether verified pieces are written with O_DIRECT:
// it was turned on and the filesystem has not refused it.
func (s *FileStorage) DirectWrites() bool { return s.direct.Load() && !s.noDirect.Load() }

// dioAlign returns the direct-I/O alignment of the file behind fd (the
// larger of the memory and offset alignments), or 0 when the filesystem
// does not support direct I/O.
func dioAlign(fd int) int {
	var st unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_DIOALIGN, &st); err != nil {
		return 0
	}
	if st.Mask&unix.STATX_DIOALIGN == 0 || st.Dio_offset_align == 0 || st.Dio_mem_align == 0 {
		return 0
	}
	return int(max(st.Dio_offset_align, st.Dio_mem_align))
}

// directFD returns h's O_DIRECT descriptor and the alignment to honour,
// opening it on first use; fd < 0 means write through h.fd.
func (s *FileStorage) directFD(h *handle) (fd, align int) {
	if v := h.dfd.Load(); v != 0 {
		return int(v) - 1, int(h.align.Load()) // v < 0: buffered only
	}
	a := dioAlign(h.fd)
	if a == 0 {
		s.noDirect.Store(true)
		return -1, 0
	}
	// Reopened below the save directory without links (confine.go). A file
	// replaced since h was opened (by a link, which is refused, or by
	// another file) is left to h's buffered descriptor for h's lifetime.
	nfd, err := s.openData("open", h.file, unix.O_RDWR|unix.O_DIRECT)
	if err == nil && !sameFile(nfd, h.fd) {
		unix.Close(nfd)
		nfd, err = -1, ErrUnsafePath
	}
	if err != nil {
		if errors.Is(err, unix.EINVAL) && !errors.Is(err, ErrUnsafePath) {
			s.noDirect.Store(true) // the filesystem refuses O_DIRECT
		} else {
			h.dfd.CompareAndSwap(0, -1)
		}
		return -1, 0
	}
	h.align.Store(int32(a))
	if !h.dfd.CompareAndSwap(0, int32(nfd)+1) { // another worker won
		unix.Close(nfd)
	}
	return int(h.dfd.Load()) - 1, a
}

// alignedBuf returns a slice of n bytes whose start is aligned to 4096 (a
// multiple of every direct-I/O alignment Linux filesystems report), reusing
// *buf when it is large enough.
func alignedBuf(buf *[]byte, n int) []byte {
	const pageAlign = 4096
	if cap(*buf) >= n && uintptr(unsafe.Pointer(unsafe.SliceData(*buf)))%pageAlign == 0 {
		return (*buf)[:n]
	}
	raw := make([]byte, n+pageAlign)
	off := int(pageAlign - uintptr(unsafe.Pointer(unsafe.SliceData(raw)))%pageAlign)
	if off == pageAlign {
		off = 0
	}
	*buf = raw[off : off+n : off+n]
	return *buf
}

// writePieceDirect writes data, the whole of piece, held in a buffer
// aligned to 4096: each file segment's aligned middle through the O_DIRECT
// descriptor, any unaligned head or tail through the buffered one.
func (s *FileStorage) writePieceDirect(data []byte, piece int) error {
	if err := s.checkRange(piece, 0, len(data)); err != nil {
		return err
	}
	if part, err := s.usePart(); err != nil || part { // the part file may take some of it: buffered
		if err != nil {
			return err
		}
		return s.WriteBlocks([]BlockRef{{Data: data}}, piece, 0)
	}
	var err error
	pos := 0 // data offset of the current segment
	s.layout.Segments(piece, 0, int64(len(data)), func(file int, off, sz int64) bool {
		seg := data[pos : pos+int(sz)]
		pos += int(sz)
		if s.layout.Files[file].Pad {
			return true
		}
		var h *handle
		if h, err = s.acquire(file, true); err != nil {
			return false
		}
		defer s.release(h)
		err = s.writeSegment(h, seg, off)
		return err == nil
	})
	return err
}

// writeSegment writes seg at file offset off of h's file.
func (s *FileStorage) writeSegment(h *handle, seg []byte, off int64) error {
	dfd, a := -1, 0
	if !s.noDirect.Load() {
		dfd, a = s.directFD(h)
	}
	if dfd < 0 {
		_, err := s.pwriteFull(h.fd, h.file, seg, off)
		return err
	}
	// head: up to the next aligned file offset; the buffer address is
	// aligned there too only if seg's address and off agree modulo a.
	head := int((int64(a) - off%int64(a)) % int64(a))
	if head > len(seg) {
		head = len(seg)
	}
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(seg))) + uintptr(head)
	mid := (len(seg) - head) / a * a
	if mid == 0 || addr%uintptr(a) != 0 {
		_, err := s.pwriteFull(h.fd, h.file, seg, off)
		return err
	}
	if head > 0 {
		if _, err := s.pwriteFull(h.fd, h.file, seg[:head], off); err != nil {
			return err
		}
	}
	if n, err := s.pwriteFull(dfd, h.file, seg[head:head+mid], off+int64(head)); err != nil {
		if !errors.Is(err, unix.EINVAL) {
			return err
		}
		// The filesystem took the O_DIRECT open but refuses the write
		// (an alignment it did not report): write buffered from here
		// on, for this storage, rather than fail the torrent.
		s.noDirect.Store(true)
		if _, err := s.pwriteFull(h.fd, h.file, seg[head+n:head+mid], off+int64(head+n)); err != nil {
			return err
		}
	}
	if tail := seg[head+mid:]; len(tail) > 0 {
		_, err := s.pwriteFull(h.fd, h.file, tail, off+int64(head+mid))
		return err
	}
	return nil
}

// pwriteFull writes every byte of p at off, resuming after short writes,
// and returns how many it wrote.
func (s *FileStorage) pwriteFull(fd, file int, p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		allow, err := s.fault(FaultWrite, file, len(p)-n)
		if err != nil {
			return n, s.fileError("write", file, err)
		}
		m := 0
		if allow > 0 {
			m, err = unix.Pwrite(fd, p[n:n+allow], off+int64(n))
		}
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return n, s.fileError("write", file, err)
		case m == 0:
			return n, s.fileError("write", file, io.ErrShortWrite)
		}
		n += m
	}
	return n, nil
}

// close closes h's descriptors.
func (h *handle) close() error {
	if v := h.dfd.Load(); v > 0 {
		unix.Close(int(v) - 1)
	}
	return unix.Close(h.fd)
}
