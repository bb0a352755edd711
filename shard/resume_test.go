package shard

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/resume"
	"github.com/shardtorrent/shardtorrent/wire"
)

// fullResume returns resume data claiming every piece of f, with the file
// stats of the data in dir.
func fullResume(t *testing.T, f *tfile, dir string) *resume.Data {
	t.Helper()
	stats, err := StatFiles(&f.mi.Info, dir)
	if err != nil {
		t.Fatal(err)
	}
	d := &resume.Data{InfoHash: f.mi.InfoHash, Pieces: make([]byte, f.mi.Info.NumPieces())}
	for i := range d.Pieces {
		d.Pieces[i] = resume.PieceHave | resume.PieceVerified
	}
	for _, s := range stats {
		d.Files = append(d.Files, resume.FileStat{Size: s.Size, MTime: s.MTime})
	}
	return d
}

// statesOf lists the state changes recorded for the torrent ih.
func statesOf(r *alertRec, ih metainfo.InfoHash) []*plugin.StateChangedAlert {
	var out []*plugin.StateChangedAlert
	for _, a := range alertsOf[*plugin.StateChangedAlert](r) {
		if a.InfoHash == ih {
			out = append(out, a)
		}
	}
	return out
}

// TestApplyResume covers adding a torrent with resume data: trusted
// without a check when it fits, rejected (with the file named) and checked
// in full when it does not.
func TestApplyResume(t *testing.T) {
	other := makeTorrent(t, 3*dlPieceLen, dlPieceLen)
	cases := []struct {
		name string
		// edit changes the resume data or the files before the add.
		edit      func(t *testing.T, f *tfile, d *resume.Data)
		magnet    bool // add by info-hash only; the resume data carries the info
		wantCheck bool
		wantFile  string // the file the rejection names
		wantHave  int    // pieces present once ready (-1: all)
	}{
		{name: "match", wantHave: -1},
		{name: "some pieces", wantHave: 3, edit: func(t *testing.T, f *tfile, d *resume.Data) {
			for i := 3; i < len(d.Pieces); i++ {
				d.Pieces[i] = 0
			}
		}},
		{name: "libtorrent data without file stats is trusted", wantHave: 2, edit: func(t *testing.T, f *tfile, d *resume.Data) {
			for i := 2; i < len(d.Pieces); i++ {
				d.Pieces[i] = 0
			}
			d.Files = nil
			touch(t, filepath.Join(f.src, "payload.bin"))
		}},
		{name: "modified file", wantCheck: true, wantFile: "payload.bin", wantHave: -1, edit: func(t *testing.T, f *tfile, d *resume.Data) {
			touch(t, filepath.Join(f.src, "payload.bin"))
		}},
		{name: "truncated file", wantCheck: true, wantFile: "payload.bin", wantHave: 0, edit: func(t *testing.T, f *tfile, d *resume.Data) {
			if err := os.Truncate(filepath.Join(f.src, "payload.bin"), 1000); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "another torrent", wantCheck: true, wantHave: -1, edit: func(t *testing.T, f *tfile, d *resume.Data) {
			d.InfoHash = other.mi.InfoHash
		}},
		{name: "wrong piece count", wantCheck: true, wantHave: -1, edit: func(t *testing.T, f *tfile, d *resume.Data) {
			d.Pieces = d.Pieces[:2]
		}},
		{name: "magnet with info", magnet: true, wantHave: -1, edit: func(t *testing.T, f *tfile, d *resume.Data) {
			d.Info = f.mi.InfoBytes
		}},
		{name: "magnet with another info", magnet: true, wantHave: -1, edit: func(t *testing.T, f *tfile, d *resume.Data) {
			d.Info = other.mi.InfoBytes
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Settings{})
			f := makeTorrent(t, dlSize, dlPieceLen)
			d := fullResume(t, f, f.src)
			if tc.edit != nil {
				tc.edit(t, f, d)
			}
			np := f.mi.Info.NumPieces()
			want := tc.wantHave
			if want < 0 {
				want = np
			}
			var tor *Torrent
			h.do(func() {
				p := AddParams{Info: &f.mi.Info, InfoBytes: f.mi.InfoBytes, InfoHash: f.mi.InfoHash, SavePath: f.src, Resume: d}
				if tc.magnet {
					p.Info, p.InfoBytes = nil, nil
				}
				var err error
				if tor, err = h.s.AddTorrent(p); err != nil {
					fatalf("AddTorrent: %v", err)
				}
			})
			if tc.magnet && string(d.Info) != string(f.mi.InfoBytes) {
				h.do(func() {
					if tor.HasMetadata() {
						fatalf("a resume info of another torrent gave the magnet metadata")
					}
				})
				return
			}
			h.waitFor("the torrent to be ready", func() bool { return tor.filesChecked })
			rejected := alertsOf[*plugin.FastresumeRejectedAlert](h.alerts)
			checked := false
			for _, a := range statesOf(h.alerts, f.mi.InfoHash) {
				if a.From == plugin.StateCheckingFiles {
					checked = true
				}
			}
			if checked != tc.wantCheck || (len(rejected) > 0) != tc.wantCheck {
				t.Fatalf("checked=%v, %d rejections; want check=%v", checked, len(rejected), tc.wantCheck)
			}
			if tc.wantCheck {
				if rejected[0].File != tc.wantFile || !errors.Is(rejected[0].Err, ErrResumeRejected) {
					t.Fatalf("rejection names file %q (err %v), want %q", rejected[0].File, rejected[0].Err, tc.wantFile)
				}
			}
			if n := len(alertsOf[*plugin.TorrentCheckedAlert](h.alerts)); n != 1 {
				t.Fatalf("%d checked alerts, want 1", n)
			}
			h.do(func() {
				st := tor.Status()
				if st.Pieces != want {
					fatalf("%d pieces present, want %d", st.Pieces, want)
				}
				if st.ResumeRejected != tc.wantCheck {
					fatalf("Status.ResumeRejected = %v", st.ResumeRejected)
				}
				wantState := plugin.StateDownloading
				if want == np {
					wantState = plugin.StateSeeding
				}
				if st.State != wantState {
					fatalf("state %v, want %v", st.State, wantState)
				}
			})
		})
	}
}

