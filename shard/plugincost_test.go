package shard

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// slowHave spends at least a microsecond of monotonic time in every
// OnHave, so a timed call is never measured as zero; panicAt > 0 makes its
// panicAt-th call panic.
type slowHave struct {
	calls, panicAt int
}

func (*slowHave) Type() string { return "slow" }
func (p *slowHave) OnHave(int) bool {
	p.calls++
	if p.calls == p.panicAt {
		panic("slowHave: boom")
	}
	t0 := time.Now()
	for time.Since(t0) < time.Microsecond {
	}
	return false
}

func findCost(costs []HookCost, plugin, hook string) (HookCost, bool) {
	for _, c := range costs {
		if c.Plugin == plugin && c.Hook == hook {
			return c, true
		}
	}
	return HookCost{}, false
}

// TestPluginCostSampledPerTypeAndHook: every call is counted, one in
// PluginCostSampleEvery timed, instances of one type share a slot, and a
// plugin disabled by a panic keeps what it cost.
func TestPluginCostSampledPerTypeAndHook(t *testing.T) {
	h := newHarness(t, Settings{})
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	const haves = 3*PluginCostSampleEvery + 5
	var tp *tpeer
	var bad *slowHave
	h.do(func() {
		addNoopPlugins(tor, 2) // two instances of one type: one slot
		withPeerPlugins(tor, func(plugin.PeerConn) plugin.PeerPlugin { return &slowHave{} })
		withPeerPlugins(tor, func(plugin.PeerConn) plugin.PeerPlugin {
			bad = &slowHave{panicAt: PluginCostSampleEvery + 10}
			return bad
		})
		tp = h.handshaken(tor, 1, simple(wire.HaveNone))
		for i := range haves {
			h.feed(tp, wire.AppendHave(nil, uint32(i%4)))
		}
	})
	h.do(func() {
		if tp.fc.closed {
			fatalf("peer closed: %v", tp.fc.closeErr)
		}
		if d := alertsOf[*plugin.PluginDisabledAlert](h.alerts); len(d) != 1 || d[0].Hook != "OnHave" {
			fatalf("disabled alerts %v, want one for OnHave", d)
		}
		costs := SumHookCosts(h.s.PluginCosts(nil))
		noop, ok := findCost(costs, "shard.noopPeer", "OnHave")
		if !ok || noop.Calls != 2*haves || noop.Timed != 2*haves/PluginCostSampleEvery {
			fatalf("noopPeer OnHave %+v (found %v), want %d calls, %d timed", noop, ok, 2*haves, 2*haves/PluginCostSampleEvery)
		}
		// The two slowHave instances share a slot: the good one's haves
		// calls plus the bad one's calls up to and including its panic.
		slow, ok := findCost(costs, "shard.slowHave", "OnHave")
		wantCalls := uint64(haves + bad.panicAt)
		if !ok || slow.Calls != wantCalls || slow.Timed != wantCalls/PluginCostSampleEvery {
			fatalf("slowHave OnHave %+v, want %d calls, %d timed", slow, wantCalls, wantCalls/PluginCostSampleEvery)
		}
		if slow.Time < time.Duration(slow.Timed)*time.Microsecond {
			fatalf("slowHave timed %d calls in %v, want at least 1 µs each", slow.Timed, slow.Time)
		}
		// Hooks the engine dispatched to the plugins besides OnHave.
		if c, ok := findCost(costs, "shard.noopPeer", "CanDisconnect"); ok && c.Calls != 0 {
			fatalf("CanDisconnect counted %d calls with no disconnect", c.Calls)
		}
		if _, ok := findCost(costs, "shard.newConnFunc", "NewConnection"); !ok {
			fatalf("torrent plugins' NewConnection not counted: %+v", costs)
		}
	})
}

