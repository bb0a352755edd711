package shard

import (
	"errors"
	"io"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// fakeDial is the harness's Shard.dial: it records the attempt and gives
// the peer a fake connection that is still connecting; the test opens it
// (openDial), refuses it (refuseDial), or sets dialErr to fail at once.
// Loop only.
func (h *harness) fakeDial(p *peer) error {
	if h.dialErr != nil {
		return h.dialErr
	}
	fc := &fakeConn{pool: h.pool, writable: true}
	tp := &tpeer{peer: p, fc: fc}
	p.c = fc
	h.peers = append(h.peers, tp)
	h.dials = append(h.dials, tp)
	return nil
}

// openDial completes a pending dial: the peer sends its handshake. Loop only.
func (h *harness) openDial(tp *tpeer) { tp.open(tp.fc) }

// refuseDial fails a pending dial as a refused connect. Loop only.
func (h *harness) refuseDial(tp *tpeer) {
	tp.fc.closed, tp.fc.delivered = true, true
	tp.closedWith(errRefused)
}

var errRefused = errors.New("connect: " + syscall.ECONNREFUSED.Error())

// The peer list alone: a pure data structure, a fake clock.

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func testPolicy(finished bool) dialPolicy {
	return dialPolicy{finished: finished, maxFails: 3, minReconnect: time.Minute}
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestCandidateReadyAt(t *testing.T) {
	never := time.Time{}
	cases := []struct {
		name     string
		c        candidate
		finished bool
		ok       bool
		at       time.Time // when ok
	}{
		{"never tried: at once", candidate{}, false, true, never},
		{"never tried, we are a seed", candidate{}, true, true, never},
		{"dropped: min_reconnect_time", candidate{lastTried: t0}, true, true, t0.Add(time.Minute)},
		{"failed once: twice as long", candidate{lastTried: t0, fails: 1}, false, true, t0.Add(2 * time.Minute)},
		{"failed twice", candidate{lastTried: t0, fails: 2}, false, true, t0.Add(3 * time.Minute)},
		{"max_failcount: given up", candidate{lastTried: t0, fails: 3}, false, false, never},
		{"manual past max_failcount: back-off", candidate{lastTried: t0, fails: 3, manual: true}, false, true, t0.Add(4 * time.Minute)},
		{"manual, fail count capped", candidate{lastTried: t0, fails: maxFailCap, manual: true}, false, true, t0.Add((maxFailCap + 1) * time.Minute)},
		{"connected", candidate{connected: true, manual: true}, false, false, never},
		{"seed while we download", candidate{seed: true}, false, true, never},
		{"seed while we seed", candidate{seed: true}, true, false, never},
		{"manual seed while we seed", candidate{seed: true, manual: true}, true, false, never},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			at, ok := tc.c.readyAt(testPolicy(tc.finished))
			if ok != tc.ok || (ok && !at.Equal(tc.at)) {
				t.Fatalf("readyAt = %v, %v; want %v, %v", at, ok, tc.at, tc.ok)
			}
		})
	}
}

func TestCandidateClosed(t *testing.T) {
	cases := []struct {
		name                string
		before              candidate
		failed, known, seed bool
		want                candidate
	}{
		{"refused", candidate{connected: true}, true, false, false, candidate{fails: 1, lastTried: t0}},
		{"dropped leecher", candidate{connected: true, fails: 0}, false, true, false, candidate{lastTried: t0}},
		{"dropped seed", candidate{connected: true}, false, true, true, candidate{lastTried: t0, seed: true}},
		{"a seed no more", candidate{connected: true, seed: true}, false, true, false, candidate{lastTried: t0}},
		{"failure keeps what we knew", candidate{connected: true, seed: true, fails: 1}, true, false, false, candidate{lastTried: t0, seed: true, fails: 2}},
		{"fail count capped", candidate{connected: true, fails: maxFailCap}, true, false, false, candidate{lastTried: t0, fails: maxFailCap}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.before
			c.closed(t0, tc.failed, tc.known, tc.seed)
			if c != tc.want {
				t.Fatalf("got %+v, want %+v", c, tc.want)
			}
		})
	}
}

