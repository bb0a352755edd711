package shard

import (
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardtorrent/shardtorrent/plugin"
)

// Plugins are found once, when attached: every hook interface a plugin
// implements puts it on that hook's dispatch list. A hook nobody implements
// is an empty list, and a connection without peer plugins has no lists at
// all (peer.hx == nil), so the data path pays one nil check.
//
// Every dispatch loop is wrapped by one deferred recover (not one per
// plugin): a plugin that panics is marked removed, the lists are rebuilt
// without it, a PluginDisabledAlert is posted and the loop carries on with
// the next plugin. Rebuilt lists are new slices, so a loop running over the
// old one is not disturbed; it skips removed plugins by their flag.
//
// Every entry also carries the cost slot of its plugin type and hook
// (plugincost.go), found when the list is built: the dispatch counts each
// call and times one in PluginCostSampleEvery.

// attached is one plugin attached to a peer, torrent or session.
type attached struct {
	v any
	// removed is set once, on the owner's loop (or under Extensions.mu for
	// session plugins, which other loops read: hence atomic).
	removed atomic.Bool
}

// hook is one entry of a dispatch list: the plugin as the hook's
// interface, and the cost slot its calls are counted in (plugincost.go).
type hook[H any] struct {
	h H
	a *attached
	c *hookCost
}

type hookList[H any] []hook[H]

// add appends a's plugin if it implements H, with its cost slot in tab
// for H's method (every hook interface has one).
func (l hookList[H]) add(a *attached, tab *costTable) hookList[H] {
	if h, ok := a.v.(H); ok {
		return append(l, hook[H]{h, a, tab.slot(a.v, reflect.TypeFor[H](), "")})
	}
	return l
}

// addNamed is add for a list of a type that is not a hook interface
// (Extensions.Call): its calls are counted under name.
func (l hookList[H]) addNamed(a *attached, tab *costTable, name string) hookList[H] {
	if h, ok := a.v.(H); ok {
		return append(l, hook[H]{h, a, tab.slot(a.v, nil, name)})
	}
	return l
}

// timed calls f on e's plugin, counted, and timed when its turn in the
// sample comes (plugincost.go). A panic in f skips the timing: the
// dispatch loop's recover disables the plugin.
func timed[H any](e *hook[H], f func(H) bool) bool {
	if !e.c.count() {
		return f(e.h)
	}
	t0 := time.Now()
	ok := f(e.h)
	e.c.since(t0)
	return ok
}

// disabler removes a plugin that panicked and reports it.
type disabler interface {
	disable(a *attached, hook string, v any)
}

// eachBool calls f on the hooks in order until one returns true (and
// reports true). A panic disables that plugin and continues with the next.
func eachBool[H any](d disabler, l hookList[H], name string, f func(H) bool) bool {
	for i := 0; i < len(l); {
		handled, next := eachBoolFrom(d, l, i, name, f)
		if next < 0 {
			return handled
		}
		i = next
	}
	return false
}

func eachBoolFrom[H any](d disabler, l hookList[H], i int, name string, f func(H) bool) (handled bool, next int) {
	defer func() {
		if v := recover(); v != nil {
			d.disable(l[i].a, name, v)
			handled, next = false, i+1
		}
	}()
	for ; i < len(l); i++ {
		e := &l[i]
		if e.a.removed.Load() {
			continue
		}
		ok := timed(e, f)
		if ok {
			return true, -1
		}
	}
	return false, -1
}

// each calls f on every hook in order; a panic disables that plugin.
func each[H any](d disabler, l hookList[H], name string, f func(H)) {
	for i := 0; i < len(l); {
		i = eachFrom(d, l, i, name, f)
	}
}

func eachFrom[H any](d disabler, l hookList[H], i int, name string, f func(H)) (next int) {
	defer func() {
		if v := recover(); v != nil {
			d.disable(l[i].a, name, v)
			next = i + 1
		}
	}()
	for ; i < len(l); i++ {
		e := &l[i]
		if e.a.removed.Load() {
			continue
		}
		if !e.c.count() {
			f(e.h)
			continue
		}
		t0 := time.Now()
		f(e.h)
		e.c.since(t0)
	}
	return len(l)
}

