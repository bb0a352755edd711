package shardtorrent

// pluginCosts returns what every plugin's hooks cost so far (stats.go's
// PluginCost), summed over the shards. Safe from any goroutine.
//
// Seam (issue 12): the sampled hook timing lands with the per-plugin cost
// work; until then no hook is timed and the list is empty.
func (s *Session) pluginCosts() []PluginCost { return nil }
