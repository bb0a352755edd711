package shard

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/picker"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// The download test uses 64 KiB pieces (4 blocks) and a two-block last
// piece: 102 blocks, more than the initial pipeline of 64.
const (
	dlPieceLen = 64 << 10
	dlSize     = 25*dlPieceLen + 20000
)

func requestsOf(msgs []wire.Message) []picker.Block {
	var out []picker.Block
	for _, m := range only(msgs, wire.Request) {
		out = append(out, picker.Block{Piece: m.Index, Begin: m.Begin, Length: m.Length})
	}
	return out
}

func sortedBlocks(bs []picker.Block) []picker.Block {
	bs = slices.Clone(bs)
	slices.SortFunc(bs, func(a, b picker.Block) int {
		if a.Piece != b.Piece {
			return int(a.Piece) - int(b.Piece)
		}
		return int(a.Begin) - int(b.Begin)
	})
	return bs
}

// allBlocks lists every block of f, in order.
func allBlocks(f *tfile) []picker.Block {
	var out []picker.Block
	for i := range f.mi.Info.NumPieces() {
		size := f.mi.Info.PieceSize(i)
		for b := int64(0); b < size; b += wire.BlockSize {
			out = append(out, picker.Block{Piece: uint32(i), Begin: uint32(b), Length: uint32(min(wire.BlockSize, size-b))})
		}
	}
	return out
}