// touch moves a file's modification time a second into the future.
func touch(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, time.Now(), fi.ModTime().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
}

// serve answers src's requests with f's blocks until cond holds, at most
// max blocks in all (0: no limit).
func serve(h *harness, src *tpeer, f *tfile, max int, cond func() bool) {
	h.t.Helper()
	sent := 0
	deadline := time.Now().Add(waitTimeout)
	for {
		done := false
		h.do(func() {
			if done = cond(); done {
				return
			}
			var b []byte
			for _, r := range requestsOf(src.fc.take()) {
				if max > 0 && sent == max {
					break
				}
				sent++
				b = wire.AppendPiece(b, r.Piece, r.Begin, f.block(r.Piece, r.Begin, r.Length))
			}
			if len(b) > 0 {
				h.feed(src, b)
			}
		})
		if done {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatal("timed out serving the download")
		}
		time.Sleep(time.Millisecond)
	}
}

// seeder connects a peer that has everything and unchokes us.
func (h *harness) seeder(tor *Torrent) *tpeer {
	var src *tpeer
	h.do(func() {
		src = h.handshaken(tor, 1)
		h.feed(src, simple(wire.HaveAll))
		h.feed(src, simple(wire.Unchoke))
	})
	return src
}

// claimed counts the pieces resume data marks present.
func claimed(d *resume.Data) int {
	n := 0
	for i := range d.Pieces {
		if d.Has(i) {
			n++
		}
	}
	return n
}

// syncsDone waits until no sync of tor is in flight.
func (h *harness) syncIdle(tor *Torrent) {
	h.t.Helper()
	h.waitFor("the sync", func() bool { return !tor.dur.inFlight })
}

// syncBatchPieces is how many of the durability tests' 16 KiB pieces
// start a sync: they lower the shard's syncBytes to that (256 MiB would
// make the test torrents too big).
const syncBatchPieces = 64

