package shardtorrent

import (
	"sync"

	"github.com/shardtorrent/shardtorrent/ext/mse"
	"github.com/shardtorrent/shardtorrent/shard"
)

// infoHashes is the session's info-hash registry: which shard owns each
// torrent, by wire info-hash, so the accepting loop can route an incoming
// handshake without touching any shard's state; and the MSE lookup key of
// each, mse.SKeyHash(info-hash), so an incoming encrypted handshake can
// name its torrent. Both maps change together, under one lock, only
// through add and remove; the queue order (queue.go) follows them inside
// the same lock, so a torrent is queued exactly while it is registered.
// Safe from any goroutine.
type infoHashes struct {
	// q is the session's queue: add and remove keep it in step. Set by
	// NewSession before the first add, never changed after.
	q *queue

	mu sync.RWMutex
	// shards maps a wire info-hash to its shard.
	shards map[[20]byte]*shard.Shard
	// skeys maps mse.SKeyHash(info-hash) to the info-hash.
	// Invariant: skeys[mse.SKeyHash(ih)] == ih for every ih in shards, and
	// nothing else is in skeys.
	skeys map[[20]byte][20]byte
}

func newInfoHashes() *infoHashes {
	return &infoHashes{
		shards: make(map[[20]byte]*shard.Shard),
		skeys:  make(map[[20]byte][20]byte),
	}
}

// add registers ih as owned by sh, at the bottom of the queue, unless it is
// registered already: then it changes nothing and returns the owner (added
// is false). Safe from any goroutine.
func (r *infoHashes) add(ih [20]byte, sh *shard.Shard) (owner *shard.Shard, added bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.shards[ih]; ok {
		return cur, false
	}
	r.shards[ih] = sh
	r.skeys[mse.SKeyHash(ih)] = ih
	r.q.add(ih)
	return sh, true
}

// remove forgets ih and takes it out of the queue, and reports whether it
// was registered; for an info-hash not registered it changes nothing.
// Safe from any goroutine, the loops included.
func (r *infoHashes) remove(ih [20]byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.shards[ih]; !ok {
		return false
	}
	delete(r.shards, ih)
	delete(r.skeys, mse.SKeyHash(ih))
	r.q.remove(ih)
	return true
}

// lookup returns the shard owning ih, or nil. Safe from any goroutine.
func (r *infoHashes) lookup(ih [20]byte) *shard.Shard {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.shards[ih]
}

// lookupSKey maps HASH('req2', info-hash) to the info-hash of a torrent we
// have, for the MSE receiver. Safe from any goroutine.
func (r *infoHashes) lookupSKey(h [20]byte) ([20]byte, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ih, ok := r.skeys[h]
	return ih, ok
}

// lookup returns the shard owning ih, or nil. Safe from any goroutine.
func (s *Session) lookup(ih [20]byte) *shard.Shard { return s.registry.lookup(ih) }
