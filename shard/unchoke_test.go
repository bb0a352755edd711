package shard

import (
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/wire"
)

// TestChokerRoundRobin: ten interested peers share four regular slots and
// one optimistic slot of a seed; the choker rounds that onTick runs never
// exceed them, and the round robin gives every peer a turn.
func TestChokerRoundRobin(t *testing.T) {
	const slots, npeers = 4, 10
	h := newHarness(t, Settings{UnchokeSlots: slots, InactivityTimeout: time.Hour, KeepAliveInterval: time.Hour})
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	var peers []*tpeer
	turns := map[*tpeer]int{}
	count := func() int {
		n := 0
		for _, p := range peers {
			if !p.amChoking {
				n++
				turns[p]++
			}
		}
		return n
	}
	h.do(func() {
		for i := range npeers {
			peers = append(peers, h.handshaken(tor, i, simple(wire.HaveNone), simple(wire.Interested)))
		}
		// Interested peers take free slots at once, one beyond the regular ones.
		if n := count(); n != slots+1 {
			fatalf("%d peers unchoked on interest, want %d", n, slots+1)
		}
	})
	// Optimistic slots default to max(1, slots/5).
	const limit = slots + 1
	const quotaTick = 4 * seedPieceLen // uploaded per tick to an unchoked peer
	for tick := 1; tick <= 40*unchokeEvery; tick++ {
		h.do(func() {
			// Simulate uploads to the unchoked peers, then run the second.
			for _, p := range peers {
				if !p.amChoking {
					p.upSinceUnchoke += quotaTick
					p.secUp += quotaTick
				}
			}
			h.clock.now = h.clock.now.Add(time.Second)
			h.s.onTick()
			h.deliverCloses()
			n := count()
			if n > limit {
				fatalf("tick %d: %d peers unchoked, want at most %d", tick, n, limit)
			}
			if tick == unchokeEvery && n > limit {
				fatalf("after the first choker round %d peers unchoked", n)
			}
			for _, p := range peers {
				if p.fc.closed {
					fatalf("tick %d: peer closed: %v", tick, p.fc.closeErr)
				}
				// What the peer was told last matches our state.
				var last *wire.Message
				msgs := p.fc.take()
				for i := range msgs {
					if !msgs[i].KeepAlive && (msgs[i].ID == wire.Choke || msgs[i].ID == wire.Unchoke) {
						last = &msgs[i]
					}
				}
				if last != nil && (last.ID == wire.Unchoke) == p.amChoking {
					fatalf("tick %d: sent %v but amChoking is %v", tick, last.ID, p.amChoking)
				}
			}
		})
		if len(turns) == npeers && tick%unchokeEvery == 0 && tick >= 10*unchokeEvery {
			break
		}
	}
	t.Logf("peer-seconds unchoked: %v", func() (out []int) {
		for _, p := range peers {
			out = append(out, turns[p])
		}
		return out
	}())
	if len(turns) != npeers {
		t.Fatalf("only %d of %d interested peers were ever unchoked", len(turns), npeers)
	}
}
