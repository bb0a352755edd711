package shard

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shardtorrent/shardtorrent/loop"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// TestServeZeroCopyHooks serves blocks from file storage to a plaintext
// conn, which takes them with WriteFile (sendfile on a real loop), and to a
// conn that refuses WriteFile, as an encrypted one does: in both the peer
// receives every block byte for byte in request order, and SentPiece and
// SentPayload fire exactly once per block, in that order, with the block's
// request and length.
func TestServeZeroCopyHooks(t *testing.T) {
	for _, zeroCopy := range []bool{true, false} {
		t.Run(fmt.Sprintf("zerocopy=%v", zeroCopy), func(t *testing.T) {
			h := newHarness(t, Settings{})
			f := makeTorrent(t, seedSize, seedPieceLen)
			tor := h.seed(f)
			var log []string
			h.do(func() {
				withPeerPlugins(tor, func(pc plugin.PeerConn) plugin.PeerPlugin {
					return &hookPeer{name: "a", log: &log, pc: pc}
				})
			})
			type blk struct{ piece, begin uint32 }
			var reqs []blk
			for p := range uint32(3) {
				for b := uint32(0); b < uint32(seedPieceLen); b += wire.BlockSize {
					reqs = append(reqs, blk{p, b})
				}
			}
			var tp *tpeer
			h.do(func() {
				tp = h.handshaken(tor, 1, simple(wire.HaveNone), simple(wire.Interested))
				tp.fc.noFile = !zeroCopy
				tp.fc.take()
				log = nil
				for _, r := range reqs {
					h.feed(tp, wire.AppendRequest(nil, r.piece, r.begin, wire.BlockSize))
				}
			})
			var got []wire.Message
			h.waitFor("every block", func() bool {
				got = append(got, only(tp.fc.take(), wire.Piece)...)
				return len(got) == len(reqs)
			})
			h.do(func() {
				var want []string
				for i, r := range reqs {
					m := got[i]
					if m.Index != r.piece || m.Begin != r.begin || !bytes.Equal(m.Payload, f.block(r.piece, r.begin, wire.BlockSize)) {
						fatalf("block %d: got piece %d begin %d (%d bytes), want piece %d begin %d with its data",
							i, m.Index, m.Begin, len(m.Payload), r.piece, r.begin)
					}
					want = append(want, fmt.Sprintf("a.SentPiece{%d %d %d}", r.piece, r.begin, wire.BlockSize),
						fmt.Sprintf("a.SentPayload%d", wire.BlockSize))
				}
				var sent []string
				for _, s := range log {
					if strings.HasPrefix(s, "a.SentPiece") || strings.HasPrefix(s, "a.SentPayload") {
						sent = append(sent, s)
					}
				}
				if !slices.Equal(sent, want) {
					fatalf("hooks %q, want %q", sent, want)
				}
				if tp.totalUp != int64(len(reqs))*wire.BlockSize {
					fatalf("totalUp %d", tp.totalUp)
				}
				// The first block may go to a worker if the file's descriptor
				// is not open yet; every page-cache hit after is zero-copy.
				if zeroCopy && tp.fc.files < len(reqs)-1 {
					fatalf("%d of %d blocks sent with WriteFile", tp.fc.files, len(reqs))
				}
				if !zeroCopy && tp.fc.files != 0 {
					fatalf("%d blocks sent with WriteFile to a conn that refuses it", tp.fc.files)
				}
			})
		})
	}
}

// TestServeZeroCopyFileShort: the file is truncated after CachedFileRange
// probed a block and before the loop sends it. The conn closes with
// loop.ErrFileShort and the torrent goes to its disk-error state as a short
// read does: one FileErrorAlert naming the file, "read" and
// io.ErrUnexpectedEOF, one TorrentErrorAlert, the peers dropped, and Resume
// checks the files again.
func TestServeZeroCopyFileShort(t *testing.T) {
	tf := makeTorrent(t, seedSize, seedPieceLen)
	path := filepath.Join(tf.src, "payload.bin")
	h := newHarness(t, Settings{})
	tor := h.seed(tf)
	var a, b *tpeer
	h.do(func() {
		a = h.handshaken(tor, 1, simple(wire.HaveNone), simple(wire.Interested))
		b = h.handshaken(tor, 2, simple(wire.HaveNone), simple(wire.Interested))
		a.fc.take()
		h.feed(a, wire.AppendRequest(nil, 0, 0, wire.BlockSize)) // opens the descriptor
	})
	h.waitFor("the first block", func() bool { return len(only(a.fc.take(), wire.Piece)) == 1 })
	truncated := false
	h.do(func() {
		a.fc.beforeFile = func() {
			if err := os.Truncate(path, seedPieceLen); err != nil {
				fatalf("%v", err)
			}
			truncated = true
		}
		h.feed(a, wire.AppendRequest(nil, 3, 0, wire.BlockSize))
	})
	h.waitFor("the error state", func() bool { return tor.err != nil && a.closed && b.closed })
	h.do(func() {
		if !truncated {
			fatalf("the block did not go through WriteFile")
		}
		if !errors.Is(a.fc.closeErr, loop.ErrFileShort) {
			fatalf("conn closed with %v, want loop.ErrFileShort", a.fc.closeErr)
		}
		checkErrorState(tor, plugin.StateSeeding, a, b)
	})
	fes := alertsOf[*plugin.FileErrorAlert](h.alerts)
	tes := alertsOf[*plugin.TorrentErrorAlert](h.alerts)
	if len(fes) != 1 || fes[0].File != "payload.bin" || fes[0].Op != "read" ||
		!errors.Is(fes[0].Err, io.ErrUnexpectedEOF) || !errors.Is(fes[0].Err, loop.ErrFileShort) {
		t.Fatalf("file errors %+v, want one: payload.bin read io.ErrUnexpectedEOF", fes)
	}
	if len(tes) != 1 || !errors.Is(tes[0].Err, loop.ErrFileShort) {
		t.Fatalf("torrent errors %+v", tes)
	}
	h.do(func() {
		if err := os.WriteFile(path, tf.data, 0o644); err != nil {
			fatalf("%v", err)
		}
		tor.Resume()
		if tor.err != nil || !tor.checking {
			fatalf("Resume: err %v, checking %v; want a re-check", tor.err, tor.checking)
		}
	})
	h.waitFor("the re-check", func() bool { return !tor.checking })
	h.do(func() {
		if n := tor.have.Count(); n != tf.mi.Info.NumPieces() {
			fatalf("have %d of %d pieces after the re-check", n, tf.mi.Info.NumPieces())
		}
	})
}
