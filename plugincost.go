package shardtorrent

import (
	"context"
	"time"

	"github.com/shardtorrent/shardtorrent/shard"
)

// The shard package samples hook calls at the same rate (shard/plugincost.go);
// this fails to compile if the two constants differ.
const _ = uint(shard.PluginCostSampleEvery-PluginCostSampleEvery) + uint(PluginCostSampleEvery-shard.PluginCostSampleEvery)

// pluginCosts returns what every plugin's hooks cost so far (stats.go's
// PluginCost), summed over the shards, by plugin type and hook, sorted by
// plugin then hook: one round trip per shard. Stats gathers the same
// tables in its own round trip (pluginCostsOf). Safe from any goroutine.
func (s *Session) pluginCosts(ctx context.Context) ([]PluginCost, error) {
	var all []shard.HookCost
	for _, sh := range s.shards {
		if err := s.onLoop(ctx, sh, func() { all = sh.PluginCosts(all) }); err != nil {
			return nil, err
		}
	}
	return s.pluginCostsOf(all), nil
}

// pluginCostsOf adds the session plugins' shared table (read with atomic
// loads) to the torrent and peer plugins' tables read on the loops, sums
// them by plugin and hook and scales each sum's time by calls/timed.
func (s *Session) pluginCostsOf(all []shard.HookCost) []PluginCost {
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
