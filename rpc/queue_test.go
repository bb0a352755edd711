package rpc_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// queuePositions returns torrent-get's queuePosition by id.
func (f *fixture) queuePositions() map[int]int {
	f.t.Helper()
	var r struct {
		Torrents []struct {
			ID  int `json:"id"`
			Pos int `json:"queuePosition"`
		} `json:"torrents"`
	}
	f.c.mustCall("torrent-get", map[string]any{"fields": []string{"id", "queuePosition"}}, &r)
	out := map[int]int{}
	for _, t := range r.Torrents {
		out[t.ID] = t.Pos
	}
	return out
}

// TestQueueMove: queuePosition is the session's queue order (add order at
// first), and queue-move-top/-up/-down/-bottom change it, several ids
// keeping their order among themselves.
func TestQueueMove(t *testing.T) {
	f := newFixture(t, "off")
	var ids []int
	for _, n := range []string{"q0.bin", "q1.bin", "q2.bin", "q3.bin"} {
		id, _ := f.addSeed(n, 10_000)
		ids = append(ids, id)
	}
	order := func() []int { // ids by position
		pos := f.queuePositions()
		out := make([]int, len(pos))
		for id, p := range pos {
			if p < 0 || p >= len(out) {
				t.Fatalf("position %d of %d torrents", p, len(out))
			}
			out[p] = id
		}
		return out
	}
	want := func(step string, w ...int) {
		t.Helper()
		var exp []int
		for _, i := range w {
			exp = append(exp, ids[i])
		}
		if got := order(); !equalInts(got, exp) {
			t.Fatalf("%s: order %v, want %v", step, got, exp)
		}
	}
	want("added", 0, 1, 2, 3)
	f.c.mustCall("queue-move-top", map[string]any{"ids": []int{ids[2], ids[3]}}, nil)
	want("top 2 3", 2, 3, 0, 1)
	f.c.mustCall("queue-move-bottom", map[string]any{"ids": []int{ids[2], ids[3]}}, nil)
	want("bottom 2 3", 0, 1, 2, 3)
	f.c.mustCall("queue-move-up", map[string]any{"ids": []int{ids[2], ids[3]}}, nil)
	want("up 2 3", 0, 2, 3, 1)
	f.c.mustCall("queue-move-down", map[string]any{"ids": []int{ids[0], ids[2]}}, nil)
	want("down 0 2", 3, 0, 2, 1)
	f.c.mustCall("queue-move-up", map[string]any{"ids": ids[3]}, nil) // at the head already
	want("up the head", 3, 0, 2, 1)
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSeedRatioLimitRPC: session-set seedRatioLimit/seedRatioLimited
// changes the session's limit (session-get and every torrent's
// seedRatioLimit show it, seedRatioMode 0: the session's); the queue
// sizes show the node's limits (unlimited: not enabled) and are refused
// changed.
func TestSeedRatioLimitRPC(t *testing.T) {
	f := newFixture(t, "off")
	id, _ := f.addSeed("r.bin", 10_000)
	var ss map[string]any
	fields := []string{"seedRatioLimit", "seedRatioLimited", "download-queue-enabled", "seed-queue-enabled", "seed-queue-size"}
	f.c.mustCall("session-get", map[string]any{"fields": fields}, &ss)
	if ss["seedRatioLimit"] != 0.0 || ss["seedRatioLimited"] != false || ss["download-queue-enabled"] != false || ss["seed-queue-enabled"] != false {
		t.Fatalf("session-get defaults: %v", ss)
	}
	f.c.mustCall("session-set", map[string]any{"seedRatioLimit": 2.5, "seedRatioLimited": true}, nil)
	f.c.mustCall("session-get", map[string]any{"fields": fields}, &ss)
	if ss["seedRatioLimit"] != 2.5 || ss["seedRatioLimited"] != true {
		t.Fatalf("session-get after set: %v", ss)
	}
	if r, _ := f.sess.SeedLimits(); r != 2.5 {
		t.Fatalf("session's ratio limit %v, want 2.5", r)
	}
	var tg struct {
		Torrents []map[string]json.RawMessage `json:"torrents"`
	}
	f.c.mustCall("torrent-get", map[string]any{"ids": id, "fields": []string{"seedRatioLimit", "seedRatioMode"}}, &tg)
	if len(tg.Torrents) != 1 || string(tg.Torrents[0]["seedRatioLimit"]) != "2.5" || string(tg.Torrents[0]["seedRatioMode"]) != "0" {
		t.Fatalf("torrent-get: %s %s", tg.Torrents[0]["seedRatioLimit"], tg.Torrents[0]["seedRatioMode"])
	}
	// transmission-remote -t ID --seedratio 0.5, then -SR (unlimited),
	// then --seedratio-default (the session's again).
	f.c.mustCall("torrent-set", map[string]any{"ids": id, "seedRatioLimit": 0.5, "seedRatioMode": 1}, nil)
	f.c.mustCall("torrent-get", map[string]any{"ids": id, "fields": []string{"seedRatioLimit", "seedRatioMode"}}, &tg)
	if string(tg.Torrents[0]["seedRatioLimit"]) != "0.5" || string(tg.Torrents[0]["seedRatioMode"]) != "1" {
		t.Fatalf("torrent-get after --seedratio: %s %s", tg.Torrents[0]["seedRatioLimit"], tg.Torrents[0]["seedRatioMode"])
	}
	f.c.mustCall("torrent-set", map[string]any{"ids": id, "seedRatioMode": 2}, nil)
	f.c.mustCall("torrent-get", map[string]any{"ids": id, "fields": []string{"seedRatioMode"}}, &tg)
	if string(tg.Torrents[0]["seedRatioMode"]) != "2" {
		t.Fatalf("torrent-get after -SR: %s", tg.Torrents[0]["seedRatioMode"])
	}
	f.c.mustCall("torrent-set", map[string]any{"ids": id, "seedRatioMode": 0}, nil)
	f.c.mustCall("session-set", map[string]any{"seedRatioLimited": false}, nil)
	if r, _ := f.sess.SeedLimits(); r != 0 {
		t.Fatalf("seedRatioLimited false left the limit at %v", r)
	}
	for arg, val := range map[string]any{"seedRatioLimit": -1, "seedRatioLimited": 3} {
		res := f.c.call("session-set", map[string]any{arg: val}, nil)
		if !strings.Contains(res, `argument "`+arg+`"`) {
			t.Errorf("session-set %s=%v: result %q", arg, val, res)
		}
	}
}