func TestPeerListAdd(t *testing.T) {
	pol := testPolicy(false)
	l := make(peerList)
	a := ap("10.0.0.1:6881")
	c, first := l.add(a, plugin.SourceDHT, false, 4, pol)
	if c == nil || !first || c.addr != a || c.src != plugin.SourceDHT || c.manual {
		t.Fatalf("first add: %+v first=%v", c, first)
	}
	c.fails = 2
	c2, first := l.add(a, plugin.SourcePEX, true, 4, pol)
	if c2 != c || first || c.src != plugin.SourceDHT|plugin.SourcePEX || !c.manual || c.fails != 2 {
		t.Fatalf("second add: %+v first=%v", c2, first)
	}
	l.add(a, plugin.SourceTracker, false, 4, pol)
	if !c.manual || c.fails != 1 {
		t.Fatalf("a tracker naming it: manual=%v fails=%d, want true and 1 (one failure forgiven)", c.manual, c.fails)
	}
	if len(l) != 1 {
		t.Fatalf("%d entries for one address", len(l))
	}
	if msg := l.check(4); msg != "" {
		t.Fatal(msg)
	}
}

func TestPeerListFull(t *testing.T) {
	cases := []struct {
		name     string
		existing []candidate
		finished bool
		erased   string // "" if the new address is refused
	}{
		{"all dialable: refused", []candidate{{}, {fails: 1}, {lastTried: t0}}, false, ""},
		{"connected and manual kept", []candidate{{connected: true, fails: 3}, {manual: true, fails: 9}, {}}, false, ""},
		{"a given-up entry makes room", []candidate{{}, {fails: 3}, {}}, false, "10.0.0.2:1"},
		{"the most failed goes", []candidate{{fails: 4}, {fails: 3}, {fails: 5}}, false, "10.0.0.3:1"},
		{"a seed while we seed makes room", []candidate{{}, {}, {seed: true}}, true, "10.0.0.3:1"},
		{"a seed while we download stays", []candidate{{}, {}, {seed: true}}, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pol := testPolicy(tc.finished)
			l := make(peerList)
			for i, c := range tc.existing {
				c.addr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 1)
				l[c.addr] = &c
			}
			n, _ := l.add(ap("10.0.1.1:1"), plugin.SourceTracker, false, len(tc.existing), pol)
			if (n != nil) != (tc.erased != "") {
				t.Fatalf("added=%v, want %v", n != nil, tc.erased != "")
			}
			if tc.erased != "" && l[ap(tc.erased)] != nil {
				t.Fatalf("%s was kept", tc.erased)
			}
			if msg := l.check(len(tc.existing)); msg != "" {
				t.Fatal(msg)
			}
		})
	}
}

func TestPeerListPickOrder(t *testing.T) {
	now := t0.Add(time.Hour)
	mk := func(addr string, f func(*candidate)) *candidate {
		c := &candidate{addr: ap(addr)}
		f(c)
		return c
	}
	cases := []struct {
		name         string
		better, than *candidate
	}{
		{"fewer fails",
			mk("8.8.8.8:1", func(c *candidate) { c.fails = 0; c.lastTried = t0 }),
			mk("10.0.0.1:1", func(c *candidate) { c.fails = 1; c.src = plugin.SourceTracker })},
		{"local first",
			mk("192.168.1.1:1", func(c *candidate) { c.lastTried = t0 }),
			mk("8.8.8.8:1", func(c *candidate) { c.src = plugin.SourceTracker })},
		{"never tried first",
			mk("8.8.8.8:1", func(c *candidate) {}),
			mk("8.8.4.4:1", func(c *candidate) { c.lastTried = t0; c.src = plugin.SourceTracker })},
		{"least recently tried",
			mk("8.8.8.8:1", func(c *candidate) { c.lastTried = t0 }),
			mk("8.8.4.4:1", func(c *candidate) { c.lastTried = t0.Add(time.Second) })},
		{"tracker over DHT",
			mk("8.8.8.8:1", func(c *candidate) { c.src = plugin.SourceTracker }),
			mk("8.8.4.4:1", func(c *candidate) { c.src = plugin.SourceDHT | plugin.SourcePEX })},
		{"DHT over PEX",
			mk("8.8.8.8:1", func(c *candidate) { c.src = plugin.SourceDHT }),
			mk("8.8.4.4:1", func(c *candidate) { c.src = plugin.SourcePEX })},
		{"PEX over manual",
			mk("8.8.8.8:1", func(c *candidate) { c.src = plugin.SourcePEX }),
			mk("8.8.4.4:1", func(c *candidate) { c.manual = true })},
		{"manual over incoming",
			mk("8.8.8.8:1", func(c *candidate) { c.manual = true }),
			mk("8.8.4.4:1", func(c *candidate) { c.src = plugin.SourceIncoming })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !better(tc.better, tc.than) || better(tc.than, tc.better) {
				t.Fatalf("better(%v, %v) = %v, reverse %v", tc.better.addr, tc.than.addr, better(tc.better, tc.than), better(tc.than, tc.better))
			}
			l := peerList{tc.than.addr: tc.than, tc.better.addr: tc.better}
			got, next := l.pick(now, testPolicy(false), 1, nil)
			if len(got) != 1 || got[0] != tc.better || !next.Equal(now) {
				t.Fatalf("pick(1) = %v next %v, want %v and now", got, next, tc.better.addr)
			}
		})
	}
	// Equal in everything else: the higher BEP 40 priority first.
	a, b := &candidate{addr: ap("8.8.8.8:1")}, &candidate{addr: ap("9.9.9.9:1")}
	if better(a, b) != (a.priority() > b.priority()) || better(a, b) == better(b, a) {
		t.Fatalf("BEP 40 tie-break: priorities %#x %#x", a.priority(), b.priority())
	}
}

