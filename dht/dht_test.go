package dht

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/anacrolix/dht/v2/krpc"
)

func TestBlocker(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := netip.MustParseAddrPort("10.0.0.1:6881")
	b := netip.MustParseAddrPort("10.0.0.1:6882")
	bl := blocker{rate: 2, timeout: 5 * time.Minute}
	allowed := 0
	for i := 0; i < 25; i++ {
		if bl.allow(a, t0.Add(time.Duration(i)*100*time.Millisecond)) {
			allowed++
		}
	}
	if allowed != 19 {
		t.Fatalf("allowed %d of 25 within 10 s at rate 2, want 19", allowed)
	}
	if !bl.allow(b, t0) {
		t.Fatal("another port of the same address was blocked")
	}
	if bl.allow(a, t0.Add(4*time.Minute)) {
		t.Fatal("blocked source allowed before the block timeout")
	}
	if !bl.allow(a, t0.Add(6*time.Minute)) {
		t.Fatal("source still blocked after the block timeout")
	}
	// Slow senders are never blocked: 19 per 10 s window, forever.
	slow := netip.MustParseAddrPort("10.0.0.2:1")
	for i := 0; i < 1000; i++ {
		if !bl.allow(slow, t0.Add(time.Duration(i)*600*time.Millisecond)) {
			t.Fatalf("query %d of a 1.7/s sender blocked", i)
		}
	}
	// The table never grows: a flood of sources recycles its slots.
	for i := 0; i < 10000; i++ {
		bl.allow(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 1), t0)
	}
	if len(bl.slots) != blockerSlots {
		t.Fatal("slots grew")
	}
	off := blocker{rate: -1}
	for i := 0; i < 100; i++ {
		if !off.allow(a, t0) {
			t.Fatal("a disabled limit blocked")
		}
	}
}

func na(s string) krpc.NodeAddr { return nodeAddrOf(netip.MustParseAddrPort(s)) }

