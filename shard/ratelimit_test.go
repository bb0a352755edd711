package shard

import (
	"fmt"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/wire"
)

const blk = wire.BlockSize

// spendWhile passes blocks through ok/spend at each step of a fake clock
// (ns) from start for d, and returns the bytes that passed.
func spendWhile(start int64, d, step time.Duration, ok func(now int64) bool, spend func(n int64)) (int64, int64) {
	var got int64
	now := start
	for end := start + int64(d); now < end; now += int64(step) {
		for ok(now) {
			spend(blk)
			got += blk
		}
	}
	return got, now
}

// within checks got against want within tol, plus one block: the last
// block may overdraw the quota it was let through on.
func within(t *testing.T, what string, got, want int64, tol float64) {
	t.Helper()
	if e := math.Abs(float64(got-want)) / float64(want); e > tol+float64(blk)/float64(want) {
		t.Errorf("%s: %d bytes, want %d within %.1f%% (off by %.2f%%)", what, got, want, tol*100, e*100)
	}
}

// TestRateBucketAccuracy: a torrent's bucket passes its rate over 10 s of
// a fake clock, from 100 KB/s to 1 GB/s, whatever the step of the clock.
func TestRateBucketAccuracy(t *testing.T) {
	for _, rate := range []int64{100e3, 1e6, 5e6, 20e6, 1e9} {
		for _, step := range []time.Duration{time.Millisecond, 7 * time.Millisecond, 100 * time.Millisecond} {
			t.Run(fmt.Sprintf("%d/%v", rate, step), func(t *testing.T) {
				var k rateBucket
				k.rate = NoRateLimit
				k.setRate(rate, 0)
				k.tokens = 0
				got, _ := spendWhile(0, 10*time.Second, step, k.ok, func(n int64) { k.tokens -= n })
				within(t, "10 s", got, rate*10, 0.01)
			})
		}
	}
}

// TestRateBudgetTwoGates: two shards drawing slices from one session
// budget pass its rate between them, each getting a share.
func TestRateBudgetTwoGates(t *testing.T) {
	for _, rate := range []int64{100e3, 1e6, 20e6, 1e9} {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			b := NewRateBudget(rate)
			g := [2]rateGate{{b: b}, {b: b}}
			var got [2]int64
			now := int64(time.Hour) // the budget starts at clock 0: the first draw is a full burst
			b.draw(now, 0)
			b.tokens.Store(0)
			for end := now + int64(10*time.Second); now < end; now += int64(time.Millisecond) {
				for i := range g {
					// Alternate who goes first so neither starves the other.
					j := (i + int(now/int64(time.Millisecond))) % 2
					for g[j].ok(now) {
						g[j].have -= blk
						got[j] += blk
					}
				}
			}
			within(t, "both gates", got[0]+got[1], rate*10, 0.01)
			for i := range got {
				if got[i] < rate*10/4 {
					t.Errorf("gate %d got %d of %d", i, got[i], got[0]+got[1])
				}
			}
		})
	}
}

// TestRateBudgetBurst: after a long idle the budget gives at most its
// burst at once, then its rate.
func TestRateBudgetBurst(t *testing.T) {
	const rate = 1e6
	b := NewRateBudget(rate)
	g := rateGate{b: b}
	now := int64(time.Hour)
	var burst int64
	for g.ok(now) {
		g.have -= blk
		burst += blk
	}
	if limit := burstOf(rate) + blk; burst > limit || burst < burstOf(rate) {
		t.Fatalf("burst after idle: %d bytes, want within [%d, %d]", burst, burstOf(rate), limit)
	}
	got, _ := spendWhile(now+1, 10*time.Second, time.Millisecond, g.ok, func(n int64) { g.have -= n })
	within(t, "after the burst", got, rate*10, 0.01)
}