// TestPluginCostSlotNames: every dispatch list's slots are named after the
// hook interface's method, the name the dispatch reports in
// PluginDisabledAlert.
func TestPluginCostSlotNames(t *testing.T) {
	var log []string
	tab := &costTable{}
	x := buildPeerHooks([]*attached{{v: &hookPeer{name: "a", log: &log}}}, tab)
	seen := map[string]bool{}
	for _, c := range tab.list {
		seen[c.hook] = true
		if c.plugin != "shard.hookPeer" {
			t.Errorf("slot plugin %q, want shard.hookPeer", c.plugin)
		}
	}
	for _, name := range []string{"OnChoke", "OnPiece", "SentPayload", "OnExtensionHandshake", "OnUnknownMessage", "CanDisconnect", "WriteRequest", "Tick"} {
		if !seen[name] {
			t.Errorf("no slot named %q in %v", name, seen)
		}
	}
	if len(x.onPiece) != 1 || x.onPiece[0].c.hook != "OnPiece" || x.sentPayload[0].c.hook != "SentPayload" {
		t.Errorf("list slots: onPiece %q, sentPayload %q", x.onPiece[0].c.hook, x.sentPayload[0].c.hook)
	}
	// A rebuild finds the same slots: costs survive it.
	y := buildPeerHooks(x.plugins, tab)
	if y.onPiece[0].c != x.onPiece[0].c {
		t.Error("a rebuild made a new slot")
	}
}

// countingSession is a session plugin with a tick hook, called from any
// goroutine.
type countingSession struct{ ticks atomic.Int64 }

func (*countingSession) Features() plugin.Feature { return plugin.FeatureTick }
func (s *countingSession) OnTick()                { s.ticks.Add(1) }

// TestPluginCostSessionShared: session plugins count in the shared table,
// from any goroutine.
func TestPluginCostSessionShared(t *testing.T) {
	e := NewExtensions(nil)
	p := &countingSession{}
	e.Add(p)
	const n = 2 * PluginCostSampleEvery
	done := make(chan struct{})
	go func() {
		for range n / 2 {
			e.DispatchTick()
		}
		close(done)
	}()
	for range n / 2 {
		e.DispatchTick()
	}
	<-done
	e.Run(p, "Added", func() {})
	costs := SumHookCosts(e.PluginCosts(nil))
	c, ok := findCost(costs, "shard.countingSession", "OnTick")
	if !ok || c.Calls != n || c.Timed != n/PluginCostSampleEvery || p.ticks.Load() != n {
		t.Fatalf("OnTick %+v, want %d calls, %d timed", c, n, n/PluginCostSampleEvery)
	}
	if a, ok := findCost(costs, "shard.countingSession", "Added"); !ok || a.Calls != 1 {
		t.Fatalf("Added %+v, want 1 call", a)
	}
}

func TestSumHookCosts(t *testing.T) {
	got := SumHookCosts([]HookCost{
		{Plugin: "b", Hook: "X", Calls: 1, Timed: 1, Time: 3},
		{Plugin: "a", Hook: "Y", Calls: 2},
		{Plugin: "b", Hook: "X", Calls: 4, Timed: 0, Time: 0},
		{Plugin: "a", Hook: "X", Calls: 1},
	})
	want := []HookCost{{Plugin: "a", Hook: "X", Calls: 1}, {Plugin: "a", Hook: "Y", Calls: 2}, {Plugin: "b", Hook: "X", Calls: 5, Timed: 1, Time: 3}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
}

// eachUncounted is each as it was before plugin costs were counted (the
// same recover per dispatch loop), kept here to measure what the counting
// adds (BenchmarkHookDispatch).
func eachUncounted[H any](d disabler, l hookList[H], name string, f func(H)) {
	for i := 0; i < len(l); {
		i = eachFromUncounted(d, l, i, name, f)
	}
}

func eachFromUncounted[H any](d disabler, l hookList[H], i int, name string, f func(H)) (next int) {
	defer func() {
		if v := recover(); v != nil {
			d.disable(l[i].a, name, v)
			next = i + 1
		}
	}()
	for ; i < len(l); i++ {
		if !l[i].a.removed.Load() {
			f(l[i].h)
		}
	}
	return len(l)
}

type nopDisabler struct{}

func (nopDisabler) disable(*attached, string, any) {}

// BenchmarkHookDispatch dispatches SentPayload to four no-op plugins with
// the counting (each) and without it (the loop as it was).
func BenchmarkHookDispatch(b *testing.B) {
	tab := &costTable{}
	var plugins []*attached
	for range 4 {
		plugins = append(plugins, &attached{v: &noopPeer{}})
	}
	x := buildPeerHooks(plugins, tab)
	f := func(h plugin.SentPayloadHook) { h.SentPayload(wire.BlockSize) }
	b.Run("counted", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			each(nopDisabler{}, x.sentPayload, "SentPayload", f)
		}
	})
	b.Run("uncounted", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			eachUncounted(nopDisabler{}, x.sentPayload, "SentPayload", f)
		}
	})
}
