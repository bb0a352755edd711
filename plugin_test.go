package shardtorrent

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bitfield"
	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// event is one recorded hook call.
type event struct {
	who    string // "session", "torrent" or "peer@<remote>"
	hook   string
	args   string
	inLoop bool // ran on the loop owning the torrent (torrent and peer hooks)
}

// recorder records hook calls from every loop.
type recorder struct {
	mu  sync.Mutex
	evs []event
}

func (r *recorder) add(who, hook string, inLoop bool, args ...any) {
	r.mu.Lock()
	r.evs = append(r.evs, event{who, hook, strings.TrimSpace(fmt.Sprintln(args...)), inLoop})
	r.mu.Unlock()
}

func (r *recorder) events() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.evs)
}

// hooks returns the hook names recorded for who (a prefix), in order.
func (r *recorder) hooks(who string) []string {
	var out []string
	for _, e := range r.events() {
		if strings.HasPrefix(e.who, who) {
			out = append(out, e.hook)
		}
	}
	return out
}

func (r *recorder) find(who, hook, args string) bool {
	for _, e := range r.events() {
		if strings.HasPrefix(e.who, who) && e.hook == hook && (args == "" || e.args == args) {
			return true
		}
	}
	return false
}

// recSession is a session plugin recording every hook; its features are
// configurable.
type recSession struct {
	r     *recorder
	feats plugin.Feature
	adopt func(ih [20]byte, p *plugin.AddTorrentParams) bool
}

func (s *recSession) Features() plugin.Feature { return s.feats }
func (s *recSession) NewTorrent(th plugin.TorrentHandle, ud any) plugin.TorrentPlugin {
	s.r.add("session", "NewTorrent", th.InLoop(), ud)
	return &recTorrent{r: s.r, th: th}
}
func (s *recSession) Added(plugin.SessionHandle) { s.r.add("session", "Added", false) }
func (s *recSession) Abort()                     { s.r.add("session", "Abort", false) }
func (s *recSession) OnAlert(a plugin.Alert)     { s.r.add("session", "OnAlert", false, a.Name()) }
func (s *recSession) OnTick()                    { s.r.add("session", "OnTick", false) }
func (s *recSession) UnchokePriority(plugin.PeerConn) uint64 {
	s.r.add("session", "UnchokePriority", false)
	return 1
}
func (s *recSession) SaveState() map[string]string { return map[string]string{"rec.saved": "1"} }
func (s *recSession) LoadState(m map[string]string) {
	s.r.add("session", "LoadState", false, m["rec.k"])
}
func (s *recSession) OnUnknownTorrent(ih [20]byte, pc plugin.PeerConn, p *plugin.AddTorrentParams) bool {
	s.r.add("session", "OnUnknownTorrent", false, pc.RemoteEndpoint().Addr(), pc.InHandshake())
	return s.adopt != nil && s.adopt(ih, p)
}

// recTorrent records every torrent hook and attaches a recPeer to every
// connection.
type recTorrent struct {
	r  *recorder
	th plugin.TorrentHandle
}

func (t *recTorrent) rec(hook string, args ...any) { t.r.add("torrent", hook, t.th.InLoop(), args...) }
func (t *recTorrent) NewConnection(pc plugin.PeerConn) plugin.PeerPlugin {
	t.rec("NewConnection", pc.IsOutgoing())
	return &recPeer{r: t.r, th: t.th, pc: pc, who: "peer@" + pc.RemoteEndpoint().String()}
}
func (t *recTorrent) OnPiecePass(i int)             { t.rec("OnPiecePass", i) }
func (t *recTorrent) OnPieceFailed(i int)           { t.rec("OnPieceFailed", i) }
func (t *recTorrent) Tick()                         { t.rec("Tick") }
func (t *recTorrent) OnResume() bool                { t.rec("OnResume"); return false }
func (t *recTorrent) OnPause() bool                 { t.rec("OnPause"); return false }
func (t *recTorrent) OnFilesChecked()               { t.rec("OnFilesChecked") }
func (t *recTorrent) OnState(s plugin.TorrentState) { t.rec("OnState", s) }
func (t *recTorrent) OnAddPeer(a netip.AddrPort, src plugin.PeerSource, f plugin.AddPeerFlags) {
	t.rec("OnAddPeer", a, src, f)
}

