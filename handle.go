package shardtorrent

import (
	"context"
	"net/netip"
	"sync/atomic"

	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/shard"
)

// Torrent is a handle to a torrent in a session. There is one handle per
// torrent, kept by the session: AddTorrent, Session.Torrent, Torrents and
// the alerts (plugin.TorrentAlert.Handle, TorrentOf) all give the same
// pointer, so handles compare equal with ==. Its methods are safe from any
// goroutine: those that take a ctx post to the loop that owns the torrent
// and wait for the answer (or for ctx). A handle to a removed torrent
// returns ErrTorrentGone; after the session's Close, ErrClosed.
type Torrent struct {
	s   *Session
	sh  *shard.Shard
	ih  metainfo.InfoHash
	key [20]byte
	dn  string // display name until the metadata is known (a magnet's dn)

	// info is the metadata, set once by the owning loop (gotInfo) and
	// read from any goroutine; gotInfo is closed when it is set.
	info    atomic.Pointer[metainfo.Info]
	gotInfo chan struct{}
	// gone is closed when the torrent leaves the session (forgetTorrent).
	gone chan struct{}
}

// Status is a snapshot of a torrent's state (fields in shard.Status): its
// State (plugin.TorrentState), Paused, Err and ErrorFile, Progress and the
// byte totals (TotalDone of TotalSize, TotalWantedDone of TotalWanted once
// files are skipped), rates, and peer counts. Torrent.Status and
// Session.TorrentStatuses return it; it is a copy the caller owns.
type Status = shard.Status

// PeerInfo describes one peer connection (plugin.PeerInfo: the same
// value a plugin's peer handle reports). Torrent.Peers returns them.
type PeerInfo = shard.PeerInfo

// InfoHash returns the torrent's info-hash. Safe from any goroutine.
func (t *Torrent) InfoHash() metainfo.InfoHash { return t.ih }

// Name returns the torrent's name: its metadata's once known, before that
// the name it was added with (a magnet's dn, untrusted). Safe from any
// goroutine.
func (t *Torrent) Name() string {
	if info := t.info.Load(); info != nil {
		return info.Name
	}
	return t.dn
}

// Shard returns the index of the shard (event loop) that owns the torrent.
// Safe from any goroutine.
func (t *Torrent) Shard() int { return t.sh.ID() }

func (t *Torrent) do(ctx context.Context, fn func(*shard.Torrent)) error {
	gone := false
	err := t.s.onLoop(ctx, t.sh, func() {
		st := t.sh.Torrent(t.key)
		if st == nil {
			gone = true
			return
		}
		fn(st)
	})
	if err != nil {
		return err
	}
	if gone {
		return ErrTorrentGone
	}
	return nil
}

// Status returns the torrent's current state, progress, rates and peer
// counts. Safe from any goroutine.
func (t *Torrent) Status(ctx context.Context) (Status, error) {
	var st Status
	err := t.do(ctx, func(x *shard.Torrent) { st = x.Status() })
	return st, err
}

// Peers lists the torrent's connected peers. Safe from any goroutine.
func (t *Torrent) Peers(ctx context.Context) ([]PeerInfo, error) {
	var ps []PeerInfo
	err := t.do(ctx, func(x *shard.Torrent) { ps = x.Peers() })
	return ps, err
}

// Pause disconnects the torrent's peers and stops it connecting; it also
// takes the torrent out of the queue's control (SetAutoManaged), so the
// queue does not start it again. Safe from any goroutine.
func (t *Torrent) Pause(ctx context.Context) error {
	defer t.s.q.nudge() // it left the queue: another may start (queue.go)
	return t.do(ctx, func(x *shard.Torrent) { x.Pause() })
}

// Resume undoes Pause: the torrent runs again, outside the queue's
// control, and a torrent stopped by an error (Status.Err) has the error
// cleared (and its files checked again if the error needs it). Safe from
// any goroutine.
func (t *Torrent) Resume(ctx context.Context) error {
	defer t.s.q.nudge()
	return t.do(ctx, func(x *shard.Torrent) { x.Resume() })
}

// ConnectPeer adds addr to the torrent's peer list and dials it at once if
// the torrent can (running, with room for a connection), else when the
// peer list's rules let it; an address the IP filter blocks is dropped. It
// returns once the address is added, not when the connection is made. Safe
// from any goroutine.
func (t *Torrent) ConnectPeer(ctx context.Context, addr netip.AddrPort) error {
	return t.do(ctx, func(x *shard.Torrent) { x.AddPeer(addr) })
}

// Remove takes the torrent out of the session (and its resume data out of
// Settings.ResumeDir). Its files stay on disk unless opts has
// RemoveDeleteFiles. Safe from any goroutine.
func (t *Torrent) Remove(ctx context.Context, opts ...RemoveOption) error {
	var o RemoveOption
	for _, x := range opts {
		o |= x
	}
	err := t.do(ctx, func(x *shard.Torrent) {
		if o&RemoveDeleteFiles != 0 {
			x.RemoveWithFiles()
		} else {
			x.Remove()
		}
	})
	if err == nil {
		t.s.forgetTorrent(t)
	}
	return err
}

// AddExtension attaches a torrent plugin at run time: ctor is called on the
// torrent's loop with the plugin handle and the torrent's UserData (a nil
// result attaches nothing). It gets OnFilesChecked at once if the torrent
// is checked, and NewConnection for every existing connection. Safe from
// any goroutine.
func (t *Torrent) AddExtension(ctx context.Context, ctor func(plugin.TorrentHandle, any) plugin.TorrentPlugin) error {
	return t.do(ctx, func(x *shard.Torrent) { x.AddExtension(ctor, x.UserData()) })
}

// Post runs fn on the torrent's loop with its plugin handle, without
// waiting: the way for another goroutine to reach the torrent's plugins.
// fn is not run if the torrent is gone or the session closed. Safe from
// any goroutine; fn runs on the loop and must not block.
func (t *Torrent) Post(fn func(plugin.TorrentHandle)) {
	t.sh.Loop().Post(func(any) {
		if x := t.sh.Torrent(t.key); x != nil {
			fn(x.Handle())
		}
	}, nil)
}