func TestPeerListPick(t *testing.T) {
	pol := testPolicy(true)
	l := make(peerList)
	add := func(addr string, c candidate) {
		c.addr = ap(addr)
		l[c.addr] = &c
	}
	add("10.0.0.1:1", candidate{})                                      // ready
	add("10.0.0.2:1", candidate{lastTried: t0})                         // ready
	add("10.0.0.3:1", candidate{lastTried: t0.Add(30 * time.Second)})   // ready at t0+90s
	add("10.0.0.4:1", candidate{lastTried: t0, fails: 1})               // ready at t0+120s
	add("10.0.0.5:1", candidate{seed: true})                            // never: we are a seed
	add("10.0.0.6:1", candidate{fails: 3, lastTried: t0})               // given up
	add("10.0.0.7:1", candidate{connected: true})                       // connected
	add("10.0.0.8:1", candidate{lastTried: t0, fails: 5, manual: true}) // ready at t0+6m
	steps := []struct {
		at   time.Duration
		n    int
		want []string
		next time.Duration // -1: none
	}{
		{60 * time.Second, 8, []string{"10.0.0.1:1", "10.0.0.2:1"}, 90 * time.Second},
		{60 * time.Second, 1, []string{"10.0.0.1:1"}, 60 * time.Second},
		{120 * time.Second, 8, []string{"10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1", "10.0.0.4:1"}, 6 * time.Minute},
		{6 * time.Minute, 8, []string{"10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1", "10.0.0.4:1", "10.0.0.8:1"}, -1},
		{6 * time.Minute, 0, nil, 6 * time.Minute},
	}
	for _, s := range steps {
		now := t0.Add(s.at)
		got, next := l.pick(now, pol, s.n, nil)
		var addrs []string
		for _, c := range got {
			addrs = append(addrs, c.addr.String())
		}
		if !slices.Equal(addrs, s.want) {
			t.Errorf("at +%v pick(%d) = %v, want %v", s.at, s.n, addrs, s.want)
		}
		wantNext := time.Time{}
		if s.next >= 0 {
			wantNext = t0.Add(s.next)
		}
		if !next.Equal(wantNext) {
			t.Errorf("at +%v pick(%d): next %v, want %v", s.at, s.n, next, wantNext)
		}
	}
	buf := make([]*candidate, 0, 8)
	if n := testing.AllocsPerRun(100, func() { buf, _ = l.pick(t0.Add(time.Hour), pol, 8, buf[:0]) }); n != 0 {
		t.Fatalf("pick allocates %v times with a scratch slice", n)
	}
}

