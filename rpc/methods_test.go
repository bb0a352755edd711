package rpc_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/shard"
)

// addSeed makes a torrent whose data is in f.root, adds it over RPC and
// waits until it seeds; it returns its id.
func (f *fixture) addSeed(name string, size int) (int, string) {
	f.t.Helper()
	path, mi := f.makeTorrent(f.root, name, size, 16<<10)
	var a specAdded
	f.c.mustCall("torrent-add", map[string]any{"filename": path}, &a)
	if a.Added == nil {
		f.t.Fatalf("add %s: %+v", name, a)
	}
	id := a.Added.ID
	f.waitFor(name+" seeding", func() bool {
		ts := f.get([]int{id}, "status")
		return len(ts) == 1 && *ts[0].Status == 6
	})
	// The check's alerts were posted before the state changed: drop them,
	// so a later wait sees only what comes after.
	f.sess.PopAlerts()
	return id, mi.InfoHash.V1.String()
}

// keysOf runs torrent-get with fields and returns each torrent's keys.
func (f *fixture) keysOf(ids any, fields []string) []map[string]json.RawMessage {
	f.t.Helper()
	var out struct {
		Torrents []map[string]json.RawMessage `json:"torrents"`
	}
	f.c.mustCall("torrent-get", map[string]any{"ids": ids, "fields": fields}, &out)
	return out.Torrents
}

// TestRemoteFieldLists: every field each transmission-remote 3.00 mode
// asks for is answered, with the spec's JSON type.
func TestRemoteFieldLists(t *testing.T) {
	f := newFixture(t, "off")
	id, _ := f.addSeed("fields.bin", 70_000)
	strs := map[string]bool{"errorString": true, "name": true, "comment": true, "creator": true, "downloadDir": true,
		"hashString": true, "magnetLink": true, "pieces": true}
	arrays := map[string]bool{"labels": true, "webseeds": true, "files": true, "priorities": true, "wanted": true,
		"peers": true, "trackerStats": true}
	bools := map[string]bool{"isFinished": true, "isPrivate": true, "downloadLimited": true, "uploadLimited": true,
		"honorsSessionLimits": true}
	for mode, fields := range map[string][]string{"-l": remoteList, "-i": remoteDetails, "-if": remoteFiles,
		"-ip": remotePeers, "-ic": remotePieces, "-it": remoteTrackers} {
		ts := f.keysOf([]int{id}, fields)
		if len(ts) != 1 {
			t.Fatalf("%s: %d torrents", mode, len(ts))
		}
		for _, k := range fields {
			v, ok := ts[0][k]
			if !ok {
				t.Errorf("%s: field %q missing", mode, k)
				continue
			}
			var kind byte
			switch {
			case strs[k]:
				kind = '"'
			case arrays[k]:
				kind = '['
			case bools[k]:
				kind = 'b'
			default:
				kind = 'n'
			}
			c := v[0]
			okType := (kind == '"' && c == '"') || (kind == '[' && c == '[') ||
				(kind == 'b' && (c == 't' || c == 'f')) || (kind == 'n' && (c == '-' || (c >= '0' && c <= '9')))
			if !okType {
				t.Errorf("%s: field %q = %s, not of the spec's type", mode, k, v)
			}
		}
		if len(ts[0]) != len(fields) {
			t.Errorf("%s: %d keys for %d fields", mode, len(ts[0]), len(fields))
		}
	}
	// The values -if and -ic show.
	ts := f.get([]int{id}, remoteFiles...)
	if len(ts[0].Files) != 1 || ts[0].Files[0].Name != "fields.bin" || ts[0].Files[0].Length != 70_000 ||
		ts[0].Files[0].BytesCompleted != 70_000 || !slices.Equal(ts[0].Wanted, []int{1}) || !slices.Equal(ts[0].Priorities, []int{0}) {
		t.Fatalf("-if: %+v", ts[0])
	}
	ts = f.get([]int{id}, remotePieces...)
	raw, err := base64.StdEncoding.DecodeString(*ts[0].Pieces)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range raw {
		n += bits.OnesCount8(b)
	}
	if *ts[0].PieceCount != 5 || n != 5 {
		t.Fatalf("-ic: pieceCount %d, %d bits set in %x", *ts[0].PieceCount, n, raw)
	}
}

