package shard

import (
	"fmt"
	"net/netip"

	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/storage"
)

// maxBanned bounds a torrent's ban list. It matches the peer list bound: a
// plugin that bans more addresses than we would ever keep candidates for
// evicts an arbitrary old ban rather than growing without limit.
const maxBanned = maxCandidates

// isBanned reports whether a is banned from t. Loop only.
func (t *Torrent) isBanned(a netip.Addr) bool {
	if t.banned == nil {
		return false
	}
	_, ok := t.banned[a.Unmap()]
	return ok
}

// banPeer implements TorrentHandle.BanPeer. Loop only.
func (t *Torrent) banPeer(a netip.Addr) {
	a = a.Unmap()
	if !a.IsValid() || t.isBanned(a) {
		return
	}
	if t.banned == nil {
		t.banned = make(map[netip.Addr]struct{})
	}
	if len(t.banned) >= maxBanned {
		for old := range t.banned {
			delete(t.banned, old)
			break
		}
	}
	t.banned[a] = struct{}{}
	for ap := range t.cands {
		if ap.Addr() == a {
			delete(t.cands, ap)
		}
	}
	al := &plugin.PeerBannedAlert{PeerAlert: plugin.PeerAlert{TorrentAlert: t.alertBase(), Addr: netip.AddrPortFrom(a, 0)}}
	// disconnect may run closedWith at once (a connection still dialling),
	// which edits t.peers: walk a copy.
	var victims []*peer
	for _, p := range t.peers {
		if p.addr.Addr().Unmap() == a && !p.closed && !p.closing {
			victims = append(victims, p)
		}
	}
	if len(victims) > 0 {
		al.PeerAlert = victims[0].alertBase()
	}
	t.s.post(al)
	for _, p := range victims {
		p.disconnect(ReasonBanned, plugin.ErrPeerBanned)
	}
}

// pluginRead is one TorrentHandle.ReadBlock in flight.
type pluginRead struct {
	t  *Torrent
	fn func(b []byte, err error)
}

// readBlock implements TorrentHandle.ReadBlock. Loop only.
func (t *Torrent) readBlock(piece, begin, length int, fn func([]byte, error)) {
	if piece < 0 || piece >= t.info.NumPieces() || begin < 0 || length <= 0 ||
		length > plugin.MaxReadBlock || int64(begin)+int64(length) > t.info.PieceSize(piece) {
		t.s.loop.Post(func(any) { t.callRead(fn, nil, plugin.ErrBlockRange) }, nil)
		return
	}
	j := t.s.disk.NewJob()
	j.Kind = storage.JobRead
	j.Storage = t.st
	j.Piece = piece
	j.Begin = int64(begin)
	j.Length = length
	j.Poster = t.s.loop
	j.User = &pluginRead{t: t, fn: fn}
	j.Done = onPluginRead
	t.s.disk.Submit(j)
}

func onPluginRead(j *storage.Job) {
	r := j.User.(*pluginRead)
	sp, err := j.Span, j.Err
	r.t.s.disk.Free(j)
	if sp != nil {
		defer sp.Release()
	}
	switch {
	case r.t.removed:
		r.t.callRead(r.fn, nil, plugin.ErrHandleClosed)
	case err != nil:
		r.t.callRead(r.fn, nil, err)
	default:
		r.t.callRead(r.fn, sp.Bytes(), nil)
	}
}

// callRead runs a ReadBlock callback, which is plugin code: a panic is
// reported as a PluginDisabledAlert instead of taking the loop down.
func (t *Torrent) callRead(fn func([]byte, error), b []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			t.s.post(&plugin.PluginDisabledAlert{TorrentAlert: t.alertBase(), Plugin: fmt.Sprintf("%T", fn), Hook: "ReadBlock", Panic: v})
		}
	}()
	fn(b, err)
}

func (h *torrentHandle) ReadBlock(piece, begin, length int, fn func(b []byte, err error)) {
	if fn == nil {
		return
	}
	t := h.t
	if h.live() == nil {
		t.s.loop.Post(func(any) { t.callRead(fn, nil, plugin.ErrHandleClosed) }, nil)
		return
	}
	t.readBlock(piece, begin, length, fn)
}

func (h *torrentHandle) BanPeer(a netip.Addr) {
	if t := h.live(); t != nil {
		if a.Unmap().IsValid() && !t.isBanned(a) {
			t.s.count(MetricBansPlugin, 1)
		}
		t.banPeer(a)
	}
}

func (h *torrentHandle) IsBanned(a netip.Addr) bool {
	t := h.live()
	return t != nil && t.isBanned(a)
}
