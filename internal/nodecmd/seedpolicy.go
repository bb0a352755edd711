package nodecmd

import (
	"flag"
	"fmt"
	"math"
	"time"

	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/settings"
)

// seedPolicyFlags are the node's seeding-policy flags beyond -seed-ratio
// and -seed-time: what a limit does, the seed-time ratio and the idle
// limit.
type seedPolicyFlags struct {
	action    *string
	timeRatio *float64
	idle      *time.Duration
}

func addSeedPolicyFlags(fs *flag.FlagSet) *seedPolicyFlags {
	return &seedPolicyFlags{
		action:    fs.String("seed-limit-action", "pause", "what reaching -seed-ratio, -seed-time, -seed-time-ratio or -seed-idle does to a torrent: pause, remove (its data stays) or remove-data (its files are deleted too)"),
		timeRatio: fs.Float64("seed-time-ratio", 0, "stop a seed once it has seeded this many times as long as it downloaded, in this run (libtorrent's seed_time_ratio_limit; a torrent that never downloaded is not stopped by it; 0 = no limit)"),
		idle:      fs.Duration("seed-idle", 0, "stop a seed that uploaded nothing for this long (Transmission's idle-seeding-limit; 0 = no limit)"),
	}
}

// parseSeedLimitAction reads -seed-limit-action.
func parseSeedLimitAction(s string) (plugin.SeedLimitAction, error) {
	for _, a := range []plugin.SeedLimitAction{plugin.SeedLimitPause, plugin.SeedLimitRemove, plugin.SeedLimitRemoveData} {
		if a.String() == s {
			return a, nil
		}
	}
	return 0, fmt.Errorf("-seed-limit-action %q: want pause, remove or remove-data", s)
}

// parse checks the flags and returns their policy; the error names the
// flag, for one line on stderr.
func (f *seedPolicyFlags) parse() (settings.SeedPolicy, error) {
	a, err := parseSeedLimitAction(*f.action)
	if err != nil {
		return settings.SeedPolicy{}, err
	}
	if r := *f.timeRatio; r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return settings.SeedPolicy{}, fmt.Errorf("-seed-time-ratio %v: want a ratio, 0 or more", r)
	}
	if *f.idle < 0 {
		return settings.SeedPolicy{}, fmt.Errorf("-seed-idle %v: want a duration, 0 or more", *f.idle)
	}
	return settings.SeedPolicy{TimeRatio: *f.timeRatio, Idle: *f.idle, Action: a}, nil
}

// applySeedPolicy puts p into the engine settings.
func applySeedPolicy(e *settings.Engine, p settings.SeedPolicy) {
	e.SeedTimeRatioLimit, e.SeedIdleLimit, e.SeedLimitAction = p.TimeRatio, p.Idle, p.Action
}