// TestDurability: a written piece appears in ResumeData only once a sync
// that started after its write completed; syncs are batched by time
// (syncEvery) and count (syncBatchPieces), never per piece.
func TestDurability(t *testing.T) {
	cases := []struct {
		name string
		// pieces to download before the clock moves; then ticks of
		// tickBy until the sync is due.
		pieces int
		ticks  []time.Duration
		// wantSyncAfter is the index in ticks after which the sync has
		// started (-1: started by the count alone, before any tick).
		wantSyncAfter int
	}{
		{name: "by time", pieces: 3, ticks: []time.Duration{time.Second, 3 * time.Second, time.Second}, wantSyncAfter: 2},
		{name: "by count", pieces: syncBatchPieces, wantSyncAfter: -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Settings{})
			h.do(func() { h.s.resume = &sinkRec{}; h.s.syncBytes = syncBatchPieces << 14 }) // batched syncs need a sink
			f := makeTorrent(t, (syncBatchPieces+8)*16<<10, 16<<10)
			tor := h.leech(f)
			// A first sync gives the file stats (a torrent that never
			// synced claims nothing).
			h.do(func() { tor.requestResume(func(*resume.Data, error) {}) })
			h.syncIdle(tor)
			src := h.seeder(tor)
			written := 0
			serve(h, src, f, tc.pieces, func() bool {
				written = tor.have.Count()
				return written >= tc.pieces
			})
			// Serving stopped: what is in flight lands, nothing more.
			// (No Pause: with a sink, pausing saves, which syncs.)
			h.waitFor("writes", func() bool { return tor.dur.writes == 0 })
			h.do(func() { written = tor.have.Count() })
			started := tc.wantSyncAfter < 0
			h.do(func() {
				d := tor.ResumeData()
				synced := written - tor.dur.pending.Count()
				if got := claimed(d); got > synced {
					fatalf("resume data claims %d pieces, only %d are synced", got, synced)
				}
				if !started && claimed(d) != 0 {
					fatalf("resume data claims %d pieces before any sync", claimed(d))
				}
			})
			for i, d := range tc.ticks {
				h.tick(d)
				if i == tc.wantSyncAfter {
					started = true
				}
				h.do(func() {
					if started {
						return
					}
					if got := claimed(tor.ResumeData()); got != 0 {
						fatalf("after tick %d, %d pieces claimed before any sync of them", i, got)
					}
					if tor.dur.inFlight || tor.dur.pending.Count() != written {
						fatalf("sync started at tick %d, want after tick %d", i, tc.wantSyncAfter)
					}
				})
			}
			h.syncIdle(tor)
			h.do(func() {
				if tor.dur.inFlight || len(tor.dur.unsynced) > 0 {
					// The count trigger may leave a tail for the timer.
					h.clock.now = h.clock.now.Add(syncEvery)
					tor.syncDue(h.clock.now)
				}
			})
			h.syncIdle(tor)
			h.do(func() {
				d := tor.ResumeData()
				if got := claimed(d); got != written {
					fatalf("after the sync, resume data claims %d pieces, want %d", got, written)
				}
				for i := range d.Pieces {
					if d.Has(i) != tor.have.Has(i) {
						fatalf("piece %d: claimed %v, have %v", i, d.Has(i), tor.have.Has(i))
					}
				}
				if len(d.Files) != 1 || d.Files[0].Size <= 0 {
					fatalf("file stats %+v", d.Files)
				}
			})
		})
	}
}

// sinkRec records saved resume data.
type sinkRec struct {
	mu      sync.Mutex
	saved   []*resume.Data
	removed []metainfo.InfoHash
}

func (s *sinkRec) SaveResume(ih metainfo.InfoHash, d *resume.Data) {
	s.mu.Lock()
	s.saved = append(s.saved, d)
	s.mu.Unlock()
}

func (s *sinkRec) RemoveResume(ih metainfo.InfoHash) {
	s.mu.Lock()
	s.removed = append(s.removed, ih)
	s.mu.Unlock()
}

func (s *sinkRec) count() (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.saved), len(s.removed)
}

