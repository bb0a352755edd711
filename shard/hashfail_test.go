package shard

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// TestSoleSenderOfFailedPieceIsBanned: a peer that alone sent a piece
// that fails its hash check is banned at once (one PeerBannedAlert, closed
// with ErrPeerBanned) while another peer stays; with
// KeepPeersOnHashFailure nobody is banned.
func TestSoleSenderOfFailedPieceIsBanned(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep=%v", keep), func(t *testing.T) {
			h := newHarness(t, Settings{KeepPeersOnHashFailure: keep})
			defer h.close()
			tf := makeTorrent(t, seedSize, seedPieceLen)
			tor := h.leech(tf)
			const bad = 2
			var p, bystander *tpeer
			h.do(func() {
				p = h.handshaken(tor, 1, simple(wire.HaveAll))
				bystander = h.handshaken(tor, 2, simple(wire.HaveNone))
				h.feed(p, simple(wire.Unchoke))
				var b []byte
				for _, r := range requestsOf(p.fc.take()) {
					data := tf.block(r.Piece, r.Begin, r.Length)
					if r.Piece == bad && r.Begin == 0 {
						data = bytes.Clone(data)
						data[7] ^= 1
					}
					b = wire.AppendPiece(b, r.Piece, r.Begin, data)
				}
				h.feed(p, b)
			})
			h.waitFor("the hash failure", func() bool { return len(alertsOf[*plugin.HashFailedAlert](h.alerts)) == 1 })
			h.do(func() {
				bans := alertsOf[*plugin.PeerBannedAlert](h.alerts)
				if keep {
					if len(bans) != 0 || p.fc.closed {
						fatalf("keep: %d bans, sender closed=%v; want none", len(bans), p.fc.closed)
					}
					return
				}
				if len(bans) != 1 || bans[0].Addr.Addr() != p.addr.Addr() {
					fatalf("bans %v, want one of %v", bans, p.addr)
				}
				if p.fc.closeReason() != ReasonBanned || !errors.Is(p.fc.closeErr, plugin.ErrPeerBanned) {
					fatalf("sender closed=%v with %v, want ReasonBanned", p.fc.closed, p.fc.closeErr)
				}
				if bystander.fc.closed || !tor.isBanned(p.addr.Addr()) || tor.isBanned(bystander.addr.Addr()) {
					fatalf("bystander closed=%v; banned sender %v bystander %v", bystander.fc.closed,
						tor.isBanned(p.addr.Addr()), tor.isBanned(bystander.addr.Addr()))
				}
			})
		})
	}
}

// TestBanSoleSender: the rule looks at addresses, not connections.
func TestBanSoleSender(t *testing.T) {
	a := netip.MustParseAddrPort("10.0.0.1:6881")
	a2 := netip.MustParseAddrPort("10.0.0.1:7000") // same address, another connection
	b := netip.MustParseAddrPort("[::ffff:10.0.0.2]:6881")
	cases := []struct {
		name    string
		contrib []netip.AddrPort
		banned  []netip.AddrPort
	}{
		{"one connection", []netip.AddrPort{a}, []netip.AddrPort{a}},
		{"two connections, one address", []netip.AddrPort{a, a2}, []netip.AddrPort{a}},
		{"two addresses", []netip.AddrPort{a, b}, nil},
		{"nobody", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Settings{})
			defer h.close()
			tor := h.leech(makeTorrent(t, seedSize, seedPieceLen))
			h.do(func() {
				var ps []*peer
				for _, ap := range tc.contrib {
					ps = append(ps, &peer{addr: ap})
				}
				tor.banSoleSender(ps)
				for _, ap := range []netip.AddrPort{a, b} {
					want := false
					for _, w := range tc.banned {
						want = want || w.Addr() == ap.Addr()
					}
					if got := tor.isBanned(ap.Addr()); got != want {
						fatalf("%v banned=%v, want %v", ap, got, want)
					}
				}
			})
		})
	}
}
