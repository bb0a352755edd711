package shard

import (
	"bytes"
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/shardtorrent/shardtorrent/plugin"
)

// connectFrom opens a fake connection to tor from addr. Loop only.
func (h *harness) connectFrom(tor *Torrent, addr netip.AddrPort, i int) *tpeer {
	if !h.s.reserveConn() {
		fatalf("connection limit")
	}
	fc := &fakeConn{pool: h.pool, writable: true}
	tp := &tpeer{peer: tor.newPeer(addr, false), fc: fc}
	h.peers = append(h.peers, tp)
	tp.open(fc)
	h.feed(tp, handshake(tor, peerID(i), true, true))
	tp.fc.take()
	return tp
}

func TestBanPeer(t *testing.T) {
	h := newHarness(t, Settings{})
	tf := makeTorrent(t, 4*dlPieceLen, dlPieceLen)
	tor := h.seed(tf)
	bad := netip.MustParseAddr("10.9.0.1")
	good := netip.MustParseAddr("10.9.0.2")
	var b1, b2, g *tpeer
	h.do(func() {
		b1 = h.connectFrom(tor, netip.AddrPortFrom(bad, 1000), 1)
		b2 = h.connectFrom(tor, netip.AddrPortFrom(bad, 2000), 2)
		g = h.connectFrom(tor, netip.AddrPortFrom(good, 1000), 3)
		// The seed dials these (fakeDial: the attempts stay pending).
		tor.AddPeer(netip.AddrPortFrom(bad, 3000))
		tor.AddPeer(netip.AddrPortFrom(good, 3000))
		// Ban through the mapped form: the ban is on the IPv4 address.
		tor.Handle().BanPeer(netip.AddrFrom16(bad.As16()))
		tor.Handle().BanPeer(bad) // again: nothing more happens
	})
	for _, tp := range []*tpeer{b1, b2} {
		if tp.fc.closeReason() != ReasonBanned || !errors.Is(tp.fc.closeErr, plugin.ErrPeerBanned) {
			t.Errorf("%v: closed=%v with %v, want ReasonBanned wrapping ErrPeerBanned", tp.addr, tp.fc.closed, tp.fc.closeErr)
		}
	}
	if g.fc.closed || !g.active() {
		t.Errorf("the peer from another address was disconnected: %v", g.fc.closeErr)
	}
	bans := alertsOf[*plugin.PeerBannedAlert](h.alerts)
	if len(bans) != 1 || bans[0].Addr != b1.addr || bans[0].PeerID != peerID(1) {
		t.Fatalf("ban alerts %+v, want one for %v", bans, b1.addr)
	}
	h.do(func() {
		if !tor.Handle().IsBanned(bad) || tor.Handle().IsBanned(good) {
			fatalf("IsBanned(bad)=%v IsBanned(good)=%v", tor.Handle().IsBanned(bad), tor.Handle().IsBanned(good))
		}
		for ap := range tor.cands {
			if ap.Addr() == bad {
				fatalf("banned %v still in the peer list", ap)
			}
		}
		if _, ok := tor.cands[netip.AddrPortFrom(good, 3000)]; !ok {
			fatalf("the other address left the peer list")
		}
		tor.AddPeer(netip.AddrPortFrom(bad, 4000))
		if _, ok := tor.cands[netip.AddrPortFrom(bad, 4000)]; ok {
			fatalf("a banned address was added to the peer list")
		}
	})

	// An incoming connection from the banned address is refused.
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[1])
	var adoptErr error
	h.do(func() { adoptErr = h.s.AdoptIncoming(fds[0], nil, tor.wireIH, netip.AddrPortFrom(bad, 5000)) })
	if !errors.Is(adoptErr, plugin.ErrPeerBanned) {
		t.Fatalf("AdoptIncoming from a banned address: %v, want ErrPeerBanned", adoptErr)
	}
}

func TestBanListIsBounded(t *testing.T) {
	h := newHarness(t, Settings{})
	tor := h.seed(makeTorrent(t, dlPieceLen, dlPieceLen))
	h.do(func() {
		for i := range maxBanned + 10 {
			tor.Handle().BanPeer(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}))
		}
		if len(tor.banned) != maxBanned {
			fatalf("%d bans kept, want the bound %d", len(tor.banned), maxBanned)
		}
		last := maxBanned + 9
		if !tor.isBanned(netip.AddrFrom4([4]byte{10, 1, byte(last >> 8), byte(last)})) {
			fatalf("the newest ban was evicted")
		}
	})
}

func TestReadBlock(t *testing.T) {
	h := newHarness(t, Settings{})
	// Pieces larger than MaxReadBlock, so that limit is what refuses.
	const pl = 2 * plugin.MaxReadBlock
	tf := makeTorrent(t, 3*pl+1000, pl)
	tor := h.seed(tf)
	cases := []struct {
		name                 string
		piece, begin, length int
		err                  error
	}{
		{"first block", 0, 0, 16 << 10, nil},
		{"unaligned inside a piece", 1, 5, 100, nil},
		{"whole short last piece", 3, 0, 1000, nil},
		{"largest read", 0, 0, plugin.MaxReadBlock, nil},
		{"past the piece", 0, pl - 10, 11, plugin.ErrBlockRange},
		{"past the short last piece", 3, 0, 1001, plugin.ErrBlockRange},
		{"negative begin", 0, -1, 10, plugin.ErrBlockRange},
		{"zero length", 0, 0, 0, plugin.ErrBlockRange},
		{"piece out of range", 4, 0, 10, plugin.ErrBlockRange},
		{"negative piece", -1, 0, 10, plugin.ErrBlockRange},
		{"above MaxReadBlock", 0, 0, plugin.MaxReadBlock + 1, plugin.ErrBlockRange},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []byte
			var gotErr error
			called, sync := false, false
			h.do(func() {
				tor.Handle().ReadBlock(tc.piece, tc.begin, tc.length, func(b []byte, err error) {
					got, gotErr, called = bytes.Clone(b), err, true
				})
				sync = called
			})
			if sync {
				t.Fatal("the callback ran inside ReadBlock")
			}
			h.waitFor("the read", func() bool { return called })
			if !errors.Is(gotErr, tc.err) {
				t.Fatalf("err %v, want %v", gotErr, tc.err)
			}
			if tc.err == nil && !bytes.Equal(got, tf.block(uint32(tc.piece), uint32(tc.begin), uint32(tc.length))) {
				t.Fatal("read bytes differ from the file")
			}
		})
	}
	t.Run("removed torrent", func(t *testing.T) {
		var gotErr error
		called := false
		h.do(func() {
			th := tor.Handle()
			tor.Remove()
			th.ReadBlock(0, 0, 10, func(_ []byte, err error) { gotErr, called = err, true })
		})
		h.waitFor("the read", func() bool { return called })
		if !errors.Is(gotErr, plugin.ErrHandleClosed) {
			t.Fatalf("err %v, want ErrHandleClosed", gotErr)
		}
	})
}

func TestReadBlockCallbackPanicIsContained(t *testing.T) {
	h := newHarness(t, Settings{})
	tor := h.seed(makeTorrent(t, dlPieceLen, dlPieceLen))
	h.do(func() { tor.Handle().ReadBlock(0, 0, 10, func([]byte, error) { panic("boom") }) })
	h.waitFor("the PluginDisabledAlert", func() bool {
		for _, a := range alertsOf[*plugin.PluginDisabledAlert](h.alerts) {
			if a.Hook == "ReadBlock" {
				return true
			}
		}
		return false
	})
}
