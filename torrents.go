package shardtorrent

import (
	"bytes"
	"context"
	"slices"

	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/shard"
)

// Torrent handles: one *Torrent per torrent, made when the torrent is
// registered (AddTorrents, or a plugin adopting an unknown torrent at
// accept) and kept in Session.handles until it is removed. The shard holds
// the same pointer (shard.AddParams.Owner) and puts it in every alert it
// posts about the torrent; the alert queue fills it in, from the
// info-hash, for alerts posted elsewhere without one (alerts.go).
//
// Invariant: handles and registry hold the same keys; both change only
// under regMu (registerTorrent, unregisterTorrent).

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

// registerTorrent records t as the torrent with its key, in the registry
// (shard routing) and the handle table. Caller holds regMu for writing.
func (s *Session) registerTorrent(t *Torrent) {
	s.register(t.key, t.sh)
	if s.handles == nil {
		s.handles = make(map[[20]byte]*Torrent)
	}
	s.handles[t.key] = t
}

// unregisterTorrent forgets t, if it is still the torrent with its key.
// Caller holds regMu for writing.
func (s *Session) unregisterTorrent(t *Torrent) {
	if s.handles[t.key] != t {
		return
	}
	s.unregister(t.key)
	delete(s.handles, t.key)
	close(t.gone)
}

// forget is unregisterTorrent under regMu.
func (s *Session) forget(t *Torrent) {
	s.regMu.Lock()
	s.unregisterTorrent(t)
	s.regMu.Unlock()
}

// handle returns the torrent registered with wire info-hash key, or nil.
func (s *Session) handle(key [20]byte) *Torrent {
	s.regMu.RLock()
	defer s.regMu.RUnlock()
	return s.handles[key]
}

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
	s.regMu.RLock()
	defer s.regMu.RUnlock()
	t := s.handles[ih.Short()]
	if t == nil && ih.HasV1() && ih.HasV2() {
		t = s.handles[[20]byte(ih.V2[:20])]
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
	s.regMu.RLock()
	out := make([]*Torrent, 0, len(s.handles))
	for _, t := range s.handles {
		out = append(out, t)
	}
	s.regMu.RUnlock()
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