func TestStoreBounds(t *testing.T) {
	now := time.Unix(1000, 0)
	s := newStore(2, 3, 2, func() time.Time { return now })
	var announced, stored int
	s.onAnnounce = func(_ [20]byte, _ netip.AddrPort, ok bool) {
		announced++
		if ok {
			stored++
		}
	}
	ih := func(b byte) (h [20]byte) { h[0] = b; return h }
	steps := []struct {
		ih         byte
		addr       string
		torrents   int
		peers      int
		dropped    int64
		advanceMin int
	}{
		{1, "1.1.1.1:1", 1, 1, 0, 0},
		{1, "1.1.1.1:2", 1, 2, 0, 0},
		{1, "1.1.1.1:1", 1, 2, 0, 0}, // refresh, not a new peer
		{1, "1.1.1.2:1", 1, 3, 0, 0},
		{1, "1.1.1.3:1", 1, 3, 1, 0}, // MaxPeers
		{2, "2.2.2.2:1", 2, 4, 1, 0},
		{3, "3.3.3.3:1", 2, 4, 2, 0},  // MaxTorrents
		{2, "2.2.2.2:0", 2, 4, 2, 0},  // port 0: ignored
		{1, "1.1.1.3:1", 1, 1, 2, 46}, // 46 min later every peer expired; ih 1 is new again
	}
	for i, st := range steps {
		now = now.Add(time.Duration(st.advanceMin) * time.Minute)
		s.AddPeer(ih(st.ih), na(st.addr))
		if st.advanceMin > 0 {
			s.sweep()
		}
		if err := s.check(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		tor, peers, dropped := s.counts()
		if tor != st.torrents || peers != st.peers || dropped != st.dropped {
			t.Fatalf("step %d: torrents %d peers %d dropped %d, want %d %d %d", i, tor, peers, dropped, st.torrents, st.peers, st.dropped)
		}
	}
	if announced != 8 || stored != 6 {
		t.Fatalf("onAnnounce called %d times (%d stored), want 8 (6): every valid announce, stored or refused", announced, stored)
	}
	now = now.Add(time.Minute)
	s.AddPeer(ih(1), na("1.1.1.4:1"))
	s.AddPeer(ih(1), na("1.1.1.5:1"))
	if got := s.GetPeers(ih(1)); len(got) != 2 {
		t.Fatalf("reply of %d peers, want MaxPeersReply 2", len(got))
	}
	s.self = netip.MustParseAddrPort("127.0.0.1:7000")
	s.setOurs(ih(9), true)
	if got := s.GetPeers(ih(9)); len(got) != 1 || got[0].Port != 7000 {
		t.Fatalf("our torrent's reply %v", got)
	}
	s.setOurs(ih(9), false)
	if got := s.GetPeers(ih(9)); len(got) != 0 {
		t.Fatalf("a stopped torrent still answered %v", got)
	}
}

func TestStateRoundTrip(t *testing.T) {
	var id krpc.ID
	id[0] = 7
	in := savedState{id: id, nodes: []krpc.NodeInfo{
		{ID: krpc.ID{1}, Addr: na("10.0.0.1:6881")},
		{ID: krpc.ID{2}, Addr: na("[2001:db8::1]:6881")},
	}}
	m := map[string]string{}
	writeState(m, in.id, in.nodes)
	out, err := parseState(m)
	if err != nil {
		t.Fatal(err)
	}
	if out.id != in.id || len(out.nodes) != 2 || out.nodes[0].ID != in.nodes[0].ID ||
		!out.nodes[0].Addr.Equal(in.nodes[0].Addr) || !out.nodes[1].Addr.Equal(in.nodes[1].Addr) {
		t.Fatalf("round trip: %+v -> %v -> %+v", in, m, out)
	}
	for _, bad := range []map[string]string{
		{keyID: "zz"}, {keyNodes: "!!"}, {keyNodes: "AAAA"}, {keyNodes6: "AAAA"},
	} {
		if _, err := parseState(bad); err == nil {
			t.Fatalf("%v parsed", bad)
		} else if de := (*Error)(nil); !asError(err, &de) || de.Kind != ErrBadState {
			t.Fatalf("%v: error %v is not ErrBadState", bad, err)
		}
	}
}

func asError(err error, target **Error) bool { return errors.As(err, target) }

// TestSchedule: the lookup schedule without a network: the gap between
// starts (libtorrent's max(interval/N, 1 s), 4 s at most while new
// torrents wait), new torrents first, the round robin in due order, and a
// stopped torrent's queue slot skipped.
func TestSchedule(t *testing.T) {
	n := &Node{torrents: map[[20]byte]*entry{}}
	n.cfg.Settings.defaults()
	add := func(b byte, prio bool, due time.Time) *entry {
		e := &entry{ih: [20]byte{b}, due: due, queued: true}
		n.torrents[e.ih] = e
		if prio {
			n.prio = append(n.prio, e)
		} else {
			n.round = append(n.round, e)
		}
		return e
	}
	t0 := time.Unix(1000, 0)
	for i := 0; i < 10; i++ {
		add(byte(100+i), false, t0.Add(time.Duration(i)*time.Second))
	}
	if g := n.gap(); g != 90*time.Second { // 15 min / 10
		t.Fatalf("gap with 10 torrents %v, want 90s", g)
	}
	p1 := add(1, true, time.Time{})
	add(2, true, time.Time{})
	if g := n.gap(); g != 4*time.Second {
		t.Fatalf("gap with new torrents waiting %v, want 4s", g)
	}
	delete(n.torrents, p1.ih) // stopped while queued
	if e := n.pop(t0); e == nil || e.ih[0] != 2 {
		t.Fatalf("first pop %v, want the new torrent 2 (1 was stopped)", e)
	}
	if e := n.pop(t0.Add(500 * time.Millisecond)); e == nil || e.ih[0] != 100 {
		t.Fatalf("second pop %v, want round-robin head 100", e)
	}
	if e := n.pop(t0.Add(500 * time.Millisecond)); e != nil {
		t.Fatalf("pop before 101 is due: %v", e)
	}
	if e := n.pop(t0.Add(time.Second)); e == nil || e.ih[0] != 101 {
		t.Fatalf("pop when 101 is due: %v", e)
	}
	for i := 0; i < 20000; i++ {
		n.torrents[[20]byte{byte(i), byte(i >> 8), 7}] = &entry{}
	}
	if g := n.gap(); g != time.Second { // 15 min / 20,010 < 1 s
		t.Fatalf("gap with 20,010 torrents %v, want MinAnnounceGap 1s", g)
	}
}
