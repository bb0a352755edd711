package shard

import (
	"slices"
	"testing"

	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// TestSuggestReadCache: with the setting on, pieces served to one peer are
// suggested to another unchoked, interested peer that lacks them (at once,
// and at its unchoke), never to the reader itself, never a piece the peer
// has; SentSuggest fires for each. With the setting off nothing is sent.
func TestSuggestReadCache(t *testing.T) {
	for _, on := range []bool{true, false} {
		h := newHarness(t, Settings{SuggestReadCache: on})
		tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
		var log []string
		var a, b, c *tpeer
		h.do(func() {
			withPeerPlugins(tor, func(pc plugin.PeerConn) plugin.PeerPlugin {
				return &hookPeer{name: string(rune('0' + len(tor.peers))), log: &log, pc: pc}
			})
			a = h.handshaken(tor, 1, simple(wire.HaveNone), simple(wire.Interested))
			// b has piece 3 and is unchoked before anything is read.
			b = h.handshaken(tor, 2, simple(wire.HaveNone), wire.AppendHave(nil, 3), simple(wire.Interested))
			a.fc.take()
			b.fc.take()
			h.feed(a, join(wire.AppendRequest(nil, 1, 0, wire.BlockSize), wire.AppendRequest(nil, 3, 0, wire.BlockSize)))
		})
		h.waitFor("both blocks served", func() bool { return a.totalUp == 2*wire.BlockSize })
		h.do(func() {
			if got := only(a.fc.take(), wire.Suggest); len(got) != 0 {
				fatalf("the reader was suggested %d pieces it is reading", len(got))
			}
			got := only(b.fc.take(), wire.Suggest)
			var idx []uint32
			for _, m := range got {
				idx = append(idx, m.Index)
			}
			want := []uint32{1} // piece 3: b has it
			if !on {
				want = nil
			}
			if !slices.Equal(idx, want) {
				fatalf("setting %v: b was suggested %v, want %v", on, idx, want)
			}
			// c is unchoked now and gets every remembered piece at once.
			c = h.handshaken(tor, 3)
			h.feed(c, join(simple(wire.HaveNone), simple(wire.Interested)))
		})
		h.do(func() {
			msgs := c.fc.take()
			var idx []uint32
			for _, m := range only(msgs, wire.Suggest) {
				idx = append(idx, m.Index)
			}
			want := []uint32{1, 3}
			if !on {
				want = nil
			}
			if !slices.Equal(idx, want) {
				fatalf("setting %v: c was suggested %v at its unchoke (messages %v), want %v", on, idx, ids(msgs), want)
			}
			n := 0
			for _, s := range log {
				if len(s) > 2 && s[2:] == "SentSuggest1" || len(s) > 2 && s[2:] == "SentSuggest3" {
					n++
				}
			}
			if wantN := len(want) + map[bool]int{true: 1}[on]; n != wantN {
				fatalf("setting %v: %d SentSuggest hooks in %q, want %d", on, n, log, wantN)
			}
		})
		h.close()
	}
}
