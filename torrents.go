package shardtorrent

import (
	"bytes"
	"context"
	"slices"
	"sync"

	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/shard"
)

// Torrent handles: one *Torrent per torrent, made when the torrent is
// registered (AddTorrents, or a plugin adopting an unknown torrent at
// accept) and kept in the session's handle table (torrentTable) until it
// is removed. The shard holds the same pointer (shard.AddParams.Owner) and
// puts it in every alert it posts about the torrent; the alert queue fills
// it in, from the info-hash, for alerts posted elsewhere without one
// (alerts.go).
//
// The handle table decides duplicates, under its own lock, so it does not
// depend on how the info-hash registry (shard routing, MSE keys) is kept.
// The two change in this order, which keeps them consistent:
//   - registering: the handle first (torrentTable.add: the duplicate
//     check), then the registry (registerTorrent);
//   - removing: the registry first, then the handle (forgetTorrent).
//
// So while a handle is in the table no other torrent can take its key,
// and a torrent is in the registry only while its handle is in the table.

// torrentTable is the session's handles by wire info-hash. The zero value
// is empty. Safe from any goroutine.
type torrentTable struct {
	mu sync.RWMutex
	m  map[[20]byte]*Torrent
}

// add puts t in the table unless a torrent with its key is there: then it
// returns that one and false.
func (tt *torrentTable) add(t *Torrent) (*Torrent, bool) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if cur := tt.m[t.key]; cur != nil {
		return cur, false
	}
	if tt.m == nil {
		tt.m = make(map[[20]byte]*Torrent)
	}
	tt.m[t.key] = t
	return t, true
}

// remove takes t out of the table, if it is there, and closes t.gone.
func (tt *torrentTable) remove(t *Torrent) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if tt.m[t.key] == t {
		delete(tt.m, t.key)
		close(t.gone)
	}
}

// get returns the handle with key, or nil.
func (tt *torrentTable) get(key [20]byte) *Torrent {
	tt.mu.RLock()
	defer tt.mu.RUnlock()
	return tt.m[key]
}

// all returns every handle, in no order.
func (tt *torrentTable) all() []*Torrent {
	tt.mu.RLock()
	defer tt.mu.RUnlock()
	out := make([]*Torrent, 0, len(tt.m))
	for _, t := range tt.m {
		out = append(out, t)
	}
	return out
}

// newTorrent makes the handle of the torrent ap describes, owned by sh,
// and points ap's Owner and OnInfo at it.
func (s *Session) newTorrent(sh *shard.Shard, key [20]byte, ap *shard.AddParams) *Torrent {
	t := &Torrent{s: s, sh: sh, ih: ap.InfoHash, key: key, dn: ap.Name, gotInfo: make(chan struct{}), gone: make(chan struct{})}
	if ap.Info != nil {
		t.dn = ap.Info.Name
	}
	ap.Owner, ap.OnInfo = t, t.setInfo
	return t
}

// setInfo records the metadata and wakes GotInfo's waiters. Called once,
// on the owning loop, from the shard's metadata path (shard.AddParams.OnInfo).
func (t *Torrent) setInfo(info *metainfo.Info) {
	if info != nil && t.info.CompareAndSwap(nil, info) {
		close(t.gotInfo)
	}
}

// registerTorrent enters t, already in the handle table, in the registry
// (shard routing and MSE keys).
func (s *Session) registerTorrent(t *Torrent) {
	s.regMu.Lock()
	s.register(t.key, t.sh)
	s.regMu.Unlock()
}

// forgetTorrent takes t out of the registry and then out of the handle
// table, if it is still the torrent with its key (see the order above).
// Safe from any goroutine, the loops included.
func (s *Session) forgetTorrent(t *Torrent) {
	if s.handles.get(t.key) != t {
		return
	}
	s.regMu.Lock()
	s.unregister(t.key)
	s.regMu.Unlock()
	s.handles.remove(t)
}

// handle returns the torrent registered with wire info-hash key, or nil.
func (s *Session) handle(key [20]byte) *Torrent { return s.handles.get(key) }

// Torrent returns the handle of the torrent with info-hash ih, and
// whether the session has it; it is the handle AddTorrent returned. A
// torrent is found by the hash it is known by on the wire (ih.Short(): its
// v1 hash, or its v2 hash truncated for a v2-only torrent), or by the
// truncated v2 hash when ih has both. After Close it returns nil, false.
// Safe from any goroutine; it never waits for a loop.
func (s *Session) Torrent(ih metainfo.InfoHash) (*Torrent, bool) {
	if s.closed.Load() {
		return nil, false
	}
	t := s.handles.get(ih.Short())
	if t == nil && ih.HasV1() && ih.HasV2() {
		t = s.handles.get([20]byte(ih.V2[:20]))
	}
	return t, t != nil
}

// Torrents returns the handles of every torrent in the session, ordered
// by shard, then by info-hash. It reads the session's handle table, not
// the loops; ctx is kept for symmetry with the other calls. After Close
// it returns ErrClosed. Safe from any goroutine.
func (s *Session) Torrents(ctx context.Context) ([]*Torrent, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := s.handles.all()
	slices.SortFunc(out, func(a, b *Torrent) int {
		if a.sh.ID() != b.sh.ID() {
			return a.sh.ID() - b.sh.ID()
		}
		return bytes.Compare(a.key[:], b.key[:])
	})
	return out, nil
}

// Info returns the torrent's metadata, or nil until it is known (a
// torrent added from a magnet URI gets it from its peers: see GotInfo).
// The result is shared and must not be modified. Safe from any goroutine.
func (t *Torrent) Info() *metainfo.Info { return t.info.Load() }

// GotInfo returns a channel that is closed once the torrent has its
// metadata (at once for a torrent added with it), as anacrolix/torrent's
// GotInfo. It is closed by the loop that receives the metadata
// (ut_metadata), never by polling. Safe from any goroutine.
func (t *Torrent) GotInfo() <-chan struct{} { return t.gotInfo }

// AwaitInfo waits until the torrent has its metadata and returns it. It
// returns ctx's error if ctx ends first, ErrTorrentGone if the torrent is
// removed first, and ErrClosed once the session is closed. Safe from any
// goroutine.
func (t *Torrent) AwaitInfo(ctx context.Context) (*metainfo.Info, error) {
	if t.s.closed.Load() {
		return nil, ErrClosed
	}
	select {
	case <-t.gotInfo:
		return t.info.Load(), nil
	default:
	}
	select {
	case <-t.gotInfo:
		return t.info.Load(), nil
	case <-t.gone:
		return nil, ErrTorrentGone
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.s.stopped:
		return nil, ErrClosed
	}
}

// TorrentOf returns the handle an alert carries (plugin.TorrentAlert's
// Handle), and false if a is not about a torrent or carries no handle of
// this package. Safe from any goroutine.
func TorrentOf(a plugin.Alert) (*Torrent, bool) {
	ta := plugin.TorrentAlertOf(a)
	if ta == nil {
		return nil, false
	}
	t, ok := ta.Handle.(*Torrent)
	return t, ok && t != nil
}

// torrentRef is the alert queue's look-up for alerts posted without a
// handle (a plugin's, say): the registered torrent with wire info-hash
// ih.Short(), or nil. Safe from any goroutine.
func (s *Session) torrentRef(ih metainfo.InfoHash) plugin.TorrentRef {
	if t := s.handle(ih.Short()); t != nil {
		return t
	}
	return nil
}
