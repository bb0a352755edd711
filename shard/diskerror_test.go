package shard

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

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
			tor.st.SetFaults(storage.NewFaultPlan(storage.FaultRule{Op: storage.FaultRead, Err: unix.EIO}))
			return nil
		}, unix.EIO, func(tor *Torrent, tf *tfile, path string) error { tor.st.SetFaults(nil); return nil }, false, 5},
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
		tor.st.SetFaults(storage.NewFaultPlan(storage.FaultRule{Op: storage.FaultWrite, Err: unix.ENOSPC}))
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
		tor.st.SetFaults(nil)
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