// TestResumeSaves: with a sink, a torrent is saved on completion, on
// pause, at the interval only when it changed, at Drain, and forgotten on
// remove.
func TestResumeSaves(t *testing.T) {
	h := newHarness(t, Settings{})
	sink := &sinkRec{}
	h.do(func() { h.s.resume = sink })
	f := makeTorrent(t, 8*16<<10, 16<<10)
	tor := h.leech(f)
	src := h.seeder(tor)
	serve(h, src, f, 0, func() bool { return tor.isSeed() })
	h.waitFor("the completion save", func() bool { n, _ := sink.count(); return n == 1 })
	sink.mu.Lock()
	if d := sink.saved[0]; claimed(d) != 8 {
		t.Fatalf("completion save claims %d pieces, want 8", claimed(d))
	}
	sink.mu.Unlock()
	// Nothing changed: the interval saves nothing.
	h.tick(time.Second)
	h.tick(ResumeSaveInterval)
	h.syncIdle(tor)
	if n, _ := sink.count(); n != 1 {
		t.Fatalf("%d saves after an interval without change, want 1", n)
	}
	h.do(func() { tor.Pause() })
	h.waitFor("the pause save", func() bool { n, _ := sink.count(); return n == 2 })
	h.do(func() { tor.Resume() }) // a change the interval saves
	h.tick(ResumeSaveInterval)
	h.waitFor("the interval save", func() bool { n, _ := sink.count(); return n == 3 })
	drained := make(chan struct{})
	h.do(func() { tor.rs.dirty = true; h.s.Drain(func() { close(drained) }) })
	select {
	case <-drained:
	case <-time.After(waitTimeout):
		t.Fatal("Drain did not finish")
	}
	if n, _ := sink.count(); n != 4 {
		t.Fatalf("%d saves after Drain, want 4", n)
	}
	h.do(func() { tor.Remove() })
	if _, r := sink.count(); r != 1 {
		t.Fatalf("%d removals, want 1", r)
	}
}

// TestForceRecheckShard: ForceRecheck drops the pieces and finds them again.
func TestForceRecheckShard(t *testing.T) {
	h := newHarness(t, Settings{})
	f := makeTorrent(t, dlSize, dlPieceLen)
	tor := h.seed(f)
	h.do(func() {
		tor.ForceRecheck()
		if !tor.checking || tor.have.Count() != 0 {
			fatalf("after ForceRecheck: checking=%v have=%d", tor.checking, tor.have.Count())
		}
	})
	h.waitFor("the recheck", func() bool { return !tor.checking })
	h.do(func() {
		if tor.have.Count() != f.mi.Info.NumPieces() || tor.state != plugin.StateSeeding {
			fatalf("after the recheck: have %d state %v", tor.have.Count(), tor.state)
		}
	})
}

// TestRemoveWithFiles deletes the files and says so.
func TestRemoveWithFiles(t *testing.T) {
	h := newHarness(t, Settings{})
	f := makeTorrent(t, dlSize, dlPieceLen)
	tor := h.seed(f)
	h.do(func() { tor.RemoveWithFiles() })
	h.waitFor("TorrentDeletedAlert", func() bool { return len(alertsOf[*plugin.TorrentDeletedAlert](h.alerts)) > 0 })
	if _, err := os.Stat(filepath.Join(f.src, "payload.bin")); !os.IsNotExist(err) {
		t.Fatalf("payload still there: %v", err)
	}
}

// TestRecheckKeepsUnsyncedOut: a piece written but not synced that a
// ForceRecheck finds (in the page cache) is still not claimed until a sync.
func TestRecheckKeepsUnsyncedOut(t *testing.T) {
	h := newHarness(t, Settings{})
	f := makeTorrent(t, 16*16<<10, 16<<10)
	tor := h.leech(f)
	h.do(func() { tor.requestResume(func(*resume.Data, error) {}) })
	h.syncIdle(tor)
	src := h.seeder(tor)
	serve(h, src, f, 4, func() bool { return tor.have.Count() >= 4 })
	h.waitFor("writes", func() bool { return tor.dur.writes == 0 })
	h.do(func() { tor.ForceRecheck() })
	h.waitFor("the recheck", func() bool { return !tor.checking })
	h.do(func() {
		if n := tor.have.Count(); n < 4 {
			fatalf("recheck found %d pieces, want at least 4", n)
		}
		if got := claimed(tor.ResumeData()); got != 0 {
			fatalf("after the recheck, %d unsynced pieces claimed", got)
		}
		tor.startSync()
	})
	h.syncIdle(tor)
	h.do(func() {
		if got, want := claimed(tor.ResumeData()), tor.have.Count(); got != want {
			fatalf("after the sync %d pieces claimed, want %d", got, want)
		}
	})
}

