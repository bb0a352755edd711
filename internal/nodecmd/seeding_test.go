package nodecmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/choker"
	"github.com/shardtorrent/shardtorrent/shard"
)

// TestSeedingFlags: -seed-choker, -seed-ratio, -seed-time and an unlimited
// -unchoke-slots reach the engine settings, from the command line and
// from the config file; the defaults are round robin, 8 slots and no
// limits.
func TestSeedingFlags(t *testing.T) {
	got := sessionSettings(t)
	if e := got.Engine; e.SeedChoker != choker.RoundRobin || e.ShareRatioLimit != 0 || e.SeedTimeLimit != 0 || e.UnchokeSlots != 0 {
		t.Errorf("defaults: choker %v, ratio %v, seed time %v, slots %d", e.SeedChoker, e.ShareRatioLimit, e.SeedTimeLimit, e.UnchokeSlots)
	}
	if got.ActiveDownloads.IsSet() || got.ActiveSeeds.IsSet() || got.ActiveLimit.IsSet() {
		t.Errorf("default queue limits %v %v %v, want unset (the session's defaults)", got.ActiveDownloads, got.ActiveSeeds, got.ActiveLimit)
	}
	got = sessionSettings(t, "-active-downloads", "0", "-active-seeds", "200", "-active-limit", "unlimited")
	if got.ActiveDownloads != shardtorrent.LimitTo(0) || got.ActiveSeeds != shardtorrent.LimitTo(200) || !got.ActiveLimit.IsUnlimited() {
		t.Errorf("queue flags: %v %v %v", got.ActiveDownloads, got.ActiveSeeds, got.ActiveLimit)
	}
	got = sessionSettings(t, "-seed-choker", "anti-leech", "-seed-ratio", "2.5", "-seed-time", "90m", "-unchoke-slots", "-1")
	if e := got.Engine; e.SeedChoker != choker.AntiLeech || e.ShareRatioLimit != 2.5 || e.SeedTimeLimit != 90*time.Minute || e.UnchokeSlots != -1 {
		t.Errorf("flags: choker %v, ratio %v, seed time %v, slots %d", e.SeedChoker, e.ShareRatioLimit, e.SeedTimeLimit, e.UnchokeSlots)
	}
	path := filepath.Join(t.TempDir(), "node.toml")
	conf := "active-seeds = \"5\"\nseed-choker = \"fastest-upload\"\nseed-ratio = 1.5\nseed-time = \"2h\"\nunchoke-slots = -1\n"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	got = sessionSettings(t, "-config", path)
	if got.ActiveSeeds != shardtorrent.LimitTo(5) {
		t.Errorf("config file: active seeds %v", got.ActiveSeeds)
	}
	if e := got.Engine; e.SeedChoker != choker.FastestUpload || e.ShareRatioLimit != 1.5 || e.SeedTimeLimit != 2*time.Hour || e.UnchokeSlots != -1 {
		t.Errorf("config file: choker %v, ratio %v, seed time %v, slots %d", e.SeedChoker, e.ShareRatioLimit, e.SeedTimeLimit, e.UnchokeSlots)
	}
}

// TestSeedingFlagsRefused: a bad value is exit 2 with one line naming the
// flag, before anything starts.
func TestSeedingFlagsRefused(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-seed-choker", "tit-for-tat"}, "-seed-choker"},
		{[]string{"-seed-ratio", "-1"}, "-seed-ratio"},
		{[]string{"-seed-ratio", "NaN"}, "-seed-ratio"},
		{[]string{"-seed-time", "-1s"}, "-seed-time"},
		{[]string{"-active-seeds", "five"}, "-active-seeds"},
		{[]string{"-active-limit", "-2"}, "-active-limit"},
		{[]string{"-seed-limit-action", "delete"}, "-seed-limit-action"},
		{[]string{"-seed-time-ratio", "-1"}, "-seed-time-ratio"},
		{[]string{"-seed-time-ratio", "Inf"}, "-seed-time-ratio"},
		{[]string{"-seed-idle", "-1m"}, "-seed-idle"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := Run(append([]string{"-listen", "off", "-data", t.TempDir(), "-exit-when-complete"}, c.args...), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), c.want) || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line with %q", c.args, code, errb.String(), c.want)
		}
	}
}

// TestSeedPolicyFlags: -seed-limit-action, -seed-time-ratio and
// -seed-idle reach the engine settings from the command line and the
// config file; the defaults are pause and no limits.
func TestSeedPolicyFlags(t *testing.T) {
	got := sessionSettings(t)
	if e := got.Engine; e.SeedLimitAction != shard.SeedLimitPause || e.SeedTimeRatioLimit != 0 || e.SeedIdleLimit != 0 {
		t.Errorf("defaults: action %v, time ratio %v, idle %v", e.SeedLimitAction, e.SeedTimeRatioLimit, e.SeedIdleLimit)
	}
	got = sessionSettings(t, "-seed-limit-action", "remove-data", "-seed-time-ratio", "7", "-seed-idle", "30m")
	if e := got.Engine; e.SeedLimitAction != shard.SeedLimitRemoveData || e.SeedTimeRatioLimit != 7 || e.SeedIdleLimit != 30*time.Minute {
		t.Errorf("flags: action %v, time ratio %v, idle %v", e.SeedLimitAction, e.SeedTimeRatioLimit, e.SeedIdleLimit)
	}
	path := filepath.Join(t.TempDir(), "node.toml")
	conf := "seed-limit-action = \"remove\"\nseed-time-ratio = 2.5\nseed-idle = \"1h\"\n"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	got = sessionSettings(t, "-config", path)
	if e := got.Engine; e.SeedLimitAction != shard.SeedLimitRemove || e.SeedTimeRatioLimit != 2.5 || e.SeedIdleLimit != time.Hour {
		t.Errorf("config file: action %v, time ratio %v, idle %v", e.SeedLimitAction, e.SeedTimeRatioLimit, e.SeedIdleLimit)
	}
}
