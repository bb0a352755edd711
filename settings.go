package shardtorrent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/choker"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/settings"
	"github.com/shardtorrent/shardtorrent/shard"
)

// Settings at run time (libtorrent's apply_settings).
//
// Invariants kept here:
//   - DefaultSettings is the one place the session's defaults are written
//     down: NewSession and ApplySettings fill every unset field from it
//     (fill), so the Settings a session reports are complete and a caller
//     that changes one field of Session.Settings() and applies the result
//     changes exactly that field.
//   - s.live holds the settings in effect; it is replaced (never
//     modified) under s.applyMu, after the components read off the loops
//     (rates, dial budget, IP filter, alert mask) took the new values and
//     before the loops do, so that a queue recalculation they trigger reads
//     the new limits. Readers off the loops (the accepting loop's
//     encryption policy, the queue's recalculation, the getters) load it;
//     each loop reads its own copy (shard.Shard.ApplySettings). If ctx ends
//     while the loops are being told, the loops not reached keep the old
//     Engine values until the next ApplySettings (the error says so).
//   - A field either changes safely while the session runs (runtimeFields
//     and every Engine field but engineFixed) or ApplySettings refuses a
//     change to it by name, before anything changed.

// DefaultSettings returns the settings a session runs with when a field is
// left unset: every default of the session and its engine, in one place.
// Fields whose zero value is their default (the Disable flags, nil
// extensions) and the Tracker and DHT tunables (whose zero fields take
// their packages' documented defaults) stay zero. Safe from any goroutine.
func DefaultSettings() Settings {
	return Settings{
		ListenAddr:         "0.0.0.0:6881",
		Shards:             runtime.NumCPU(),
		DiskWorkers:        runtime.NumCPU(),
		AlertQueueSize:     2000,
		AlertMask:          plugin.CategoryDefault,
		PeerIDPrefix:       "-ST0010-",
		Engine:             settings.DefaultEngine(),
		Pool:               bufpool.Default,
		ResumeSaveInterval: shard.ResumeSaveInterval,
		ActiveDownloads:    DefaultActiveDownloads,
		ActiveSeeds:        DefaultActiveSeeds,
		ActiveLimit:        DefaultActiveLimit,
		AutoManageInterval: DefaultAutoManageInterval,
		UploadRateLimit:    Unlimited(),
		DownloadRateLimit:  Unlimited(),
	}
}

// fill replaces set's unset fields with DefaultSettings' (and a nil Logger
// with slog.Default, read when filled).
func (set *Settings) fill() {
	d := DefaultSettings()
	if set.ListenAddr == "" {
		set.ListenAddr = d.ListenAddr
	}
	if set.Shards <= 0 {
		set.Shards = d.Shards
	}
	if set.DiskWorkers <= 0 {
		set.DiskWorkers = d.DiskWorkers
	}
	if set.AlertQueueSize <= 0 {
		set.AlertQueueSize = d.AlertQueueSize
	}
	if set.AlertMask == 0 {
		set.AlertMask = d.AlertMask
	}
	if set.PeerIDPrefix == "" {
		set.PeerIDPrefix = d.PeerIDPrefix
	}
	set.Engine.FillDefaults()
	if set.Pool == nil {
		set.Pool = d.Pool
	}
	if set.Logger == nil {
		set.Logger = slog.Default()
	}
	if set.ResumeSaveInterval <= 0 {
		set.ResumeSaveInterval = d.ResumeSaveInterval
	}
	set.ActiveDownloads = set.ActiveDownloads.Or(d.ActiveDownloads)
	set.ActiveSeeds = set.ActiveSeeds.Or(d.ActiveSeeds)
	set.ActiveLimit = set.ActiveLimit.Or(d.ActiveLimit)
	if set.AutoManageInterval <= 0 {
		set.AutoManageInterval = d.AutoManageInterval
	}
	set.UploadRateLimit = set.UploadRateLimit.Or(d.UploadRateLimit)
	set.DownloadRateLimit = set.DownloadRateLimit.Or(d.DownloadRateLimit)
}

// ErrBadSetting is wrapped by a SettingError for a value out of range.
var ErrBadSetting = errors.New("shardtorrent: invalid setting")