// TestNoSinkNoBatchedSync: without a ResumeSink (a session without
// ResumeDir) nothing syncs on its own; a resume request still syncs first.
func TestNoSinkNoBatchedSync(t *testing.T) {
	h := newHarness(t, Settings{})
	h.do(func() { h.s.syncBytes = syncBatchPieces << 14 })
	f := makeTorrent(t, (syncBatchPieces+8)*16<<10, 16<<10)
	tor := h.leech(f)
	src := h.seeder(tor)
	serve(h, src, f, syncBatchPieces, func() bool { return tor.have.Count() >= syncBatchPieces })
	h.do(func() { tor.Pause() })
	h.waitFor("writes", func() bool { return tor.dur.writes == 0 })
	h.tick(2 * syncEvery)
	var written int
	h.do(func() {
		written = tor.have.Count()
		if tor.dur.inFlight || tor.dur.pending.Count() != written {
			fatalf("without a sink: sync in flight %v, %d of %d pieces pending", tor.dur.inFlight, tor.dur.pending.Count(), written)
		}
	})
	got := make(chan *resume.Data, 1)
	h.do(func() { tor.RequestResumeData(func(d *resume.Data, err error) { got <- d }) })
	select {
	case d := <-got:
		if claimed(d) != written {
			t.Fatalf("resume request claims %d pieces, want %d", claimed(d), written)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no resume data")
	}
}

// TestResumeSeedModeStaysUnverified: resume data saved in seed mode marks
// the pieces never hashed present but not verified (libtorrent's
// seed_mode flag); a reload keeps them unverified, so each is still hashed
// before its first byte is served, and saves them the same way again.
func TestResumeSeedModeStaysUnverified(t *testing.T) {
	h := newHarness(t, Settings{})
	f := makeTorrent(t, dlSize, dlPieceLen)
	d := fullResume(t, f, f.src)
	d.SeedMode = true
	for i := 2; i < len(d.Pieces); i++ {
		d.Pieces[i] = resume.PieceHave
	}
	var tor *Torrent
	h.do(func() {
		var err error
		tor, err = h.s.AddTorrent(AddParams{Info: &f.mi.Info, InfoBytes: f.mi.InfoBytes, InfoHash: f.mi.InfoHash, SavePath: f.src, Resume: d})
		if err != nil {
			fatalf("AddTorrent: %v", err)
		}
	})
	h.waitFor("the torrent to be ready", func() bool { return tor.filesChecked })
	h.do(func() {
		np := f.mi.Info.NumPieces()
		for i := 0; i < np; i++ {
			if got, want := tor.Unverified(i), i >= 2; got != want {
				fatalf("piece %d unverified = %v, want %v", i, got, want)
			}
		}
		if st := tor.Status(); st.Pieces != np || st.State != plugin.StateSeeding {
			fatalf("%d of %d pieces, state %v; want all, seeding", st.Pieces, np, st.State)
		}
		out := tor.ResumeData()
		if out.Pieces == nil {
			fatalf("resume data claims nothing: the applied file stats were not kept")
		}
		if !out.SeedMode {
			fatalf("resume data of a torrent with unverified pieces lacks seed_mode")
		}
		for i, b := range out.Pieces {
			want := resume.PieceHave
			if i < 2 {
				want |= resume.PieceVerified
			}
			if b != want {
				fatalf("piece %d saved as %#x, want %#x", i, b, want)
			}
		}
	})
}
