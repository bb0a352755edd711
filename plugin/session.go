package plugin

import (
	"net/netip"

	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/resume"
	"github.com/shardtorrent/shardtorrent/storage"
)

// Feature is the set of optional session-plugin hooks a Plugin implements.
// The session reads it once, when the plugin is registered, and builds one
// dispatch list per feature: a plugin that does not declare a feature is
// never called for its hook, even if it has the method (libtorrent 2.0.8's
// code behaves the same way, whatever its documentation says).
type Feature uint32

// Session-plugin features, numbered as libtorrent's feature_flags_t.
const (
	// FeatureOptimisticUnchoke gates UnchokePriorityHook.
	FeatureOptimisticUnchoke Feature = 1 << (iota + 1)
	// FeatureTick gates SessionTickHook.
	FeatureTick
	// FeatureDHTRequest gates DHTRequestHook.
	FeatureDHTRequest
	// FeatureAlert gates AlertHook.
	FeatureAlert
	// FeatureUnknownTorrent gates UnknownTorrentHook. It is the flag later
	// libtorrent releases added (after 2.0.8, arvidn/libtorrent#7537):
	// without it OnUnknownTorrent is never called.
	FeatureUnknownTorrent
)

// Plugin is a session plugin (libtorrent's plugin). It implements Features
// and any of the optional hook interfaces below; the session type-asserts
// once, at registration.
//
// Threading: unlike libtorrent, which has one network thread, a session has
// one loop per shard. A session plugin's hooks run on several loops and may
// run concurrently; each hook's documentation says on which. A session
// plugin synchronises its own state.
type Plugin interface {
	// Features returns the gated hooks this plugin implements. Called once.
	Features() Feature
}

// TorrentCreator is implemented by session plugins that attach a torrent
// plugin to every torrent (libtorrent's new_torrent). Called on the loop
// that owns the new torrent, after the torrent's own AddTorrentParams
// extensions were attached and before its TorrentAddedAlert. userData is
// AddTorrentParams.UserData. A nil result attaches nothing.
type TorrentCreator interface {
	NewTorrent(t TorrentHandle, userData any) TorrentPlugin
}

// AddedHook is called once the plugin is registered with a session (after
// LoadState for plugins passed at construction). Called on the goroutine
// that registered the plugin (NewSession's or AddExtension's caller).
type AddedHook interface {
	Added(s SessionHandle)
}

// AbortHook is called when the session is closing, before any torrent is
// shut down. Called on the goroutine that called Session.Close.
type AbortHook interface {
	Abort()
}

// DHTRequest is one incoming DHT query, as handed to DHTRequestHook.
type DHTRequest struct {
	// Query is the query name ("q"), e.g. "ping" or a custom one.
	Query string
	// Source is the sender's address.
	Source netip.AddrPort
	// Message is the whole bencoded query; valid during the call only
	// (it is the DHT's read buffer): copy what you keep.
	Message []byte
	// Response is the "r" dictionary of the reply, pre-filled with our
	// "id" and the querier's port as "p" (as libtorrent's); a plugin that
	// handles the query adds its keys here. Values must bencode (string,
	// []byte, integers, lists, maps with string keys); one that does not
	// turns the reply into a 202 error and a DHTErrorAlert.
	Response map[string]any
}

// DHTRequestHook sees every incoming DHT query before the built-in
// handling; true answers it with Response and ends the chain (gated by
// FeatureDHTRequest): the reply goes back with the query's transaction id
// and the built-in handler does not run, as in libtorrent. The session's
// DHT (package dht) calls it for every query that passed the per-source
// rate limit and carries a 20-byte "id", through the session's
// Extensions.DispatchDHTRequest, on the DHT's socket-reading goroutine
// (one per session, not a shard loop): queries come one at a time, in
// arrival order, and a hook that blocks stalls the DHT. A hook that panics
// is disabled with a PluginDisabledAlert and the built-in handler answers.
type DHTRequestHook interface {
	OnDHTRequest(r *DHTRequest) bool
}

// DispatchDHTRequest offers r to hooks in order and reports whether one
// handled it (the first true wins). A panicking hook counts as not handling
// the request; its recovered value is passed to onPanic (which may be nil)
// with the hook, and the next hook is asked. For code that keeps its own
// hook list; the session uses shard.Extensions.DispatchDHTRequest. Call it
// on one goroutine at a time per request.
func DispatchDHTRequest(hooks []DHTRequestHook, r *DHTRequest, onPanic func(h DHTRequestHook, v any)) bool {
	for i := 0; i < len(hooks); {
		handled, next := dhtFrom(hooks, i, r, onPanic)
		if next < 0 {
			return handled
		}
		i = next
	}
	return false
}

func dhtFrom(hooks []DHTRequestHook, i int, r *DHTRequest, onPanic func(DHTRequestHook, any)) (handled bool, next int) {
	defer func() {
		if v := recover(); v != nil {
			if onPanic != nil {
				onPanic(hooks[i], v)
			}
			handled, next = false, i+1
		}
	}()
	for ; i < len(hooks); i++ {
		if hooks[i].OnDHTRequest(r) {
			return true, -1
		}
	}
	return false, -1
}