// BEP 40's own examples.
func TestPeerPriorityBEP40(t *testing.T) {
	cases := []struct {
		a, b string
		want uint32
	}{
		{"123.213.32.10:0", "98.76.54.32:0", 0xec2d7224},
		{"123.213.32.10:0", "123.213.32.234:0", 0x99568189},
	}
	for _, tc := range cases {
		a, b := ap(tc.a), ap(tc.b)
		if got := peerPriority(a, b); got != tc.want {
			t.Errorf("peerPriority(%v, %v) = %#x, want %#x", a, b, got, tc.want)
		}
		if peerPriority(a, b) != peerPriority(b, a) {
			t.Errorf("peerPriority(%v, %v) is not symmetric", a, b)
		}
	}
	// Same address: the ports decide; IPv6 masks are applied.
	if peerPriority(ap("1.2.3.4:1"), ap("1.2.3.4:2")) == peerPriority(ap("1.2.3.4:1"), ap("1.2.3.4:3")) {
		t.Error("ports of one address do not change the priority")
	}
	if peerPriority(ap("[2001:db8::1]:1"), ap("[2001:db8::2]:1")) != peerPriority(ap("[2001:db8::2]:1"), ap("[2001:db8::1]:1")) {
		t.Error("IPv6 priority is not symmetric")
	}
}

func TestDialBudget(t *testing.T) {
	b := NewDialBudget(30)
	steps := []struct {
		at        time.Duration
		ask, want int
	}{
		{0, 10, 10},
		{0, 25, 20},
		{500 * time.Millisecond, 5, 0},
		{time.Second, 40, 30},
		{3 * time.Second, 0, 0},
		{3 * time.Second, 1, 1},
	}
	for _, s := range steps {
		if got := b.take(t0.Add(s.at), s.ask); got != s.want {
			t.Errorf("at +%v take(%d) = %d, want %d", s.at, s.ask, got, s.want)
		}
	}
	// Shared by many goroutines: never more than the limit in a second.
	b = NewDialBudget(30)
	var total atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				total.Add(int64(b.take(t0, 1)))
			}
		}()
	}
	wg.Wait()
	if total.Load() != 30 {
		t.Fatalf("%d attempts in one second from 8 goroutines, want 30", total.Load())
	}
}

// The peer list in a shard: dials go to fakeDial, the clock is fake.

// dialsTo lists the recorded dials to a, oldest first.
func (h *harness) dialsTo(a netip.AddrPort) []*tpeer {
	var out []*tpeer
	for _, tp := range h.dials {
		if tp.addr == a {
			out = append(out, tp)
		}
	}
	return out
}

// answer completes dial tp: the remote end sends its handshake and extra.
// Loop only.
func (h *harness) answer(tp *tpeer, i int, extra ...[]byte) {
	h.openDial(tp)
	b := handshake(tp.t, peerID(i), true, true)
	for _, e := range extra {
		b = append(b, e...)
	}
	h.feed(tp, b)
	if !tp.active() {
		fatalf("dialled peer %d is not active after its handshake", i)
	}
	tp.fc.take()
}

// hangUp closes tp from the remote end (EOF). Loop only.
func (h *harness) hangUp(tp *tpeer) {
	tp.fc.closed, tp.fc.delivered = true, true
	tp.closedWith(io.EOF)
}

// tickTo runs the shard's ticks, one a second, until the clock reaches at.
func (h *harness) tickTo(at time.Time) {
	h.t.Helper()
	for {
		var now time.Time
		h.do(func() { now = h.clock.now })
		if !now.Before(at) {
			return
		}
		h.tick(time.Second)
		h.checkPeerLists()
	}
}

// checkPeerLists checks every torrent's peer list invariants.
func (h *harness) checkPeerLists() {
	h.t.Helper()
	h.do(func() {
		for _, tor := range h.s.torrents {
			if msg := tor.cands.check(maxCandidates); msg != "" {
				fatalf("peer list: %s", msg)
			}
			if msg := tor.checkNextDial(h.clock.now); msg != "" {
				fatalf("%s", msg)
			}
		}
	})
}

func (h *harness) numDials(a netip.AddrPort) int {
	var n int
	h.do(func() { n = len(h.dialsTo(a)) })
	return n
}