func TestDownload(t *testing.T) {
	// One peer sends a corrupt block: kept (not banned as the sole sender,
	// hashfail.go) so the test sees the piece fetched again.
	h := newHarness(t, Settings{KeepPeersOnHashFailure: true})
	tf := makeTorrent(t, dlSize, dlPieceLen)
	tor := h.leech(tf)
	np := tf.mi.Info.NumPieces()
	var src, other *tpeer
	var first []wire.Message
	h.do(func() {
		src = h.handshaken(tor, 1)
		other = h.handshaken(tor, 2, simple(wire.HaveNone))
		h.feed(src, simple(wire.HaveAll))
		if got := ids(src.fc.take()); !slices.Equal(got, []wire.MessageID{wire.Interested}) {
			fatalf("after have all we sent %v, want interested", got)
		}
		h.feed(src, simple(wire.Unchoke))
		first = src.fc.take()
	})
	reqs := requestsOf(first)
	if len(first) != initialQueueDepth || len(reqs) != initialQueueDepth {
		t.Fatalf("after unchoke we sent %d messages, %d requests; want %d requests", len(first), len(reqs), initialQueueDepth)
	}

	// Serve every request, corrupting the first block of the first piece
	// requested once, until the torrent finishes.
	corrupt := reqs[0].Piece
	corrupted := false
	outstanding := map[picker.Block]bool{}
	asked := map[picker.Block]int{}
	var queue []picker.Block
	addReqs := func(bs []picker.Block) {
		for _, b := range bs {
			if outstanding[b] {
				fatalf("requested %+v twice from the same peer", b)
			}
			outstanding[b] = true
			asked[b]++
			queue = append(queue, b)
		}
	}
	addReqs(reqs)
	haves := map[uint32]int{}
	deadline := time.Now().Add(waitTimeout)
	for {
		done := false
		h.do(func() {
			for _, m := range only(other.fc.take(), wire.Have) {
				haves[m.Index]++
			}
			addReqs(requestsOf(src.fc.take()))
			// Up to 8 blocks per receive span, as a socket read would hold.
			var b []byte
			for i := 0; i < 8 && len(queue) > 0; i++ {
				r := queue[0]
				queue = queue[1:]
				delete(outstanding, r)
				data := tf.block(r.Piece, r.Begin, r.Length)
				if r.Piece == corrupt && r.Begin == 0 && !corrupted {
					corrupted = true
					data = bytes.Clone(data)
					data[7] ^= 1
				}
				b = wire.AppendPiece(b, r.Piece, r.Begin, data)
			}
			if len(b) > 0 && !src.fc.closed {
				h.feed(src, b)
			}
			done = tor.state == plugin.StateSeeding
		})
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("download did not finish: %d requests queued, %d finished pieces",
				len(queue), len(alertsOf[*plugin.PieceFinishedAlert](h.alerts)))
		}
		if len(queue) == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	h.do(func() {
		for _, m := range only(other.fc.take(), wire.Have) {
			haves[m.Index]++
		}
	})

	h.do(func() {
		if tor.wq.queued != 0 || tor.wq.stalled {
			fatalf("after the download %d bytes count as queued for the disk (stalled %v)", tor.wq.queued, tor.wq.stalled)
		}
	})
	if n := len(alertsOf[*plugin.TorrentFinishedAlert](h.alerts)); n != 1 {
		t.Fatalf("%d TorrentFinishedAlerts, want 1", n)
	}
	hf := alertsOf[*plugin.HashFailedAlert](h.alerts)
	if len(hf) != 1 || hf[0].Piece != int(corrupt) {
		t.Fatalf("HashFailedAlerts %v, want one for piece %d", hf, corrupt)
	}
	for _, b := range allBlocks(tf) {
		want := 1
		if b.Piece == corrupt {
			want = 2 // asked again after the hash failure
		}
		if asked[b] != want {
			t.Errorf("block %+v requested %d times, want %d", b, asked[b], want)
		}
	}
	finished := map[int]bool{}
	for _, a := range alertsOf[*plugin.PieceFinishedAlert](h.alerts) {
		finished[a.Piece] = true
	}
	if len(finished) != np {
		t.Fatalf("PieceFinishedAlerts for %d pieces, want %d", len(finished), np)
	}
	for i := range np {
		if haves[uint32(i)] != 1 {
			t.Errorf("the other peer got %d haves for piece %d, want 1", haves[uint32(i)], i)
		}
	}
	if r := src.fc.closeReason(); r != ReasonRedundant {
		t.Errorf("the seed's connection closed with %v, want redundant once we are a seed", src.fc.closeErr)
	}
	if other.fc.closed {
		t.Errorf("the leecher's connection closed: %v", other.fc.closeErr)
	}
	var st Status
	h.do(func() { st = tor.Status() })
	if st.State != plugin.StateSeeding || st.Pieces != np || st.TotalDone != int64(dlSize) || st.TotalDownload < int64(dlSize) {
		t.Fatalf("status %+v", st)
	}
	got, err := os.ReadFile(filepath.Join(tor.savePath, "payload.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, tf.data) {
		t.Fatal("the downloaded file differs from the source")
	}
}

// TestChokeReturnsRequests: a choke drops our requests to that peer, and
// their blocks are picked again, from it after an unchoke or from another peer.
func TestChokeReturnsRequests(t *testing.T) {
	tf := makeTorrent(t, seedSize, seedPieceLen) // 9 blocks, fewer than a pipeline
	all := allBlocks(tf)
	t.Run("same peer after unchoke", func(t *testing.T) {
		h := newHarness(t, Settings{})
		tor := h.leech(tf)
		h.do(func() {
			p := h.connect(tor, false)
			h.feed(p, handshake(tor, peerID(1), false, false))
			h.feed(p, join(wire.AppendBitfield(nil, []byte{0xf8}), simple(wire.Unchoke)))
			if got := sortedBlocks(requestsOf(p.fc.take())); !slices.Equal(got, all) {
				fatalf("requested %v, want every block %v", got, all)
			}
			h.feed(p, simple(wire.Choke))
			if len(p.outstanding) != 0 {
				fatalf("%d requests outstanding after a choke", len(p.outstanding))
			}
			h.feed(p, simple(wire.Unchoke))
			if got := sortedBlocks(requestsOf(p.fc.take())); !slices.Equal(got, all) {
				fatalf("after unchoke requested %v, want every block again", got)
			}
		})
	})
	t.Run("another peer", func(t *testing.T) {
		h := newHarness(t, Settings{})
		tor := h.leech(tf)
		h.do(func() {
			p1 := h.handshaken(tor, 1, simple(wire.HaveAll))
			p2 := h.handshaken(tor, 2, simple(wire.HaveAll))
			h.feed(p1, simple(wire.Unchoke))
			if got := sortedBlocks(requestsOf(p1.fc.take())); !slices.Equal(got, all) {
				fatalf("requested %v, want every block", got)
			}
			h.feed(p1, simple(wire.Choke))
			h.feed(p2, simple(wire.Unchoke))
			if got := sortedBlocks(requestsOf(p2.fc.take())); !slices.Equal(got, all) {
				fatalf("the other peer was asked for %v, want every block", got)
			}
		})
	})
}

// TestPieceTimeout: requests with no block for PieceTimeout are aborted and
// picked again with a short pipeline.
func TestPieceTimeout(t *testing.T) {
	set := Settings{PieceTimeout: 10 * time.Second, InactivityTimeout: time.Hour, KeepAliveInterval: time.Hour}
	tf := makeTorrent(t, seedSize, seedPieceLen)
	all := allBlocks(tf)
	h := newHarness(t, set)
	tor := h.leech(tf)
	var p *tpeer
	h.do(func() {
		p = h.handshaken(tor, 1, simple(wire.HaveAll), simple(wire.Unchoke))
	})
	h.tick(10 * time.Second)
	h.do(func() {
		if got := p.fc.take(); len(got) != 0 || len(p.outstanding) != len(all) {
			fatalf("at the timeout (not past it): sent %v, %d outstanding", ids(got), len(p.outstanding))
		}
	})
	h.tick(time.Second)
	h.do(func() {
		got := sortedBlocks(requestsOf(p.fc.take()))
		if !slices.Equal(got, all) {
			fatalf("after the piece timeout re-requested %v, want every block", got)
		}
		if p.queueDepth != minQueueDepth || len(p.outstanding) != len(all) {
			fatalf("queue depth %d, %d outstanding after the timeout", p.queueDepth, len(p.outstanding))
		}
		if p.fc.closed {
			fatalf("closed: %v", p.fc.closeErr)
		}
	})
}

// TestPieceTimeoutRestartsWithNewRequests guards the piece timer: it must
// measure from when requests were issued, not from a block received (or a
// pipeline filled) before an earlier abort, or every tick after the first
// timeout (or after a long choke) aborts and re-sends the whole pipeline.
func TestPieceTimeoutRestartsWithNewRequests(t *testing.T) {
	set := Settings{PieceTimeout: 10 * time.Second, InactivityTimeout: time.Hour, KeepAliveInterval: time.Hour}
	tf := makeTorrent(t, seedSize, seedPieceLen)
	for _, tc := range []struct {
		name  string
		setup func(h *harness, p *tpeer)
	}{
		{"after a timeout", func(h *harness, p *tpeer) {
			h.tick(11 * time.Second) // aborts and re-requests
			h.do(func() { p.fc.take() })
		}},
		{"after a long choke", func(h *harness, p *tpeer) {
			h.do(func() { h.feed(p, simple(wire.Choke)) })
			h.tick(30 * time.Second)
			h.do(func() {
				h.feed(p, simple(wire.Unchoke))
				if n := len(requestsOf(p.fc.take())); n == 0 {
					fatalf("no requests after the unchoke")
				}
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, set)
			tor := h.leech(tf)
			var p *tpeer
			h.do(func() { p = h.handshaken(tor, 1, simple(wire.HaveAll), simple(wire.Unchoke)) })
			tc.setup(h, p)
			h.tick(time.Second)
			var again []picker.Block
			h.do(func() { again = requestsOf(p.fc.take()) })
			if len(again) != 0 {
				// Regression: fillRequests must restart the piece timer when
				// the pipeline goes from empty to non-empty.
				t.Fatalf("requests issued 1 s ago were aborted as timed out and %d re-sent", len(again))
			}
		})
	}
}

// TestHashFailRequestsAgain: when a piece fails its hash check, its blocks
// are requested again at once, without waiting for other traffic.
func TestHashFailRequestsAgain(t *testing.T) {
	h := newHarness(t, Settings{KeepPeersOnHashFailure: true}) // see TestDownload
	tf := makeTorrent(t, seedSize, seedPieceLen)
	tor := h.leech(tf)
	const bad = 2
	var p *tpeer
	h.do(func() {
		p = h.handshaken(tor, 1, simple(wire.HaveAll))
		h.feed(p, simple(wire.Unchoke))
		var b []byte
		for _, r := range requestsOf(p.fc.take()) {
			data := tf.block(r.Piece, r.Begin, r.Length)
			if r.Piece == bad && r.Begin == wire.BlockSize {
				data = bytes.Clone(data)
				data[0] ^= 0x80
			}
			b = wire.AppendPiece(b, r.Piece, r.Begin, data)
		}
		h.feed(p, b)
	})
	var again []picker.Block
	h.waitFor("the re-requests", func() bool {
		again = append(again, requestsOf(p.fc.take())...)
		return len(again) >= 2
	})
	want := []picker.Block{{Piece: bad, Begin: 0, Length: wire.BlockSize}, {Piece: bad, Begin: wire.BlockSize, Length: wire.BlockSize}}
	if got := sortedBlocks(again); !slices.Equal(got, want) {
		t.Fatalf("after the hash failure requested %v, want %v", got, want)
	}
	hf := alertsOf[*plugin.HashFailedAlert](h.alerts)
	if len(hf) != 1 || hf[0].Piece != bad {
		t.Fatalf("HashFailedAlerts %v, want one for piece %d", hf, bad)
	}
	// The good pieces' writes may still be in flight.
	h.waitFor("the good pieces", func() bool { return tor.have.Count() == tf.mi.Info.NumPieces()-1 })
	h.do(func() {
		if tor.have.Has(bad) {
			fatalf("have the corrupt piece %d", bad)
		}
	})
}