// TestRateBudgetChange: a rate changed while running applies from then on;
// unlimited passes everything; 0 passes nothing.
func TestRateBudgetChange(t *testing.T) {
	b := NewRateBudget(1e6)
	g := rateGate{b: b}
	now := int64(time.Hour)
	b.draw(now, 0)
	b.tokens.Store(0)
	spend := func(n int64) { g.have -= n }
	got, now := spendWhile(now, 5*time.Second, time.Millisecond, g.ok, spend)
	within(t, "5 s at 1 MB/s", got, 5e6, 0.01)
	b.SetRate(4e6)
	got, now = spendWhile(now, 5*time.Second, time.Millisecond, g.ok, spend)
	within(t, "5 s at 4 MB/s", got, 20e6, 0.01)
	b.SetRate(0)
	g.have = min(g.have, 0)
	if got, _ := spendWhile(now, time.Second, time.Millisecond, g.ok, spend); got > 0 {
		t.Errorf("rate 0 passed %d bytes", got)
	}
	b.SetRate(NoRateLimit)
	if !g.ok(now) {
		t.Error("unlimited budget refused")
	}
}

func TestIsLocalAddr(t *testing.T) {
	for s, want := range map[string]bool{
		"127.0.0.1": true, "10.1.2.3": true, "192.168.0.9": true, "172.16.4.4": true, "169.254.1.1": true,
		"::1": true, "fd00::1": true, "fe80::1": true, "::ffff:10.0.0.1": true,
		"8.8.8.8": false, "2001:db8::1": false, "172.32.0.1": false,
	} {
		if got := isLocalAddr(netip.MustParseAddr(s)); got != want {
			t.Errorf("isLocalAddr(%s) = %v, want %v", s, got, want)
		}
	}
}

// uploadLimited sets up a seed with one interested peer (in 10.0.0.0/8, the
// local class) and a session upload limit of rate.
func uploadLimited(t *testing.T, rate int64, limitLocal bool) (*harness, *tpeer) {
	h := newHarness(t, Settings{})
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	var tp *tpeer
	h.do(func() {
		h.s.rl.lim.Up.SetRate(rate)
		h.s.rl.lim.LimitLocal.Store(limitLocal)
		h.s.RateLimitsChanged()
		tp = h.handshaken(tor, 1, simple(wire.HaveNone), simple(wire.Interested))
		tp.fc.take()
		tp.fc.discard = true
		tp.fc.written = 0
	})
	return h, tp
}

// TestUploadLimitServe: requests beyond the quota wait in the peer's queue
// and are served as the fake clock refills it; a local peer is exempt
// unless LimitLocal.
func TestUploadLimitServe(t *testing.T) {
	const rate = 256 << 10 // 16 blocks a second
	perBlock := wire.PieceHeaderLen + blk
	reqs := func(tp *tpeer, n int) {
		for i := range n {
			b := wire.AppendRequest(nil, uint32(i/2)%4, uint32(i%2)*blk, blk)
			tp.data(b)
		}
	}
	t.Run("local exempt", func(t *testing.T) {
		h, tp := uploadLimited(t, rate, false)
		h.do(func() { reqs(tp, 64) })
		h.waitFor("every block", func() bool { return tp.fc.written == 64*perBlock })
	})
	t.Run("limit local", func(t *testing.T) {
		h, tp := uploadLimited(t, rate, true)
		h.do(func() { reqs(tp, 200) })
		// The first draw is the burst (at least minRateBurst), served
		// from disk or cache; then nothing until the clock moves.
		burst := int(burstOf(rate)/blk) + 1
		h.waitFor("the burst", func() bool { return tp.fc.written >= (burst-1)*perBlock && tp.readsInFlight == 0 })
		var first int
		h.do(func() {
			first = tp.fc.written / perBlock
			if !tp.rlWaitUp || len(h.s.rl.waitUp) != 1 {
				fatalf("peer out of quota is not waiting (rlWaitUp %v, %d waiting)", tp.rlWaitUp, len(h.s.rl.waitUp))
			}
		})
		if first > burst {
			t.Fatalf("served %d blocks before the clock moved, want at most %d", first, burst)
		}
		// Steps of 50 ms, well within the burst, as the loop's 5 ms retry.
		for range 100 {
			h.do(func() {
				h.clock.now = h.clock.now.Add(50 * time.Millisecond)
				h.s.rateWake()
			})
			h.waitFor("reads", func() bool { return tp.readsInFlight == 0 })
		}
		var got int
		h.do(func() { got = tp.fc.written/perBlock - first })
		if want := 5 * rate / blk; got < want-1 || got > want+1 {
			t.Fatalf("served %d blocks in 5 s at %d B/s, want %d±1", got, rate, want)
		}
	})
}