// TestTableFormat: format "table" answers a row of keys and then one row
// per torrent, the same values as the objects form.
func TestTableFormat(t *testing.T) {
	f := newFixture(t, "off")
	f.addSeed("t1.bin", 20_000)
	f.addSeed("t2.bin", 30_000)
	var tab struct {
		Torrents [][]any `json:"torrents"`
	}
	fields := []string{"id", "name", "totalSize", "status"}
	f.c.mustCall("torrent-get", map[string]any{"fields": fields, "format": "table"}, &tab)
	want := [][]any{{"id", "name", "totalSize", "status"}, {1.0, "t1.bin", 20000.0, 6.0}, {2.0, "t2.bin", 30000.0, 6.0}}
	if len(tab.Torrents) != len(want) {
		t.Fatalf("table %v", tab.Torrents)
	}
	for i := range want {
		if !slices.Equal(tab.Torrents[i], want[i]) {
			t.Fatalf("row %d: %v, want %v", i, tab.Torrents[i], want[i])
		}
	}
	if res := f.c.call("torrent-get", map[string]any{"fields": fields, "format": "csv"}, nil); !strings.Contains(res, `"format"`) {
		t.Fatalf("bad format: result %q", res)
	}
}

// TestBadIDs: ids that are not ids fail with a result naming "ids"; ids
// naming no torrent are skipped (as Transmission does); hash strings in
// either case select.
func TestBadIDs(t *testing.T) {
	f := newFixture(t, "off")
	id, hash := f.addSeed("ids.bin", 10_000)
	for _, bad := range []any{0, -1, 1.5, "xyz", map[string]int{"a": 1}, []any{"zz"}, []any{1, true}, strings.Repeat("g", 40)} {
		res := f.c.call("torrent-get", map[string]any{"ids": bad, "fields": []string{"id"}}, nil)
		if !strings.Contains(res, `invalid argument "ids"`) {
			t.Errorf("ids %v: result %q", bad, res)
		}
		if res := f.c.call("torrent-stop", map[string]any{"ids": bad}, nil); !strings.Contains(res, `"ids"`) {
			t.Errorf("torrent-stop ids %v: result %q", bad, res)
		}
	}
	if res := f.c.call("torrent-get", map[string]any{"ids": make([]int, 100_001), "fields": []string{"id"}}, nil); !strings.Contains(res, "more than 100000") {
		t.Errorf("100,001 ids: result %q", res)
	}
	if ts := f.get([]int{99}, "id"); len(ts) != 0 {
		t.Fatalf("unknown id: %+v", ts)
	}
	for _, sel := range []any{id, []any{id}, []any{hash}, []any{strings.ToUpper(hash)}, hash, []any{99, hash, id}} {
		ts := f.get(sel, "id")
		if len(ts) != 1 || ts[0].ID != id {
			t.Errorf("ids %v: %+v", sel, ts)
		}
	}
	if ts := f.get([]int{}, "id"); len(ts) != 0 {
		t.Fatalf("empty ids list selected %+v", ts)
	}
}

