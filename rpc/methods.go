package rpc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"syscall"
	"time"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/shard"
)

// Reasons arguments are refused, by the issue that brings them.
const (
	whySpeed      = "alternative (turtle) speed limits, bandwidth priorities and groups are not in the engine; speed-limit-up/down and a torrent's uploadLimit/downloadLimit are"
	whySequential = "sequential download is not in the engine"
	whyQueue      = "the queue limits are set when the node starts (-active-downloads, -active-seeds, -active-limit); move torrents with queue-move-*"
	whyReadOnly   = "read-only"
	whyAbsent     = "the engine has no such setting"
)

// maxIdleMinutes bounds idle-seeding-limit and seedIdleLimit (a year):
// larger values would overflow a time.Duration on the way.
const maxIdleMinutes = 366 * 24 * 60

// sessionFixed are session keys whose value is fixed by what the engine
// does; session-set accepts them only with that value.
var sessionFixed = map[string]struct {
	val any
	why string
}{
	"alt-speed-down":                       {0, whySpeed},
	"alt-speed-enabled":                    {false, whySpeed},
	"alt-speed-time-enabled":               {false, whySpeed},
	"alt-speed-up":                         {0, whySpeed},
	"blocklist-enabled":                    {false, whyAbsent},
	"incomplete-dir-enabled":               {false, whyAbsent},
	"lpd-enabled":                          {false, "local peer discovery is not in the engine"},
	"utp-enabled":                          {false, "uTP is not in the engine"},
	"port-forwarding-enabled":              {false, "the node does no UPnP or NAT-PMP"},
	"peer-port-random-on-start":            {false, whyAbsent},
	"rename-partial-files":                 {false, whyAbsent},
	"trash-original-torrent-files":         {false, whyAbsent},
	"script-torrent-added-enabled":         {false, "the node runs no scripts"},
	"script-torrent-done-enabled":          {false, "the node runs no scripts"},
	"script-torrent-done-seeding-enabled":  {false, "the node runs no scripts"},
	"blocklist-size":                       {0, whyReadOnly},
	"rpc-version":                          {RPCVersion, whyReadOnly},
	"rpc-version-minimum":                  {RPCVersionMinimum, whyReadOnly},
	"rpc-version-semver":                   {RPCVersionSemver, whyReadOnly},
	"script-torrent-added-filename":        {"", "the node runs no scripts"},
	"script-torrent-done-filename":         {"", "the node runs no scripts"},
	"script-torrent-done-seeding-filename": {"", "the node runs no scripts"},
}

// units is session-get's "units": bytes as Transmission 4 shows them.
var units = map[string]any{
	"speed-units": []string{"kB/s", "MB/s", "GB/s", "TB/s"}, "speed-bytes": 1000,
	"size-units": []string{"kB", "MB", "GB", "TB"}, "size-bytes": 1000,
	"memory-units": []string{"KiB", "MiB", "GiB", "TiB"}, "memory-bytes": 1024,
}

// sessionValues returns every session-get key and its value. Under h.mu.
func (h *Handler) sessionValues() map[string]any {
	set := h.b.Settings()
	m := make(map[string]any, len(sessionFixed)+16)
	for k, f := range sessionFixed {
		m[k] = f.val
	}
	m["version"] = set.Version
	m["config-dir"] = set.ConfigDir
	m["download-dir"] = h.downloadDir
	m["peer-port"] = set.PeerPort
	m["dht-enabled"] = set.DHT
	m["pex-enabled"] = set.PEX
	m["session-id"] = h.sid
	m["start-added-torrents"] = h.startAdded
	m["units"] = units
	h.putSessionSpeeds(m) // speed.go
	ratio, _ := h.sess.SeedLimits()
	m["seedRatioLimit"] = ratio
	m["seedRatioLimited"] = ratio > 0
	idle := h.sess.SeedPolicy().Idle
	m["idle-seeding-limit"] = int64(idle / time.Minute)
	m["idle-seeding-limit-enabled"] = idle > 0
	h.putEngineSettings(m) // sessionset.go
	return m
}

// sessionValuesLocked is sessionValues taking h.mu.
func (h *Handler) sessionValuesLocked() map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sessionValues()
}