// peerHooks are a connection's dispatch lists, one per peer-plugin hook.
// Owned by the torrent's loop.
type peerHooks struct {
	plugins []*attached

	addHandshake   hookList[plugin.AddHandshakeHook]
	onHandshake    hookList[plugin.HandshakeHook]
	onExtHandshake hookList[plugin.ExtensionHandshakeHook]
	onConnected    hookList[plugin.ConnectedHook]
	onDisconnect   hookList[plugin.DisconnectHook]

	onChoke         hookList[plugin.ChokeHook]
	onUnchoke       hookList[plugin.UnchokeHook]
	onInterested    hookList[plugin.InterestedHook]
	onNotInterested hookList[plugin.NotInterestedHook]
	onHave          hookList[plugin.HaveHook]
	onDontHave      hookList[plugin.DontHaveHook]
	onBitfield      hookList[plugin.BitfieldHook]
	onHaveAll       hookList[plugin.HaveAllHook]
	onHaveNone      hookList[plugin.HaveNoneHook]
	onAllowedFast   hookList[plugin.AllowedFastHook]
	onRequest       hookList[plugin.RequestHook]
	onCancel        hookList[plugin.CancelHook]
	onReject        hookList[plugin.RejectHook]
	onSuggest       hookList[plugin.SuggestHook]
	onPiece         hookList[plugin.PieceHook]
	onExtended      hookList[plugin.ExtendedHook]
	onUnknown       hookList[plugin.UnknownMessageHook]

	sentChoke         hookList[plugin.SentChokeHook]
	sentUnchoke       hookList[plugin.SentUnchokeHook]
	sentInterested    hookList[plugin.SentInterestedHook]
	sentNotInterested hookList[plugin.SentNotInterestedHook]
	sentHave          hookList[plugin.SentHaveHook]
	sentHaveAll       hookList[plugin.SentHaveAllHook]
	sentHaveNone      hookList[plugin.SentHaveNoneHook]
	sentAllowFast     hookList[plugin.SentAllowFastHook]
	sentSuggest       hookList[plugin.SentSuggestHook]
	sentRequest       hookList[plugin.SentRequestHook]
	sentCancel        hookList[plugin.SentCancelHook]
	sentReject        hookList[plugin.SentRejectHook]
	sentPiece         hookList[plugin.SentPieceHook]
	sentPayload       hookList[plugin.SentPayloadHook]

	canDisconnect hookList[plugin.CanDisconnectHook]
	piecePass     hookList[plugin.PeerPiecePassHook]
	pieceFailed   hookList[plugin.PeerPieceFailedHook]
	tick          hookList[plugin.PeerTickHook]
	writeRequest  hookList[plugin.WriteRequestHook]
}

// buildPeerHooks makes fresh lists from the plugins not removed.
func buildPeerHooks(plugins []*attached, tab *costTable) *peerHooks {
	x := &peerHooks{}
	for _, a := range plugins {
		if a.removed.Load() {
			continue
		}
		x.plugins = append(x.plugins, a)
		x.addHandshake = x.addHandshake.add(a, tab)
		x.onHandshake = x.onHandshake.add(a, tab)
		x.onExtHandshake = x.onExtHandshake.add(a, tab)
		x.onConnected = x.onConnected.add(a, tab)
		x.onDisconnect = x.onDisconnect.add(a, tab)
		x.onChoke = x.onChoke.add(a, tab)
		x.onUnchoke = x.onUnchoke.add(a, tab)
		x.onInterested = x.onInterested.add(a, tab)
		x.onNotInterested = x.onNotInterested.add(a, tab)
		x.onHave = x.onHave.add(a, tab)
		x.onDontHave = x.onDontHave.add(a, tab)
		x.onBitfield = x.onBitfield.add(a, tab)
		x.onHaveAll = x.onHaveAll.add(a, tab)
		x.onHaveNone = x.onHaveNone.add(a, tab)
		x.onAllowedFast = x.onAllowedFast.add(a, tab)
		x.onRequest = x.onRequest.add(a, tab)
		x.onCancel = x.onCancel.add(a, tab)
		x.onReject = x.onReject.add(a, tab)
		x.onSuggest = x.onSuggest.add(a, tab)
		x.onPiece = x.onPiece.add(a, tab)
		x.onExtended = x.onExtended.add(a, tab)
		x.onUnknown = x.onUnknown.add(a, tab)
		x.sentChoke = x.sentChoke.add(a, tab)
		x.sentUnchoke = x.sentUnchoke.add(a, tab)
		x.sentInterested = x.sentInterested.add(a, tab)
		x.sentNotInterested = x.sentNotInterested.add(a, tab)
		x.sentHave = x.sentHave.add(a, tab)
		x.sentHaveAll = x.sentHaveAll.add(a, tab)
		x.sentHaveNone = x.sentHaveNone.add(a, tab)
		x.sentAllowFast = x.sentAllowFast.add(a, tab)
		x.sentSuggest = x.sentSuggest.add(a, tab)
		x.sentRequest = x.sentRequest.add(a, tab)
		x.sentCancel = x.sentCancel.add(a, tab)
		x.sentReject = x.sentReject.add(a, tab)
		x.sentPiece = x.sentPiece.add(a, tab)
		x.sentPayload = x.sentPayload.add(a, tab)
		x.canDisconnect = x.canDisconnect.add(a, tab)
		x.piecePass = x.piecePass.add(a, tab)
		x.pieceFailed = x.pieceFailed.add(a, tab)
		x.tick = x.tick.add(a, tab)
		x.writeRequest = x.writeRequest.add(a, tab)
	}
	return x
}