// TestPathsOutsideRoots: every path argument goes through Confine; one
// outside the roots is refused and nothing happens.
func TestPathsOutsideRoots(t *testing.T) {
	f := newFixture(t, "off")
	outside := t.TempDir()
	tor, _ := f.makeTorrent(f.root, "in.bin", 10_000, 16<<10)
	outTor := filepath.Join(outside, "out.torrent")
	raw, err := os.ReadFile(tor)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(outTor, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method string
		args   map[string]any
	}{
		{"torrent-add", map[string]any{"filename": outTor}},
		{"torrent-add", map[string]any{"filename": filepath.Join(f.root, "..", filepath.Base(outside), "out.torrent")}},
		{"torrent-add", map[string]any{"filename": tor, "download-dir": outside}},
		{"torrent-add", map[string]any{"filename": tor, "download-dir": f.root + "/../x"}},
		{"session-set", map[string]any{"download-dir": outside}},
		{"free-space", map[string]any{"path": outside}},
	} {
		res := f.c.call(c.method, c.args, nil)
		if !strings.Contains(res, "refused") || !strings.Contains(res, "outside the test root") {
			t.Errorf("%s %v: result %q", c.method, c.args, res)
		}
	}
	if ts := f.get(nil, "id"); len(ts) != 0 {
		t.Fatalf("a refused add added %+v", ts)
	}
	var ss map[string]any
	f.c.mustCall("session-get", map[string]any{"fields": []string{"download-dir"}}, &ss)
	if ss["download-dir"] != f.root {
		t.Fatalf("download-dir changed to %v", ss["download-dir"])
	}
}

// TestRemoveWithLocalData: torrent-remove with delete-local-data removes
// the torrent and its files; without it the files stay; the ids are not
// reused.
func TestRemoveWithLocalData(t *testing.T) {
	f := newFixture(t, "off")
	keep, _ := f.addSeed("keep.bin", 10_000)
	gone, _ := f.addSeed("gone.bin", 10_000)
	f.c.mustCall("torrent-remove", map[string]any{"ids": []int{gone}, "delete-local-data": true}, nil)
	f.waitAlert("files deleted", func(a plugin.Alert) bool { _, ok := a.(*plugin.TorrentDeletedAlert); return ok })
	if _, err := os.Stat(filepath.Join(f.root, "gone.bin")); !os.IsNotExist(err) {
		t.Fatalf("gone.bin still there (%v)", err)
	}
	f.c.mustCall("torrent-remove", map[string]any{"ids": []int{keep}}, nil)
	if _, err := os.Stat(filepath.Join(f.root, "keep.bin")); err != nil {
		t.Fatalf("keep.bin: %v", err)
	}
	if ts := f.get(nil, "id"); len(ts) != 0 {
		t.Fatalf("after removes: %+v", ts)
	}
	// Added again: a new id.
	var a specAdded
	f.c.mustCall("torrent-add", map[string]any{"filename": filepath.Join(f.root, "keep.bin.torrent")}, &a)
	if a.Added == nil || a.Added.ID != 3 {
		t.Fatalf("re-added: %+v", a)
	}
}

