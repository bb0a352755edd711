package shard

import (
	"testing"

	"github.com/shardtorrent/shardtorrent/wire"
)

// TestWriteBackPressure: with the disk workers holding writeQueueLimit
// bytes of the torrent's pieces, an unchoke sends no request; the write
// that brings the queue under the limit sends the pipeline at once.
func TestWriteBackPressure(t *testing.T) {
	h := newHarness(t, Settings{})
	tf := makeTorrent(t, dlSize, dlPieceLen)
	tor := h.leech(tf)
	h.do(func() {
		src := h.handshaken(tor, 1)
		h.feed(src, simple(wire.HaveAll))
		src.fc.take() // interested
		limit := tor.writeQueueLimit()
		if limit < writeQueueMin || limit < 4*tf.mi.Info.PieceLength {
			fatalf("limit %d", limit)
		}
		tor.writeSubmitted(limit) // as if the workers held that much
		h.feed(src, simple(wire.Unchoke))
		if got := src.fc.take(); len(got) != 0 {
			fatalf("with the write queue full we sent %v", ids(got))
		}
		if !tor.wq.stalled {
			fatalf("a refused fill did not mark the queue stalled")
		}
		tor.writeCompleted(dlPieceLen)
		if got := requestsOf(src.fc.take()); len(got) != initialQueueDepth {
			fatalf("after a write completed under the limit we sent %d requests, want %d", len(got), initialQueueDepth)
		}
		if tor.wq.stalled || tor.wq.queued != limit-dlPieceLen {
			fatalf("stalled %v queued %d", tor.wq.stalled, tor.wq.queued)
		}
		tor.writeCompleted(limit - dlPieceLen)
	})
}

// TestWriteBackPressureAllocs: stalling on the write queue and refilling
// the pipelines when a write completes (once per piece) allocate nothing.
func TestWriteBackPressureAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("measures allocations (not under -race, which adds some)")
	}
	h := newHarness(t, quietSettings)
	tf := makeTorrent(t, dlSize, dlPieceLen)
	tor := h.leech(tf)
	h.do(func() {
		src := h.handshaken(tor, 1, simple(wire.HaveAll), simple(wire.Unchoke))
		src.fc.discard = true
		limit := tor.writeQueueLimit()
		allocs := testing.AllocsPerRun(100, func() {
			tor.writeSubmitted(limit)
			src.fillRequests() // refused: marks the queue stalled
			tor.writeCompleted(limit)
		})
		if allocs != 0 || tor.wq.stalled || tor.wq.queued != 0 {
			fatalf("%.1f allocations per stall and refill (stalled %v, queued %d)", allocs, tor.wq.stalled, tor.wq.queued)
		}
	})
}