// AlertHook sees every alert the session queues (gated by FeatureAlert):
// synchronously, on whichever goroutine posted it (usually a shard's loop),
// after it was queued; filtered and dropped alerts are not shown. It may
// post alerts itself; they are shown to every AlertHook in turn.
type AlertHook interface {
	OnAlert(a Alert)
}

// UnknownTorrentHook is asked about an incoming plaintext handshake for an
// info-hash the session does not have (gated by FeatureUnknownTorrent).
// Returning true with p filled in adds that torrent and hands the
// connection to it; the first true ends the chain. Called on the loop that
// accepted the connection; pc answers its endpoints only.
type UnknownTorrentHook interface {
	OnUnknownTorrent(ih [20]byte, pc PeerConn, p *AddTorrentParams) bool
}

// SessionTickHook is called once a second (gated by FeatureTick), on shard
// 0's loop, before that loop's torrents tick.
type SessionTickHook interface {
	OnTick()
}

// UnchokePriorityHook is a tie-breaker inside the optimistic unchoke (gated
// by FeatureOptimisticUnchoke): among peers optimistically unchoked equally
// long ago, the lowest priority over all plugins wins. math.MaxUint64 means
// no opinion; values above 2^63-1 are reserved. Called on the loop owning
// the peer's torrent.
type UnchokePriorityHook interface {
	UnchokePriority(pc PeerConn) uint64
}

// StateSaver contributes to Session.SaveState: every plugin's map is merged
// into one (later plugins overwrite equal keys; namespace your keys).
// Called on Session.SaveState's goroutine.
type StateSaver interface {
	SaveState() map[string]string
}

// StateLoader receives Settings.ExtensionState before Added, only for the
// plugins passed in Settings.Extensions (not for AddExtension).
type StateLoader interface {
	LoadState(m map[string]string)
}

// AddTorrentParams describe a torrent to add: what the session's
// AddTorrent takes (shardtorrent.AddTorrentParams is this type) and what a
// session plugin's UnknownTorrentHook fills in to adopt a torrent.
type AddTorrentParams struct {
	// One of TorrentFile (a path), MetaInfo, or Info with InfoHash; or
	// InfoHash alone, for a torrent that fetches its metadata from its
	// peers (a magnet link: see shardtorrent.ParseMagnet). Such a
	// torrent is in state StateDownloadingMetadata until the ut_metadata
	// extension gets it.
	// A torrent added from Info alone has no raw info dictionary, so it
	// cannot serve its metadata to magnet peers; prefer MetaInfo.
	TorrentFile string
	MetaInfo    *metainfo.MetaInfo
	Info        *metainfo.Info
	InfoHash    metainfo.InfoHash
	// Name is the display name of a torrent added without metadata (a
	// magnet's dn); untrusted, never a path. Ignored once metadata is
	// known.
	Name string
	// SavePath is the directory the torrent's files live in: a torrent named
	// X is at SavePath/X.
	SavePath string
	// SeedMode skips the check at add: every piece counts as present but
	// unverified, and is hashed the first time a peer asks for it, before
	// any byte of it is sent; a piece that fails is dropped and the torrent
	// downloads it again (libtorrent's seed_mode).
	SeedMode bool
	// Paused adds the torrent without connecting to peers; it is then not
	// auto-managed (the session's queue leaves it paused).
	Paused bool
	// NotAutoManaged keeps the torrent out of the queue's control (the
	// default is auto-managed, as libtorrent's add_torrent_params flags).
	NotAutoManaged bool
	// Peers are dialled as soon as the torrent can use them.
	Peers []netip.AddrPort
	// Trackers are the torrent's tracker tiers (BEP 12): the URLs of
	// one tier are tried in turn, the next tier only when a whole tier
	// failed. Nil takes the metadata's announce-list (or announce); a
	// magnet's "tr" trackers are here, one tier each (ParseMagnet).
	Trackers [][]string
	// UserData is kept with the torrent and available from its handles.
	UserData any
	// Extensions are torrent-plugin constructors, called with the torrent's
	// plugin handle and UserData on the torrent's loop; a nil result
	// attaches nothing. They come first in the torrent's chain, before the
	// session plugins' NewTorrent results.
	Extensions []func(TorrentHandle, any) TorrentPlugin
	// Resume is the torrent's resume data (shardtorrent.ReadResumeData
	// fills it): the pieces it marks present are trusted without hashing if its
	// files still have the sizes and times it recorded; otherwise a
	// FastresumeRejectedAlert names the file and the torrent is checked
	// in full. Its "info", if any, gives a torrent added by info-hash its
	// metadata.
	Resume *resume.Data
	// Storage opens where the torrent's pieces live, once its metadata is
	// known: any storage.Storage (storage.MemoryOpener keeps them in
	// memory, within a byte budget). It runs on a shard's loop and must
	// not block. Nil is the file storage under SavePath
	// (storage.OpenFiles, with the session's Engine.DirectWrites).
	Storage storage.Opener
	// FilePriorities are the priorities of the torrent's files, in the
	// order of shardtorrent's Torrent.Files (pad files not counted);
	// PriorityDontDownload skips a file (see Priority). They apply from the start, before the
	// metadata arrives for a magnet, and override the priorities in
	// Resume; files past their end keep Resume's, else PriorityDefault.
	// Nil sets none.
	FilePriorities []Priority
}
