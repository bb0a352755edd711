package rpc

import (
	"context"

	shardtorrent "github.com/shardtorrent/shardtorrent"
)

// SessionBackend is a Backend over a Session alone, for programs that
// embed the engine and keep no books of their own; the node has its own
// (internal/nodecmd) so that RPC torrents join its state saving and
// status. Safe from any goroutine.
type SessionBackend struct {
	S   *shardtorrent.Session
	Set Settings
	// OnClose is called by session-close; nil ignores it.
	OnClose func()
}

// Session implements Backend.
func (b *SessionBackend) Session() *shardtorrent.Session { return b.S }

// AddTorrent implements Backend.
func (b *SessionBackend) AddTorrent(ctx context.Context, p shardtorrent.AddTorrentParams) (*shardtorrent.Torrent, error) {
	return b.S.AddTorrent(ctx, p)
}

// RemoveTorrent implements Backend.
func (b *SessionBackend) RemoveTorrent(ctx context.Context, t *shardtorrent.Torrent, deleteData bool) error {
	if deleteData {
		return t.Remove(ctx, shardtorrent.RemoveDeleteFiles)
	}
	return t.Remove(ctx)
}

// Settings implements Backend.
func (b *SessionBackend) Settings() Settings { return b.Set }

// Close implements Backend.
func (b *SessionBackend) Close() {
	if b.OnClose != nil {
		b.OnClose()
	}
}