// TestSeedDialsLeecher: a complete torrent dials a leecher a tracker or
// the DHT reports, and serves it.
func TestSeedDialsLeecher(t *testing.T) {
	h := newHarness(t, Settings{})
	tor := h.seed(makeTorrent(t, 4*dlPieceLen, dlPieceLen))
	leecher := ap("10.7.0.1:6881")
	h.do(func() {
		if !tor.isSeed() {
			fatalf("not a seed")
		}
		tor.AddPeerFrom(leecher, plugin.SourceTracker)
		ds := h.dialsTo(leecher)
		if len(ds) != 1 {
			fatalf("%d dials to the leecher, want 1 at once", len(ds))
		}
		h.answer(ds[0], 1, simple(wire.HaveNone))
		h.feed(ds[0], simple(wire.Interested))
		msgs := ds[0].fc.take()
		if len(only(msgs, wire.Unchoke)) != 1 {
			fatalf("the interested leecher was not unchoked: %v", ids(msgs))
		}
	})
}

// TestSeedSkipsSeeds: a seed does not dial a peer a connection showed to
// be a seed (or upload-only), and does not tick for it.
func TestSeedSkipsSeeds(t *testing.T) {
	for _, tc := range []struct {
		name string
		show func(h *harness, tp *tpeer) // after the handshake; loop only
	}{
		{"have all", func(h *harness, tp *tpeer) { h.feed(tp, simple(wire.HaveAll)) }},
		{"upload only", func(h *harness, tp *tpeer) { h.feed(tp, simple(wire.HaveNone)); tp.conn().SetUploadOnly(true) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Settings{})
			tor := h.seed(makeTorrent(t, 4*dlPieceLen, dlPieceLen))
			other := ap("10.7.0.2:6881")
			var tp *tpeer
			h.do(func() {
				tor.AddPeerFrom(other, plugin.SourceDHT)
				tp = h.dialsTo(other)[0]
				h.answer(tp, 2)
				tc.show(h, tp)
			})
			if tp.fc.closeReason() != ReasonRedundant {
				t.Fatalf("seed to seed closed with %v, want redundant", tp.fc.closeReason())
			}
			h.do(func() {
				if c := tor.cands[other]; c == nil || !c.seed || c.connected || c.fails != 0 {
					fatalf("candidate after a seed-to-seed connection: %+v", c)
				}
				if tor.wantTick(h.clock.now.Add(time.Hour)) {
					fatalf("an idle seed whose only candidate is a seed still ticks")
				}
			})
			h.tickTo(time.Date(2024, 1, 1, 0, 5, 0, 0, time.UTC))
			if n := h.numDials(other); n != 1 {
				t.Fatalf("the seed was dialled %d times, want once", n)
			}
		})
	}
}

// TestDroppedPeerRedialled: a leecher that closes after its handshake (as
// Transmission does after the metadata) is redialled after
// MinReconnectTime, not before; a manual one likewise.
func TestDroppedPeerRedialled(t *testing.T) {
	for _, manual := range []bool{false, true} {
		t.Run(map[bool]string{false: "pex", true: "manual"}[manual], func(t *testing.T) {
			h := newHarness(t, Settings{MinReconnectTime: 30 * time.Second})
			tor := h.seed(makeTorrent(t, 4*dlPieceLen, dlPieceLen))
			a := ap("10.7.0.3:6881")
			h.do(func() {
				if manual {
					tor.AddPeer(a)
				} else {
					tor.AddPeerFrom(a, plugin.SourcePEX)
				}
				tp := h.dialsTo(a)[0]
				h.answer(tp, 3, simple(wire.HaveNone))
				h.hangUp(tp)
			})
			h.tickTo(time.Date(2024, 1, 1, 0, 0, 29, 0, time.UTC))
			if n := h.numDials(a); n != 1 {
				t.Fatalf("redialled %d times before MinReconnectTime", n-1)
			}
			h.tick(time.Second)
			if n := h.numDials(a); n != 2 {
				t.Fatalf("at MinReconnectTime: %d dials, want 2", n)
			}
			h.do(func() {
				if c := tor.cands[a]; !c.connected || c.fails != 0 || c.seed {
					fatalf("candidate while redialling: %+v", c)
				}
			})
		})
	}
}

