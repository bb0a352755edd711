package shard

import (
	"fmt"
	"testing"

	"github.com/shardtorrent/shardtorrent/wire"
)

// BenchmarkServeBlock serves one 16 KiB block per iteration from the page
// cache to a connection that discards it, with 0 and 4 no-op peer plugins
// (3 hook calls each per block: OnRequest, SentPiece, SentPayload): the
// whole per-block path of a seeder without the socket, to weigh the hook
// dispatch and its cost accounting against it.
func BenchmarkServeBlock(b *testing.B) {
	for _, plugins := range []int{0, 4} {
		b.Run(fmt.Sprintf("plugins=%d", plugins), func(b *testing.B) {
			h := newHarness(b, Settings{})
			tor := h.seed(makeTorrent(b, seedSize, seedPieceLen))
			var tp *tpeer
			req := wire.AppendRequest(nil, 1, wire.BlockSize, wire.BlockSize)
			perBlock := wire.PieceHeaderLen + wire.BlockSize
			h.do(func() {
				addNoopPlugins(tor, plugins)
				tp = h.handshaken(tor, 1, simple(wire.HaveNone), simple(wire.Interested))
				tp.fc.take()
				tp.fc.discard = true
				tp.fc.written = 0
				h.feed(tp, req)
			})
			h.waitFor("the first block", func() bool { return tp.fc.written == perBlock })
			b.SetBytes(wire.BlockSize)
			b.ReportAllocs()
			h.do(func() {
				b.ResetTimer()
				for range b.N {
					h.feed(tp, req)
				}
				b.StopTimer()
				if tp.fc.written != (b.N+1)*perBlock {
					fatalf("served %d bytes synchronously, want %d", tp.fc.written, (b.N+1)*perBlock)
				}
			})
		})
	}
}