// torrentHooks are a torrent's dispatch lists. Owned by its loop.
type torrentHooks struct {
	plugins       []*attached
	newConnection hookList[plugin.NewConnectionHook]
	piecePass     hookList[plugin.TorrentPiecePassHook]
	pieceFailed   hookList[plugin.TorrentPieceFailedHook]
	tick          hookList[plugin.TorrentTickHook]
	pause         hookList[plugin.PauseHook]
	resume        hookList[plugin.ResumeHook]
	filesChecked  hookList[plugin.FilesCheckedHook]
	state         hookList[plugin.StateHook]
	addPeer       hookList[plugin.AddPeerHook]
	pieceLost     hookList[plugin.TorrentPieceLostHook]
}

func buildTorrentHooks(plugins []*attached, tab *costTable) *torrentHooks {
	x := &torrentHooks{}
	for _, a := range plugins {
		if a.removed.Load() {
			continue
		}
		x.plugins = append(x.plugins, a)
		x.newConnection = x.newConnection.add(a, tab)
		x.piecePass = x.piecePass.add(a, tab)
		x.pieceFailed = x.pieceFailed.add(a, tab)
		x.tick = x.tick.add(a, tab)
		x.pause = x.pause.add(a, tab)
		x.resume = x.resume.add(a, tab)
		x.filesChecked = x.filesChecked.add(a, tab)
		x.state = x.state.add(a, tab)
		x.addPeer = x.addPeer.add(a, tab)
		x.pieceLost = x.pieceLost.add(a, tab)
	}
	return x
}

// Extensions are the session plugins, shared by every shard. Registration
// takes a lock and publishes new immutable lists; readers load them without
// one. Safe from any goroutine.
type Extensions struct {
	mu    sync.Mutex
	cur   atomic.Pointer[SessionHooks]
	alert func(plugin.Alert) // where PluginDisabledAlerts go
	costs costTable          // shared: the session plugins' hooks run on any goroutine
}

// SessionHooks are the session plugins' dispatch lists, built once per
// registration from each plugin's Features (read once). Immutable.
type SessionHooks struct {
	plugins    []*attached
	newTorrent hookList[plugin.TorrentCreator]
	tick       hookList[plugin.SessionTickHook]
	priority   hookList[plugin.UnchokePriorityHook]
	dht        hookList[plugin.DHTRequestHook]
	alert      hookList[plugin.AlertHook]
	unknown    hookList[plugin.UnknownTorrentHook]
	features   []plugin.Feature // per plugin, read at registration
}

// NewExtensions returns an empty registry; post receives the
// PluginDisabledAlerts of session plugins.
func NewExtensions(post func(plugin.Alert)) *Extensions {
	e := &Extensions{alert: post, costs: costTable{shared: true}}
	e.cur.Store(&SessionHooks{})
	return e
}

// Add registers p, reading its Features once. Any goroutine.
func (e *Extensions) Add(p plugin.Plugin) {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.cur.Load()
	plugins := append(append([]*attached(nil), old.plugins...), &attached{v: p})
	feats := append(append([]plugin.Feature(nil), old.features...), p.Features())
	e.cur.Store(buildSessionHooks(plugins, feats, &e.costs))
}

func buildSessionHooks(plugins []*attached, feats []plugin.Feature, tab *costTable) *SessionHooks {
	x := &SessionHooks{}
	for i, a := range plugins {
		if a.removed.Load() {
			continue
		}
		f := feats[i]
		x.plugins = append(x.plugins, a)
		x.features = append(x.features, f)
		x.newTorrent = x.newTorrent.add(a, tab)
		if f&plugin.FeatureTick != 0 {
			x.tick = x.tick.add(a, tab)
		}
		if f&plugin.FeatureOptimisticUnchoke != 0 {
			x.priority = x.priority.add(a, tab)
		}
		if f&plugin.FeatureDHTRequest != 0 {
			x.dht = x.dht.add(a, tab)
		}
		if f&plugin.FeatureAlert != 0 {
			x.alert = x.alert.add(a, tab)
		}
		if f&plugin.FeatureUnknownTorrent != 0 {
			x.unknown = x.unknown.add(a, tab)
		}
	}
	return x
}

// hooks returns the current lists; a nil registry has none.
func (e *Extensions) hooks() *SessionHooks {
	if e == nil {
		return &emptySessionHooks
	}
	return e.cur.Load()
}

