package shard

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/storage"
	"github.com/shardtorrent/shardtorrent/wire"
	"golang.org/x/sys/unix"
)

// checkErrorState asserts the error state of diskerror.go. Loop only.
func checkErrorState(tor *Torrent, state plugin.TorrentState, peers ...*tpeer) {
	st := tor.Status()
	if st.Err == nil || st.ErrorFile != "payload.bin" || st.State != state || !st.Paused {
		fatalf("status in the error state: err %v file %q state %v paused %v", st.Err, st.ErrorFile, st.State, st.Paused)
	}
	if tor.acceptsConnection() || tor.Announcing() || tor.wantPeers() {
		fatalf("a torrent in its error state accepts, announces or dials")
	}
	for _, tp := range peers {
		if !tp.closing && !tp.closed {
			fatalf("peer still connected in the error state")
		}
	}
}

// TestReadErrorStopsTheTorrent: a verified piece that cannot be read (its
// file truncated, or the disk failing with EIO) puts the torrent in its
// error state: one FileErrorAlert naming the file and "read", one
// TorrentErrorAlert however many reads failed, peers dropped, nothing
// announced. Resume once the cause is fixed: after a truncation the
// torrent is checked again (and finds what is really there); after EIO it
// continues at once from the pieces it had.
func TestReadErrorStopsTheTorrent(t *testing.T) {
	cases := []struct {
		name    string
		spoil   func(tor *Torrent, path string) error
		errno   error
		fix     func(tor *Torrent, tf *tfile, path string) error
		recheck bool
		pieces  int // had after Resume (and its check)
	}{
		{"truncated, restored", func(tor *Torrent, path string) error { return os.Truncate(path, seedPieceLen) }, io.ErrUnexpectedEOF,
			func(tor *Torrent, tf *tfile, path string) error { return os.WriteFile(path, tf.data, 0o644) }, true, 5},
		{"truncated, left so", func(tor *Torrent, path string) error { return os.Truncate(path, seedPieceLen) }, io.ErrUnexpectedEOF,
			func(tor *Torrent, tf *tfile, path string) error { return nil }, true, 1},
		{"EIO", func(tor *Torrent, path string) error {
			tor.st.(*storage.FileStorage).SetFaults(storage.NewFaultPlan(storage.FaultRule{Op: storage.FaultRead, Err: unix.EIO}))
			return nil
		}, unix.EIO, func(tor *Torrent, tf *tfile, path string) error {
			tor.st.(*storage.FileStorage).SetFaults(nil)
			return nil
		}, false, 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tf := makeTorrent(t, seedSize, seedPieceLen)
			path := filepath.Join(tf.src, "payload.bin")
			h := newHarness(t, Settings{})
			tor := h.seed(tf)
			var a, b *tpeer
			h.do(func() {
				tor.startAnnouncing()
				a = h.handshaken(tor, 1, simple(wire.HaveNone), simple(wire.Interested))
				b = h.handshaken(tor, 2, simple(wire.HaveNone), simple(wire.Interested))
				if err := c.spoil(tor, path); err != nil {
					fatalf("%v", err)
				}
				h.feed(a, wire.AppendRequest(nil, 2, 0, wire.BlockSize))
				h.feed(b, wire.AppendRequest(nil, 3, 0, wire.BlockSize))
			})
			h.waitFor("the error state", func() bool { return tor.err != nil && a.closed && b.closed })
			h.do(func() {
				checkErrorState(tor, plugin.StateSeeding, a, b)
				for _, tp := range []*tpeer{a, b} {
					if len(only(tp.fc.take(), wire.Piece)) != 0 {
						fatalf("a block was sent")
					}
				}
				// An incoming peer is turned away while in the error state.
				if tor.acceptsConnection() {
					fatalf("accepts connections")
				}
			})
			fes := alertsOf[*plugin.FileErrorAlert](h.alerts)
			tes := alertsOf[*plugin.TorrentErrorAlert](h.alerts)
			if len(fes) != 1 || fes[0].File != "payload.bin" || fes[0].Op != "read" || !errors.Is(fes[0].Err, c.errno) {
				t.Fatalf("file errors %+v, want one: payload.bin read %v", fes, c.errno)
			}
			if len(tes) != 1 || !errors.Is(tes[0].Err, c.errno) {
				t.Fatalf("torrent errors %+v", tes)
			}

			h.do(func() {
				if err := c.fix(tor, tf, path); err != nil {
					fatalf("%v", err)
				}
				tor.Resume()
				if tor.err != nil || tor.paused || tor.Status().ErrorFile != "" {
					fatalf("Resume left err %v paused %v", tor.err, tor.paused)
				}
				if tor.checking != c.recheck {
					fatalf("checking after Resume: %v, want %v", tor.checking, c.recheck)
				}
			})
			h.waitFor("the torrent running", func() bool { return !tor.checking && tor.Announcing() })
			h.do(func() {
				if n := tor.have.Count(); n != c.pieces || tor.pk.HaveCount() != n {
					fatalf("have %d (picker %d) pieces after Resume, want %d", n, tor.pk.HaveCount(), c.pieces)
				}
				want := plugin.StateSeeding
				if c.pieces < tf.mi.Info.NumPieces() {
					want = plugin.StateDownloading
				}
				if tor.state != want || !tor.acceptsConnection() {
					fatalf("state %v after Resume, want %v", tor.state, want)
				}
			})
			if c.pieces == 5 {
				// And serves again.
				var p *tpeer
				h.do(func() {
					p = h.handshaken(tor, 3, simple(wire.HaveNone), simple(wire.Interested))
					p.fc.take()
					h.feed(p, wire.AppendRequest(nil, 2, 0, wire.BlockSize))
				})
				h.waitFor("a block after Resume", func() bool { return len(only(p.fc.take(), wire.Piece)) == 1 })
			}
		})
	}
}

