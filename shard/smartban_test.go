package shard

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/shardtorrent/shardtorrent/ext/smartban"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// TestSmartBanEndGameCopies runs ext/smartban on the real engine and checks
// that the engine's end-game handling (first copy of a block kept, later
// copies dropped and cancelled) cannot mislead it: whichever copy the
// engine kept, the peer that sent corrupt bytes is banned and the honest
// peer never is. Piece 0 has 4 blocks; A is honest, B and C are not.
func TestSmartBanEndGameCopies(t *testing.T) {
	type step struct {
		from  int // 0 = A, 1 = B, 2 = C
		block int
		bad   bool
	}
	cases := []struct {
		name string
		// the failed attempt, fed in order
		attempt []step
		banned  []int // peers banned once the piece passes
	}{
		{
			name: "hostile copy kept, honest duplicate dropped",
			attempt: []step{
				{1, 0, true}, {0, 0, false}, // B first: its corrupt copy is kept
				{0, 1, false}, {0, 2, false}, {0, 3, false},
			},
			banned: []int{1},
		},
		{
			name: "honest copy kept, hostile duplicate dropped",
			attempt: []step{
				{0, 0, false}, {1, 0, true}, // B's corrupt copy arrives second: dropped
				{2, 1, true}, // C's corrupt block is kept and fails the piece
				{0, 2, false}, {0, 3, false},
			},
			banned: []int{1, 2},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Settings{})
			// Two pieces, the second never sent: the torrent does not
			// finish, so no peer leaves as a redundant seed connection.
			tf := makeTorrent(t, 2*dlPieceLen, dlPieceLen)
			sb := smartban.New(smartban.Config{Seed: 7})
			var tor *Torrent
			h.do(func() {
				var err error
				tor, err = h.s.AddTorrent(AddParams{Info: &tf.mi.Info, InfoHash: tf.mi.InfoHash, SavePath: t.TempDir(),
					Extensions: []func(plugin.TorrentHandle, any) plugin.TorrentPlugin{sb.NewTorrent}})
				if err != nil {
					fatalf("AddTorrent: %v", err)
				}
			})
			h.waitFor("the check", func() bool { return !tor.checking })
			var ps [3]*tpeer
			h.do(func() {
				for i := range ps {
					ps[i] = h.handshaken(tor, i+1, simple(wire.HaveAll), simple(wire.Unchoke))
				}
				if !tor.pk.InEndgame() {
					fatalf("not in end game with every block requested")
				}
			})
			send := func(s step) {
				data := tf.block(0, uint32(s.block*wire.BlockSize), wire.BlockSize)
				if s.bad {
					data = bytes.Clone(data)
					data[10] ^= 0xff
				}
				h.feed(ps[s.from], wire.AppendPiece(nil, 0, uint32(s.block*wire.BlockSize), data))
			}
			h.do(func() {
				for _, s := range tc.attempt {
					send(s)
				}
			})
			h.waitFor("the hash failure", func() bool { return len(alertsOf[*plugin.HashFailedAlert](h.alerts)) == 1 })
			if n := len(alertsOf[*plugin.PeerBannedAlert](h.alerts)); n != 0 {
				t.Fatalf("%d bans after the failure, want none yet (no peer sent two versions)", n)
			}
			// The piece is pickable again; the honest peer sends all of it.
			h.do(func() {
				for b := range 4 {
					send(step{0, b, false})
				}
			})
			h.waitFor("the bans", func() bool { return len(alertsOf[*plugin.PeerBannedAlert](h.alerts)) == len(tc.banned) })
			h.do(func() {}) // deliver the disconnects
			if !tor.have.Has(0) {
				t.Fatal("the piece did not pass")
			}
			var got []int
			for _, a := range alertsOf[*plugin.PeerBannedAlert](h.alerts) {
				for i, p := range ps {
					if a.Addr == p.addr {
						got = append(got, i)
					}
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.banned) {
				t.Fatalf("banned peers %v, want %v", got, tc.banned)
			}
			for i, p := range ps {
				isBanned := slices.Contains(tc.banned, i)
				if isBanned != errors.Is(p.fc.closeErr, plugin.ErrPeerBanned) {
					t.Errorf("peer %d: closed with %v; banned=%v", i, p.fc.closeErr, isBanned)
				}
			}
			if !ps[0].active() {
				t.Error("the honest peer is no longer connected")
			}
		})
	}
}
