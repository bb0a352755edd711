package shard

import (
	"fmt"
	"testing"

	"github.com/shardtorrent/shardtorrent/wire"
)

// TestSpansReturnedAfterClose: blocks held in unfinished pieces, pieces on
// their way to disk, reads in flight and queued uploads all give their spans
// back once the peers are closed, the shard is closed and the disk stopped.
func TestSpansReturnedAfterClose(t *testing.T) {
	h := newHarness(t, Settings{})
	seedFile := makeTorrent(t, seedSize, seedPieceLen)
	seed := h.seed(seedFile)
	dlFile := makeTorrent(t, dlSize, dlPieceLen)
	leech := h.leech(dlFile)
	var held int64
	h.do(func() {
		// Download side: a piece's worth of blocks completes (a disk write in
		// flight) and more blocks sit in unfinished pieces.
		src := h.handshaken(leech, 1)
		h.feed(src, join(simple(wire.HaveAll), simple(wire.Unchoke)))
		var b []byte
		for i, r := range requestsOf(src.fc.take()) {
			if i == 10 {
				break
			}
			b = wire.AppendPiece(b, r.Piece, r.Begin, dlFile.block(r.Piece, r.Begin, r.Length))
		}
		h.feed(src, b)
		// Upload side: one peer's requests wait behind an unwritable
		// connection; another's are being served.
		up1 := h.handshaken(seed, 2, simple(wire.HaveNone), simple(wire.Interested))
		up1.fc.writable = false
		up2 := h.handshaken(seed, 3, simple(wire.HaveNone), simple(wire.Interested))
		var r1, r2 []byte
		for i := range uint32(4) {
			r1 = wire.AppendRequest(r1, i, 0, wire.BlockSize)
			r2 = wire.AppendRequest(r2, i, wire.BlockSize, wire.BlockSize)
		}
		h.feed(up1, r1)
		h.feed(up2, r2)
		held = h.pool.Outstanding()
	})
	if held == 0 {
		t.Fatal("no spans held mid-transfer: the test exercises nothing")
	}
	h.do(func() {
		for _, tp := range h.peers {
			tp.disconnect(ReasonShutdown, nil)
		}
	})
	h.close()
	if n := h.pool.Outstanding(); n != 0 {
		t.Fatalf("%d spans outstanding after close (%d were held mid-transfer)", n, held)
	}
}

// TestServeBlockAllocs measures steady-state seeding: a request arrives, the
// block is read from the page cache on the loop and queued with its header;
// with no plugins and with four no-op peer plugins on the connection (their
// hooks must not allocate on the data path either).
func TestServeBlockAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("measures allocations (not under -race, which adds some)")
	}
	for _, plugins := range []int{0, 4} {
		t.Run(fmt.Sprintf("plugins=%d", plugins), func(t *testing.T) { serveBlockAllocs(t, plugins) })
	}
}

func serveBlockAllocs(t *testing.T, plugins int) {
	h := newHarness(t, Settings{})
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	var tp *tpeer
	req := wire.AppendRequest(nil, 1, wire.BlockSize, wire.BlockSize)
	perBlock := wire.PieceHeaderLen + wire.BlockSize
	h.do(func() {
		addNoopPlugins(tor, plugins)
		tp = h.handshaken(tor, 1, simple(wire.HaveNone), simple(wire.Interested))
		tp.fc.take()
		tp.fc.discard = true
		tp.fc.written = 0
		h.feed(tp, req) // opens the file (a disk read if it is not open yet)
	})
	h.waitFor("the first block", func() bool { return tp.fc.written == perBlock })
	var allocs float64
	const runs = 200
	h.do(func() {
		allocs = testing.AllocsPerRun(runs, func() { h.feed(tp, req) })
		if tp.fc.written != (runs+2)*perBlock {
			fatalf("served %d bytes synchronously, want %d: the page cache path (TryReadNoWait) was not taken",
				tp.fc.written, (runs+2)*perBlock)
		}
		if plugins > 0 {
			calls := 0
			for _, a := range tp.hx.plugins {
				calls += a.v.(*noopPeer).n
			}
			if want := plugins * 3 * (runs + 2); calls != want {
				fatalf("no-op plugins saw %d OnRequest/SentPiece/SentPayload calls, want %d", calls, want)
			}
		}
	})
	t.Logf("allocations per served block with %d plugins: %v", plugins, allocs)
	// Measured 0: the request frame, the block's span, the read and the
	// piece header all reuse pooled or per-peer memory, and the hook
	// dispatch closures stay on the stack.
	if allocs > 0 {
		t.Fatalf("%v allocations per served block, want 0", allocs)
	}
}