// TestVerifyFindsCorruption: torrent-verify re-checks the files: a piece
// overwritten on disk is found missing.
func TestVerifyFindsCorruption(t *testing.T) {
	f := newFixture(t, "off")
	id, _ := f.addSeed("v.bin", 64<<10)
	fh, err := os.OpenFile(filepath.Join(f.root, "v.bin"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteAt(make([]byte, 100), 20<<10); err != nil { // in piece 1
		t.Fatal(err)
	}
	fh.Close()
	f.c.mustCall("torrent-verify", map[string]any{"ids": id}, nil)
	f.waitAlert("check done", func(a plugin.Alert) bool {
		c, ok := a.(*plugin.TorrentCheckedAlert)
		return ok && c.Total == 4
	})
	ts := f.get([]int{id}, "percentDone", "leftUntilDone", "status")
	if *ts[0].LeftUntilDone != 16<<10 || *ts[0].PercentDone != 0.75 || *ts[0].Status != 4 {
		t.Fatalf("after verify: left %d, done %v, status %d", *ts[0].LeftUntilDone, *ts[0].PercentDone, *ts[0].Status)
	}
}

// TestStartStopReannounce: stop sets status 0, start brings it back;
// reannounce and start-now are accepted.
func TestStartStopReannounce(t *testing.T) {
	f := newFixture(t, "off")
	id, _ := f.addSeed("ss.bin", 10_000)
	f.c.mustCall("torrent-stop", map[string]any{"ids": []int{id}}, nil)
	if ts := f.get(id, "status"); *ts[0].Status != 0 {
		t.Fatalf("after stop: status %d", *ts[0].Status)
	}
	f.c.mustCall("torrent-start-now", map[string]any{"ids": []int{id}}, nil)
	if ts := f.get(id, "status"); *ts[0].Status != 6 {
		t.Fatalf("after start: status %d", *ts[0].Status)
	}
	f.c.mustCall("torrent-stop", nil, nil) // no ids: all
	f.c.mustCall("torrent-start", map[string]any{"ids": id}, nil)
	if ts := f.get(id, "status"); *ts[0].Status != 6 {
		t.Fatalf("after start: status %d", *ts[0].Status)
	}
	f.c.mustCall("torrent-reannounce", map[string]any{"ids": id}, nil)
}

// TestRecentlyActive: on a fake clock, "recently-active" lists the
// torrents that changed within 60 s and "removed" the ids removed within
// 60 s.
func TestRecentlyActive(t *testing.T) {
	f := newFixture(t, "off")
	a, _ := f.addSeed("ra.bin", 10_000)
	b, _ := f.addSeed("rb.bin", 10_000)
	recent := func() ([]int, []int) {
		var out specTorrents
		f.c.mustCall("torrent-get", map[string]any{"ids": "recently-active", "fields": []string{"id"}}, &out)
		var ids []int
		for _, x := range out.Torrents {
			ids = append(ids, x.ID)
		}
		if out.Removed == nil {
			t.Fatal("recently-active without a removed list")
		}
		return ids, out.Removed
	}
	if ids, rm := recent(); !slices.Equal(ids, []int{a, b}) || len(rm) != 0 {
		t.Fatalf("just added: %v removed %v", ids, rm)
	}
	f.clock.now = f.clock.now.Add(2 * time.Minute)
	if ids, rm := recent(); len(ids) != 0 || len(rm) != 0 {
		t.Fatalf("2 min idle: %v removed %v", ids, rm)
	}
	f.c.mustCall("torrent-stop", map[string]any{"ids": []int{a}}, nil)
	f.c.mustCall("torrent-remove", map[string]any{"ids": []int{b}}, nil)
	if ids, rm := recent(); !slices.Equal(ids, []int{a}) || !slices.Equal(rm, []int{b}) {
		t.Fatalf("after stop and remove: %v removed %v", ids, rm)
	}
	f.clock.now = f.clock.now.Add(61 * time.Second)
	if ids, rm := recent(); len(ids) != 0 || len(rm) != 0 {
		t.Fatalf("61 s later: %v removed %v", ids, rm)
	}
}

// TestSessionSet: the arguments we support take effect at once; the
// others are refused by name (and then nothing changes), unless they ask
// for what the engine does anyway.
func TestSessionSet(t *testing.T) {
	f := newFixture(t, "off")
	sub := filepath.Join(f.root, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	f.c.mustCall("session-set", map[string]any{"download-dir": sub, "start-added-torrents": false, "speed-limit-up-enabled": false}, nil)
	var ss map[string]any
	f.c.mustCall("session-get", map[string]any{"fields": []string{"download-dir", "start-added-torrents"}}, &ss)
	if ss["download-dir"] != sub || ss["start-added-torrents"] != false {
		t.Fatalf("session-get after set: %v", ss)
	}
	tor, _ := f.makeTorrent(sub, "s.bin", 10_000, 16<<10)
	var a specAdded
	f.c.mustCall("torrent-add", map[string]any{"filename": tor}, &a)
	ts := f.get(a.Added.ID, "downloadDir", "status")
	if *ts[0].DownloadDir != sub || *ts[0].Status != 0 {
		t.Fatalf("added after session-set: dir %s status %d", *ts[0].DownloadDir, *ts[0].Status)
	}
	for arg, val := range map[string]any{"alt-speed-enabled": true,
		"utp-enabled": true, "lpd-enabled": true, "no-such-argument": 1, "version": "x"} {
		res := f.c.call("session-set", map[string]any{arg: val, "start-added-torrents": true}, nil)
		if !strings.Contains(res, `argument "`+arg+`" is not supported`) {
			t.Errorf("session-set %s=%v: result %q", arg, val, res)
		}
	}
	f.c.mustCall("session-get", map[string]any{"fields": []string{"start-added-torrents"}}, &ss)
	if ss["start-added-torrents"] != false {
		t.Fatal("a refused session-set changed start-added-torrents")
	}
}

// TestSessionSetEngine: the keys that map onto the engine's run-time
// settings change them in the running session (Session.ApplySettings),
// and session-get reads them back from it; bad values are refused by name
// and change nothing.
func TestSessionSetEngine(t *testing.T) {
	f := newFixture(t, "off")
	f.c.mustCall("session-set", map[string]any{
		"peer-limit-global": 50, "peer-limit-per-torrent": 20, "encryption": "required",
		"seed-queue-enabled": true, "seed-queue-size": 7, "download-queue-size": 3,
		"queue-stalled-enabled": false, "queue-stalled-minutes": 5,
	}, nil)
	set := f.sess.Settings()
	e := set.Engine
	if e.MaxConns != 50 || e.MaxConnsPerTorrent != 20 || e.InEncPolicy != shard.EncForced || e.OutEncPolicy != shard.EncForced {
		t.Errorf("engine after session-set: conns %d/%d, enc %v/%v", e.MaxConns, e.MaxConnsPerTorrent, e.InEncPolicy, e.OutEncPolicy)
	}
	if set.ActiveSeeds != shardtorrent.LimitTo(7) || !set.ActiveDownloads.IsUnlimited() || !set.CountSlowTorrents || e.AutoManageInactiveTime != 5*time.Minute {
		t.Errorf("queue after session-set: seeds %v downloads %v count slow %v inactive %v", set.ActiveSeeds, set.ActiveDownloads, set.CountSlowTorrents, e.AutoManageInactiveTime)
	}
	var ss map[string]any
	f.c.mustCall("session-get", map[string]any{"fields": []string{"peer-limit-global", "peer-limit-per-torrent", "encryption",
		"seed-queue-enabled", "seed-queue-size", "download-queue-enabled", "download-queue-size", "queue-stalled-enabled", "queue-stalled-minutes"}}, &ss)
	want := map[string]any{"peer-limit-global": 50.0, "peer-limit-per-torrent": 20.0, "encryption": "required",
		"seed-queue-enabled": true, "seed-queue-size": 7.0, "download-queue-enabled": false, "download-queue-size": 3.0,
		"queue-stalled-enabled": false, "queue-stalled-minutes": 5.0}
	for k, v := range want {
		if ss[k] != v {
			t.Errorf("session-get %s = %v, want %v", k, ss[k], v)
		}
	}
	f.c.mustCall("session-set", map[string]any{"download-queue-enabled": true, "encryption": "tolerated"}, nil)
	if set := f.sess.Settings(); set.ActiveDownloads != shardtorrent.LimitTo(3) || set.Engine.OutEncPolicy != shard.EncDisabled {
		t.Errorf("after download-queue-enabled: %v, out policy %v", set.ActiveDownloads, set.Engine.OutEncPolicy)
	}
	for arg, val := range map[string]any{"encryption": "sometimes", "peer-limit-global": 0, "seed-queue-size": -1, "queue-stalled-minutes": 0} {
		res := f.c.call("session-set", map[string]any{arg: val, "peer-limit-per-torrent": 99}, nil)
		if !strings.Contains(res, `"`+arg+`"`) {
			t.Errorf("session-set %s=%v: result %q", arg, val, res)
		}
	}
	if got := f.sess.Settings().Engine.MaxConnsPerTorrent; got != 20 {
		t.Errorf("a refused session-set changed peer-limit-per-torrent to %d", got)
	}
}

// TestTorrentSet: bad ratio and idle modes and labels are refused by
// name (file selection: files_test.go); trackerAdd adds a tracker that
// trackerStats shows.
func TestTorrentSet(t *testing.T) {
	f := newFixture(t, "off")
	id, _ := f.addSeed("ts.bin", 10_000)
	for arg, val := range map[string]any{"seedIdleMode": 3, "seedRatioMode": 3, "labels": []string{"x"}} {
		res := f.c.call("torrent-set", map[string]any{"ids": id, arg: val}, nil)
		if !strings.Contains(res, `argument "`+arg+`"`) {
			t.Errorf("torrent-set %s: result %q", arg, res)
		}
	}
	f.c.mustCall("torrent-set", map[string]any{"ids": id, "uploadLimited": false}, nil)
	const tr = "http://127.0.0.1:1/announce"
	f.c.mustCall("torrent-set", map[string]any{"ids": []int{id}, "trackerAdd": []string{tr}}, nil)
	ts := f.get(id, "trackerStats")
	if len(ts[0].TrackerStats) != 1 || ts[0].TrackerStats[0].Announce != tr || ts[0].TrackerStats[0].Host != "http://127.0.0.1:1" {
		t.Fatalf("trackerStats %+v", ts[0].TrackerStats)
	}
	var lists struct {
		Torrents []struct {
			TrackerList string `json:"trackerList"`
			Trackers    []struct {
				Announce string `json:"announce"`
				Scrape   string `json:"scrape"`
				Tier     int    `json:"tier"`
			} `json:"trackers"`
		} `json:"torrents"`
	}
	f.c.mustCall("torrent-get", map[string]any{"ids": id, "fields": []string{"trackers", "trackerList"}}, &lists)
	g := lists.Torrents[0]
	if g.TrackerList != tr+"\n" || len(g.Trackers) != 1 || g.Trackers[0].Announce != tr || g.Trackers[0].Scrape != "http://127.0.0.1:1/scrape" {
		t.Fatalf("trackers %+v", g)
	}
}

// TestSessionStatsAndMisc: session-stats has the spec's keys plus the
// shards and plugin costs; free-space, port-test and session-close
// answer.
func TestSessionStatsAndMisc(t *testing.T) {
	f := newFixture(t, "off")
	f.addSeed("st.bin", 10_000)
	id2, _ := f.addSeed("st2.bin", 10_000)
	f.c.mustCall("torrent-stop", map[string]any{"ids": id2}, nil)
	var st struct {
		Active, Paused, Count *int
		Down                  *int64 `json:"downloadSpeed"`
		Up                    *int64 `json:"uploadSpeed"`
		Cumulative            *struct {
			SessionCount  int   `json:"sessionCount"`
			SecondsActive int64 `json:"secondsActive"`
		} `json:"cumulative-stats"`
		Current *struct {
			UploadedBytes *int64 `json:"uploadedBytes"`
		} `json:"current-stats"`
		Extra struct {
			Shards []struct {
				ID       int `json:"id"`
				Torrents int `json:"torrents"`
			} `json:"shards"`
			Plugins []struct {
				Plugin string `json:"plugin"`
			} `json:"plugins"`
		} `json:"shardtorrent"`
	}
	var raw map[string]json.RawMessage
	f.c.mustCall("session-stats", nil, &raw)
	for _, k := range []string{"activeTorrentCount", "pausedTorrentCount", "torrentCount", "downloadSpeed", "uploadSpeed", "cumulative-stats", "current-stats", "shardtorrent"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("session-stats lacks %q", k)
		}
	}
	var counts struct {
		Active int `json:"activeTorrentCount"`
		Paused int `json:"pausedTorrentCount"`
		Count  int `json:"torrentCount"`
	}
	f.c.mustCall("session-stats", nil, &counts)
	if counts.Active != 1 || counts.Paused != 1 || counts.Count != 2 {
		t.Fatalf("counts %+v", counts)
	}
	f.c.mustCall("session-stats", nil, &st)
	if len(st.Extra.Shards) != 2 || st.Extra.Shards[0].Torrents+st.Extra.Shards[1].Torrents != 2 || st.Cumulative.SessionCount != 1 || st.Current.UploadedBytes == nil {
		t.Fatalf("session-stats %+v", st)
	}
	var fs struct {
		Path  string `json:"path"`
		Size  int64  `json:"size-bytes"`
		Total int64  `json:"total_size"`
	}
	f.c.mustCall("free-space", map[string]any{"path": f.root}, &fs)
	if fs.Path != f.root || fs.Size <= 0 || fs.Total < fs.Size {
		t.Fatalf("free-space %+v", fs)
	}
	var pt map[string]any
	f.c.mustCall("port-test", nil, &pt)
	if pt["port-is-open"] != false {
		t.Fatalf("port-test %v", pt)
	}
	f.c.mustCall("session-close", nil, nil)
	select {
	case <-f.closed:
	default:
		t.Fatal("session-close did not call the node's close")
	}
}

// TestFilesOfMultiFileTorrent: files and fileStats give each file's
// bytes in pieces had, split at piece boundaries that fall inside files.
func TestFilesOfMultiFileTorrent(t *testing.T) {
	f := newFixture(t, "off")
	// Piece 1 ([16384, 32768): the end of a, the start of b) is corrupt
	// on disk.
	raw := f.multiFileTorrent(100)
	var a specAdded
	f.c.mustCall("torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(raw)}, &a)
	f.waitFor("checked", func() bool { return *f.get(a.Added.ID, "status")[0].Status == 4 })
	g := f.get(a.Added.ID, "files", "fileStats", "leftUntilDone")[0]
	want := []struct {
		name       string
		size, done int64
	}{{"multi/a", 20000, 16384}, {"multi/b", 30000, 50000 - 32768}}
	if len(g.Files) != 2 || len(g.FileStats) != 2 || *g.LeftUntilDone != 16384 {
		t.Fatalf("files %+v fileStats %+v left %d", g.Files, g.FileStats, *g.LeftUntilDone)
	}
	for i, w := range want {
		if g.Files[i].Name != w.name || g.Files[i].Length != w.size || g.Files[i].BytesCompleted != w.done || g.FileStats[i].BytesCompleted != w.done {
			t.Errorf("file %d: %+v / %+v, want %+v", i, g.Files[i], g.FileStats[i], w)
		}
	}
}

// TestConcurrentRequests: listings, stats, adds and removals from many
// goroutines at once (run under -race in CI) keep ids unique and never
// reused.
func TestConcurrentRequests(t *testing.T) {
	f := newFixture(t, "off")
	var tors []string
	for i := range 8 {
		p, _ := f.makeTorrent(f.root, fmt.Sprintf("c%d.bin", i), 5000+i, 16<<10)
		tors = append(tors, p)
	}
	var wg sync.WaitGroup
	ids := make(chan int, 64)
	errs := make(chan string, 64)
	for i := range 4 {
		wg.Go(func() {
			c := &specClient{t: t, url: f.c.url, http: f.c.http}
			for j := range 2 {
				var a specAdded
				if res := c.call("torrent-add", map[string]any{"filename": tors[2*i+j]}, &a); res != "success" || a.Added == nil {
					errs <- res
					return
				}
				ids <- a.Added.ID
				var out specTorrents
				if res := c.call("torrent-get", map[string]any{"fields": remoteList}, &out); res != "success" {
					errs <- res
				}
				if res := c.call("session-stats", nil, nil); res != "success" {
					errs <- res
				}
				if j == 0 {
					if res := c.call("torrent-remove", map[string]any{"ids": []int{a.Added.ID}}, nil); res != "success" {
						errs <- res
					}
				}
			}
		})
	}
	wg.Wait()
	close(ids)
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	seen := map[int]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("id %d given twice", id)
		}
		seen[id] = true
	}
	if len(seen) != 8 {
		t.Fatalf("%d ids", len(seen))
	}
	ts := f.get(nil, "id")
	if len(ts) != 4 {
		t.Fatalf("%d torrents left, want 4", len(ts))
	}
}