// sessionGet answers session-get, with the keys "fields" names (all
// without it). Keys we cannot answer are left out.
func (h *Handler) sessionGet(raw json.RawMessage, out []byte) ([]byte, error) {
	var a struct {
		Fields []string `json:"fields"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return out, &ArgError{Arg: "arguments", Reason: err.Error()}
	}
	h.mu.Lock()
	m := h.sessionValues()
	h.mu.Unlock()
	if a.Fields != nil {
		sel := make(map[string]any, len(a.Fields))
		for _, f := range a.Fields {
			if v, ok := m[f]; ok {
				sel[f] = v
			}
		}
		m = sel
	}
	return appendJSON(out, m)
}

func appendJSON(out []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return out, err
	}
	return append(out, b...), nil
}

// sessionSet applies session-set: "download-dir" (confined) and
// "start-added-torrents" take effect at once, for the torrents added over
// RPC from then on (the node's -data and watch directory are its own); a
// fixed key, or one set when the node starts, is accepted with its
// current value; anything else is refused by name, and then nothing is
// changed.
func (h *Handler) sessionSet(ctx context.Context, raw json.RawMessage, out []byte) ([]byte, error) {
	var a map[string]json.RawMessage
	if err := json.Unmarshal(raw, &a); err != nil {
		return out, &ArgError{Arg: "arguments", Reason: err.Error()}
	}
	dir, haveDir := "", false
	var start *bool
	var up, down speedArgs // speed.go
	var eng engineArgs     // sessionset.go
	ratio, _ := h.sess.SeedLimits()
	newRatio, ratioOn := ratio, ratio > 0
	pol := h.sess.SeedPolicy()
	newIdle, idleOn := pol.Idle, pol.Idle > 0
	for _, k := range sortedKeys(a) {
		v := a[k]
		if ok, err := parseSpeed(k, v, "speed-limit-up", "speed-limit-up-enabled", &up); ok {
			if err != nil {
				return out, err
			}
			continue
		}
		if ok, err := parseSpeed(k, v, "speed-limit-down", "speed-limit-down-enabled", &down); ok {
			if err != nil {
				return out, err
			}
			continue
		}
		if ok, err := parseEngineArg(k, v, &eng); ok {
			if err != nil {
				return out, err
			}
			continue
		}
		switch k {
		case "download-dir":
			var s string
			if err := json.Unmarshal(v, &s); err != nil || s == "" {
				return out, &ArgError{Arg: k, Reason: "want a path"}
			}
			c, err := h.confine(k, s)
			if err != nil {
				return out, err
			}
			dir, haveDir = c, true
		case "start-added-torrents":
			var b bool
			if err := json.Unmarshal(v, &b); err != nil {
				return out, &ArgError{Arg: k, Reason: "want a boolean"}
			}
			start = &b
		case "seedRatioLimit":
			var r float64
			if err := json.Unmarshal(v, &r); err != nil || r < 0 || math.IsInf(r, 0) {
				return out, &ArgError{Arg: k, Reason: "want a ratio, 0 or more"}
			}
			newRatio = r
		case "seedRatioLimited":
			if err := json.Unmarshal(v, &ratioOn); err != nil {
				return out, &ArgError{Arg: k, Reason: "want a boolean"}
			}
		case "idle-seeding-limit":
			var m int64
			if err := json.Unmarshal(v, &m); err != nil || m < 0 || m > maxIdleMinutes {
				return out, &ArgError{Arg: k, Reason: "want minutes, 0 or more"}
			}
			newIdle = time.Duration(m) * time.Minute
		case "idle-seeding-limit-enabled":
			if err := json.Unmarshal(v, &idleOn); err != nil {
				return out, &ArgError{Arg: k, Reason: "want a boolean"}
			}
		case "peer-port", "dht-enabled", "pex-enabled":
			// Set at start (flags); accepted only unchanged.
			cur := h.sessionValuesLocked()[k]
			if err := acceptFixed(k, v, map[string]struct {
				val any
				why string
			}{k: {cur, "set when the node starts (its command line or config file)"}}); err != nil {
				return out, err
			}
		default:
			if err := acceptFixed(k, v, sessionFixed); err != nil {
				return out, err
			}
		}
	}
	if !ratioOn {
		newRatio = 0
	}
	// Transmission keeps the ratio while the limit is off; the engine has
	// one number, 0 for none: seedRatioLimited false sets 0.
	if newRatio != ratio {
		_, seedTime := h.sess.SeedLimits()
		if err := h.sess.SetSeedLimits(ctx, newRatio, seedTime); err != nil {
			return out, err
		}
	}
	if !idleOn {
		newIdle = 0
	}
	if newIdle != pol.Idle { // as the ratio: one number, 0 for none
		pol.Idle = newIdle
		if err := h.sess.SetSeedPolicy(ctx, pol); err != nil {
			return out, err
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.applyEngineArgs(ctx, &eng); err != nil {
		return out, err
	}
	if err := h.setSessionSpeeds(ctx, up, down); err != nil {
		return out, err
	}
	if haveDir {
		h.downloadDir = dir
	}
	if start != nil {
		h.startAdded = *start
	}
	return append(out, `{}`...), nil
}

// acceptFixed accepts key k with value v when fixed has it with an equal
// value, and refuses it by name otherwise.
func acceptFixed(k string, v json.RawMessage, fixed map[string]struct {
	val any
	why string
}) error {
	f, ok := fixed[k]
	if !ok {
		return &UnsupportedError{Arg: k}
	}
	want, _ := json.Marshal(f.val)
	var got any
	if json.Unmarshal(v, &got) == nil {
		if norm, err := json.Marshal(got); err == nil && string(norm) == string(want) {
			return nil
		}
	}
	return &UnsupportedError{Arg: k, Why: f.why}
}

func sortedKeys(m map[string]json.RawMessage) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// statsObject is session-stats' cumulative-stats and current-stats.
type statsObject struct {
	UploadedBytes   int64 `json:"uploadedBytes"`
	DownloadedBytes int64 `json:"downloadedBytes"`
	FilesAdded      int64 `json:"filesAdded"`
	SessionCount    int64 `json:"sessionCount"`
	SecondsActive   int64 `json:"secondsActive"`
}

// ShardStats is one shard in session-stats' "shardtorrent" object.
type ShardStats struct {
	ID               int     `json:"id"`
	Torrents         int     `json:"torrents"`
	Peers            int     `json:"peers"`
	Busy             float64 `json:"busy"`
	IterationsPerSec float64 `json:"iterationsPerSec"`
	UploadRate       int64   `json:"uploadRate"`
	DownloadRate     int64   `json:"downloadRate"`
}

// PluginCost is one plugin hook in session-stats' "shardtorrent" object.
type PluginCost struct {
	Plugin  string  `json:"plugin"`
	Hook    string  `json:"hook"`
	Calls   uint64  `json:"calls"`
	Seconds float64 `json:"seconds"`
}

// Extra is session-stats' "shardtorrent" key: what Transmission has no
// word for, read by the status page.
type Extra struct {
	UptimeSeconds float64           `json:"uptimeSeconds"`
	Shards        []ShardStats      `json:"shards"`
	Plugins       []PluginCost      `json:"plugins"`
	AlertsDropped map[string]uint64 `json:"alertsDropped"`
}

// sessionStats answers session-stats from Session.Stats (one round trip
// per shard) and the views (one more). current-stats is this process;
// cumulative-stats adds the totals the torrents' resume data carried
// from earlier sessions (for the torrents present now: the node keeps no
// history of removed ones), and counts one session, this one.
func (h *Handler) sessionStats(ctx context.Context, out []byte) ([]byte, error) {
	st, err := h.sess.Stats(ctx)
	if err != nil {
		return out, err
	}
	h.mu.Lock()
	l, _, err := h.list(ctx, idSet{})
	var upEver, downEver, files int64
	if err == nil {
		for i := range l.views {
			upEver += l.views[i].UploadedEver
			downEver += l.views[i].DownloadedEver
			files += int64(l.views[i].NumFiles)
		}
	}
	h.mu.Unlock()
	if err != nil {
		return out, err
	}
	t := st.Totals
	secs := int64(st.Uptime.Seconds())
	resp := struct {
		Active     int         `json:"activeTorrentCount"`
		Paused     int         `json:"pausedTorrentCount"`
		Count      int         `json:"torrentCount"`
		Down       int64       `json:"downloadSpeed"`
		Up         int64       `json:"uploadSpeed"`
		Cumulative statsObject `json:"cumulative-stats"`
		Current    statsObject `json:"current-stats"`
		Extra      Extra       `json:"shardtorrent"`
	}{
		Active: t.Torrents - t.Paused - t.Errored, Paused: t.Paused + t.Errored, Count: t.Torrents,
		Down: t.DownloadRate, Up: t.UploadRate,
		Current:    statsObject{UploadedBytes: t.TotalUpload, DownloadedBytes: t.TotalDownload, FilesAdded: files, SessionCount: 1, SecondsActive: secs},
		Cumulative: statsObject{UploadedBytes: upEver, DownloadedBytes: downEver, FilesAdded: files, SessionCount: 1, SecondsActive: secs},
		Extra:      Extra{UptimeSeconds: st.Uptime.Seconds(), Shards: []ShardStats{}, Plugins: []PluginCost{}, AlertsDropped: st.AlertsDropped},
	}
	if resp.Extra.AlertsDropped == nil {
		resp.Extra.AlertsDropped = map[string]uint64{}
	}
	for _, s := range st.Shards {
		resp.Extra.Shards = append(resp.Extra.Shards, ShardStats{ID: s.ID, Torrents: s.Torrents, Peers: s.Peers, Busy: s.Busy,
			IterationsPerSec: s.IterationsPerSec, UploadRate: s.UploadRate, DownloadRate: s.DownloadRate})
	}
	for _, p := range st.Plugins {
		resp.Extra.Plugins = append(resp.Extra.Plugins, PluginCost{Plugin: p.Plugin, Hook: p.Hook, Calls: p.Calls, Seconds: p.Time.Seconds()})
	}
	return appendJSON(out, resp)
}

// torrentAddRefused are torrent-add arguments refused by name.
var torrentAddRefused = map[string]string{
	"bandwidthPriority": whySpeed, "peer-limit": whyAbsent,
	"labels": "the engine has no labels", "cookies": "fetching .torrent files by URL is not supported",
	"sequential_download": whySequential,
}

// torrentAdd answers torrent-add: "filename" (a path to a .torrent, or a
// magnet URI), or "metainfo" (a base64 .torrent); "download-dir"
// (confined; default session-get's download-dir) and "paused" (default:
// not start-added-torrents). A torrent already present is answered as
// torrent-duplicate.
func (h *Handler) torrentAdd(ctx context.Context, raw json.RawMessage, out []byte) ([]byte, error) {
	var a map[string]json.RawMessage
	if err := json.Unmarshal(raw, &a); err != nil {
		return out, &ArgError{Arg: "arguments", Reason: err.Error()}
	}
	var filename, meta, dir string
	var paused *bool
	var fa fileArgs // files.go
	for _, k := range sortedKeys(a) {
		v := a[k]
		if ok, err := fa.parse(k, v); ok {
			if err != nil {
				return out, err
			}
			continue
		}
		switch k {
		case "filename", "metainfo", "download-dir":
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return out, &ArgError{Arg: k, Reason: "want a string"}
			}
			switch k {
			case "filename":
				filename = s
			case "metainfo":
				meta = s
			default:
				dir = s
			}
		case "paused":
			var b bool
			if err := json.Unmarshal(v, &b); err != nil {
				return out, &ArgError{Arg: k, Reason: "want a boolean"}
			}
			paused = &b
		default:
			why, ok := torrentAddRefused[k]
			if !ok {
				return out, &UnsupportedError{Arg: k}
			}
			return out, &UnsupportedError{Arg: k, Why: why}
		}
	}
	var p shardtorrent.AddTorrentParams
	var name string
	switch {
	case meta != "":
		data, err := base64.StdEncoding.DecodeString(strings.Map(dropSpace, meta))
		if err != nil {
			return out, &ArgError{Arg: "metainfo", Reason: "not base64: " + err.Error()}
		}
		mi, err := metainfo.Parse(data)
		if err != nil {
			return out, fmt.Errorf("invalid or corrupt torrent file: %w", err)
		}
		p.MetaInfo, name = mi, mi.Info.Name
	case strings.HasPrefix(filename, "magnet:"):
		mp, err := shardtorrent.ParseMagnet(filename)
		if err != nil {
			return out, &ArgError{Arg: "filename", Reason: err.Error()}
		}
		p, name = mp, mp.Name
	case strings.HasPrefix(filename, "http://") || strings.HasPrefix(filename, "https://"):
		return out, &UnsupportedError{Arg: "filename", Why: "fetching a .torrent by URL is not supported; send it as metainfo"}
	case filename != "":
		path, err := h.confine("filename", filename)
		if err != nil {
			return out, err
		}
		mi, err := metainfo.Load(path)
		if err != nil {
			return out, fmt.Errorf("invalid or corrupt torrent file: %w", err)
		}
		p.MetaInfo, name = mi, mi.Info.Name
	default:
		return out, &ArgError{Arg: "filename", Reason: "torrent-add needs \"filename\" or \"metainfo\""}
	}
	if fa.any() {
		n := -1
		if p.MetaInfo != nil {
			n = visibleFiles(p.MetaInfo.Info.Files)
		}
		prios, err := fa.apply(nil, n)
		if err != nil {
			return out, err
		}
		p.FilePriorities = prios
	}
	if dir != "" {
		c, err := h.confine("download-dir", dir)
		if err != nil {
			return out, err
		}
		dir = c
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	if dir == "" {
		dir = h.downloadDir
	}
	p.SavePath = dir
	p.Paused = !h.startAdded
	if paused != nil {
		p.Paused = *paused
	}
	ih := p.InfoHash
	if p.MetaInfo != nil {
		ih = p.MetaInfo.InfoHash
	}
	key := "torrent-added"
	t, err := h.b.AddTorrent(ctx, p)
	switch {
	case errors.Is(err, shardtorrent.ErrDuplicateTorrent):
		key = "torrent-duplicate"
		if t == nil { // the backend knew it before the session did
			if t, err = h.sess.FindTorrent(ctx, ih.Short()); err != nil {
				return out, err
			}
		}
		name = t.Name()
	case err != nil:
		return out, err
	}
	id := h.reg.add(ih.Short(), h.now())
	if t != nil && t.Name() != "" {
		name = t.Name()
	}
	out = append(out, '{')
	out = appendString(out, key)
	out = append(out, `:{"hashString":`...)
	out = appendHash(out, ih)
	out = append(out, `,"id":`...)
	out = appendInt(out, int64(id))
	out = append(out, `,"name":`...)
	out = appendString(out, name)
	return append(out, `}}`...), nil
}

func dropSpace(r rune) rune {
	switch r {
	case ' ', '\n', '\r', '\t':
		return -1
	}
	return r
}

// each runs fn on every torrent the "ids" argument names. Under h.mu.
func (h *Handler) each(ctx context.Context, rawIDs json.RawMessage, fn func(t *shardtorrent.Torrent, key [20]byte) error) error {
	set, err := parseIDs(rawIDs)
	if err != nil {
		return err
	}
	l, _, err := h.list(ctx, set)
	if err != nil {
		return err
	}
	// Copy what is needed: fn may list again (it must not, but a remove
	// changes the registry).
	keys := make([][20]byte, len(l.sel))
	for i, s := range l.sel {
		keys[i] = l.views[s.vi].InfoHash.Short()
	}
	for _, key := range keys {
		t, err := h.sess.FindTorrent(ctx, key)
		if errors.Is(err, shardtorrent.ErrTorrentGone) {
			continue
		}
		if err != nil {
			return err
		}
		if err := fn(t, key); err != nil && !errors.Is(err, shardtorrent.ErrTorrentGone) {
			return err
		}
	}
	return nil
}

// torrentRemove answers torrent-remove (with "delete-local-data": the
// files are deleted once the torrent's storage is closed).
func (h *Handler) torrentRemove(ctx context.Context, raw json.RawMessage, out []byte) ([]byte, error) {
	var a struct {
		IDs    json.RawMessage `json:"ids"`
		Delete bool            `json:"delete-local-data"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return out, &ArgError{Arg: "arguments", Reason: err.Error()}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	err := h.each(ctx, a.IDs, func(t *shardtorrent.Torrent, key [20]byte) error {
		if err := h.b.RemoveTorrent(ctx, t, a.Delete); err != nil {
			return err
		}
		h.reg.remove(key, h.now())
		delete(h.torrentKB, key) // speed.go
		return nil
	})
	if err != nil {
		return out, err
	}
	return append(out, `{}`...), nil
}