// TestWriteErrorLosesNoPiece: pieces whose write fails with ENOSPC are not
// marked present; the torrent stops in its error state (one FileErrorAlert
// "write", one TorrentErrorAlert) with its state still downloading. After
// Resume, without a check, the same pieces are requested again.
func TestWriteErrorLosesNoPiece(t *testing.T) {
	h := newHarness(t, Settings{})
	tf := makeTorrent(t, dlSize, dlPieceLen)
	tor := h.leech(tf)
	var src *tpeer
	pieces := map[uint32]bool{}
	h.do(func() {
		tor.st.(*storage.FileStorage).SetFaults(storage.NewFaultPlan(storage.FaultRule{Op: storage.FaultWrite, Err: unix.ENOSPC}))
		src = h.handshaken(tor, 1)
		h.feed(src, join(simple(wire.HaveAll), simple(wire.Unchoke)))
		var b []byte
		for _, r := range requestsOf(src.fc.take()) {
			pieces[r.Piece] = true
			b = wire.AppendPiece(b, r.Piece, r.Begin, tf.block(r.Piece, r.Begin, r.Length))
		}
		h.feed(src, b)
	})
	h.waitFor("the error state", func() bool { return tor.err != nil && len(tor.hashing) == 0 })
	h.do(func() {
		checkErrorState(tor, plugin.StateDownloading, src)
		if n := tor.have.Count(); n != 0 || tor.pk.HaveCount() != 0 {
			fatalf("%d pieces marked present after their writes failed", n)
		}
	})
	fes := alertsOf[*plugin.FileErrorAlert](h.alerts)
	if len(fes) != 1 || fes[0].Op != "write" || !errors.Is(fes[0].Err, unix.ENOSPC) {
		t.Fatalf("file errors %+v", fes)
	}
	if n := len(alertsOf[*plugin.TorrentErrorAlert](h.alerts)); n != 1 {
		t.Fatalf("%d torrent errors, want 1", n)
	}
	h.do(func() {
		tor.st.(*storage.FileStorage).SetFaults(nil)
		tor.Resume()
		if tor.checking {
			fatalf("Resume after a write error checks the files")
		}
		p := h.handshaken(tor, 2)
		h.feed(p, join(simple(wire.HaveAll), simple(wire.Unchoke)))
		again := 0
		for _, r := range requestsOf(p.fc.take()) {
			if pieces[r.Piece] {
				again++
			}
		}
		if again == 0 {
			fatalf("none of the pieces whose write failed is requested again")
		}
	})
}

