package shardtorrent

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/choker"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/shard"
)

func offlineSession(t *testing.T, set Settings) *Session {
	t.Helper()
	set.ListenAddr, set.Shards, set.Pool = "off", 2, bufpool.New()
	set.DisableDHT = true
	s, err := NewSession(context.Background(), set)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// shardSettings reads every shard's engine settings on its loop.
func shardSettings(t *testing.T, s *Session) []shard.Settings {
	t.Helper()
	out := make([]shard.Settings, len(s.shards))
	for i, sh := range s.shards {
		if err := s.onLoop(context.Background(), sh, func() { out[i] = sh.Settings() }); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestDefaultSettingsFilled: a session started with zero Settings reports
// DefaultSettings (plus what it was told), and applying what it reports
// changes nothing.
func TestDefaultSettingsFilled(t *testing.T) {
	s := offlineSession(t, Settings{})
	got := s.Settings()
	d := DefaultSettings()
	d.ListenAddr, d.Shards, d.Pool, d.DisableDHT, d.Logger = got.ListenAddr, got.Shards, got.Pool, true, got.Logger
	if diff := changed(d, got); len(diff) != 0 {
		t.Fatalf("Settings() differs from DefaultSettings() in %v", diff)
	}
	if err := s.ApplySettings(context.Background(), got); err != nil {
		t.Fatalf("ApplySettings(Settings()) = %v", err)
	}
	if diff := changed(got, s.Settings()); len(diff) != 0 {
		t.Fatalf("ApplySettings(Settings()) changed %v", diff)
	}
}

// TestApplySettingsRefusesFixed: a change to a setting read once is
// refused by name, and nothing else in the same call changes.
func TestApplySettingsRefusesFixed(t *testing.T) {
	s := offlineSession(t, Settings{})
	cases := []struct {
		name   string
		change func(*Settings)
		fields []string
	}{
		{"listen", func(set *Settings) { set.ListenAddr = "127.0.0.1:0" }, []string{"ListenAddr"}},
		{"shards", func(set *Settings) { set.Shards = 7 }, []string{"Shards"}},
		{"client name", func(set *Settings) { set.Engine.ClientName = "x" }, []string{"Engine.ClientName"}},
		{"direct writes", func(set *Settings) { set.Engine.DirectWrites = true }, []string{"Engine.DirectWrites"}},
		{"extensions", func(set *Settings) { set.Extensions = append(set.Extensions, nil) }, []string{"Extensions"}},
		{"dht and tracker", func(set *Settings) { set.DHT.MinAnnounceGap = 3; set.Tracker.NumWant = 5 }, []string{"Tracker.NumWant", "DHT.MinAnnounceGap"}},
		{"logger", func(set *Settings) { set.Logger = nil; set.ResumeDir = t.TempDir() }, []string{"ResumeDir"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			set := s.Settings()
			c.change(&set)
			set.UploadRateLimit = LimitTo(12345) // changeable, but the call is refused as a whole
			err := s.ApplySettings(context.Background(), set)
			if !errors.Is(err, ErrSettingFixed) {
				t.Fatalf("err = %v, want ErrSettingFixed", err)
			}
			var se *SettingError
			if !errors.As(err, &se) {
				t.Fatalf("err %v is not a *SettingError", err)
			}
			for _, f := range c.fields {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("err %q does not name %s", err, f)
				}
			}
			if up, _ := s.RateLimits(); !up.IsUnlimited() {
				t.Errorf("the refused call changed the upload limit to %v", up)
			}
		})
	}
}

// TestApplySettingsRefusesBadValues: values out of range get an
// ErrBadSetting naming the field, at NewSession and at ApplySettings.
func TestApplySettingsRefusesBadValues(t *testing.T) {
	cases := []struct {
		field  string
		change func(*Settings)
	}{
		{"MSEWorkers", func(set *Settings) { set.MSEWorkers = -1 }},
		{"Engine.ShareRatioLimit", func(set *Settings) { set.Engine.ShareRatioLimit = -1 }},
		{"Engine.SeedTimeLimit", func(set *Settings) { set.Engine.SeedTimeLimit = -time.Second }},
		{"Engine.InEncPolicy", func(set *Settings) { set.Engine.InEncPolicy = 9 }},
		{"Engine.SeedTimeRatioLimit", func(set *Settings) { set.Engine.SeedTimeRatioLimit = -2 }},
		{"Engine.SeedIdleLimit", func(set *Settings) { set.Engine.SeedIdleLimit = -time.Minute }},
		{"Engine.SeedLimitAction", func(set *Settings) { set.Engine.SeedLimitAction = 9 }},
		{"Engine.SeedChoker", func(set *Settings) { set.Engine.SeedChoker = 9 }},
		{"PeerIDPrefix", func(set *Settings) { set.PeerIDPrefix = strings.Repeat("x", 21) }},
	}
	s := offlineSession(t, Settings{})
	for _, c := range cases {
		t.Run(c.field, func(t *testing.T) {
			set := Settings{ListenAddr: "off", DisableDHT: true}
			c.change(&set)
			_, err := NewSession(context.Background(), set)
			var se *SettingError
			if !errors.As(err, &se) || se.Field != c.field || !errors.Is(err, ErrBadSetting) {
				t.Fatalf("NewSession: err = %v, want an ErrBadSetting for %s", err, c.field)
			}
			set = s.Settings()
			c.change(&set)
			err = s.ApplySettings(context.Background(), set)
			if c.field == "PeerIDPrefix" {
				if !errors.Is(err, ErrBadSetting) && !errors.Is(err, ErrSettingFixed) {
					t.Fatalf("ApplySettings: err = %v", err)
				}
				return
			}
			if !errors.As(err, &se) || se.Field != c.field || !errors.Is(err, ErrBadSetting) {
				t.Fatalf("ApplySettings: err = %v, want an ErrBadSetting for %s", err, c.field)
			}
		})
	}
}

// TestApplySettingsRuntime: every setting ApplySettings may change
// reaches what uses it: the shards' engine settings (and the torrents'
// chokers), the rate limits, the queue limits, the seed limits, the alert
// mask, the IP filter and the dial budget; the single-purpose setters go
// through it, so Settings reports them.
func TestApplySettingsRuntime(t *testing.T) {
	s, hs := queueSession(t, Settings{}, 3)
	ctx := context.Background()
	set := s.Settings()
	set.UploadRateLimit, set.DownloadRateLimit = LimitTo(1000), LimitTo(0)
	set.LimitLocal, set.RateLimitOverhead = true, true
	set.ActiveSeeds, set.ActiveLimit = LimitTo(2), LimitTo(10)
	set.CountSlowTorrents, set.AutoManageInterval = true, time.Minute
	set.AlertMask = plugin.CategoryError
	set.IPFilter = blockList(t, "10.0.0.0/8")
	e := &set.Engine
	e.MaxConns, e.MaxConnsPerTorrent, e.UnchokeSlots, e.SeedChoker = 77, 33, -1, choker.AntiLeech
	e.ShareRatioLimit, e.SeedTimeLimit = 2.5, time.Hour
	e.InEncPolicy, e.OutEncPolicy, e.AllowedEncLevel, e.PreferRC4 = shard.EncForced, shard.EncForced, shard.EncLevelRC4, true
	e.HandshakeTimeout, e.PieceTimeout, e.InactivityTimeout = 3*time.Second, 4*time.Second, 5*time.Second
	e.ConnectionSpeed, e.MinReconnectTime, e.MaxFailCount = 7, time.Second, 9
	e.MaxOutRequests, e.MaxInRequests, e.MaxInFlightReads = 11, 12, 13
	e.SuggestReadCache, e.KeepPeersOnHashFailure, e.AutoManageInactiveTime = true, true, time.Hour
	if err := s.ApplySettings(ctx, set); err != nil {
		t.Fatal(err)
	}
	if diff := changed(set, s.Settings()); len(diff) != 0 {
		t.Fatalf("Settings() after ApplySettings differs in %v", diff)
	}
	for i, got := range shardSettings(t, s) {
		want := set.Engine
		want.ListenPort = got.ListenPort
		if got != want {
			t.Errorf("shard %d settings = %+v, want %+v", i, got, want)
		}
	}
	for _, h := range hs {
		var cfg choker.Config
		if err := h.do(ctx, func(x *shard.Torrent) { cfg = x.ChokerConfig() }); err != nil {
			t.Fatal(err)
		}
		if cfg.Slots != -1 || cfg.Seeding != choker.AntiLeech {
			t.Errorf("torrent %s choker = %+v, want unlimited slots and anti-leech", h.Name(), cfg)
		}
	}
	if up, down := s.RateLimits(); up != LimitTo(1000) || down != LimitTo(0) {
		t.Errorf("RateLimits() = %v, %v", up, down)
	}
	if !s.rates.LimitLocal.Load() || !s.rates.Overhead.Load() {
		t.Errorf("LimitLocal, Overhead = %v, %v", s.rates.LimitLocal.Load(), s.rates.Overhead.Load())
	}
	if _, seeds, all := s.QueueLimits(); seeds != LimitTo(2) || all != LimitTo(10) {
		t.Errorf("QueueLimits() seeds %v, all %v", seeds, all)
	}
	if r, st := s.SeedLimits(); r != 2.5 || st != time.Hour {
		t.Errorf("SeedLimits() = %v, %v", r, st)
	}
	if s.alerts.Wants(plugin.CategoryStatus) || !s.alerts.Wants(plugin.CategoryError) {
		t.Errorf("alert mask not applied")
	}
	if s.IPFilter() != set.IPFilter {
		t.Errorf("IP filter not applied")
	}
	if got := s.dials.Limit(); got != 7 {
		t.Errorf("dial budget = %d a second, want 7", got)
	}

	// The setters are ApplySettings with one field changed.
	if err := s.SetRateLimits(ctx, LimitTo(5), Limit{}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSeedLimits(ctx, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetIPFilter(ctx, nil); err != nil {
		t.Fatal(err)
	}
	now := s.Settings()
	if now.UploadRateLimit != LimitTo(5) || now.DownloadRateLimit != LimitTo(0) || now.Engine.ShareRatioLimit != 0 || now.IPFilter != nil {
		t.Errorf("Settings() after the setters: up %v down %v ratio %v filter %v",
			now.UploadRateLimit, now.DownloadRateLimit, now.Engine.ShareRatioLimit, now.IPFilter)
	}
}

// TestApplySettingsQueue: limiting a session that ran with no queue limit
// pauses the torrents past the new limit, and lifting it resumes them,
// without waiting for AutoManageInterval.
func TestApplySettingsQueue(t *testing.T) {
	set := Settings{AutoManageInterval: time.Hour}
	set.Engine.AutoManageInactiveTime = time.Hour // nothing is slow here
	set.ListenAddr, set.Shards, set.Pool, set.AlertMask = "off", 2, bufpool.New(), plugin.CategoryAll
	s, err := NewSession(context.Background(), set)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	ctx := context.Background()
	dir := t.TempDir()
	var hs []*Torrent
	for _, mi := range batchTorrents(t, dir, 6) {
		h, err := s.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: dir, SeedMode: true})
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	if got := running(t, hs); len(got) != 6 {
		t.Fatalf("running %v before any limit", got)
	}
	cur := s.Settings()
	cur.ActiveSeeds = LimitTo(2)
	if err := s.ApplySettings(ctx, cur); err != nil {
		t.Fatal(err)
	}
	paused := 0
	waitAlert(t, s, 20*time.Second, func(a plugin.Alert) bool {
		if _, ok := a.(*plugin.TorrentPausedAlert); ok {
			paused++
		}
		return paused == 4
	})
	if got := running(t, hs); !sameInts(got, []int{0, 1}) {
		t.Fatalf("running %v with 2 active seeds, want [0 1]", got)
	}
	cur.ActiveSeeds = Unlimited()
	if err := s.ApplySettings(ctx, cur); err != nil {
		t.Fatal(err)
	}
	resumed := 0
	waitAlert(t, s, 20*time.Second, func(a plugin.Alert) bool {
		if _, ok := a.(*plugin.TorrentResumedAlert); ok {
			resumed++
		}
		return resumed == 4
	})
	if got := running(t, hs); len(got) != 6 {
		t.Fatalf("running %v after the limit was lifted", got)
	}
}

// TestApplySettingsRateChange: ApplySettings on a running transfer changes
// its rate within a second.
func TestApplySettingsRateChange(t *testing.T) {
	const rate = 1 << 20
	seeder, leecher, _, lt := rateSessions(t, Settings{UploadRateLimit: LimitTo(4 * rate), LimitLocal: true}, 32<<20)
	waitStarted(t, leecher)
	set := seeder.Settings()
	set.UploadRateLimit = LimitTo(rate)
	if err := seeder.ApplySettings(context.Background(), set); err != nil {
		t.Fatal(err)
	}
	<-time.NewTimer(time.Second).C // "within a second": the window starts a second after the change
	near(t, "after ApplySettings", measureDown(t, lt, 2*time.Second), rate, 0.1)
}

// TestApplySettingsEncryption: the encryption policy changed while the
// session runs governs the connections accepted and made from then on (and
// a shorter reconnect time lets the refused address be redialled at once).
func TestApplySettingsEncryption(t *testing.T) {
	f := newEncFixture(t, 1<<20+77)
	seeder := newEncSession(t, bufpool.New(), 1, shard.Settings{})
	leecher := newEncSession(t, bufpool.New(), 1, shard.Settings{OutEncPolicy: EncDisabled})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = leecher.Close(ctx)
		_ = seeder.Close(ctx)
	})
	seedFixture(t, seeder, f)
	ctx := context.Background()
	set := seeder.Settings()
	set.Engine.InEncPolicy = EncForced
	if err := seeder.ApplySettings(ctx, set); err != nil {
		t.Fatal(err)
	}
	lt, err := leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: f.mi, SavePath: t.TempDir(), Peers: []netip.AddrPort{seeder.ListenAddr()}})
	if err != nil {
		t.Fatal(err)
	}
	waitAlert(t, seeder, 20*time.Second, func(a plugin.Alert) bool {
		r, ok := a.(*plugin.IncomingRefusedAlert)
		return ok && errors.Is(r.Reason, shard.ErrPlaintextRefused)
	})
	lset := leecher.Settings()
	lset.Engine.OutEncPolicy = EncForced
	lset.Engine.MinReconnectTime = time.Millisecond // redial the refused seeder at once
	if err := leecher.ApplySettings(ctx, lset); err != nil {
		t.Fatal(err)
	}
	if err := lt.ConnectPeer(ctx, seeder.ListenAddr()); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, leecher, 20*time.Second, func(a plugin.Alert) bool {
		_, ok := a.(*plugin.TorrentFinishedAlert)
		return ok
	})
}