type action int

const (
	actStart action = iota
	actStartNow
	actStop
	actVerify
	actReannounce
)

// torrentAction answers torrent-start(-now), -stop, -verify and
// -reannounce, with Transmission's meaning of the two starts:
// torrent-start (actStart) puts the torrent in the queue (auto-managed),
// where it runs when the queue's limits let it; torrent-start-now
// (actStartNow) resumes it by hand, outside the queue, whatever its
// limits (as a manual resume in libtorrent). torrent-stop pauses it by
// hand, which also takes it out of the queue.
func (h *Handler) torrentAction(ctx context.Context, raw json.RawMessage, out []byte, act action) ([]byte, error) {
	var a struct {
		IDs json.RawMessage `json:"ids"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return out, &ArgError{Arg: "arguments", Reason: err.Error()}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	err := h.each(ctx, a.IDs, func(t *shardtorrent.Torrent, _ [20]byte) error {
		switch act {
		case actStart:
			return t.SetAutoManaged(ctx, true)
		case actStartNow:
			return t.Resume(ctx)
		case actStop:
			return t.Pause(ctx)
		case actVerify:
			return t.ForceRecheck(ctx)
		default:
			return t.ForceReannounce(ctx)
		}
	})
	if err != nil {
		return out, err
	}
	return append(out, `{}`...), nil
}

// torrentFixed are torrent-set keys accepted only with the value the
// engine has anyway.
var torrentFixed = map[string]struct {
	val any
	why string
}{
	"honorsSessionLimits": {true, whySpeed},
	"bandwidthPriority":   {0, whySpeed},
}

// torrentSetRefused names why other torrent-set keys are refused.
var torrentSetRefused = map[string]string{
	"peer-limit": whyAbsent, "queuePosition": whyQueue, "labels": "the engine has no labels",
	"group": whySpeed, "location": "moving a torrent's data is not supported", "trackerRemove": "trackers cannot be removed yet",
	"trackerReplace": "trackers cannot be replaced yet", "trackerList": "trackers cannot be replaced yet; use trackerAdd",
}

// torrentSet answers torrent-set: "trackerAdd" adds announce URLs (each
// a new last tier); the keys of torrentFixed are accepted with their
// fixed value; everything else is refused by name, and then nothing is
// changed.
func (h *Handler) torrentSet(ctx context.Context, raw json.RawMessage, out []byte) ([]byte, error) {
	var a map[string]json.RawMessage
	if err := json.Unmarshal(raw, &a); err != nil {
		return out, &ArgError{Arg: "arguments", Reason: err.Error()}
	}
	var add []string
	var up, down speedArgs // speed.go
	var ratioMode *shard.RatioMode
	var ratioLimit *float64
	var idleMode *shard.IdleMode
	var idleLimit *time.Duration
	var fa fileArgs // files.go
	for _, k := range sortedKeys(a) {
		v := a[k]
		if ok, err := fa.parse(k, v); ok {
			if err != nil {
				return out, err
			}
			continue
		}
		if ok, err := parseSpeed(k, v, "uploadLimit", "uploadLimited", &up); ok {
			if err != nil {
				return out, err
			}
			continue
		}
		if ok, err := parseSpeed(k, v, "downloadLimit", "downloadLimited", &down); ok {
			if err != nil {
				return out, err
			}
			continue
		}
		switch k {
		case "ids":
		case "seedRatioMode":
			var m int
			if err := json.Unmarshal(v, &m); err != nil || m < 0 || m > 2 {
				return out, &ArgError{Arg: k, Reason: "want 0 (the session's), 1 (this torrent's seedRatioLimit) or 2 (unlimited)"}
			}
			rm := shard.RatioMode(m)
			ratioMode = &rm
		case "seedRatioLimit":
			var r float64
			if err := json.Unmarshal(v, &r); err != nil || r < 0 || math.IsInf(r, 0) {
				return out, &ArgError{Arg: k, Reason: "want a ratio, 0 or more"}
			}
			ratioLimit = &r
		case "seedIdleMode":
			var m int
			if err := json.Unmarshal(v, &m); err != nil || m < 0 || m > 2 {
				return out, &ArgError{Arg: k, Reason: "want 0 (the session's), 1 (this torrent's seedIdleLimit) or 2 (unlimited)"}
			}
			im := shard.IdleMode(m)
			idleMode = &im
		case "seedIdleLimit":
			var m int64
			if err := json.Unmarshal(v, &m); err != nil || m < 0 || m > maxIdleMinutes {
				return out, &ArgError{Arg: k, Reason: "want minutes, 0 or more"}
			}
			d := time.Duration(m) * time.Minute
			idleLimit = &d
		case "trackerAdd":
			if err := json.Unmarshal(v, &add); err != nil {
				return out, &ArgError{Arg: k, Reason: "want a list of announce URLs"}
			}
		default:
			if why, ok := torrentSetRefused[k]; ok {
				return out, &UnsupportedError{Arg: k, Why: why}
			}
			if err := acceptFixed(k, v, torrentFixed); err != nil {
				return out, err
			}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	err := h.each(ctx, a["ids"], func(t *shardtorrent.Torrent, key [20]byte) error {
		if err := h.setTorrentSpeeds(ctx, t, key, up, down); err != nil {
			return err
		}
		if ratioMode != nil || ratioLimit != nil {
			mode, ratio, err := t.RatioLimit(ctx)
			if err != nil {
				return err
			}
			if ratioMode != nil {
				mode = *ratioMode
			}
			if ratioLimit != nil {
				ratio = *ratioLimit
			}
			if err := t.SetRatioLimit(ctx, mode, ratio); err != nil {
				return err
			}
		}
		if idleMode != nil || idleLimit != nil {
			mode, idle, err := t.IdleLimit(ctx)
			if err != nil {
				return err
			}
			if idleMode != nil {
				mode = *idleMode
			}
			if idleLimit != nil {
				idle = *idleLimit
			}
			if err := t.SetIdleLimit(ctx, mode, idle); err != nil {
				return err
			}
		}
		if fa.any() {
			if err := setFilePriorities(ctx, t, &fa); err != nil { // files.go
				return err
			}
		}
		for _, u := range add {
			ok, err := t.AddTracker(ctx, u, 1<<20) // past the last tier: a new last tier
			if err != nil {
				return err
			}
			if !ok {
				return &ArgError{Arg: "trackerAdd", Reason: fmt.Sprintf("%q is not an http, https or udp tracker URL, or the torrent has it already", u)}
			}
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	return append(out, `{}`...), nil
}

// freeSpace answers free-space: the bytes available to us (statfs's
// Bavail) and in all ("total_size", protocol 17) on the file system of a
// confined path.
func (h *Handler) freeSpace(raw json.RawMessage, out []byte) ([]byte, error) {
	var a struct {
		Path string `json:"path"`
	}
	if err := json.Unmarshal(raw, &a); err != nil || a.Path == "" {
		return out, &ArgError{Arg: "path", Reason: "free-space needs a directory path"}
	}
	p, err := h.confine("path", a.Path)
	if err != nil {
		return out, err
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(p, &st); err != nil {
		return out, fmt.Errorf("free-space %q: %w", a.Path, err)
	}
	out = append(out, `{"path":`...)
	out = appendString(out, a.Path)
	out = append(out, `,"size-bytes":`...)
	out = appendInt(out, int64(st.Bavail)*int64(st.Bsize))
	out = append(out, `,"total_size":`...)
	out = appendInt(out, int64(st.Blocks)*int64(st.Bsize))
	return append(out, '}'), nil
}