// recPeer records the peer hooks of a transfer.
type recPeer struct {
	r   *recorder
	th  plugin.TorrentHandle
	pc  plugin.PeerConn
	who string
}

func (p *recPeer) rec(hook string, args ...any) { p.r.add(p.who, hook, p.th.InLoop(), args...) }
func (p *recPeer) Type() string                 { return "rec" }
func (p *recPeer) AddHandshake(h *wire.ExtHandshake) {
	p.rec("AddHandshake")
	h.M["rec_test"] = 77
}
func (p *recPeer) OnDisconnect(err error) { p.rec("OnDisconnect") }
func (p *recPeer) OnConnected()           { p.rec("OnConnected") }
func (p *recPeer) OnHandshake(r [8]byte) bool {
	p.rec("OnHandshake", wire.Reserved(r).SupportsExtended())
	return true
}
func (p *recPeer) OnExtensionHandshake(h *wire.ExtHandshake) bool {
	p.rec("OnExtensionHandshake", h.M["rec_test"])
	return true
}
func (p *recPeer) OnBitfield(*bitfield.Bitfield) bool { p.rec("OnBitfield"); return false }
func (p *recPeer) OnHaveAll() bool                    { p.rec("OnHaveAll"); return false }
func (p *recPeer) OnHaveNone() bool                   { p.rec("OnHaveNone"); return false }
func (p *recPeer) OnInterested() bool                 { p.rec("OnInterested"); return false }
func (p *recPeer) OnUnchoke() bool                    { p.rec("OnUnchoke"); return false }
func (p *recPeer) OnRequest(r plugin.Request) bool    { p.rec("OnRequest", r); return false }
func (p *recPeer) OnPiece(r plugin.Request, b plugin.Block) bool {
	if len(b.Data) != r.Length {
		p.rec("OnPiece-bad-length")
	}
	p.rec("OnPiece", r)
	return false
}
func (p *recPeer) SentHaveAll()                 { p.rec("SentHaveAll") }
func (p *recPeer) SentHaveNone()                { p.rec("SentHaveNone") }
func (p *recPeer) SentInterested()              { p.rec("SentInterested") }
func (p *recPeer) SentUnchoke()                 { p.rec("SentUnchoke") }
func (p *recPeer) SentRequest(r plugin.Request) { p.rec("SentRequest", r) }
func (p *recPeer) SentPiece(r plugin.Request)   { p.rec("SentPiece", r) }
func (p *recPeer) SentPayload(n int)            { p.rec("SentPayload", n) }
func (p *recPeer) SentHave(i int)               { p.rec("SentHave", i) }
func (p *recPeer) OnPiecePass(i int)            { p.rec("OnPiecePass", i) }
func (p *recPeer) Tick()                        { p.rec("Tick") }

// gatedSession implements gated hooks without declaring their features:
// they must never be called.
type gatedSession struct{ calls *recorder }

func (gatedSession) Features() plugin.Feature { return 0 }
func (g gatedSession) OnTick()                { g.calls.add("gated", "OnTick", false) }
func (g gatedSession) OnAlert(plugin.Alert)   { g.calls.add("gated", "OnAlert", false) }
func (g gatedSession) UnchokePriority(plugin.PeerConn) uint64 {
	g.calls.add("gated", "UnchokePriority", false)
	return 0
}
func (g gatedSession) OnUnknownTorrent([20]byte, plugin.PeerConn, *plugin.AddTorrentParams) bool {
	g.calls.add("gated", "OnUnknownTorrent", false)
	return false
}