// TestFailingPeerGivesUp: an address that refuses connections is retried
// after MinReconnectTime × (fails+1) and given up after MaxFailCount
// failures, unless it is manual: that one is redialled for ever.
func TestFailingPeerGivesUp(t *testing.T) {
	for _, manual := range []bool{false, true} {
		t.Run(map[bool]string{false: "tracker", true: "manual"}[manual], func(t *testing.T) {
			h := newHarness(t, Settings{MinReconnectTime: 10 * time.Second, MaxFailCount: 3})
			tor := h.seed(makeTorrent(t, 4*dlPieceLen, dlPieceLen))
			a := ap("10.7.0.4:6881")
			var at []time.Duration
			seen := 0
			record := func() {
				h.do(func() {
					ds := h.dialsTo(a)
					for _, tp := range ds[seen:] {
						at = append(at, h.clock.now.Sub(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)))
						h.refuseDial(tp)
					}
					seen = len(ds)
				})
			}
			h.do(func() {
				if manual {
					tor.AddPeer(a)
				} else {
					tor.AddPeerFrom(a, plugin.SourceTracker)
				}
			})
			record()
			for range 200 {
				h.tick(time.Second)
				record()
				h.checkPeerLists()
			}
			want := []time.Duration{0, 20 * time.Second, 50 * time.Second} // waits of 20 s and 30 s
			if manual {
				want = append(want, 90*time.Second, 140*time.Second, 200*time.Second)
			}
			if !slices.Equal(at, want) {
				t.Fatalf("dials at %v, want %v", at, want)
			}
			h.do(func() {
				c := tor.cands[a]
				if c == nil {
					fatalf("the address left the peer list")
				}
				if !manual && tor.wantTick(h.clock.now.Add(time.Hour)) {
					fatalf("an idle seed whose only candidate gave up still ticks")
				}
			})
		})
	}
}

// TestDialBudgetAcrossTorrents: two shards sharing one budget make no
// more than ConnectionSpeed attempts a second between them, however many
// torrents ask; the rest follow in the next seconds.
func TestDialBudgetAcrossTorrents(t *testing.T) {
	const speed, torrents, per = 7, 6, 3 // 36 candidates
	set := Settings{ConnectionSpeed: speed}
	h1, h2 := newHarness(t, set), newHarness(t, set)
	shared := NewDialBudget(speed)
	h1.do(func() { h1.s.dials = shared })
	h2.do(func() { h2.s.dials = shared })
	for i := range torrents {
		h := h1
		if i%2 == 1 {
			h = h2
		}
		tor := h.seed(makeTorrent(t, dlPieceLen+i, dlPieceLen))
		h.do(func() {
			for j := range per {
				tor.AddPeerFrom(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 8, byte(i), byte(j + 1)}), 6881), plugin.SourceDHT)
			}
		})
	}
	count := func() int {
		n := 0
		h1.do(func() { n += len(h1.dials) })
		h2.do(func() { n += len(h2.dials) })
		return n
	}
	for sec := 1; ; sec++ {
		if n := count(); n != min(sec*speed, torrents*per) {
			t.Fatalf("second %d: %d dials in all, want %d", sec, n, min(sec*speed, torrents*per))
		}
		if count() == torrents*per {
			break
		}
		h1.tick(time.Second)
		h2.tick(time.Second)
		h1.checkPeerLists()
		h2.checkPeerLists()
	}
}

// TestIncomingPeerJoinsList: an incoming leecher that tells its listen
// port enters the peer list as connected, and when it leaves, the seed
// dials it back after MinReconnectTime (a NAT'd seed keeps the leechers
// that found it); one that turns out a seed is not dialled back.
func TestIncomingPeerJoinsList(t *testing.T) {
	for _, tc := range []struct {
		name   string
		have   wire.MessageID
		redial bool
	}{
		{"leecher", wire.HaveNone, true},
		{"seed", wire.HaveAll, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Settings{MinReconnectTime: 30 * time.Second})
			tor := h.seed(makeTorrent(t, 4*dlPieceLen, dlPieceLen))
			var tp *tpeer
			var listen netip.AddrPort
			h.do(func() {
				tp = h.handshaken(tor, 9, extHS(t, wire.ExtHandshake{Port: 7000}))
				listen = netip.AddrPortFrom(tp.addr.Addr(), 7000)
				c := tor.cands[listen]
				if c == nil || !c.connected || c.src != plugin.SourceIncoming || c.manual || tp.cand != c {
					fatalf("after the extension handshake: %+v", c)
				}
				if tc.have == wire.HaveAll {
					h.feed(tp, simple(tc.have)) // redundant: we close it
				} else {
					h.feed(tp, simple(tc.have))
					h.hangUp(tp)
				}
			})
			h.tickTo(time.Date(2024, 1, 1, 0, 0, 29, 0, time.UTC))
			if n := h.numDials(listen); n != 0 {
				t.Fatalf("dialled back %d times before MinReconnectTime", n)
			}
			h.tickTo(time.Date(2024, 1, 1, 0, 0, 31, 0, time.UTC))
			if n, want := h.numDials(listen), map[bool]int{true: 1, false: 0}[tc.redial]; n != want {
				t.Fatalf("dialled back %d times, want %d", n, want)
			}
		})
	}
}

