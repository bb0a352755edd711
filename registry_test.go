package shardtorrent

import (
	"fmt"
	"sync"
	"testing"

	"github.com/shardtorrent/shardtorrent/ext/mse"
	"github.com/shardtorrent/shardtorrent/shard"
)

// check verifies the registry's invariant: skeys is exactly the SKeyHash
// index of shards, and the queue holds exactly the registered info-hashes.
func (r *infoHashes) check() error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.skeys) != len(r.shards) {
		return fmt.Errorf("%d lookup keys for %d torrents", len(r.skeys), len(r.shards))
	}
	for ih := range r.shards {
		if got, ok := r.skeys[mse.SKeyHash(ih)]; !ok || got != ih {
			return fmt.Errorf("torrent %x: lookup key maps to %x (%v)", ih[:4], got[:4], ok)
		}
		if r.q.position(ih) < 0 {
			return fmt.Errorf("torrent %x registered but not queued", ih[:4])
		}
	}
	r.q.mu.Lock()
	defer r.q.mu.Unlock()
	if len(r.q.pos) != len(r.shards) {
		return fmt.Errorf("%d torrents queued, %d registered", len(r.q.pos), len(r.shards))
	}
	return nil
}

func testRegistry() *infoHashes {
	r := newInfoHashes()
	r.q = newQueue(2)
	return r
}

// TestInfoHashes: add, a duplicate add, lookups by info-hash and by MSE
// lookup key, and remove keep the shard map, the lookup-key map and the
// queue in step.
func TestInfoHashes(t *testing.T) {
	r := testRegistry()
	sh1, sh2 := new(shard.Shard), new(shard.Shard)
	a, b := [20]byte{1}, [20]byte{2}
	steps := []struct {
		name string
		do   func() error
	}{
		{"add a", func() error {
			if got, added := r.add(a, sh1); !added || got != sh1 {
				return fmt.Errorf("add = %p, %v", got, added)
			}
			return nil
		}},
		{"duplicate add returns the owner", func() error {
			if got, added := r.add(a, sh2); added || got != sh1 {
				return fmt.Errorf("add = %p, %v, want %p, false", got, added, sh1)
			}
			return nil
		}},
		{"add b", func() error {
			if _, added := r.add(b, sh2); !added {
				return fmt.Errorf("b not added")
			}
			return nil
		}},
		{"lookups", func() error {
			if r.lookup(a) != sh1 || r.lookup(b) != sh2 || r.lookup([20]byte{3}) != nil {
				return fmt.Errorf("lookup by info-hash")
			}
			if ih, ok := r.lookupSKey(mse.SKeyHash(b)); !ok || ih != b {
				return fmt.Errorf("lookupSKey(b) = %x, %v", ih[:4], ok)
			}
			if _, ok := r.lookupSKey(b); ok {
				return fmt.Errorf("an info-hash found as its own lookup key")
			}
			if r.q.position(a) != 0 || r.q.position(b) != 1 {
				return fmt.Errorf("queue positions %d, %d", r.q.position(a), r.q.position(b))
			}
			return nil
		}},
		{"remove a", func() error {
			if !r.remove(a) {
				return fmt.Errorf("remove(a) = false")
			}
			if r.lookup(a) != nil {
				return fmt.Errorf("a still routed")
			}
			if _, ok := r.lookupSKey(mse.SKeyHash(a)); ok {
				return fmt.Errorf("a's lookup key survives")
			}
			if r.q.position(a) >= 0 || r.q.position(b) != 0 {
				return fmt.Errorf("queue positions %d, %d", r.q.position(a), r.q.position(b))
			}
			return nil
		}},
		{"remove unknown", func() error {
			if r.remove([20]byte{9}) || r.remove(a) {
				return fmt.Errorf("removed what is not registered")
			}
			return nil
		}},
		{"re-add a", func() error {
			if got, added := r.add(a, sh2); !added || got != sh2 {
				return fmt.Errorf("add = %p, %v", got, added)
			}
			return nil
		}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if err := r.check(); err != nil {
			t.Fatalf("after %s: %v", st.name, err)
		}
	}
}

// TestInfoHashesConcurrent: adds, duplicate adds, removes and lookups from
// many goroutines leave the maps and the queue agreeing (run with -race),
// and exactly one of several racing adds of one info-hash wins.
func TestInfoHashesConcurrent(t *testing.T) {
	r := testRegistry()
	sh := new(shard.Shard)
	const workers, keys = 8, 64
	var wins [keys]int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for k := range keys {
				ih := [20]byte{byte(k)}
				if _, added := r.add(ih, sh); added {
					mu.Lock()
					wins[k]++
					mu.Unlock()
				}
				r.lookupSKey(mse.SKeyHash(ih))
				if w%2 == 1 && k%3 == 0 {
					r.remove([20]byte{byte(k + 1)})
				}
			}
		})
	}
	wg.Wait()
	if err := r.check(); err != nil {
		t.Fatal(err)
	}
	for k, n := range wins {
		if k%3 != 1 && n != 1 { // k%3 == 1 may be removed and re-added
			t.Errorf("key %d added %d times by racing adds, want 1", k, n)
		}
	}
}