// ErrSettingFixed is wrapped by a SettingError for a setting that
// ApplySettings cannot change while the session runs (it is read once, at
// NewSession).
var ErrSettingFixed = errors.New("shardtorrent: setting cannot change while the session runs")

// SettingError names the Settings field (its path, as "Engine.MaxConns")
// that NewSession or ApplySettings refused, and why: Err is ErrBadSetting
// or ErrSettingFixed, matchable with errors.Is.
type SettingError struct {
	Field string // the field's path, as "Engine.MaxConns"
	Err   error
	// Detail says what was wrong with the value, if anything.
	Detail string
}

func (e *SettingError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%v: %s: %s", e.Err, e.Field, e.Detail)
	}
	return fmt.Sprintf("%v: %s", e.Err, e.Field)
}

func (e *SettingError) Unwrap() error { return e.Err }

// validate checks set's values (after fill); the first bad field is
// returned as a *SettingError.
func (set *Settings) validate() error {
	bad := func(field, format string, args ...any) error {
		return &SettingError{Field: field, Err: ErrBadSetting, Detail: fmt.Sprintf(format, args...)}
	}
	e := &set.Engine
	switch {
	case set.MSEWorkers < 0:
		return bad("MSEWorkers", "%d: want >= 0 (0: on the accepting loop)", set.MSEWorkers)
	case e.ShareRatioLimit < 0 || math.IsNaN(e.ShareRatioLimit) || math.IsInf(e.ShareRatioLimit, 0):
		return bad("Engine.ShareRatioLimit", "%v: want a ratio >= 0 (0: no limit)", e.ShareRatioLimit)
	case e.SeedTimeLimit < 0:
		return bad("Engine.SeedTimeLimit", "%v: want >= 0 (0: no limit)", e.SeedTimeLimit)
	case e.SeedTimeRatioLimit < 0 || math.IsNaN(e.SeedTimeRatioLimit) || math.IsInf(e.SeedTimeRatioLimit, 0):
		return bad("Engine.SeedTimeRatioLimit", "%v: want a ratio >= 0 (0: no limit)", e.SeedTimeRatioLimit)
	case e.SeedIdleLimit < 0:
		return bad("Engine.SeedIdleLimit", "%v: want >= 0 (0: no limit)", e.SeedIdleLimit)
	case e.SeedLimitAction > shard.SeedLimitRemoveData:
		return bad("Engine.SeedLimitAction", "%v", e.SeedLimitAction)
	case e.InEncPolicy > shard.EncDisabled:
		return bad("Engine.InEncPolicy", "%v", e.InEncPolicy)
	case e.OutEncPolicy > shard.EncDisabled:
		return bad("Engine.OutEncPolicy", "%v", e.OutEncPolicy)
	case e.AllowedEncLevel > shard.EncLevelRC4:
		return bad("Engine.AllowedEncLevel", "%v", e.AllowedEncLevel)
	case e.SeedChoker > choker.AntiLeech:
		return bad("Engine.SeedChoker", "%v", e.SeedChoker)
	case len(set.PeerIDPrefix) > 20:
		return bad("PeerIDPrefix", "%q is longer than a peer id (20 bytes)", set.PeerIDPrefix)
	}
	return nil
}

// runtimeFields are the Settings fields outside Engine that ApplySettings
// can change, and what applies them. Every Engine field can change too,
// except engineFixed.
var runtimeFields = map[string]bool{
	"AlertMask":          true,
	"IPFilter":           true,
	"UploadRateLimit":    true,
	"DownloadRateLimit":  true,
	"LimitLocal":         true,
	"RateLimitOverhead":  true,
	"ActiveDownloads":    true,
	"ActiveSeeds":        true,
	"ActiveLimit":        true,
	"CountSlowTorrents":  true,
	"AutoManageInterval": true,
}

// engineFixed are the Engine fields read once: ClientName and ListenPort
// are sent in every extension handshake and announce, DirectWrites is how
// each torrent's files were opened.
var engineFixed = map[string]bool{
	"ClientName":   true,
	"ListenPort":   true,
	"DirectWrites": true,
}

