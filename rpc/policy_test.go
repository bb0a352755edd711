package rpc_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/shard"
)

// statusOf returns torrent-get's status of id.
func (f *fixture) statusOf(id int) int {
	f.t.Helper()
	ts := f.get([]int{id}, "status")
	if len(ts) != 1 || ts[0].Status == nil {
		f.t.Fatalf("torrent-get %d: %+v", id, ts)
	}
	return *ts[0].Status
}

// addPausedSeed adds a torrent whose data is in f.root paused (not
// auto-managed) and waits for its check.
func (f *fixture) addPausedSeed(name string) int {
	f.t.Helper()
	path, _ := f.makeTorrent(f.root, name, 10_000, 16<<10)
	var a specAdded
	f.c.mustCall("torrent-add", map[string]any{"filename": path, "paused": true}, &a)
	if a.Added == nil {
		f.t.Fatalf("add %s: %+v", name, a)
	}
	id := a.Added.ID
	f.waitFor(name+" checked", func() bool {
		ts := f.get([]int{id}, "percentDone")
		return len(ts) == 1 && *ts[0].PercentDone == 1
	})
	return id
}

// TestTorrentStartQueued: with one active seed allowed, torrent-start
// queues a torrent (auto-managed: status 5, seed wait, while another holds
// the slot; it runs when the queue lets it), and torrent-start-now runs a
// torrent at once, outside the queue, whatever its limit.
func TestTorrentStartQueued(t *testing.T) {
	f := newFixtureSet(t, shardtorrent.Settings{
		ListenAddr: "off", Shards: 2, Pool: bufpool.New(), DisableDHT: true,
		ActiveSeeds: shardtorrent.LimitTo(1),
	}, false)
	a, b := f.addPausedSeed("qa.bin"), f.addPausedSeed("qb.bin")
	if sa, sb := f.statusOf(a), f.statusOf(b); sa != 0 || sb != 0 {
		t.Fatalf("added paused: status %d and %d, want 0 (stopped)", sa, sb)
	}
	f.c.mustCall("torrent-start", map[string]any{"ids": []int{a}}, nil)
	f.waitFor("the queue starts a", func() bool { return f.statusOf(a) == 6 })
	f.c.mustCall("torrent-start", map[string]any{"ids": []int{b}}, nil)
	if s := f.statusOf(b); s != 5 {
		t.Fatalf("torrent-start with the seed slot taken: status %d, want 5 (queued)", s)
	}
	// The queue decides: b to the top takes a's slot.
	f.c.mustCall("queue-move-top", map[string]any{"ids": []int{b}}, nil)
	f.waitFor("b started and a queued", func() bool { return f.statusOf(b) == 6 && f.statusOf(a) == 5 })
	f.c.mustCall("torrent-start-now", map[string]any{"ids": []int{a}}, nil)
	if sa, sb := f.statusOf(a), f.statusOf(b); sa != 6 || sb != 6 {
		t.Fatalf("torrent-start-now: status %d (b %d), want both seeding", sa, sb)
	}
	ts, err := f.sess.Torrents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	managed := 0
	for _, h := range ts {
		if on, err := h.AutoManaged(context.Background()); err == nil && on {
			managed++
		}
	}
	if managed != 1 {
		t.Fatalf("%d auto-managed torrents after torrent-start-now, want 1 (b)", managed)
	}
	f.c.mustCall("torrent-stop", map[string]any{"ids": []int{b}}, nil)
	if s := f.statusOf(b); s != 0 {
		t.Fatalf("torrent-stop: status %d, want 0", s)
	}
}

// TestSeedIdleLimitRPC: session-set idle-seeding-limit(-enabled) sets
// the session's idle limit (session-get and every torrent's
// seedIdleLimit show it); torrent-set seedIdleMode/seedIdleLimit set a
// torrent's own rule; bad values are refused by name.
func TestSeedIdleLimitRPC(t *testing.T) {
	f := newFixture(t, "off")
	id, _ := f.addSeed("idle.bin", 10_000)
	var ss map[string]any
	fields := []string{"idle-seeding-limit", "idle-seeding-limit-enabled"}
	f.c.mustCall("session-get", map[string]any{"fields": fields}, &ss)
	if ss["idle-seeding-limit"] != 0.0 || ss["idle-seeding-limit-enabled"] != false {
		t.Fatalf("session-get defaults: %v", ss)
	}
	f.c.mustCall("session-set", map[string]any{"idle-seeding-limit": 30, "idle-seeding-limit-enabled": true}, nil)
	f.c.mustCall("session-get", map[string]any{"fields": fields}, &ss)
	if ss["idle-seeding-limit"] != 30.0 || ss["idle-seeding-limit-enabled"] != true {
		t.Fatalf("session-get after set: %v", ss)
	}
	if p := f.sess.SeedPolicy(); p.Idle != 30*time.Minute {
		t.Fatalf("session's idle limit %v, want 30m", p.Idle)
	}
	idle := func() (string, string) {
		var tg struct {
			Torrents []map[string]json.RawMessage `json:"torrents"`
		}
		f.c.mustCall("torrent-get", map[string]any{"ids": id, "fields": []string{"seedIdleLimit", "seedIdleMode"}}, &tg)
		return string(tg.Torrents[0]["seedIdleLimit"]), string(tg.Torrents[0]["seedIdleMode"])
	}
	if l, m := idle(); l != "30" || m != "0" {
		t.Fatalf("torrent-get: seedIdleLimit %s, seedIdleMode %s; want 30, 0", l, m)
	}
	// transmission-remote -t ID --idle-seeding-limit 5, then -SI, then
	// --idle-seeding-limit-default.
	f.c.mustCall("torrent-set", map[string]any{"ids": id, "seedIdleLimit": 5, "seedIdleMode": 1}, nil)
	if l, m := idle(); l != "5" || m != "1" {
		t.Fatalf("after own limit: %s %s", l, m)
	}
	f.c.mustCall("torrent-set", map[string]any{"ids": id, "seedIdleMode": 2}, nil)
	if _, m := idle(); m != "2" {
		t.Fatalf("after unlimited: mode %s", m)
	}
	f.c.mustCall("torrent-set", map[string]any{"ids": id, "seedIdleMode": 0}, nil)
	f.c.mustCall("session-set", map[string]any{"idle-seeding-limit-enabled": false}, nil)
	if p := f.sess.SeedPolicy(); p.Idle != 0 {
		t.Fatalf("idle-seeding-limit-enabled false left the limit at %v", p.Idle)
	}
	ts, _ := f.sess.Torrents(context.Background())
	if m, d, err := ts[0].IdleLimit(context.Background()); err != nil || m != shard.IdleGlobal || d != 5*time.Minute {
		t.Fatalf("torrent's idle rule %v %v (%v), want global with its own 5m kept", m, d, err)
	}
	for arg, val := range map[string]any{"idle-seeding-limit": -1, "idle-seeding-limit-enabled": "yes"} {
		res := f.c.call("session-set", map[string]any{arg: val}, nil)
		if !strings.Contains(res, `argument "`+arg+`"`) {
			t.Errorf("session-set %s=%v: result %q", arg, val, res)
		}
	}
	for arg, val := range map[string]any{"seedIdleLimit": -5, "seedIdleMode": 3} {
		res := f.c.call("torrent-set", map[string]any{"ids": id, arg: val}, nil)
		if !strings.Contains(res, `argument "`+arg+`"`) {
			t.Errorf("torrent-set %s=%v: result %q", arg, val, res)
		}
	}
}
