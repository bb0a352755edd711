package shard

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Per-plugin cost (issue 12): every hook call bumps a counter, and one call
// in PluginCostSampleEvery is timed with two monotonic clock reads. The
// counters live in cost slots, one per plugin type and hook name, held by a
// costTable: each shard has one for the torrent and peer plugins its loop
// dispatches (loop only, plain increments), and the session plugins'
// Extensions have a shared one (any goroutine, atomic increments), since
// their hooks run on every loop, the DHT's goroutine and the alert queue's
// callers.
//
// A dispatch list entry carries its slot (hook.c), found when the list is
// built (attach, rebuild), so a call costs an increment and a compare: no
// map lookup, no lock, no allocation. A plugin disabled after a panic keeps
// its cost: the slots belong to the table, not to the plugin.
//
// Measured (go test -run '^$' -bench HookDispatch ./shard/): see PERF.md's
// plugins section.

// PluginCostSampleEvery is how often a hook call is timed: one in this
// many. A power of two, so the test is a mask.
const PluginCostSampleEvery = 64

// hookCost counts one plugin type's calls of one hook. A loop-owned
// table's slots are touched by its loop only; a shared table's only with
// atomic operations (shared is fixed when the slot is made).
type hookCost struct {
	plugin, hook string
	shared       bool
	calls, timed uint64
	ns           int64 // time in the timed calls
}

// count counts a call and reports whether to time it.
func (c *hookCost) count() bool {
	var n uint64
	if c.shared {
		n = atomic.AddUint64(&c.calls, 1)
	} else {
		c.calls++
		n = c.calls
	}
	return n&(PluginCostSampleEvery-1) == 0
}

// since adds the time of a timed call that started at t0.
func (c *hookCost) since(t0 time.Time) {
	d := int64(time.Since(t0))
	if c.shared {
		atomic.AddUint64(&c.timed, 1)
		atomic.AddInt64(&c.ns, d)
		return
	}
	c.timed++
	c.ns += d
}

// run calls f, counted and sampled.
func (c *hookCost) run(f func()) {
	if c.count() {
		t0 := time.Now()
		defer c.since(t0) // counted even if f panics
		f()
		return
	}
	f()
}

type costKey struct {
	t     reflect.Type // the plugin's
	iface reflect.Type // the hook interface's, or nil for a named call
	name  string       // a named call's hook
}

// costTable holds the cost slots of the plugins one loop (or, shared, any
// goroutine) dispatches to.
type costTable struct {
	shared bool
	mu     sync.Mutex // shared tables only: guards slots and list
	slots  map[costKey]*hookCost
	list   []*hookCost // in creation order
}

// slot returns v's slot for the hook interface iface (named after its
// method), or for the hook called name when iface is nil, making it on
// first use. Loop only for a loop-owned table; any goroutine for a shared
// one.
func (tab *costTable) slot(v any, iface reflect.Type, name string) *hookCost {
	if tab.shared {
		tab.mu.Lock()
		defer tab.mu.Unlock()
	}
	k := costKey{reflect.TypeOf(v), iface, name}
	if c := tab.slots[k]; c != nil {
		return c
	}
	if tab.slots == nil {
		tab.slots = make(map[costKey]*hookCost)
	}
	hook := name
	if iface != nil && iface.NumMethod() > 0 {
		hook = iface.Method(0).Name
	}
	c := &hookCost{plugin: strings.TrimPrefix(fmt.Sprintf("%T", v), "*"), hook: hook, shared: tab.shared}
	tab.slots[k] = c
	tab.list = append(tab.list, c)
	return c
}

// HookCost is what one plugin type's calls of one hook cost, as counted on
// one loop (Shard.PluginCosts) or by the session plugins' shared table
// (Extensions.PluginCosts).
type HookCost struct {
	Plugin string // the plugin's Go type without a leading "*", e.g. "smartban.torrentPlugin"
	Hook   string // e.g. "OnPiece"
	Calls  uint64 // every call
	Timed  uint64 // the calls that were timed
	Time   time.Duration
}

// snapshot appends a copy of every slot to out.
func (tab *costTable) snapshot(out []HookCost) []HookCost {
	if tab.shared {
		tab.mu.Lock()
		defer tab.mu.Unlock()
		for _, c := range tab.list {
			out = append(out, HookCost{Plugin: c.plugin, Hook: c.hook, Calls: atomic.LoadUint64(&c.calls),
				Timed: atomic.LoadUint64(&c.timed), Time: time.Duration(atomic.LoadInt64(&c.ns))})
		}
		return out
	}
	for _, c := range tab.list {
		out = append(out, HookCost{Plugin: c.plugin, Hook: c.hook, Calls: c.calls, Timed: c.timed, Time: time.Duration(c.ns)})
	}
	return out
}

// PluginCosts appends the costs of the torrent and peer plugins this
// shard's loop dispatched to, one entry per plugin type and hook. Loop
// only.
func (s *Shard) PluginCosts(out []HookCost) []HookCost { return s.costs.snapshot(out) }

// PluginCosts appends the costs of the session plugins' hooks. Safe from
// any goroutine.
func (e *Extensions) PluginCosts(out []HookCost) []HookCost {
	if e == nil {
		return out
	}
	return e.costs.snapshot(out)
}

// Run calls fn as plugin v's hook, counted and sampled in the session
// plugins' table (for calls made outside the dispatch lists: LoadState,
// Added). It does not recover a panic. Safe from any goroutine.
func (e *Extensions) Run(v any, hook string, fn func()) {
	if e == nil {
		fn()
		return
	}
	e.costs.slot(v, nil, hook).run(fn)
}

// SumHookCosts sums entries of the same plugin and hook (from several
// shards), sorted by plugin then hook.
func SumHookCosts(in []HookCost) []HookCost {
	type key struct{ p, h string }
	idx := make(map[key]int, len(in))
	var out []HookCost
	for _, c := range in {
		k := key{c.Plugin, c.Hook}
		i, ok := idx[k]
		if !ok {
			idx[k] = len(out)
			out = append(out, HookCost{Plugin: c.Plugin, Hook: c.Hook})
			i = len(out) - 1
		}
		o := &out[i]
		o.Calls += c.Calls
		o.Timed += c.Timed
		o.Time += c.Time
	}
	slices.SortFunc(out, func(a, b HookCost) int {
		if a.Plugin != b.Plugin {
			if a.Plugin < b.Plugin {
				return -1
			}
			return 1
		}
		if a.Hook < b.Hook {
			return -1
		}
		if a.Hook > b.Hook {
			return 1
		}
		return 0
	})
	return out
}