// TestDownloadLimitPausesReads: a peer whose blocks use up the download
// quota stops reading until the clock refills it.
func TestDownloadLimitPausesReads(t *testing.T) {
	h := newHarness(t, Settings{})
	f := makeTorrent(t, seedSize, seedPieceLen)
	tor := h.leech(f)
	var tp *tpeer
	h.do(func() {
		h.s.rl.lim.Down.SetRate(64 << 10)
		h.s.rl.lim.LimitLocal.Store(true)
		h.s.RateLimitsChanged()
		tp = h.handshaken(tor, 1, simple(wire.HaveAll))
		n := 0
		for i := 0; !tp.fc.readPaused; i++ {
			if i > 100 {
				fatalf("reads never paused")
			}
			piece, begin := uint32(i/2)%4, uint32(i%2)*blk
			h.feed(tp, append(wire.AppendPieceHeader(nil, piece, begin, blk), f.block(piece, begin, blk)...))
			n++
		}
		if max := int(burstOf(64<<10)/blk) + 1; n > max {
			fatalf("%d blocks before reads paused, want at most %d", n, max)
		}
		h.s.rateWake()
		if !tp.fc.readPaused {
			fatalf("reads resumed without quota")
		}
		h.clock.now = h.clock.now.Add(time.Second)
		h.s.rateWake()
		if tp.fc.readPaused || tp.rlWaitDown {
			fatalf("reads still paused after a second's refill")
		}
		// Lifting the limit wakes a paused peer at once.
		tp.downSpent(1 << 20)
		if !tp.fc.readPaused {
			fatalf("overdrawn peer kept reading")
		}
		h.s.rl.lim.Down.SetRate(NoRateLimit)
		h.s.RateLimitsChanged()
		if tp.fc.readPaused {
			fatalf("reads still paused with the limit lifted")
		}
	})
}

// TestServeBlockAllocsLimited: serving under a limit (every block through
// upAllowed) allocates nothing either.
func TestServeBlockAllocsLimited(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("measures allocations (not under -race, which adds some)")
	}
	h, tp := uploadLimited(t, 1e9, true)
	h.do(func() { tp.t.SetUploadLimit(1e9) })
	req := wire.AppendRequest(nil, 1, wire.BlockSize, wire.BlockSize)
	perBlock := wire.PieceHeaderLen + wire.BlockSize
	h.do(func() { h.feed(tp, req) })
	h.waitFor("the first block", func() bool { return tp.fc.written == perBlock })
	const runs = 200
	h.do(func() {
		allocs := testing.AllocsPerRun(runs, func() { h.feed(tp, req) })
		if tp.fc.written != (runs+2)*perBlock {
			fatalf("served %d bytes, want %d", tp.fc.written, (runs+2)*perBlock)
		}
		if allocs != 0 {
			fatalf("%v allocations per block served under a limit", allocs)
		}
	})
}

// TestRateCostOverhead: with Overhead a block costs its payload, its piece
// framing and 40 bytes of TCP/IP headers per 1460-byte segment; without,
// its payload.
func TestRateCostOverhead(t *testing.T) {
	h := newHarness(t, Settings{})
	h.do(func() {
		if c := h.s.rateCost(blk); c != blk {
			fatalf("payload only: a block costs %d", c)
		}
		h.s.rl.lim.Overhead.Store(true)
		h.s.RateLimitsChanged()
		if c, want := h.s.rateCost(blk), int64(blk+13+12*40); c != want {
			fatalf("with overhead: a block costs %d, want %d", c, want)
		}
	})
}