var emptySessionHooks SessionHooks

// Plugins returns the registered session plugins in order. Any goroutine.
func (e *Extensions) Plugins() []plugin.Plugin {
	h := e.hooks()
	out := make([]plugin.Plugin, 0, len(h.plugins))
	for _, a := range h.plugins {
		if !a.removed.Load() {
			out = append(out, a.v.(plugin.Plugin))
		}
	}
	return out
}

func (e *Extensions) disable(a *attached, hook string, v any) {
	e.mu.Lock()
	if a.removed.Swap(true) {
		e.mu.Unlock()
		return
	}
	old := e.cur.Load()
	e.cur.Store(buildSessionHooks(old.plugins, old.features, &e.costs))
	e.mu.Unlock()
	if e.alert != nil {
		e.alert(&plugin.PluginDisabledAlert{Plugin: pluginName(a.v), Hook: hook, Panic: v})
	}
}

// HasAlertHooks reports whether any session plugin wants OnAlert. Any
// goroutine.
func (e *Extensions) HasAlertHooks() bool { return len(e.hooks().alert) > 0 }

// DispatchAlert shows a to every AlertHook, on the caller's goroutine.
func (e *Extensions) DispatchAlert(a plugin.Alert) {
	h := e.hooks()
	if len(h.alert) == 0 {
		return
	}
	each(e, h.alert, "OnAlert", func(x plugin.AlertHook) { x.OnAlert(a) })
}

// DispatchDHTRequest offers a DHT query to the DHTRequestHooks; a
// panicking plugin is disabled. The session's DHT calls it on its
// socket-reading goroutine (dht.Config.OnRequest). Any goroutine.
func (e *Extensions) DispatchDHTRequest(r *plugin.DHTRequest) bool {
	h := e.hooks()
	return eachBool(e, h.dht, "OnDHTRequest", func(x plugin.DHTRequestHook) bool { return x.OnDHTRequest(r) })
}

// HasUnknownTorrentHooks reports whether a plugin set FeatureUnknownTorrent.
func (e *Extensions) HasUnknownTorrentHooks() bool { return len(e.hooks().unknown) > 0 }

// DispatchUnknownTorrent asks the UnknownTorrentHooks about ih; the first
// true wins and p holds its parameters.
func (e *Extensions) DispatchUnknownTorrent(ih [20]byte, pc plugin.PeerConn, p *plugin.AddTorrentParams) bool {
	h := e.hooks()
	return eachBool(e, h.unknown, "OnUnknownTorrent", func(x plugin.UnknownTorrentHook) bool {
		return x.OnUnknownTorrent(ih, pc, p)
	})
}

// DispatchTick calls every SessionTickHook.
func (e *Extensions) DispatchTick() {
	h := e.hooks()
	each(e, h.tick, "OnTick", func(x plugin.SessionTickHook) { x.OnTick() })
}

// Call runs fn(p) for every registered plugin with a recover, disabling a
// plugin that panics (for Added, Abort, LoadState, SaveState).
func (e *Extensions) Call(name string, fn func(p plugin.Plugin)) {
	h := e.hooks()
	var l hookList[plugin.Plugin]
	for _, a := range h.plugins {
		l = l.addNamed(a, &e.costs, name)
	}
	each(e, l, name, fn)
}

// pluginName names a plugin in alerts: its Go type, and Type() for peer
// plugins.
func pluginName(v any) string {
	if pp, ok := v.(plugin.PeerPlugin); ok {
		return fmt.Sprintf("%T(%s)", v, safeType(pp))
	}
	return fmt.Sprintf("%T", v)
}

func safeType(pp plugin.PeerPlugin) (s string) {
	defer func() {
		if recover() != nil {
			s = "?"
		}
	}()
	return pp.Type()
}

// filter calls keep on every hook; a plugin answering false is removed
// (reported true) and so is one that panics.
func filter[H any](d disabler, l hookList[H], name string, keep func(H) bool) (removed bool) {
	for i := 0; i < len(l); {
		var r bool
		i, r = filterFrom(d, l, i, name, keep)
		removed = removed || r
	}
	return removed
}

func filterFrom[H any](d disabler, l hookList[H], i int, name string, keep func(H) bool) (next int, removed bool) {
	defer func() {
		if v := recover(); v != nil {
			d.disable(l[i].a, name, v)
			next, removed = i+1, true
		}
	}()
	for ; i < len(l); i++ {
		e := &l[i]
		if e.a.removed.Load() {
			continue
		}
		ok := timed(e, keep)
		if !ok {
			e.a.removed.Store(true)
			removed = true
		}
	}
	return len(l), removed
}