// changed lists the paths of the fields that differ between a and b
// (struct fields with exported fields of their own are walked, as
// "Engine.MaxConns"; pointers, funcs and interfaces compare by identity;
// slices and maps by their elements).
func changed(a, b Settings) []string {
	var out []string
	var walk func(prefix string, x, y reflect.Value)
	walk = func(prefix string, x, y reflect.Value) {
		t := x.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name := prefix + f.Name
			fx, fy := x.Field(i), y.Field(i)
			if f.Type.Kind() == reflect.Struct && hasExported(f.Type) && f.Type != reflect.TypeOf(time.Time{}) {
				walk(name+".", fx, fy)
				continue
			}
			if !sameValue(fx, fy) {
				out = append(out, name)
			}
		}
	}
	walk("", reflect.ValueOf(a), reflect.ValueOf(b))
	return out
}

func hasExported(t reflect.Type) bool {
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).IsExported() {
			return true
		}
	}
	return false
}

// sameValue compares two field values: by identity for pointers, funcs,
// channels and interfaces holding them, element-wise for slices and maps.
func sameValue(x, y reflect.Value) bool {
	switch x.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Chan, reflect.UnsafePointer:
		return x.Pointer() == y.Pointer()
	case reflect.Interface:
		if x.IsNil() || y.IsNil() {
			return x.IsNil() == y.IsNil()
		}
		if x.Elem().Type() != y.Elem().Type() {
			return false
		}
		return sameValue(x.Elem(), y.Elem())
	case reflect.Slice:
		if x.Len() != y.Len() {
			return false
		}
		for i := 0; i < x.Len(); i++ {
			if !sameValue(x.Index(i), y.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		return reflect.DeepEqual(x.Interface(), y.Interface())
	case reflect.Struct:
		if x.Type().Comparable() {
			return x.Equal(y)
		}
		return reflect.DeepEqual(x.Interface(), y.Interface())
	}
	return x.Equal(y)
}

// Settings returns the settings in effect, every default filled in: the
// value to change and pass to ApplySettings. Its slices are copies. Safe
// from any goroutine.
func (s *Session) Settings() Settings {
	set := *s.live.Load()
	set.Extensions = slices.Clone(set.Extensions)
	set.Trackers = slices.Clone(set.Trackers)
	set.DHTBootstrap = slices.Clone(set.DHTBootstrap)
	return set
}

// ApplySettings changes the session's settings while it runs, as
// libtorrent's session::apply_settings: set is the whole of the new
// settings (start from Settings() and change what should change; unset
// fields take their defaults). What can change safely does, at once:
//   - the rate limits (UploadRateLimit, DownloadRateLimit, LimitLocal,
//     RateLimitOverhead): the shards' next refill, within 5 ms;
//   - the queue (ActiveDownloads, ActiveSeeds, ActiveLimit,
//     CountSlowTorrents, AutoManageInterval): recalculated at once;
//   - the IP filter (IPFilter, as SetIPFilter) and AlertMask;
//   - every Engine field but ClientName, ListenPort and DirectWrites:
//     connection limits, unchoke slots and the seeding choker (the next
//     choker round), the seed limits (the next tick), timeouts, request
//     queues, the peer list's reconnect policy, connection_speed, and the
//     encryption policies and levels (for connections made or accepted
//     from now on).
//
// A change to any other field (the listen address, the number of shards,
// the extensions, the DHT and tracker tunables, ...) is refused, naming
// each such field in a *SettingError wrapping ErrSettingFixed (joined
// with errors.Join when there are several), and a value out of range with
// one wrapping ErrBadSetting; then nothing changed. Calls are serialised.
// Safe from any goroutine.
func (s *Session) ApplySettings(ctx context.Context, set Settings) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	return s.applyLocked(ctx, set, nil)
}

// ApplyRuntimeSettings is ApplySettings for a whole configuration read
// again (the node's config file on SIGHUP): every setting that can change
// while the session runs takes set's value, and a setting that cannot
// keeps its current value instead of failing the call; kept names those
// (as "ListenAddr", "Engine.ClientName"), for the caller to say that they
// need a restart. A value out of range still fails the whole call. Safe
// from any goroutine.
func (s *Session) ApplyRuntimeSettings(ctx context.Context, set Settings) (kept []string, err error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	kept = []string{}
	err = s.applyLocked(ctx, set, &kept)
	return kept, err
}

