package shard

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/shardtorrent/shardtorrent/ext/donthave"
	"github.com/shardtorrent/shardtorrent/ext/uploadonly"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/storage"
	"github.com/shardtorrent/shardtorrent/wire"
)

// addSeedMode adds f over dir in seed mode, with lt_donthave and
// upload_only attached.
func (h *harness) addSeedMode(f *tfile, dir string) *Torrent {
	h.t.Helper()
	var tor *Torrent
	h.do(func() {
		var err error
		tor, err = h.s.AddTorrent(AddParams{Info: &f.mi.Info, InfoHash: f.mi.InfoHash, SavePath: dir, SeedMode: true,
			Extensions: []func(plugin.TorrentHandle, any) plugin.TorrentPlugin{
				func(th plugin.TorrentHandle, ud any) plugin.TorrentPlugin { return donthave.New().NewTorrent(th, ud) },
				func(th plugin.TorrentHandle, ud any) plugin.TorrentPlugin { return uploadonly.New().NewTorrent(th, ud) },
			}})
		if err != nil {
			fatalf("AddTorrent: %v", err)
		}
	})
	return tor
}

// readCounter is a storage.Faults that fails nothing and counts the bytes
// read (hashes and block reads alike).
type readCounter struct{ bytes atomic.Int64 }

func (c *readCounter) Fault(op storage.FaultOp, path string, n int) (int, error) {
	if op == storage.FaultRead {
		c.bytes.Add(int64(n))
	}
	return n, nil
}

// TestSeedModeHashesBeforeServing: the first request for a block of an
// unverified piece starts one hash of the piece and sends nothing; the
// piece's other requests (two more blocks, another peer) wait for the same
// hash; once it passes every block is served and the piece is verified.
func TestSeedModeHashesBeforeServing(t *testing.T) {
	tf := makeTorrent(t, seedSize, seedPieceLen)
	h := newHarness(t, Settings{})
	tor := h.addSeedMode(tf, tf.src)
	reads := &readCounter{}
	var a, b *tpeer
	const piece = 1
	h.do(func() {
		if tor.state != plugin.StateSeeding || !tor.Unverified(piece) {
			fatalf("seed mode: state %v unverified %v", tor.state, tor.Unverified(piece))
		}
		tor.st.(*storage.FileStorage).SetFaults(reads)
		a = h.handshaken(tor, 1, simple(wire.HaveNone), simple(wire.Interested))
		b = h.handshaken(tor, 2, simple(wire.HaveNone), simple(wire.Interested))
		a.fc.take()
		b.fc.take()
		h.feed(a, join(wire.AppendRequest(nil, piece, 0, wire.BlockSize), wire.AppendRequest(nil, piece, wire.BlockSize, wire.BlockSize)))
		h.feed(b, wire.AppendRequest(nil, piece, 0, wire.BlockSize))
		if len(only(a.fc.take(), wire.Piece))+len(only(b.fc.take(), wire.Piece)) != 0 {
			fatalf("a block of an unverified piece was sent before its hash")
		}
		if !tor.seed.verifying.Has(piece) {
			fatalf("no hash in flight for the requested piece")
		}
	})
	var gotA, gotB int
	h.waitFor("the blocks", func() bool {
		for _, m := range only(a.fc.take(), wire.Piece) {
			if m.Index != piece || string(m.Payload) != string(tf.block(m.Index, m.Begin, uint32(len(m.Payload)))) {
				fatalf("peer a got a wrong block %d/%d", m.Index, m.Begin)
			}
			gotA++
		}
		for range only(b.fc.take(), wire.Piece) {
			gotB++
		}
		return gotA == 2 && gotB == 1
	})
	h.do(func() {
		if tor.Unverified(piece) || tor.seed.verifying.Has(piece) || !tor.Unverified(0) {
			fatalf("after the hash: unverified(1)=%v verifying=%v unverified(0)=%v", tor.Unverified(piece), tor.seed.verifying.Has(piece), tor.Unverified(0))
		}
	})
	if got, want := reads.bytes.Load(), seedPieceLen+3*wire.BlockSize; got != int64(want) {
		t.Fatalf("read %d bytes, want %d: one hash of the piece and three blocks", got, want)
	}
	if n := len(alertsOf[*plugin.FileErrorAlert](h.alerts)); n != 0 {
		t.Fatalf("%d file errors for a good piece", n)
	}
}