// TestDuplicateKeepsCandidate: when a dial reaches a peer already
// connected to us, the duplicate rule closes one connection; the
// candidate follows the one kept, so the address is not redialled while
// it lives, and is after it ends.
func TestDuplicateKeepsCandidate(t *testing.T) {
	h := newHarness(t, Settings{MinReconnectTime: 30 * time.Second})
	tor := h.seed(makeTorrent(t, 4*dlPieceLen, dlPieceLen))
	var in, out *tpeer
	var a netip.AddrPort
	h.do(func() {
		in = h.handshaken(tor, 4, simple(wire.HaveNone)) // no listen port told
		a = netip.AddrPortFrom(in.addr.Addr(), 6999)
		tor.AddPeerFrom(a, plugin.SourceTracker)
		out = h.dialsTo(a)[0]
		h.openDial(out)
		h.feed(out, handshake(tor, peerID(4), true, true))
	})
	if out.fc.closeReason() != ReasonDuplicate || in.fc.closed {
		t.Fatalf("duplicate rule: outgoing closed %v (%v), incoming closed %v", out.fc.closed, out.fc.closeReason(), in.fc.closed)
	}
	h.do(func() {
		if c := tor.cands[a]; !c.connected || in.cand != c || c.fails != 0 {
			fatalf("candidate after the duplicate: %+v, kept connection's %p", c, in.cand)
		}
	})
	h.tickTo(time.Date(2024, 1, 1, 0, 1, 30, 0, time.UTC))
	if n := h.numDials(a); n != 1 {
		t.Fatalf("redialled %d times while the kept connection lives", n-1)
	}
	h.do(func() { h.hangUp(in) })
	h.tickTo(time.Date(2024, 1, 1, 0, 1, 59, 0, time.UTC))
	if n := h.numDials(a); n != 1 {
		t.Fatalf("redialled %d times before MinReconnectTime", n-1)
	}
	h.tickTo(time.Date(2024, 1, 1, 0, 2, 0, 0, time.UTC))
	if n := h.numDials(a); n != 2 {
		t.Fatalf("%d dials after the kept connection ended, want 2", n)
	}
}

// TestDialErrorIsAFailure: a dial that fails at once (no socket) counts as
// a failed attempt, leaves no connection behind, and is retried after the
// back-off.
func TestDialErrorIsAFailure(t *testing.T) {
	h := newHarness(t, Settings{MinReconnectTime: 10 * time.Second})
	tor := h.seed(makeTorrent(t, 4*dlPieceLen, dlPieceLen))
	a := ap("10.7.2.1:6881")
	h.do(func() {
		h.dialErr = errRefused
		tor.AddPeerFrom(a, plugin.SourceDHT)
		c := tor.cands[a]
		if c.connected || c.fails != 1 || len(tor.peers) != 0 || h.s.conns.Load() != 0 {
			fatalf("after a failed dial: %+v, %d peers, %d session connections", c, len(tor.peers), h.s.conns.Load())
		}
		h.dialErr = nil
	})
	h.tickTo(time.Date(2024, 1, 1, 0, 0, 19, 0, time.UTC))
	if n := h.numDials(a); n != 0 {
		t.Fatalf("%d dials before the back-off ran out", n)
	}
	h.tickTo(time.Date(2024, 1, 1, 0, 0, 20, 0, time.UTC))
	if n := h.numDials(a); n != 1 {
		t.Fatalf("%d dials when the back-off ran out, want 1", n)
	}
}