func pluginSession(t *testing.T, shards int, exts ...plugin.Plugin) *Session {
	t.Helper()
	s, err := NewSession(context.Background(), Settings{
		ListenAddr: "127.0.0.1:0", Shards: shards, Pool: bufpool.New(), AlertMask: plugin.CategoryAll,
		Extensions: exts, ExtensionState: map[string]string{"rec.k": "v"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

func pluginTorrent(t *testing.T, size int) (*metainfo.MetaInfo, string) {
	t.Helper()
	src := t.TempDir()
	writeFiles(t, src, map[string]int{"p.bin": size})
	_, mi, err := metainfo.Create(filepath.Join(src, "p.bin"), metainfo.CreateOptions{PieceLength: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	return mi, src
}

func waitFinished(t *testing.T, s *Session) []plugin.Alert {
	t.Helper()
	return waitAlert(t, s, 30*time.Second, func(a plugin.Alert) bool {
		_, ok := a.(*plugin.TorrentFinishedAlert)
		return ok
	})
}

// before reports whether a occurs in hooks before b (both present).
func before(hooks []string, a, b string) bool {
	i, j := slices.Index(hooks, a), slices.Index(hooks, b)
	return i >= 0 && j >= 0 && i < j
}

func TestPluginHooksOverTransfer(t *testing.T) {
	mi, src := pluginTorrent(t, 1<<20+5000)
	seedRec, leechRec, gated := &recorder{}, &recorder{}, &recorder{}
	all := plugin.FeatureTick | plugin.FeatureAlert | plugin.FeatureOptimisticUnchoke
	seeder := pluginSession(t, 2, &recSession{r: seedRec, feats: all}, gatedSession{gated})
	leecher := pluginSession(t, 2, &recSession{r: leechRec, feats: all}, gatedSession{gated})
	ctx := context.Background()
	if _, err := seeder.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src, SeedMode: true, UserData: "seed"}); err != nil {
		t.Fatal(err)
	}
	lh, err := leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: t.TempDir(), Peers: []netip.AddrPort{seeder.ListenAddr()}, UserData: "leech"})
	if err != nil {
		t.Fatal(err)
	}
	waitFinished(t, leecher)
	time.Sleep(1200 * time.Millisecond) // a session tick
	if err := lh.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = leecher.Close(cctx)
	_ = seeder.Close(cctx)

	np := mi.Info.NumPieces()
	for name, r := range map[string]*recorder{"seeder": seedRec, "leecher": leechRec} {
		for _, e := range r.events() {
			if e.who != "session" && !e.inLoop {
				t.Errorf("%s: %s.%s ran off the torrent's loop", name, e.who, e.hook)
			}
		}
		sh := r.hooks("session")
		if !before(sh, "LoadState", "Added") || !before(sh, "Added", "NewTorrent") || !slices.Contains(sh, "OnTick") ||
			!slices.Contains(sh, "Abort") || !r.find("session", "LoadState", "v") {
			t.Errorf("%s: session hooks %q", name, sh)
		}
		if !r.find("session", "OnAlert", "torrent_added") {
			t.Errorf("%s: OnAlert did not see torrent_added", name)
		}
	}
	if ev := gated.events(); len(ev) != 0 {
		t.Errorf("hooks called without their feature flag: %v", ev)
	}
	// Leecher: torrent and peer sequences.
	th := leechRec.hooks("torrent")
	if !before(th, "NewConnection", "OnFilesChecked") && !before(th, "OnFilesChecked", "NewConnection") {
		t.Errorf("leecher torrent hooks %q", th)
	}
	if !leechRec.find("session", "NewTorrent", "leech") || !leechRec.find("torrent", "OnState", "checking_files") ||
		!leechRec.find("torrent", "OnState", "seeding") || !before(th, "OnFilesChecked", "OnPiecePass") ||
		!leechRec.find("torrent", "OnAddPeer", fmt.Sprint(seeder.ListenAddr(), plugin.SourceManual, plugin.AddPeerFirstTime)) ||
		!leechRec.find("torrent", "OnPause", "") {
		t.Errorf("leecher torrent hooks %q", th)
	}
	if n := strings.Count(strings.Join(th, " "), "OnPiecePass"); n != np {
		t.Errorf("leecher torrent OnPiecePass %d times, want %d", n, np)
	}
	lp := leechRec.hooks("peer@" + seeder.ListenAddr().String())
	// Chains of "happens before" (requests may go out before the unchoke:
	// the seeder grants allowed-fast pieces; the ext handshake may arrive
	// after our interested).
	for _, want := range [][]string{
		{"OnConnected", "OnHandshake", "AddHandshake", "OnExtensionHandshake", "OnPiece", "OnPiecePass", "OnDisconnect"},
		{"OnHandshake", "OnHaveAll", "SentInterested", "SentRequest", "OnPiece"},
		{"OnHandshake", "OnUnchoke", "OnPiecePass"},
	} {
		for i := 1; i < len(want); i++ {
			if !before(lp, want[i-1], want[i]) {
				t.Errorf("leecher peer: %s not before %s in %q", want[i-1], want[i], lp)
			}
		}
	}
	if !leechRec.find("peer@", "OnExtensionHandshake", "77") || !leechRec.find("peer@", "OnHandshake", "true") {
		t.Errorf("leecher peer did not see the seeder's handshake keys")
	}
	// Peer OnPiecePass before the torrent's, for every piece.
	var order []string
	for _, e := range leechRec.events() {
		if e.hook == "OnPiecePass" {
			order = append(order, e.who[:4]+e.args)
		}
	}
	for i := range np {
		if !before(order, fmt.Sprintf("peer%d", i), fmt.Sprintf("torr%d", i)) {
			t.Fatalf("piece %d: peer OnPiecePass not before torrent OnPiecePass: %q", i, order)
		}
	}
	// Seeder: an incoming connection never gets OnConnected.
	sp := seedRec.hooks("peer@")
	for _, want := range [][]string{
		// The extension handshake goes before the bitfield (as libtorrent).
		{"OnHandshake", "AddHandshake", "SentHaveAll", "OnExtensionHandshake", "OnInterested", "SentUnchoke", "SentPiece", "OnDisconnect"},
		{"OnHandshake", "OnHaveNone", "OnRequest", "SentPiece", "SentPayload", "OnDisconnect"},
	} {
		for i := 1; i < len(want); i++ {
			if !before(sp, want[i-1], want[i]) {
				t.Errorf("seeder peer: %s not before %s in %q", want[i-1], want[i], sp)
			}
		}
	}
	if slices.Contains(sp, "OnConnected") || !seedRec.find("peer@", "SentPayload", "16384") ||
		!seedRec.find("peer@", "OnRequest", "{0 0 16384}") || !seedRec.find("torrent", "OnFilesChecked", "") {
		t.Errorf("seeder peer hooks %q", sp)
	}
	if got := seeder.SaveState(); got["rec.saved"] != "1" {
		t.Errorf("SaveState = %v", got)
	}
}

// panicOnRequest is a peer plugin that panics on every request.
type panicOnRequest struct{}

func (panicOnRequest) Type() string                                    { return "panic" }
func (panicOnRequest) OnRequest(plugin.Request) bool                   { panic("plugin bug") }
func (panicOnRequest) NewConnection(plugin.PeerConn) plugin.PeerPlugin { return panicOnRequest{} }

func TestPluginPanicDuringTransfer(t *testing.T) {
	mi, src := pluginTorrent(t, 1<<20)
	seeder := pluginSession(t, 1)
	leecher := pluginSession(t, 1)
	ctx := context.Background()
	ctor := func(plugin.TorrentHandle, any) plugin.TorrentPlugin { return panicOnRequest{} }
	if _, err := seeder.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src, SeedMode: true,
		Extensions: []func(plugin.TorrentHandle, any) plugin.TorrentPlugin{ctor}}); err != nil {
		t.Fatal(err)
	}
	if _, err := leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: t.TempDir(), Peers: []netip.AddrPort{seeder.ListenAddr()}}); err != nil {
		t.Fatal(err)
	}
	waitFinished(t, leecher)
	var disabled []*plugin.PluginDisabledAlert
	for _, a := range seeder.PopAlerts() {
		if d, ok := plugin.Cast[*plugin.PluginDisabledAlert](a); ok {
			disabled = append(disabled, d)
		}
	}
	if len(disabled) != 1 || disabled[0].Hook != "OnRequest" || disabled[0].Panic != "plugin bug" {
		t.Fatalf("PluginDisabledAlerts %v, want one for OnRequest", disabled)
	}
}

