package shardtorrent

import (
	"context"
	"testing"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/shard"
)

// newEncSession is newTestSession with engine settings (the encryption
// policies, timeouts).
func newEncSession(t *testing.T, pool *bufpool.Pool, shards int, eng shard.Settings) *Session {
	t.Helper()
	s, err := NewSession(context.Background(), Settings{
		ListenAddr: "127.0.0.1:0",
		Shards:     shards,
		Pool:       pool,
		AlertMask:  plugin.CategoryAll,
		Engine:     eng,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
