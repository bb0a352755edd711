package rpc_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestHandshake409: a request without the session id, or with a stale
// one, gets 409 with the id in X-Transmission-Session-Id; with it, the
// request runs.
func TestHandshake409(t *testing.T) {
	f := newFixture(t, "off")
	body := []byte(`{"method":"session-get","tag":1}`)
	for _, sid := range []string{"", "stale-id"} {
		f.c.sid = sid
		resp := f.c.post(body)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusConflict {
			t.Fatalf("session id %q: HTTP %d, want 409", sid, resp.StatusCode)
		}
		got := resp.Header.Get("X-Transmission-Session-Id")
		if got == "" || got != f.h.SessionID() {
			t.Fatalf("409 carries session id %q, want %q", got, f.h.SessionID())
		}
	}
	f.c.sid = f.h.SessionID()
	resp := f.c.post(body)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("with the id: HTTP %d", resp.StatusCode)
	}
	var r specResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Result != "success" {
		t.Fatalf("reply %+v, %v", r, err)
	}
}

// TestSessionGet: the keys a client reads, and the fields filter.
func TestSessionGet(t *testing.T) {
	f := newFixture(t, "off")
	var all map[string]any
	f.c.mustCall("session-get", nil, &all)
	for k, want := range map[string]any{
		"rpc-version": 17.0, "rpc-version-minimum": 14.0, "download-dir": f.root, "peer-port": 6881.0,
		"encryption": "preferred", "dht-enabled": false, "pex-enabled": true, "version": "test",
		"session-id": f.h.SessionID(), "speed-limit-up-enabled": false, "speed-limit-down-enabled": false,
		"speed-limit-up": 0.0, "alt-speed-enabled": false,
	} {
		if all[k] != want {
			t.Errorf("session-get %q = %v, want %v", k, all[k], want)
		}
	}
	var some map[string]any
	f.c.mustCall("session-get", map[string]any{"fields": []string{"version", "rpc-version", "no-such-key"}}, &some)
	if len(some) != 2 || some["version"] != "test" || some["rpc-version"] != 17.0 {
		t.Fatalf("session-get with fields: %v", some)
	}
}

// TestUnknownMethod: the spec's error string in result.
func TestUnknownMethod(t *testing.T) {
	f := newFixture(t, "off")
	if res := f.c.call("torrent-frobnicate", nil, nil); res != "method name not recognized" {
		t.Fatalf("result %q", res)
	}
}

// TestOversizedBody: a body past the cap is refused with 413 and a JSON
// result, not read whole.
func TestOversizedBody(t *testing.T) {
	f := newFixture(t, "off")
	f.c.call("session-get", nil, nil) // handshake
	big := `{"method":"torrent-add","arguments":{"metainfo":"` + strings.Repeat("A", 17<<20) + `"}}`
	resp := f.c.post([]byte(big))
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("HTTP %d, want 413", resp.StatusCode)
	}
	var r specResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || !strings.Contains(r.Result, "larger than") {
		t.Fatalf("reply %+v, %v", r, err)
	}
}

// TestTorrentAddAndGet: add by path, by metainfo and by magnet; each
// answers torrent-added with id, name and hashString; the same torrent
// again is torrent-duplicate with the same id; torrent-get lists them by
// id with the fields the spec types.
func TestTorrentAddAndGet(t *testing.T) {
	f := newFixture(t, "off")
	pathA, miA := f.makeTorrent(f.root, "a.bin", 100_000, 16<<10)
	_, miB := f.makeTorrent(f.root, "b.bin", 50_000, 16<<10)
	raw, err := os.ReadFile(strings.TrimSuffix(pathA, "a.bin.torrent") + "b.bin.torrent")
	if err != nil {
		t.Fatal(err)
	}

	var addA specAdded
	f.c.mustCall("torrent-add", map[string]any{"filename": pathA}, &addA)
	if addA.Added == nil || addA.Added.ID != 1 || addA.Added.Name != "a.bin" || addA.Added.HashString != miA.InfoHash.V1.String() {
		t.Fatalf("add by path: %+v", addA)
	}
	var addB specAdded
	f.c.mustCall("torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(raw), "paused": true}, &addB)
	if addB.Added == nil || addB.Added.ID != 2 || addB.Added.HashString != miB.InfoHash.V1.String() {
		t.Fatalf("add by metainfo: %+v", addB)
	}
	magnet := "magnet:?xt=urn:btih:" + strings.Repeat("ab", 20) + "&dn=mag"
	var addM specAdded
	f.c.mustCall("torrent-add", map[string]any{"filename": magnet, "paused": true}, &addM)
	if addM.Added == nil || addM.Added.ID != 3 || addM.Added.Name != "mag" || addM.Added.HashString != strings.Repeat("ab", 20) {
		t.Fatalf("add magnet: %+v", addM)
	}
	var dup specAdded
	f.c.mustCall("torrent-add", map[string]any{"filename": pathA}, &dup)
	if dup.Added != nil || dup.Duplicate == nil || dup.Duplicate.ID != 1 || dup.Duplicate.Name != "a.bin" {
		t.Fatalf("duplicate add: %+v", dup)
	}

	f.waitFor("a.bin checked", func() bool {
		ts := f.get([]int{1}, "status", "percentDone")
		return len(ts) == 1 && *ts[0].Status == 6 && *ts[0].PercentDone == 1
	})
	ts := f.get(nil, "id", "name", "hashString", "status", "totalSize", "leftUntilDone", "pieceCount", "pieceSize", "downloadDir", "isPrivate", "magnetLink")
	if len(ts) != 3 {
		t.Fatalf("%d torrents", len(ts))
	}
	for i, want := range []struct {
		name   string
		status int
		size   int64
	}{{"a.bin", 6, 100_000}, {"b.bin", 0, 50_000}, {"mag", 0, 0}} {
		g := ts[i]
		if g.ID != i+1 || g.Name != want.name || *g.Status != want.status || *g.TotalSize != want.size || *g.DownloadDir != f.root {
			t.Errorf("torrent %d: %+v (status %d, size %d)", i+1, g, *g.Status, *g.TotalSize)
		}
	}
	if *ts[0].PieceCount != 7 || *ts[0].PieceSize != 16<<10 || *ts[0].LeftUntilDone != 0 || *ts[0].IsPrivate {
		t.Errorf("a.bin shape: %+v", ts[0])
	}
	if !strings.HasPrefix(*ts[0].MagnetLink, "magnet:?xt=urn:btih:"+miA.InfoHash.V1.String()) {
		t.Errorf("magnetLink %q", *ts[0].MagnetLink)
	}
	about := f.get([]int{1, 3}, "comment", "creator", "startDate", "addedDate")
	if *about[0].Comment != "c" || *about[0].Creator != "test" || *about[1].Comment != "" ||
		*about[0].StartDate == 0 || *about[0].StartDate < *about[0].AddedDate {
		t.Errorf("comment/creator/startDate: %+v", about)
	}
}