// TestUploadQueueCompactsUnderLimit: under an upload limit a peer that
// keeps requests queued never lets its queue drain, so the queue has to
// reuse its array: a request queued and served allocates nothing, and the
// array stays within a few times the requests outstanding rather than
// growing by every request ever served (a seed under a limit for a day
// would hold megabytes per peer).
func TestUploadQueueCompactsUnderLimit(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("measures allocations (not under -race, which adds some)")
	}
	const (
		rate        = 1 << 20 // 64 blocks a second
		outstanding = 32
		rounds      = 4000
	)
	h, tp := uploadLimited(t, rate, true)
	var reqs [8][]byte // 4 pieces of 2 blocks, built once
	for i := range reqs {
		reqs[i] = wire.AppendRequest(nil, uint32(i/2), uint32(i%2)*blk, blk)
	}
	next := 0
	perBlock := wire.PieceHeaderLen + blk
	h.do(func() {
		for range outstanding {
			h.feed(tp, reqs[next%len(reqs)])
			next++
		}
	})
	h.waitFor("the burst", func() bool { return tp.fc.written > 0 && tp.readsInFlight == 0 })
	// One round: a block's worth of time, the retry, and a new request
	// for each block served, so the queue holds about outstanding.
	round := func() {
		h.clock.now = h.clock.now.Add(time.Second / (rate / blk))
		h.s.rateWake()
		for tp.upHead < len(tp.upQ) && len(tp.upQ)-tp.upHead < outstanding {
			h.feed(tp, reqs[next%len(reqs)])
			next++
		}
	}
	h.do(func() {
		for range 200 { // past the array's first growth
			round()
		}
		before := tp.fc.written
		allocs := testing.AllocsPerRun(1, func() {
			for range rounds {
				round()
			}
		})
		served := (tp.fc.written - before) / perBlock
		if served < 2*rounds*9/10 { // two passes: AllocsPerRun warms up once
			fatalf("served %d blocks in %d rounds of one block's worth each", served, 2*rounds)
		}
		if tp.upHead == len(tp.upQ) {
			fatalf("the queue drained: the test does not hold it full")
		}
		if allocs != 0 {
			fatalf("%v allocations over %d requests queued and served under a limit", allocs, rounds)
		}
		if c := cap(tp.upQ); c > 4*outstanding {
			fatalf("request queue array of %d for %d outstanding after %d requests", c, outstanding, next)
		}
	})
}

// TestDownloadLimitStopsMidBuffer: blocks already read from the socket
// past the quota stay in the conn's buffer (for the loop to present again
// when reads resume) instead of being taken at once: otherwise a limited
// peer takes a whole socket buffer per wake-up, and at 100 kB/s the rate
// comes in lumps of 240 KiB every 2.4 s.
func TestDownloadLimitStopsMidBuffer(t *testing.T) {
	const rate = 64 << 10
	h := newHarness(t, Settings{})
	f := makeTorrent(t, seedSize, seedPieceLen)
	tor := h.leech(f)
	h.do(func() {
		h.s.rl.lim.Down.SetRate(rate)
		h.s.rl.lim.LimitLocal.Store(true)
		h.s.RateLimitsChanged()
		tp := h.handshaken(tor, 1, simple(wire.HaveAll))
		var buf []byte
		var frame int
		for i := range 16 {
			piece, begin := uint32(i/2)%4, uint32(i%2)*blk
			b := append(wire.AppendPieceHeader(nil, piece, begin, blk), f.block(piece, begin, blk)...)
			frame = len(b)
			buf = append(buf, b...)
		}
		n := tp.data(buf)
		if n%frame != 0 {
			fatalf("consumed %d bytes: not whole blocks of %d", n, frame)
		}
		if max := int(burstOf(rate)/blk) + 1; n/frame > max || n == len(buf) {
			fatalf("took %d of 16 blocks from one buffer under a %d B/s limit, want at most %d", n/frame, rate, max)
		}
		if !tp.fc.readPaused || !tp.rlWaitDown {
			fatalf("out of quota but reads not paused")
		}
		// A second's refill lets the rest through.
		h.clock.now = h.clock.now.Add(time.Second)
		h.s.rateWake()
		if tp.fc.readPaused {
			fatalf("reads still paused after a second's refill")
		}
		if m := tp.data(buf[n:]); m == 0 {
			fatalf("nothing taken after the refill")
		}
	})
}