// TestSeedModeNeverServesBadData: a seed-mode piece whose data is wrong
// (a corrupted byte), short (truncated file) or gone (deleted file) fails
// its hash when first asked for: not a byte of it is sent, the requests
// are rejected, the piece is lost (lt_donthave, upload_only 0), the torrent
// downloads again without an error state, and FileErrorAlert (Op "hash")
// names the file. This replaces the old TestLostPiece: a verified piece
// whose file went away is now a disk error (diskerror_test.go).
func TestSeedModeNeverServesBadData(t *testing.T) {
	cases := []struct {
		name  string
		piece uint32
		spoil func(path string, tf *tfile) error
		err   error
	}{
		{"corrupted byte", 2, func(path string, tf *tfile) error {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt([]byte{^tf.data[2*seedPieceLen+100]}, 2*seedPieceLen+100)
			return err
		}, ErrCorruptPiece},
		{"truncated file", 4, func(path string, tf *tfile) error { return os.Truncate(path, 4*seedPieceLen) }, io.ErrUnexpectedEOF},
		{"deleted file", 0, func(path string, tf *tfile) error { return os.Remove(path) }, storage.ErrMissing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tf := makeTorrent(t, seedSize, seedPieceLen)
			if err := c.spoil(filepath.Join(tf.src, "payload.bin"), tf); err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, Settings{})
			tor := h.addSeedMode(tf, tf.src)
			var tp *tpeer
			size := uint32(tf.mi.Info.PieceSize(int(c.piece)))
			h.do(func() {
				tp = h.handshaken(tor, 1, extHSUpload(false, map[string]int{"lt_donthave": 9, "upload_only": 11}), simple(wire.HaveNone), simple(wire.Interested))
				tp.fc.take()
				var reqs []byte
				for begin := uint32(0); begin < size; begin += wire.BlockSize {
					reqs = wire.AppendRequest(reqs, c.piece, begin, min(wire.BlockSize, size-begin))
				}
				h.feed(tp, reqs)
			})
			h.waitFor("the lost piece", func() bool { return !tor.have.Has(int(c.piece)) })
			h.do(func() {
				if tor.err != nil || tor.paused || tor.state != plugin.StateDownloading || tor.Unverified(int(c.piece)) {
					fatalf("after the bad piece: err %v paused %v state %v", tor.err, tor.paused, tor.state)
				}
				var gotDH, gotUO bool
				rejects := 0
				for _, m := range tp.fc.take() {
					switch {
					case m.ID == wire.Piece:
						fatalf("sent a block (%d/%d) of a piece that failed its hash", m.Index, m.Begin)
					case m.ID == wire.Extended && m.ExtID == 9 && string(m.Payload) == string([]byte{0, 0, 0, byte(c.piece)}):
						gotDH = true
					case m.ID == wire.Extended && m.ExtID == 11 && string(m.Payload) == "\x00":
						gotUO = true
					case m.ID == wire.Reject && m.Index == c.piece:
						rejects++
					}
				}
				if want := int((size + wire.BlockSize - 1) / wire.BlockSize); !gotDH || !gotUO || rejects != want {
					fatalf("sent lt_donthave %v, upload_only 0 %v, %d rejects (want %d)", gotDH, gotUO, rejects, want)
				}
				if tp.closing {
					fatalf("peer disconnected: %v", tp.discErr)
				}
			})
			fes := alertsOf[*plugin.FileErrorAlert](h.alerts)
			if len(fes) != 1 || fes[0].Op != "hash" || fes[0].File != "payload.bin" || !errors.Is(fes[0].Err, c.err) {
				t.Fatalf("file error alerts %+v, want one naming payload.bin, op hash, %v", fes, c.err)
			}
			var phe *PieceHashError
			if !errors.As(fes[0].Err, &phe) || phe.Piece != int(c.piece) {
				t.Fatalf("file error %v does not name piece %d", fes[0].Err, c.piece)
			}
			if hf := alertsOf[*plugin.HashFailedAlert](h.alerts); len(hf) != 1 || hf[0].Piece != int(c.piece) {
				t.Fatalf("hash failed alerts %+v", hf)
			}
			if n := len(alertsOf[*plugin.TorrentErrorAlert](h.alerts)); n != 0 {
				t.Fatalf("%d torrent errors for a bad seed-mode piece", n)
			}
			// A later request for the lost piece is refused at once.
			h.do(func() {
				h.feed(tp, wire.AppendRequest(nil, c.piece, 0, min(wire.BlockSize, size)))
				if ms := tp.fc.take(); len(only(ms, wire.Reject)) != 1 || len(only(ms, wire.Piece)) != 0 {
					fatalf("request for the lost piece answered %v", ids(ms))
				}
			})
		})
	}
}

// TestSeedModeServeAllocs: once a seed-mode piece is verified, serving its
// blocks from the page cache allocates nothing, as for a checked torrent.
func TestSeedModeServeAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("measures allocations (not under -race, which adds some)")
	}
	tf := makeTorrent(t, seedSize, seedPieceLen)
	h := newHarness(t, Settings{})
	tor := h.addSeedMode(tf, tf.src)
	var tp *tpeer
	req := wire.AppendRequest(nil, 1, wire.BlockSize, wire.BlockSize)
	perBlock := wire.PieceHeaderLen + wire.BlockSize
	h.do(func() {
		tp = h.handshaken(tor, 1, simple(wire.HaveNone), simple(wire.Interested))
		tp.fc.take()
		tp.fc.discard = true
		tp.fc.written = 0
		h.feed(tp, req) // hashes piece 1, then reads the block
	})
	h.waitFor("the first block", func() bool { return tp.fc.written == perBlock })
	var allocs float64
	const runs = 200
	h.do(func() {
		allocs = testing.AllocsPerRun(runs, func() { h.feed(tp, req) })
		if tp.fc.written != (runs+2)*perBlock {
			fatalf("served %d bytes synchronously, want %d", tp.fc.written, (runs+2)*perBlock)
		}
	})
	if allocs > 0 {
		t.Fatalf("%v allocations per served block of a verified seed-mode piece, want 0", allocs)
	}
}