func TestPluginUnknownTorrentAdoption(t *testing.T) {
	mi, src := pluginTorrent(t, 1<<20)
	rec, gated := &recorder{}, &recorder{}
	adopter := &recSession{r: rec, feats: plugin.FeatureUnknownTorrent, adopt: func(ih [20]byte, p *plugin.AddTorrentParams) bool {
		if ih != mi.InfoHash.Short() {
			return false
		}
		p.MetaInfo, p.SavePath, p.SeedMode = mi, src, true
		return true
	}}
	// gated implements OnUnknownTorrent without the flag: never asked.
	seeder := pluginSession(t, 4, gatedSession{gated}, adopter)
	leecher := pluginSession(t, 1)
	ctx := context.Background()
	if _, err := leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: t.TempDir(), Peers: []netip.AddrPort{seeder.ListenAddr()}}); err != nil {
		t.Fatal(err)
	}
	waitFinished(t, leecher)
	if !rec.find("session", "OnUnknownTorrent", "127.0.0.1 true") {
		t.Fatalf("OnUnknownTorrent not called as expected: %v", rec.events())
	}
	if len(gated.events()) != 0 {
		t.Fatalf("a plugin without FeatureUnknownTorrent was asked: %v", gated.events())
	}
	ts, err := seeder.Torrents(ctx)
	if err != nil || len(ts) != 1 || ts[0].InfoHash() != mi.InfoHash {
		t.Fatalf("seeder torrents %v, %v", ts, err)
	}
	if want := seeder.shardFor(mi.InfoHash.Short()).ID(); ts[0].Shard() != want {
		t.Fatalf("adopted torrent on shard %d, want %d", ts[0].Shard(), want)
	}
	// The connection was served by the adopted torrent's peers, on its loop.
	var served bool
	for _, e := range rec.events() {
		if e.who == "torrent" && e.hook == "NewConnection" {
			served = e.inLoop
		}
	}
	if !served {
		t.Fatalf("the adopted torrent never got the connection on its loop: %v", rec.events())
	}
}

func TestPluginRuntimeAddExtension(t *testing.T) {
	mi, src := pluginTorrent(t, 256<<10)
	s := pluginSession(t, 1)
	ctx := context.Background()
	h, err := s.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src, SeedMode: true, UserData: 7})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	var ud any
	if err := h.AddExtension(ctx, func(th plugin.TorrentHandle, u any) plugin.TorrentPlugin {
		ud = u
		return &recTorrent{r: rec, th: th}
	}); err != nil {
		t.Fatal(err)
	}
	if ud != 7 || !rec.find("torrent", "OnFilesChecked", "") {
		t.Fatalf("runtime extension: user data %v, hooks %v", ud, rec.events())
	}
	done := make(chan bool)
	h.Post(func(th plugin.TorrentHandle) { done <- th.InLoop() && th.HavePiece(0) })
	if !<-done {
		t.Fatal("Post did not run on the torrent's loop")
	}
}
