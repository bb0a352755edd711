package shard

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/resume"
	"github.com/shardtorrent/shardtorrent/wire"
)

// The three-file torrent of these tests, 16 KiB pieces (one block each):
//
//	a.bin  0 ..  40 KiB  pieces 0, 1, 2 (2 straddles a and b)
//	b.bin 40 ..  90 KiB  pieces 2, 3, 4, 5 (5 straddles b and c)
//	c.bin 90 .. 120 KiB  pieces 5, 6, 7 (7 is the short last piece)
const prioPieceLen = 16 << 10

var prioFileSizes = []int{40 << 10, 50 << 10, 30 << 10}

// makeMultiTorrent writes files of the given sizes (named a.bin, b.bin, ...)
// into a new directory and creates a torrent of it.
func makeMultiTorrent(t testing.TB, sizes []int, pieceLen int64) *tfile {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "multi")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	var all []byte
	for i, n := range sizes {
		b := testData(n, uint64(1000+i))
		if err := os.WriteFile(filepath.Join(root, string(rune('a'+i))+".bin"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	_, mi, err := metainfo.Create(root, metainfo.CreateOptions{PieceLength: pieceLen})
	if err != nil {
		t.Fatal(err)
	}
	return &tfile{mi: mi, data: all, src: dir}
}

// addWith adds f over an empty directory with p's priorities and resume
// data, and waits for its check.
func (h *harness) addWith(f *tfile, p AddParams) *Torrent {
	h.t.Helper()
	var tor *Torrent
	p.Info, p.InfoHash = &f.mi.Info, f.mi.InfoHash
	if p.SavePath == "" {
		p.SavePath = h.t.TempDir()
	}
	h.do(func() {
		var err error
		if tor, err = h.s.AddTorrent(p); err != nil {
			fatalf("AddTorrent: %v", err)
		}
	})
	h.waitFor("the check", func() bool { return !tor.checking })
	return tor
}

// serveUntil answers every request src makes with the right bytes until
// done holds (checked on the loop after each round), and returns the
// pieces requested.
func (h *harness) serveUntil(f *tfile, src *tpeer, done func() bool) map[uint32]bool {
	h.t.Helper()
	requested := map[uint32]bool{}
	deadline := time.Now().Add(waitTimeout)
	for {
		ok, idle := false, true
		h.do(func() {
			var b []byte
			for _, r := range requestsOf(src.fc.take()) {
				requested[r.Piece] = true
				b = wire.AppendPiece(b, r.Piece, r.Begin, f.block(r.Piece, r.Begin, r.Length))
			}
			if len(b) > 0 && !src.fc.closed {
				idle = false
				h.feed(src, b)
			}
			ok = done()
		})
		if ok {
			return requested
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out; pieces requested so far: %v", slices.Sorted(maps.Keys(requested)))
		}
		if idle {
			time.Sleep(time.Millisecond) // disk workers hashing; the loop posts their completions
		}
	}
}

func pieceSet(ps ...uint32) map[uint32]bool {
	m := map[uint32]bool{}
	for _, p := range ps {
		m[p] = true
	}
	return m
}

// TestPrioritiesPick: the picker asks only for the pieces the priorities
// want, including the pieces that straddle a skipped file's boundary, and
// the torrent finishes (StateFinished, not seeding) with its skipped pieces
// missing, never announcing "completed".
func TestPrioritiesPick(t *testing.T) {
	cases := []struct {
		name   string
		files  []uint8 // at add
		pieces map[int]uint8
		want   map[uint32]bool
	}{
		{"skip middle", []uint8{4, 0, 4}, nil, pieceSet(0, 1, 2, 5, 6, 7)},
		{"skip first", []uint8{0, 4, 4}, nil, pieceSet(2, 3, 4, 5, 6, 7)},
		{"skip last", []uint8{4, 4, 0}, nil, pieceSet(0, 1, 2, 3, 4, 5)},
		{"short list keeps the rest default", []uint8{0}, nil, pieceSet(2, 3, 4, 5, 6, 7)},
		{"piece priority overrides a skipped file", []uint8{4, 0, 4}, map[int]uint8{3: 1}, pieceSet(0, 1, 2, 3, 5, 6, 7)},
		{"piece priority skips inside a wanted file", nil, map[int]uint8{0: 0, 6: 0}, pieceSet(1, 2, 3, 4, 5, 7)},
		{"top priorities", []uint8{7, 0, 1}, nil, pieceSet(0, 1, 2, 5, 6, 7)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, rec := newEventHarness(t)
			f := makeMultiTorrent(t, prioFileSizes, prioPieceLen)
			tor := h.addWith(f, AddParams{FilePriorities: tc.files})
			var src *tpeer
			h.do(func() {
				for p, prio := range tc.pieces {
					if err := tor.SetPiecePriority(p, prio); err != nil {
						fatalf("SetPiecePriority(%d): %v", p, err)
					}
				}
				src = h.handshaken(tor, 1)
				h.feed(src, join(simple(wire.HaveAll), simple(wire.Unchoke)))
			})
			got := h.serveUntil(f, src, func() bool { return tor.isSeed() })
			if !maps.Equal(got, tc.want) {
				t.Fatalf("requested pieces %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(tc.want)))
			}
			var st Status
			h.do(func() { st = tor.Status() })
			var wantBytes int64
			for p := range tc.want {
				wantBytes += f.mi.Info.PieceSize(int(p))
			}
			if st.State != plugin.StateFinished || st.TotalWanted != wantBytes || st.TotalWantedDone != wantBytes ||
				st.Pieces != len(tc.want) || st.Progress != 1 {
				t.Fatalf("status %+v; want finished, %d bytes wanted and done", st, wantBytes)
			}
			if n := len(alertsOf[*plugin.TorrentFinishedAlert](h.alerts)); n != 1 {
				t.Fatalf("%d TorrentFinishedAlerts, want 1", n)
			}
			if slices.Contains(rec.events(), EventCompleted) {
				t.Fatalf("events %v: a torrent with skipped pieces announced completed", rec.events())
			}
			var left int64
			h.do(func() { left = tor.bytesLeft() })
			if left != f.mi.Info.TotalLength-wantBytes {
				t.Fatalf("left %d, want %d (every piece not had, as libtorrent)", left, f.mi.Info.TotalLength-wantBytes)
			}
			if r := src.fc.closeReason(); r != ReasonRedundant {
				t.Fatalf("the seed's connection: %v, want closed as redundant once finished", src.fc.closeErr)
			}
		})
	}
}

// TestPrioritiesInterest: a peer that has only skipped pieces is not
// interesting; making its pieces wanted makes it so, and skipping them
// again ends the interest.
func TestPrioritiesInterest(t *testing.T) {
	h := newHarness(t, Settings{})
	f := makeMultiTorrent(t, prioFileSizes, prioPieceLen)
	tor := h.addWith(f, AddParams{FilePriorities: []uint8{4, 0, 4}})
	h.do(func() {
		// Pieces 3 and 4 only: inside the skipped file b.
		p := h.handshaken(tor, 1, wire.AppendBitfield(nil, []byte{0x18}))
		if got := p.fc.take(); len(only(got, wire.Interested)) != 0 {
			fatalf("interested in a peer with only skipped pieces: %v", ids(got))
		}
		h.feed(p, wire.AppendHave(nil, 2)) // straddles a and b: wanted
		if got := p.fc.take(); len(only(got, wire.Interested)) != 1 {
			fatalf("after HAVE of a wanted piece we sent %v, want interested", ids(got))
		}
		q := h.handshaken(tor, 2, wire.AppendBitfield(nil, []byte{0x18}))
		q.fc.take()
		if err := tor.SetFilePriority(1, PriorityDefault); err != nil {
			fatalf("SetFilePriority: %v", err)
		}
		if got := q.fc.take(); len(only(got, wire.Interested)) != 1 {
			fatalf("after wanting b we sent %v, want interested", ids(got))
		}
		if err := tor.SetFilePriority(1, PriorityDontDownload); err != nil {
			fatalf("SetFilePriority: %v", err)
		}
		if got := q.fc.take(); len(only(got, wire.NotInterested)) != 1 {
			fatalf("after skipping b again we sent %v, want not interested", ids(got))
		}
	})
}

// TestPrioritiesUnskipResumes: a torrent finished with a skipped file goes
// back to downloading when the file becomes wanted, fetches exactly the
// pieces it lacks, finishes again as a seed (a second finished alert, and
// "completed" announced once) with every file equal to the source.
func TestPrioritiesUnskipResumes(t *testing.T) {
	h, rec := newEventHarness(t)
	f := makeMultiTorrent(t, prioFileSizes, prioPieceLen)
	tor := h.addWith(f, AddParams{FilePriorities: []uint8{4, 0, 4}})
	var src *tpeer
	h.do(func() {
		src = h.handshaken(tor, 1)
		h.feed(src, join(simple(wire.HaveAll), simple(wire.Unchoke)))
	})
	h.serveUntil(f, src, func() bool { return tor.isSeed() })
	h.waitFor("writes", func() bool { return tor.dur.writes == 0 })
	var st Status
	h.do(func() {
		st = tor.Status()
		if err := tor.SetFilePriorities([]uint8{4, 4, 4}); err != nil {
			fatalf("SetFilePriorities: %v", err)
		}
	})
	if st.State != plugin.StateFinished {
		t.Fatalf("state %v before the unskip, want finished", st.State)
	}
	var src2 *tpeer
	h.do(func() {
		if tor.state != plugin.StateDownloading || tor.isSeed() {
			fatalf("state %v after the unskip, want downloading", tor.state)
		}
		src2 = h.handshaken(tor, 2)
		h.feed(src2, join(simple(wire.HaveAll), simple(wire.Unchoke)))
	})
	got := h.serveUntil(f, src2, func() bool { return tor.isSeed() })
	if want := pieceSet(3, 4); !maps.Equal(got, want) {
		t.Fatalf("after the unskip requested %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	h.waitFor("writes", func() bool { return tor.dur.writes == 0 })
	h.do(func() { st = tor.Status() })
	if st.State != plugin.StateSeeding || st.TotalWanted != f.mi.Info.TotalLength || st.TotalDone != f.mi.Info.TotalLength {
		t.Fatalf("status after the unskip %+v, want seeding with everything", st)
	}
	if n := len(alertsOf[*plugin.TorrentFinishedAlert](h.alerts)); n != 2 {
		t.Fatalf("%d TorrentFinishedAlerts, want 2 (one per finish)", n)
	}
	completed := 0
	for _, e := range rec.events() {
		if e == EventCompleted {
			completed++
		}
	}
	if completed != 1 {
		t.Fatalf("events %v: completed %d times, want once", rec.events(), completed)
	}
	for i := range prioFileSizes {
		name := string(rune('a'+i)) + ".bin"
		b, err := os.ReadFile(filepath.Join(tor.savePath, "multi", name))
		if err != nil {
			t.Fatal(err)
		}
		src, _ := os.ReadFile(filepath.Join(f.src, "multi", name))
		if !bytes.Equal(b, src) {
			t.Fatalf("%s differs from the source", name)
		}
	}
}

// TestPrioritiesAllSkipped: a torrent with every file skipped is finished
// as soon as it is checked and asks for nothing.
func TestPrioritiesAllSkipped(t *testing.T) {
	h := newHarness(t, Settings{})
	f := makeMultiTorrent(t, prioFileSizes, prioPieceLen)
	tor := h.addWith(f, AddParams{FilePriorities: []uint8{0, 0, 0}})
	h.do(func() {
		if tor.state != plugin.StateFinished {
			fatalf("state %v, want finished", tor.state)
		}
		// Pieces 0-6 (a seed would be dropped as redundant).
		p := h.handshaken(tor, 1)
		h.feed(p, join(wire.AppendBitfield(nil, []byte{0xfe}), simple(wire.Unchoke)))
		if got := p.fc.take(); len(only(got, wire.Interested))+len(only(got, wire.Request)) != 0 {
			fatalf("we sent %v to a peer while wanting nothing", ids(got))
		}
		if st := tor.Status(); st.TotalWanted != 0 || st.Progress != 0 {
			fatalf("status %+v, want nothing wanted", st)
		}
	})
}

// TestPrioritiesAPI: indexes, clamping, errors, before-metadata storage and
// the visible (pad-free) numbering.
func TestPrioritiesAPI(t *testing.T) {
	h := newHarness(t, Settings{})
	f := makeMultiTorrent(t, prioFileSizes, prioPieceLen)
	tor := h.addWith(f, AddParams{})
	h.do(func() {
		if got := tor.FilePriorities(); !slices.Equal(got, []uint8{4, 4, 4}) {
			fatalf("default file priorities %v", got)
		}
		if err := tor.SetFilePriority(3, 1); !errors.Is(err, ErrPriorityArg) {
			fatalf("SetFilePriority(3) of 3 files: %v, want ErrPriorityArg", err)
		}
		if err := tor.SetPiecePriorities(make([]uint8, 7)); !errors.Is(err, ErrPriorityArg) {
			fatalf("7 piece priorities for 8 pieces: %v", err)
		}
		if err := tor.SetPiecePriority(8, 1); !errors.Is(err, ErrPriorityArg) {
			fatalf("SetPiecePriority(8): %v", err)
		}
		if err := tor.SetFilePriority(2, 99); err != nil {
			fatalf("SetFilePriority: %v", err)
		}
		if got := tor.FilePriorities(); !slices.Equal(got, []uint8{4, 4, 7}) {
			fatalf("file priorities %v, want 99 clamped to 7", got)
		}
		if got := tor.PiecePriorities(); !slices.Equal(got, []uint8{4, 4, 4, 4, 4, 7, 7, 7}) {
			fatalf("piece priorities %v: want the max of the files each piece overlaps", got)
		}
		if err := tor.SetPiecePriorities([]uint8{1, 1, 1, 1, 1, 1, 1, 1}); err != nil {
			fatalf("SetPiecePriorities: %v", err)
		}
		if err := tor.SetFilePriority(0, 0); err != nil {
			fatalf("SetFilePriority: %v", err)
		}
		// Setting a file priority recomputes every piece from the files
		// (libtorrent's update_piece_priorities): piece overrides go.
		if got := tor.PiecePriorities(); !slices.Equal(got, []uint8{0, 0, 4, 4, 4, 7, 7, 7}) {
			fatalf("piece priorities after a file priority %v", got)
		}
	})

	// Before the metadata: file priorities are kept and applied when it
	// arrives; piece priorities need it.
	g := makeMultiTorrent(t, []int{40 << 10, 50 << 10, 30<<10 - 1}, prioPieceLen)
	var mag *Torrent
	h.do(func() {
		var err error
		mag, err = h.s.AddTorrent(AddParams{InfoHash: g.mi.InfoHash, SavePath: t.TempDir()})
		if err != nil {
			fatalf("AddTorrent: %v", err)
		}
		if err := mag.SetFilePriority(1, 0); err != nil {
			fatalf("SetFilePriority before metadata: %v", err)
		}
		if err := mag.SetPiecePriority(0, 1); !errors.Is(err, ErrNoMetadata) {
			fatalf("SetPiecePriority before metadata: %v, want ErrNoMetadata", err)
		}
		if got := mag.FilePriorities(); !slices.Equal(got, []uint8{4, 0}) {
			fatalf("file priorities before metadata %v", got)
		}
		if err := mag.SetMetadata(g.mi.InfoBytes); err != nil {
			fatalf("SetMetadata: %v", err)
		}
		if got := mag.FilePriorities(); !slices.Equal(got, []uint8{4, 0, 4}) {
			fatalf("file priorities after metadata %v", got)
		}
		if got := mag.PiecePriorities(); !slices.Equal(got, []uint8{4, 4, 4, 0, 0, 4, 4, 4}) {
			fatalf("piece priorities after metadata %v", got)
		}
	})
}

// TestPrioritiesPadFiles: pad files are not counted in the visible file
// indexes, always have priority 0, and their bytes alone never make a piece
// wanted.
func TestPrioritiesPadFiles(t *testing.T) {
	h := newHarness(t, Settings{})
	f := makeMultiTorrent(t, prioFileSizes, prioPieceLen)
	// The same layout with a pad file after a.bin (to 48 KiB): offsets move.
	info := f.mi.Info
	info.Files = []metainfo.File{
		{Path: []string{"a.bin"}, Length: 40 << 10},
		{Path: []string{".pad", "8192"}, Length: 8 << 10, Attr: "p"},
		{Path: []string{"b.bin"}, Length: 50 << 10},
		{Path: []string{"c.bin"}, Length: 30 << 10},
	}
	var off int64
	for i := range info.Files {
		info.Files[i].Offset = off
		off += info.Files[i].Length
	}
	info.TotalLength = off
	n := int((off + prioPieceLen - 1) / prioPieceLen)
	info.Pieces = make([]metainfo.HashV1, n)
	var tor *Torrent
	h.do(func() {
		var err error
		tor, err = h.s.AddTorrent(AddParams{Info: &info, InfoHash: metainfo.InfoHash{V1: metainfo.HashV1{9}}, SavePath: t.TempDir(),
			FilePriorities: []uint8{0, 4, 4}, Paused: true})
		if err != nil {
			fatalf("AddTorrent: %v", err)
		}
	})
	h.waitFor("the check", func() bool { return !tor.checking })
	h.do(func() {
		if got := tor.FilePriorities(); !slices.Equal(got, []uint8{0, 4, 4}) {
			fatalf("visible priorities %v", got)
		}
		if tor.FilePriorityAt(1) != 0 {
			fatalf("pad file priority %d", tor.FilePriorityAt(1))
		}
		// a.bin is pieces 0-2 (0..40K), the pad 40..48K ends piece 2: with
		// a skipped, piece 2 holds only skipped and pad bytes.
		if got := tor.PiecePriorities(); !slices.Equal(got, []uint8{0, 0, 0, 4, 4, 4, 4, 4}) {
			fatalf("piece priorities %v", got)
		}
		d := tor.ResumeData()
		if !slices.Equal(d.FilePriority, []int{0, 0, 4, 4}) {
			fatalf("resume file_priority %v, want libtorrent's indexing (pads included)", d.FilePriority)
		}
		// A pad file's priority 0 skips nothing: seed mode is taken.
		sm, err := h.s.AddTorrent(AddParams{Info: &info, InfoHash: metainfo.InfoHash{V1: metainfo.HashV1{10}}, SavePath: t.TempDir(),
			FilePriorities: []uint8{4, 4, 4}, SeedMode: true, Paused: true})
		if err != nil {
			fatalf("AddTorrent: %v", err)
		}
		if !sm.Unverified(0) || sm.state != plugin.StateSeeding {
			fatalf("seed mode refused with a pad file and no file skipped (state %v)", sm.state)
		}
	})
}

// TestPrioritiesResume: priorities survive resume data (libtorrent's
// file_priority and piece_priority keys) and are restored on add, piece
// priorities over file priorities; given FilePriorities override the
// resume data's. Seed mode is refused with a skipped file, as libtorrent.
func TestPrioritiesResume(t *testing.T) {
	h := newHarness(t, Settings{})
	f := makeMultiTorrent(t, prioFileSizes, prioPieceLen)
	tor := h.addWith(f, AddParams{FilePriorities: []uint8{4, 0, 4}})
	var d *resume.Data
	h.do(func() {
		if err := tor.SetPiecePriority(7, 7); err != nil {
			fatalf("SetPiecePriority: %v", err)
		}
		d = tor.ResumeData()
		tor.Remove()
	})
	if !slices.Equal(d.FilePriority, []int{4, 0, 4}) || !slices.Equal(d.PiecePriority, []byte{4, 4, 4, 0, 0, 4, 4, 7}) {
		t.Fatalf("resume priorities: files %v, pieces %v", d.FilePriority, d.PiecePriority)
	}
	b, err := resume.Encode(d)
	if err != nil {
		t.Fatal(err)
	}
	if d, err = resume.Decode(b); err != nil {
		t.Fatal(err)
	}
	d.Pieces = nil // not checked against files: the priorities are the point
	tor = h.addWith(f, AddParams{Resume: d})
	h.do(func() {
		if got := tor.FilePriorities(); !slices.Equal(got, []uint8{4, 0, 4}) {
			fatalf("restored file priorities %v", got)
		}
		if got := tor.PiecePriorities(); !slices.Equal(got, []uint8{4, 4, 4, 0, 0, 4, 4, 7}) {
			fatalf("restored piece priorities %v", got)
		}
		tor.Remove()
	})
	d.PiecePriority = nil
	tor = h.addWith(f, AddParams{Resume: d, FilePriorities: []uint8{1, 1, 0}})
	h.do(func() {
		if got := tor.FilePriorities(); !slices.Equal(got, []uint8{1, 1, 0}) {
			fatalf("given priorities over resume data: %v", got)
		}
		tor.Remove()
	})
	tor = h.addWith(f, AddParams{SavePath: f.src, SeedMode: true, FilePriorities: []uint8{4, 0, 4}})
	h.do(func() {
		if tor.Unverified(0) {
			fatalf("seed mode taken with a skipped file")
		}
		if st := tor.Status(); st.State != plugin.StateSeeding {
			fatalf("state %v after checking complete data, want seeding", st.State)
		}
	})
}

// TestPrioritiesHoldWrites: while the storage is learning which files are
// wanted (a SetWantedFiles call off the loop), complete pieces wait in
// memory; they are written when the call ends, or dropped and fetched
// again if it failed (the torrent stops with the error).
func TestPrioritiesHoldWrites(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(map[bool]string{false: "ok", true: "failed"}[fail], func(t *testing.T) {
			h := newHarness(t, Settings{})
			f := makeMultiTorrent(t, prioFileSizes, prioPieceLen)
			tor := h.leech(f)
			var src *tpeer
			var reqs []uint32
			h.do(func() {
				tor.prio.wantedBusy = true // as sendWanted sets it
				src = h.handshaken(tor, 1)
				h.feed(src, join(simple(wire.HaveAll), simple(wire.Unchoke)))
				var b []byte
				for _, r := range requestsOf(src.fc.take()) {
					reqs = append(reqs, r.Piece)
					b = wire.AppendPiece(b, r.Piece, r.Begin, f.block(r.Piece, r.Begin, r.Length))
				}
				h.feed(src, b)
				if tor.dur.writes != 0 || len(tor.prio.held) != len(reqs) || len(reqs) == 0 {
					fatalf("%d writes, %d held, for %d complete pieces: want every one held", tor.dur.writes, len(tor.prio.held), len(reqs))
				}
				var err error
				if fail {
					err = errors.New("part file: no space")
				}
				tor.wantedDone(err)
				if tor.prio.wantedBusy || len(tor.prio.held) != 0 {
					fatalf("still busy or holding after wantedDone")
				}
			})
			if fail {
				h.do(func() {
					if tor.err == nil || tor.dur.writes != 0 || tor.have.Count() != 0 || len(tor.downloading) != 0 {
						fatalf("after a failed SetWantedFiles: err %v, %d writes, %d had, %d buffered", tor.err, tor.dur.writes, tor.have.Count(), len(tor.downloading))
					}
					for _, p := range reqs {
						if tor.pk.Priority(int(p)) == 0 || tor.pk.Have(int(p)) {
							fatalf("piece %d not pickable again", p)
						}
					}
				})
				return
			}
			h.waitFor("the held pieces written", func() bool { return tor.have.Count() == len(reqs) })
		})
	}
}

// TestPrioritiesPartFile: with the file storage's part file, a skipped
// file is never created, though the pieces it shares with its neighbours are
// downloaded; made wanted again, it gets those bytes and the rest, equal
// to the source.
func TestPrioritiesPartFile(t *testing.T) {
	h := newHarness(t, Settings{})
	f := makeMultiTorrent(t, prioFileSizes, prioPieceLen)
	tor := h.addWith(f, AddParams{FilePriorities: []uint8{4, 0, 4}})
	var src *tpeer
	h.do(func() {
		src = h.handshaken(tor, 1)
		h.feed(src, join(simple(wire.HaveAll), simple(wire.Unchoke)))
	})
	h.serveUntil(f, src, func() bool { return tor.isSeed() && !tor.prio.wantedBusy })
	h.waitFor("writes", func() bool { return tor.dur.writes == 0 })
	b := filepath.Join(tor.savePath, "multi", "b.bin")
	if _, err := os.Stat(b); !os.IsNotExist(err) {
		t.Fatalf("the skipped file exists (%v)", err)
	}
	h.do(func() {
		if err := tor.SetFilePriority(1, PriorityDefault); err != nil {
			fatalf("SetFilePriority: %v", err)
		}
		src = h.handshaken(tor, 2)
		h.feed(src, join(simple(wire.HaveAll), simple(wire.Unchoke)))
	})
	h.serveUntil(f, src, func() bool { return tor.isSeed() && !tor.prio.wantedBusy })
	h.waitFor("writes", func() bool { return tor.dur.writes == 0 })
	for i := range prioFileSizes {
		name := string(rune('a'+i)) + ".bin"
		got, err := os.ReadFile(filepath.Join(tor.savePath, "multi", name))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(filepath.Join(f.src, "multi", name))
		if !bytes.Equal(got, want) {
			t.Fatalf("%s differs from the source after the unskip", name)
		}
	}
}

// TestPrioritiesDeadlineOnSkipped: a deadline on a piece of a skipped file
// (a reader of that file, or SetPieceDeadline) raises it to PriorityTop,
// as libtorrent's set_piece_deadline: the finished torrent downloads
// again, that piece only, and is finished once more when it has it.
func TestPrioritiesDeadlineOnSkipped(t *testing.T) {
	h := newHarness(t, Settings{})
	f := makeMultiTorrent(t, prioFileSizes, prioPieceLen)
	tor := h.addWith(f, AddParams{FilePriorities: []uint8{4, 0, 4}})
	var src *tpeer
	h.do(func() {
		src = h.handshaken(tor, 1)
		h.feed(src, join(simple(wire.HaveAll), simple(wire.Unchoke)))
	})
	h.serveUntil(f, src, func() bool { return tor.isSeed() })
	h.do(func() {
		if err := tor.SetPieceDeadline(3, time.Second); err != nil {
			fatalf("SetPieceDeadline: %v", err)
		}
		if tor.pk.Priority(3) != PriorityTop || tor.state != plugin.StateDownloading {
			fatalf("after a deadline on skipped piece 3: priority %d, state %v", tor.pk.Priority(3), tor.state)
		}
		src = h.handshaken(tor, 2)
		h.feed(src, join(simple(wire.HaveAll), simple(wire.Unchoke)))
	})
	got := h.serveUntil(f, src, func() bool { return tor.isSeed() })
	if want := pieceSet(3); !maps.Equal(got, want) {
		t.Fatalf("requested %v after the deadline, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	h.do(func() {
		if tor.state != plugin.StateFinished || tor.pk.Priority(4) != 0 {
			fatalf("state %v, piece 4 priority %d: want finished with piece 4 still skipped", tor.state, tor.pk.Priority(4))
		}
	})
}