// TestApplyRuntimeSettings: a whole configuration applied again takes
// every run-time change and keeps (and names) the fixed ones; a bad value
// still fails it whole.
func TestApplyRuntimeSettings(t *testing.T) {
	s := offlineSession(t, Settings{})
	ctx := context.Background()
	set := s.Settings()
	set.ListenAddr, set.Engine.ClientName = "127.0.0.1:1", "other/1.0"
	set.UploadRateLimit, set.Engine.UnchokeSlots = LimitTo(777), 3
	kept, err := s.ApplyRuntimeSettings(ctx, set)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(kept, ",") != "ListenAddr,Engine.ClientName" {
		t.Errorf("kept %v, want ListenAddr and Engine.ClientName", kept)
	}
	now := s.Settings()
	if now.UploadRateLimit != LimitTo(777) || now.Engine.UnchokeSlots != 3 || now.ListenAddr != "off" || now.Engine.ClientName == "other/1.0" {
		t.Errorf("after: up %v, slots %d, listen %q, client %q", now.UploadRateLimit, now.Engine.UnchokeSlots, now.ListenAddr, now.Engine.ClientName)
	}
	set.Engine.ShareRatioLimit = -1
	if _, err := s.ApplyRuntimeSettings(ctx, set); !errors.Is(err, ErrBadSetting) {
		t.Errorf("a bad value: err %v", err)
	}
}
