package shard

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

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