// TestDeletedFileStopsTheTorrent: a file deleted while seeding, once its
// descriptor is gone (here evicted from the storage's cache of
// MaxOpenFiles; a restart does the same), fails its open when a peer asks
// for its piece: the torrent stops with a FileErrorAlert "open" naming
// the file, and Resume checks the torrent again, finding the file back
// (restored) or that piece missing (not restored).
func TestDeletedFileStopsTheTorrent(t *testing.T) {
	for _, restore := range []bool{true, false} {
		t.Run(map[bool]string{true: "restored", false: "left deleted"}[restore], func(t *testing.T) {
			const n = storage.MaxOpenFiles + 6
			dir := t.TempDir()
			root := filepath.Join(dir, "many")
			if err := os.MkdirAll(root, 0o755); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if err := os.WriteFile(filepath.Join(root, fmt.Sprintf("f%03d.bin", i)), testData(seedPieceLen, uint64(i)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, mi, err := metainfo.Create(root, metainfo.CreateOptions{PieceLength: seedPieceLen})
			if err != nil {
				t.Fatal(err)
			}
			tf := &tfile{mi: mi, src: dir}
			piece := -1 // one file a piece: find f000.bin's
			for i, f := range mi.Info.Files {
				if f.Path[len(f.Path)-1] == "f000.bin" {
					piece = i
				}
			}
			h := newHarness(t, Settings{})
			tor := h.seed(tf)
			path := filepath.Join(root, "f000.bin")
			saved, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			var tp *tpeer
			h.do(func() {
				if tor.state != plugin.StateSeeding {
					fatalf("not seeding after the check: %v", tor.state)
				}
				tp = h.handshaken(tor, 1, simple(wire.HaveNone), simple(wire.Interested))
				h.feed(tp, wire.AppendRequest(nil, uint32(piece), 0, wire.BlockSize))
			})
			h.waitFor("the error state", func() bool { return tor.err != nil && tp.closed })
			want := filepath.Join("many", "f000.bin")
			fes := alertsOf[*plugin.FileErrorAlert](h.alerts)
			if len(fes) != 1 || fes[0].Op != "open" || fes[0].File != want || !errors.Is(fes[0].Err, storage.ErrMissing) {
				t.Fatalf("file errors %+v, want one: open %s, missing", fes, want)
			}
			h.do(func() {
				if st := tor.Status(); st.ErrorFile != want || st.State != plugin.StateSeeding || !st.Paused {
					fatalf("status %+v", st)
				}
			})
			if restore {
				if err := os.WriteFile(path, saved, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			h.do(func() {
				tor.Resume()
				if !tor.checking {
					fatalf("Resume after a deleted file does not check the torrent")
				}
			})
			h.waitFor("the check", func() bool { return !tor.checking })
			h.do(func() {
				wantHave, wantState := n, plugin.StateSeeding
				if !restore {
					wantHave, wantState = n-1, plugin.StateDownloading
				}
				if tor.have.Count() != wantHave || tor.have.Has(piece) != restore || tor.state != wantState || tor.err != nil {
					fatalf("after the check: have %d (piece %d: %v) state %v err %v", tor.have.Count(), piece, tor.have.Has(piece), tor.state, tor.err)
				}
			})
		})
	}
}
