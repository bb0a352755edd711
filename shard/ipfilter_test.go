package shard

import (
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/ipfilter"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

func blockOne(t *testing.T, a netip.Addr) *ipfilter.Filter {
	t.Helper()
	f := ipfilter.New()
	if err := f.AddRule(a, a, ipfilter.Blocked); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestIPFilterOfferAndDial: an address the filter blocks never enters the
// peer list; a candidate that became blocked after it entered is dropped
// when its dial comes due, not dialled.
func TestIPFilterOfferAndDial(t *testing.T) {
	h := newHarness(t, Settings{})
	var ipf atomic.Pointer[ipfilter.Filter]
	h.do(func() { h.s.ipf = &ipf })
	tor := h.seed(makeTorrent(t, 4*dlPieceLen, dlPieceLen))
	blocked, later := ap("10.7.0.1:6881"), ap("10.7.0.2:6881")
	ipf.Store(blockOne(t, blocked.Addr()))
	h.do(func() {
		tor.AddPeerFrom(blocked, plugin.SourceTracker)
		tor.AddPeer(blocked)
		if len(h.dialsTo(blocked)) != 0 || tor.cands[blocked] != nil {
			fatalf("a blocked address was dialled or listed")
		}
		// later is dialled at once and fails: it waits out its back-off.
		tor.AddPeerFrom(later, plugin.SourceTracker)
		ds := h.dialsTo(later)
		if len(ds) != 1 {
			fatalf("%d dials to an allowed address, want 1", len(ds))
		}
		h.hangUp(ds[0])
	})
	// The filter now blocks later too, without the per-shard round.
	f := blockOne(t, blocked.Addr())
	if err := f.AddRule(later.Addr(), later.Addr(), ipfilter.Blocked); err != nil {
		t.Fatal(err)
	}
	ipf.Store(f)
	var until time.Time
	h.do(func() { until = h.clock.now.Add(10 * time.Minute) })
	h.tickTo(until)
	h.do(func() {
		if n := len(h.dialsTo(later)); n != 1 {
			fatalf("%d dials to a now-blocked address, want the 1 from before", n)
		}
		if tor.cands[later] != nil {
			fatalf("the now-blocked candidate is still listed")
		}
		if n := h.s.met.V[MetricIPFilterDialSkipped]; n != 3 {
			fatalf("dial skips %d, want 3", n)
		}
	})
	var got []netip.AddrPort
	for _, a := range alertsOf[*plugin.PeerBlockedAlert](h.alerts) {
		if a.Reason != plugin.BlockIPFilter || a.Incoming || a.Closed {
			t.Fatalf("alert %s", a.Message())
		}
		got = append(got, a.Addr)
	}
	if len(got) != 3 || got[2] != later {
		t.Fatalf("blocked alerts for %v", got)
	}
}

// TestApplyIPFilterCloses: ApplyIPFilter closes a live connection the new
// filter blocks, with ReasonBanned wrapping ErrIPFiltered, and keeps the
// others.
func TestApplyIPFilterCloses(t *testing.T) {
	h := newHarness(t, Settings{})
	var ipf atomic.Pointer[ipfilter.Filter]
	h.do(func() { h.s.ipf = &ipf })
	tor := h.seed(makeTorrent(t, 4*dlPieceLen, dlPieceLen))
	bad, good := ap("10.7.0.1:6881"), ap("10.7.0.2:6881")
	var tb, tg *tpeer
	h.do(func() {
		tor.AddPeerFrom(bad, plugin.SourceTracker)
		tor.AddPeerFrom(good, plugin.SourceTracker)
		tb, tg = h.dialsTo(bad)[0], h.dialsTo(good)[0]
		h.answer(tb, 1, simple(wire.HaveNone))
		h.answer(tg, 2, simple(wire.HaveNone))
	})
	ipf.Store(blockOne(t, bad.Addr()))
	h.do(func() { h.s.ApplyIPFilter() })
	h.do(func() {
		if !tb.fc.closed || tb.fc.closeReason() != ReasonBanned || !errors.Is(tb.fc.closeErr, plugin.ErrIPFiltered) {
			fatalf("blocked connection: closed=%v err=%v", tb.fc.closed, tb.fc.closeErr)
		}
		if tg.fc.closed {
			fatalf("an allowed connection was closed")
		}
		if n := h.s.met.V[MetricIPFilterClosed]; n != 1 {
			fatalf("closed by the filter: %d, want 1", n)
		}
	})
	if as := alertsOf[*plugin.PeerBlockedAlert](h.alerts); len(as) != 1 || !as[0].Closed || as[0].Addr != bad {
		t.Fatalf("alerts %v", as)
	}
}
