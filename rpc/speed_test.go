package rpc_test

import (
	"context"
	"strings"
	"testing"

	shardtorrent "github.com/shardtorrent/shardtorrent"
)

// TestSessionSpeedLimits: session-set's speed-limit-up/down (kB/s of
// 1000 bytes, as session-get's units say) with their -enabled flags reach
// the engine and read back; a disabled limit keeps its value, as in
// Transmission; a bad value is refused and changes nothing.
func TestSessionSpeedLimits(t *testing.T) {
	f := newFixture(t, "off")
	var ss map[string]any
	keys := []string{"speed-limit-up", "speed-limit-up-enabled", "speed-limit-down", "speed-limit-down-enabled", "units"}
	f.c.mustCall("session-get", map[string]any{"fields": keys}, &ss)
	if ss["speed-limit-up"] != 0.0 || ss["speed-limit-up-enabled"] != false || ss["speed-limit-down-enabled"] != false {
		t.Fatalf("defaults: %v", ss)
	}
	if u, _ := ss["units"].(map[string]any); u["speed-bytes"] != 1000.0 {
		t.Fatalf("units %v", ss["units"])
	}
	f.c.mustCall("session-set", map[string]any{"speed-limit-up": 250, "speed-limit-up-enabled": true, "speed-limit-down": 40}, nil)
	up, down := f.sess.RateLimits()
	if up != shardtorrent.LimitTo(250_000) || !down.IsUnlimited() {
		t.Fatalf("engine limits after set: up %v down %v", up, down)
	}
	f.c.mustCall("session-get", map[string]any{"fields": keys}, &ss)
	if ss["speed-limit-up"] != 250.0 || ss["speed-limit-up-enabled"] != true || ss["speed-limit-down"] != 40.0 || ss["speed-limit-down-enabled"] != false {
		t.Fatalf("session-get after set: %v", ss)
	}
	f.c.mustCall("session-set", map[string]any{"speed-limit-down-enabled": true, "speed-limit-up-enabled": false}, nil)
	if up, down := f.sess.RateLimits(); !up.IsUnlimited() || down != shardtorrent.LimitTo(40_000) {
		t.Fatalf("engine limits after toggling: up %v down %v", up, down)
	}
	f.c.mustCall("session-get", map[string]any{"fields": keys}, &ss)
	if ss["speed-limit-up"] != 250.0 || ss["speed-limit-up-enabled"] != false {
		t.Fatalf("a disabled limit lost its value: %v", ss)
	}
	res := f.c.call("session-set", map[string]any{"speed-limit-up": -1, "speed-limit-up-enabled": true}, nil)
	if !strings.Contains(res, "speed-limit-up") {
		t.Fatalf("negative speed: %q", res)
	}
	if up, _ := f.sess.RateLimits(); !up.IsUnlimited() {
		t.Fatalf("a refused session-set changed the limit: %v", up)
	}
}

// TestTorrentSpeedLimits: torrent-set's uploadLimit/uploadLimited and
// downloadLimit/downloadLimited set the torrent's own limits, which
// torrent-get reports.
func TestTorrentSpeedLimits(t *testing.T) {
	f := newFixture(t, "off")
	id, _ := f.addSeed("sp.bin", 10_000)
	type lim struct {
		UploadLimit     int64 `json:"uploadLimit"`
		UploadLimited   bool  `json:"uploadLimited"`
		DownloadLimit   int64 `json:"downloadLimit"`
		DownloadLimited bool  `json:"downloadLimited"`
	}
	get := func() lim {
		var out struct{ Torrents []lim }
		f.c.mustCall("torrent-get", map[string]any{"ids": id, "fields": []string{"uploadLimit", "uploadLimited", "downloadLimit", "downloadLimited"}}, &out)
		return out.Torrents[0]
	}
	if g := get(); g != (lim{}) {
		t.Fatalf("defaults: %+v", g)
	}
	f.c.mustCall("torrent-set", map[string]any{"ids": id, "uploadLimit": 50, "uploadLimited": true, "downloadLimit": 7}, nil)
	if g := get(); g != (lim{UploadLimit: 50, UploadLimited: true, DownloadLimit: 7}) {
		t.Fatalf("after set: %+v", g)
	}
	ts, err := f.sess.Torrents(context.Background())
	if err != nil || len(ts) != 1 {
		t.Fatal(len(ts), err)
	}
	if up, down, err := ts[0].Limits(context.Background()); err != nil || up != shardtorrent.LimitTo(50_000) || !down.IsUnlimited() {
		t.Fatalf("engine: up %v down %v err %v", up, down, err)
	}
	f.c.mustCall("torrent-set", map[string]any{"ids": id, "uploadLimited": false, "downloadLimited": true}, nil)
	if g := get(); g != (lim{UploadLimit: 50, DownloadLimit: 7, DownloadLimited: true}) {
		t.Fatalf("after toggling: %+v", g)
	}
	if up, down, _ := ts[0].Limits(context.Background()); !up.IsUnlimited() || down != shardtorrent.LimitTo(7_000) {
		t.Fatalf("engine after toggling: up %v down %v", up, down)
	}
}
