package shardtorrent

import (
	"context"
	"time"

	"github.com/shardtorrent/shardtorrent/shard"
)

// The shard package samples hook calls at the same rate (shard/plugincost.go);
// this fails to compile if the two constants differ.
const _ = uint(shard.PluginCostSampleEvery-PluginCostSampleEvery) + uint(PluginCostSampleEvery-shard.PluginCostSampleEvery)

// pluginCostWait bounds the wait for one loop's cost table: a loop that
// does not answer in time (it is stopping) is left out.
const pluginCostWait = 5 * time.Second

// pluginCosts returns what every plugin's hooks cost so far (stats.go's
// PluginCost), summed over the shards, by plugin type and hook, sorted by
// plugin then hook. The torrent and peer plugins' tables are read on their
// loops, one round trip per shard; the session plugins' table is shared
// and read with atomic loads. Safe from any goroutine.
func (s *Session) pluginCosts() []PluginCost {
	ctx, cancel := context.WithTimeout(context.Background(), pluginCostWait)
	defer cancel()
	var all []shard.HookCost
	for _, sh := range s.shards {
		var part []shard.HookCost
		if err := s.onLoop(ctx, sh, func() { part = sh.PluginCosts(nil) }); err != nil {
			continue // closed or stopping: what it counted is gone with it
		}
		all = append(all, part...)
	}
	all = s.ext.PluginCosts(all)
	sum := shard.SumHookCosts(all)
	if len(sum) == 0 {
		return nil
	}
	out := make([]PluginCost, len(sum))
	for i, c := range sum {
		out[i] = PluginCost{Plugin: c.Plugin, Hook: c.Hook, Calls: c.Calls, Timed: c.Timed, Time: scaleCost(c.Time, c.Calls, c.Timed)}
	}
	return out
}

// scaleCost estimates the time of calls calls from the time of the timed
// ones: sampled * calls / timed (0 when none was timed yet).
func scaleCost(sampled time.Duration, calls, timed uint64) time.Duration {
	if timed == 0 {
		return 0
	}
	return time.Duration(float64(sampled) * float64(calls) / float64(timed))
}