// modifySettings applies fn's change to the settings in effect: the
// single-purpose setters (SetRateLimits, SetSeedLimits, ...) go through it
// so that Settings always reports what is in effect.
func (s *Session) modifySettings(ctx context.Context, fn func(*Settings)) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	set := s.Settings()
	fn(&set)
	return s.applyLocked(ctx, set, nil)
}

// applyLocked is ApplySettings with s.applyMu held. With keep, a field
// that cannot change keeps cur's value and is appended to *keep instead of
// refusing the call.
func (s *Session) applyLocked(ctx context.Context, set Settings, keep *[]string) error {
	set.fill()
	if err := set.validate(); err != nil {
		return err
	}
	cur := *s.live.Load()
	diff := changed(cur, set)
	if len(diff) == 0 {
		return nil
	}
	var fixed []error
	engine := false
	for _, f := range diff {
		if name, ok := strings.CutPrefix(f, "Engine."); ok {
			if engineFixed[name] {
				fixed = append(fixed, &SettingError{Field: f, Err: ErrSettingFixed})
			}
			engine = true
			continue
		}
		if !runtimeFields[f] {
			fixed = append(fixed, &SettingError{Field: f, Err: ErrSettingFixed})
		}
	}
	if keep != nil {
		for _, e := range fixed {
			f := e.(*SettingError).Field
			setField(&set, &cur, f)
			*keep = append(*keep, f)
		}
		fixed = nil
	}
	if len(fixed) == 1 {
		return fixed[0]
	}
	if len(fixed) > 1 {
		return errors.Join(fixed...)
	}

	// Components that read the settings off the loops take them first,
	// then s.live is replaced, then the loops take theirs (see the top of
	// this file).
	s.alerts.setMask(set.AlertMask)
	if set.Engine.ConnectionSpeed != cur.Engine.ConnectionSpeed {
		s.dials.SetLimit(set.Engine.ConnectionSpeed)
	}
	rates := set.UploadRateLimit != cur.UploadRateLimit || set.DownloadRateLimit != cur.DownloadRateLimit ||
		set.LimitLocal != cur.LimitLocal || set.RateLimitOverhead != cur.RateLimitOverhead
	if rates {
		s.rates.Up.SetRate(limitRate(set.UploadRateLimit))
		s.rates.Down.SetRate(limitRate(set.DownloadRateLimit))
		s.rates.LimitLocal.Store(set.LimitLocal)
		s.rates.Overhead.Store(set.RateLimitOverhead)
	}
	ipf := set.IPFilter != cur.IPFilter
	if ipf {
		s.ipf.Store(set.IPFilter)
	}
	// The live settings change before the loops see them, so that a
	// recalculation the loops' changes trigger reads the new queue limits.
	live := set
	s.live.Store(&live)
	for _, sh := range s.shards {
		err := s.onLoop(ctx, sh, func() {
			if engine {
				sh.ApplySettings(set.Engine)
			}
			if rates {
				sh.RateLimitsChanged()
			}
			if ipf && set.IPFilter != nil {
				sh.ApplyIPFilter()
			}
		})
		if err != nil {
			return err
		}
	}
	if queueChanged(&cur, &set) {
		s.queueSettingsChanged()
	}
	return nil
}

// setField copies the field at path (as changed names it) from src to dst.
func setField(dst, src *Settings, path string) {
	d, sv := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem()
	for _, name := range strings.Split(path, ".") {
		d, sv = d.FieldByName(name), sv.FieldByName(name)
	}
	d.Set(sv)
}

// queueChanged reports whether the queue's settings differ.
func queueChanged(a, b *Settings) bool {
	return a.ActiveDownloads != b.ActiveDownloads || a.ActiveSeeds != b.ActiveSeeds || a.ActiveLimit != b.ActiveLimit ||
		a.CountSlowTorrents != b.CountSlowTorrents || a.AutoManageInterval != b.AutoManageInterval ||
		a.Engine.AutoManageInactiveTime != b.Engine.AutoManageInactiveTime
}
