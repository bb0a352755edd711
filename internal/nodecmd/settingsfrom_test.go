package nodecmd

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/choker"
	"github.com/shardtorrent/shardtorrent/shard"
)

// mapped is what settingsFrom made of some flags, in a form tests compare
// with ==/DeepEqual: the Settings with the three fields that hold fresh
// pointers (Logger, IPFilter, Extensions) cleared and summarised beside.
type mapped struct {
	set      shardtorrent.Settings
	level    slog.Level // the lowest level the logger writes
	blocks   bool       // the IP filter blocks 10.1.2.3
	exts     int        // len(Extensions)
	stdout   string
	toStderr bool // the logger writes to settingsFrom's stderr
}

// mapFlags parses args with the node's flag set (newFlagSet) and maps
// them with settingsFrom, as Run does.
func mapFlags(t *testing.T, args ...string) (mapped, error) {
	t.Helper()
	fs, f := newFlagSet(io.Discard)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	var out, errb bytes.Buffer
	set, err := settingsFrom(f, &out, &errb)
	if err != nil {
		return mapped{}, err
	}
	m := mapped{stdout: out.String(), exts: len(set.Extensions)}
	if set.Logger == nil {
		t.Fatalf("%v: no logger", args)
	}
	m.level = slog.LevelError + 4
	for _, l := range []slog.Level{slog.LevelError, slog.LevelWarn, slog.LevelInfo, slog.LevelDebug} {
		if set.Logger.Enabled(context.Background(), l) {
			m.level = l
		}
	}
	set.Logger.Error("probe")
	m.toStderr = strings.Contains(errb.String(), "probe")
	if set.IPFilter != nil {
		m.blocks = set.IPFilter.IsBlocked(netip.MustParseAddr("10.1.2.3"))
	}
	set.Logger, set.IPFilter, set.Extensions = nil, nil, nil
	m.set = set
	return m, nil
}

