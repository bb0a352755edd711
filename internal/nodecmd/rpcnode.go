package nodecmd

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/rpc"
)

// The node's side of the Transmission RPC (package rpc). Torrents added or
// removed over RPC are tracked exactly like the ones from the command line
// or the watch directory (state saving, -exit-when-complete, the status
// line), so their books are kept by the node's main goroutine, which owns
// n.byHash and n.order: the RPC's goroutines hand it a function through
// rpcNode.reqs, served in Run's main select, and wait for it.

// Version is what session-get reports as the daemon's version.
const Version = "shardtorrent 0.1"

// errFleet refuses, over RPC, a torrent that belongs to another node of
// the fleet (-fleet I/N).
var errFleet = errors.New("torrent belongs to another node of the fleet (-fleet)")

// errStopping answers RPC requests that arrive while the node stops.
var errStopping = errors.New("node is stopping")

// rpcNode implements rpc.Backend for a node. Safe from any goroutine.
type rpcNode struct {
	n   *node
	set rpc.Settings
	// reqs carries work for the node's main goroutine (Run's select);
	// done is closed when that goroutine stops serving it.
	reqs chan func()
	done chan struct{}
	// closed is closed by session-close; Run's select then stops the node.
	closed    chan struct{}
	closeOnce sync.Once
	stopOnce  sync.Once
}

// newRPCNode makes the node's Backend; set is what session-get reports.
func newRPCNode(n *node, set rpc.Settings) *rpcNode {
	return &rpcNode{n: n, set: set, reqs: make(chan func()), done: make(chan struct{}), closed: make(chan struct{})}
}

// rpcSettings are the node's settings as session-get reports them.
func rpcSettings(sess *shardtorrent.Session, dataDir, stateDir string, dht, pex bool) rpc.Settings {
	data, err := filepath.Abs(dataDir)
	if err != nil {
		data = dataDir
	}
	return rpc.Settings{Version: Version, ConfigDir: stateDir, DownloadDir: data,
		PeerPort: int(sess.ListenAddr().Port()), DHT: dht, PEX: pex}
}

// stopServing is called by Run as its main loop ends: requests waiting
// or to come get errStopping.
func (r *rpcNode) stopServing() { r.stopOnce.Do(func() { close(r.done) }) }

// onMain runs fn on the node's main goroutine and waits for it.
func (r *rpcNode) onMain(ctx context.Context, fn func()) error {
	finished := make(chan struct{})
	select {
	case r.reqs <- func() { defer close(finished); fn() }:
	case <-ctx.Done():
		return ctx.Err()
	case <-r.done:
		return errStopping
	}
	<-finished // fn runs on the main goroutine, which does not stop mid-call
	return nil
}

// Session implements rpc.Backend.
func (r *rpcNode) Session() *shardtorrent.Session { return r.n.sess }

// Settings implements rpc.Backend.
func (r *rpcNode) Settings() rpc.Settings { return r.set }

// AddTorrent implements rpc.Backend: the torrent joins the node's books
// (the -peer addresses are dialled for it, as for the others).
func (r *rpcNode) AddTorrent(ctx context.Context, p shardtorrent.AddTorrentParams) (*shardtorrent.Torrent, error) {
	var h *shardtorrent.Torrent
	var err error
	ih := p.InfoHash
	if p.MetaInfo != nil {
		ih = p.MetaInfo.InfoHash
	}
	callErr := r.onMain(ctx, func() { h, err = r.n.addFromRPC(ctx, ih, p) })
	if callErr != nil {
		return nil, callErr
	}
	return h, err
}

// addFromRPC adds p for the RPC. Main goroutine only.
func (n *node) addFromRPC(ctx context.Context, ih metainfo.InfoHash, p shardtorrent.AddTorrentParams) (*shardtorrent.Torrent, error) {
	if _, dup := n.byHash[ih]; dup {
		return nil, shardtorrent.ErrDuplicateTorrent
	}
	if !n.fleet.Has(ih) {
		return nil, errFleet
	}
	p.Peers = append(p.Peers, n.peers...)
	p.SeedMode = p.SeedMode || n.seedMode
	h, err := n.sess.AddTorrent(ctx, p)
	if err != nil {
		return nil, err
	}
	n.byHash[ih] = n.track(h)
	n.order = append(n.order, ih)
	fmt.Fprintf(n.out, "added %s (%s) on shard %d over RPC\n", h.Name(), ih, h.Shard())
	return h, nil
}

// RemoveTorrent implements rpc.Backend: the torrent leaves the node's
// books (and its resume data the state directory).
func (r *rpcNode) RemoveTorrent(ctx context.Context, h *shardtorrent.Torrent, deleteData bool) error {
	var err error
	callErr := r.onMain(ctx, func() { err = r.n.removeFromRPC(ctx, h, deleteData) })
	if callErr != nil {
		return callErr
	}
	return err
}

// removeFromRPC removes h for the RPC. Main goroutine only.
func (n *node) removeFromRPC(ctx context.Context, h *shardtorrent.Torrent, deleteData bool) error {
	var opts []shardtorrent.RemoveOption
	if deleteData {
		opts = append(opts, shardtorrent.RemoveDeleteFiles)
	}
	if err := h.Remove(ctx, opts...); err != nil {
		return err
	}
	ih := h.InfoHash()
	delete(n.byHash, ih)
	if i := slices.Index(n.order, ih); i >= 0 {
		n.order = slices.Delete(n.order, i, i+1)
	}
	how := "removed"
	if deleteData {
		how = "removed with its data"
	}
	fmt.Fprintf(n.out, "%s %s (%s) over RPC\n", how, h.Name(), ih)
	return nil
}

// Close implements rpc.Backend (session-close): Run's select sees closed
// and stops the node as on SIGTERM, but with exit code 0.
func (r *rpcNode) Close() { r.closeOnce.Do(func() { close(r.closed) }) }