// TestSettingsFrom: every flag that is a session setting lands in its
// setting and changes nothing else; every other flag of the node changes
// no setting; every flag of the node is one or the other (a new flag
// fails here until it is listed); a bad value is an error naming its flag.
func TestSettingsFrom(t *testing.T) {
	dir := t.TempDir()
	filter := filepath.Join(dir, "filter.txt")
	if err := os.WriteFile(filter, []byte("10.0.0.0/8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	base, err := mapFlags(t, "-data", data)
	if err != nil {
		t.Fatal(err)
	}
	// The defaults, spelled out: a change of a flag's default shows here.
	if base.level != slog.LevelInfo || !base.toStderr || base.blocks || base.exts != 0 || base.stdout != "" {
		t.Fatalf("defaults: level %v, logs to stderr %v, filter blocks %v, %d extensions, stdout %q",
			base.level, base.toStderr, base.blocks, base.exts, base.stdout)
	}
	wantBase := shardtorrent.Settings{
		ListenAddr: "0.0.0.0:6881",
		AlertMask:  base.set.AlertMask, // not a flag: CategoryDefault
		Engine: shard.Settings{DirectWrites: true, InEncPolicy: shard.EncEnabled, OutEncPolicy: shard.EncEnabled,
			AllowedEncLevel: shard.EncLevelBoth, SeedChoker: choker.RoundRobin},
		SmartBan:           true,
		ResumeDir:          filepath.Join(data, stateDirName),
		ResumeSaveInterval: 5 * time.Minute,
	}
	if !reflect.DeepEqual(base.set, wantBase) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", base.set, wantBase)
	}

	type change func(m *mapped)
	settingFlags := []struct {
		flag string
		args []string
		want change // applied to the defaults
	}{
		{"listen", []string{"-listen", "127.0.0.1:7000"}, func(m *mapped) { m.set.ListenAddr = "127.0.0.1:7000" }},
		{"shards", []string{"-shards", "3"}, func(m *mapped) { m.set.Shards = 3 }},
		{"log", []string{"-log", "debug"}, func(m *mapped) { m.level = slog.LevelDebug }},
		{"max-out-requests", []string{"-max-out-requests", "7"}, func(m *mapped) { m.set.Engine.MaxOutRequests = 7 }},
		{"max-conns", []string{"-max-conns", "12000"}, func(m *mapped) { m.set.Engine.MaxConns = 12000 }},
		{"max-conns-per-torrent", []string{"-max-conns-per-torrent", "2500"}, func(m *mapped) { m.set.Engine.MaxConnsPerTorrent = 2500 }},
		{"mse-workers", []string{"-mse-workers", "2"}, func(m *mapped) { m.set.MSEWorkers = 2 }},
		{"unchoke-slots", []string{"-unchoke-slots", "-1"}, func(m *mapped) { m.set.Engine.UnchokeSlots = -1 }},
		{"seed-choker", []string{"-seed-choker", "fastest-upload"}, func(m *mapped) { m.set.Engine.SeedChoker = choker.FastestUpload }},
		{"seed-ratio", []string{"-seed-ratio", "1.5"}, func(m *mapped) { m.set.Engine.ShareRatioLimit = 1.5 }},
		{"seed-time", []string{"-seed-time", "90m"}, func(m *mapped) { m.set.Engine.SeedTimeLimit = 90 * time.Minute }},
		{"active-downloads", []string{"-active-downloads", "2"}, func(m *mapped) { m.set.ActiveDownloads = shardtorrent.LimitTo(2) }},
		{"active-seeds", []string{"-active-seeds", "0"}, func(m *mapped) { m.set.ActiveSeeds = shardtorrent.LimitTo(0) }},
		{"active-limit", []string{"-active-limit", "5"}, func(m *mapped) { m.set.ActiveLimit = shardtorrent.LimitTo(5) }},
		{"direct-writes", []string{"-direct-writes=false"}, func(m *mapped) { m.set.Engine.DirectWrites = false }},
		{"suggest-read-cache", []string{"-suggest-read-cache"}, func(m *mapped) { m.set.Engine.SuggestReadCache = true }},
		{"builtin-extensions", []string{"-builtin-extensions=false"}, func(m *mapped) {
			m.set.SmartBan = false
			m.set.DisableUTMetadata, m.set.DisablePEX, m.set.DisableDontHave, m.set.DisableUploadOnly = true, true, true, true
		}},
		{"smart-ban", []string{"-smart-ban=false"}, func(m *mapped) { m.set.SmartBan = false }},
		{"noop-plugins", []string{"-noop-plugins", "3"}, func(m *mapped) { m.exts = 3 }},
		{"encryption", []string{"-encryption", "forced"}, func(m *mapped) {
			m.set.Engine.InEncPolicy, m.set.Engine.OutEncPolicy = shard.EncForced, shard.EncForced
		}},
		{"enc-level", []string{"-enc-level", "rc4"}, func(m *mapped) { m.set.Engine.AllowedEncLevel = shard.EncLevelRC4 }},
		{"prefer-rc4", []string{"-prefer-rc4"}, func(m *mapped) { m.set.Engine.PreferRC4 = true }},
		{"tracker", []string{"-tracker", "udp://127.0.0.1:1/announce", "-tracker", "http://127.0.0.1:2/announce"}, func(m *mapped) {
			m.set.Trackers = []string{"udp://127.0.0.1:1/announce", "http://127.0.0.1:2/announce"}
		}},
		{"dht", []string{"-dht=false"}, func(m *mapped) { m.set.DisableDHT = true }},
		{"dht-bootstrap", []string{"-dht-bootstrap", "127.0.0.1:6881"}, func(m *mapped) { m.set.DHTBootstrap = []string{"127.0.0.1:6881"} }},
		{"state", []string{"-state", filepath.Join(dir, "st")}, func(m *mapped) { m.set.ResumeDir = filepath.Join(dir, "st") }},
		{"state", []string{"-state", "off"}, func(m *mapped) { m.set.ResumeDir = "" }},
		{"data", []string{"-data", dir}, func(m *mapped) { m.set.ResumeDir = filepath.Join(dir, stateDirName) }},
		{"fleet", []string{"-fleet", "1/3"}, func(m *mapped) { m.set.ResumeDir = filepath.Join(data, stateDirName, "fleet-1-of-3") }},
		{"resume-interval", []string{"-resume-interval", "1m"}, func(m *mapped) { m.set.ResumeSaveInterval = time.Minute }},
		{"ip-filter", []string{"-ip-filter", filter}, func(m *mapped) {
			m.blocks = true
			m.stdout = "ip filter " + filter + ": 1 ranges loaded from 1 rules\n"
		}},
		{"up-limit", []string{"-up-limit", "5M"}, func(m *mapped) { m.set.UploadRateLimit = shardtorrent.LimitTo(5_000_000) }},
		{"down-limit", []string{"-down-limit", "7k"}, func(m *mapped) { m.set.DownloadRateLimit = shardtorrent.LimitTo(7_000) }},
		{"limit-local", []string{"-limit-local"}, func(m *mapped) { m.set.LimitLocal = true }},
		{"seed-limit-action", []string{"-seed-limit-action", "remove"}, func(m *mapped) { m.set.Engine.SeedLimitAction = shard.SeedLimitRemove }},
		{"seed-time-ratio", []string{"-seed-time-ratio", "2.5"}, func(m *mapped) { m.set.Engine.SeedTimeRatioLimit = 2.5 }},
		{"seed-idle", []string{"-seed-idle", "45m"}, func(m *mapped) { m.set.Engine.SeedIdleLimit = 45 * time.Minute }},
	}
	// The node's own flags: none of them is a session setting.
	nodeFlags := map[string][]string{
		"watch":              {"-watch", dir},
		"exit-when-complete": {"-exit-when-complete"},
		"error-retry":        {"-error-retry", "1s"},
		"status":             {"-status", "0"},
		"seed-mode":          {"-seed-mode"},
		"cpuprofile":         {"-cpuprofile", filepath.Join(dir, "cpu")},
		"memprofile":         {"-memprofile", filepath.Join(dir, "mem")},
		"report":             {"-report", filepath.Join(dir, "report.json")},
		"torrent-list":       {"-torrent-list", filepath.Join(dir, "list")},
		"peer":               {"-peer", "127.0.0.1:6881"},
		"import-resume":      {"-import-resume", dir},
		"rpc":                {"-rpc", "off"},
		"rpc-allow":          {"-rpc-allow", "127.0.0.1/32"},
		"rpc-auth-file":      {"-rpc-auth-file", filepath.Join(dir, "auth")},
		"rpc-roots":          {"-rpc-roots", dir},
		configFlag:           {"-" + configFlag, filepath.Join(dir, "node.toml")},
	}

	covered := make(map[string]bool)
	for _, c := range settingFlags {
		covered[c.flag] = true
		want := base
		want.set.Trackers = slicesClone(base.set.Trackers)
		c.want(&want)
		got, err := mapFlags(t, append([]string{"-data", data}, c.args...)...)
		if err != nil {
			t.Errorf("%v: %v", c.args, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%v:\n got %+v\nwant %+v", c.args, got, want)
		}
		if reflect.DeepEqual(got, base) {
			t.Errorf("%v: changed no setting", c.args)
		}
	}
	for name, args := range nodeFlags {
		covered[name] = true
		got, err := mapFlags(t, append([]string{"-data", data}, args...)...)
		if err != nil {
			t.Errorf("%v: %v", args, err)
			continue
		}
		if !reflect.DeepEqual(got, base) {
			t.Errorf("%v (a node flag) changed the session settings: %+v", args, got)
		}
	}
	fs, _ := newFlagSet(io.Discard)
	fs.VisitAll(func(fl *flag.Flag) {
		if !covered[fl.Name] {
			t.Errorf("flag -%s is in neither table: add it to settingFlags (a session setting, mapped in settingsFrom) or to nodeFlags", fl.Name)
		}
	})
}

func slicesClone(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}

// TestSettingsFromRefuses: a bad value of a flag settingsFrom maps is an
// error naming the flag.
func TestSettingsFromRefuses(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-encryption", "always"}, "-encryption: "},
		{[]string{"-enc-level", "aes"}, "-enc-level: "},
		{[]string{"-seed-choker", "fastest"}, "-seed-choker: "},
		{[]string{"-active-downloads", "many"}, "-active-downloads: "},
		{[]string{"-active-seeds", "-2"}, "-active-seeds: "},
		{[]string{"-active-limit", "x"}, "-active-limit: "},
		{[]string{"-seed-ratio", "-1"}, "-seed-ratio and -seed-time must be positive"},
		{[]string{"-seed-ratio", "NaN"}, "-seed-ratio and -seed-time must be positive"},
		{[]string{"-seed-time", "-1s"}, "-seed-ratio and -seed-time must be positive"},
		{[]string{"-log", "loud"}, `bad -log level "loud"`},
		{[]string{"-ip-filter", filepath.Join(t.TempDir(), "missing")}, "-ip-filter: "},
		{[]string{"-fleet", "3/3"}, "-fleet: "},
		{[]string{"-seed-limit-action", "delete"}, "-seed-limit-action "},
		{[]string{"-seed-time-ratio", "-1"}, "-seed-time-ratio "},
		{[]string{"-seed-idle", "-1m"}, "-seed-idle "},
	}
	for _, c := range cases {
		fs, f := newFlagSet(io.Discard)
		if err := fs.Parse(c.args); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		_, err := settingsFrom(f, io.Discard, io.Discard)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one starting %q", c.args, err, c.want)
		}
	}
}
