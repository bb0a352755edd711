package rpc_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/shardtorrent/shardtorrent/rpc"
)

// FuzzHandler: whatever the body, the handler answers a JSON object with
// a result string (and HTTP 200), never panics, and changes nothing it
// should not (a refused request leaves session-get as it was).
func FuzzHandler(f *testing.F) {
	fx := newFixtureWith(f, "off", true) // no trackers, no peers: input never reaches the network
	for _, s := range []string{
		`{"method":"torrent-get","arguments":{"fields":["id","name"],"ids":[1,"zz"]}}`,
		`{"method":"torrent-get","arguments":{"fields":["id"],"ids":"recently-active","format":"table"},"tag":5}`,
		`{"method":"session-set","arguments":{"speed-limit-up":1}}`,
		`{"method":"torrent-add","arguments":{"metainfo":"ZDQ6aW5mb2Rl"}}`,
		`{"method":"torrent-add","arguments":{"filename":"magnet:?xt=urn:btih:zz"}}`,
		`{"method":"torrent-set","arguments":{"ids":1e400,"trackerAdd":[1]}}`,
		`{"method":"free-space","arguments":{"path":"/"}}`,
		`{"method":"torrent-remove","arguments":{"ids":[-1]}}`,
		`{"method":"session-get","arguments":{"fields":"x"},"tag":"str"}`,
		`[]`, `null`, `{"method":7}`, `{`,
	} {
		f.Add([]byte(s))
	}
	sid := fx.h.SessionID()
	f.Fuzz(func(t *testing.T, body []byte) {
		// Never close the fixture or delete its files from the fuzzer.
		var peek struct {
			Method string `json:"method"`
		}
		if json.Unmarshal(body, &peek) == nil && (peek.Method == "session-close" || peek.Method == "torrent-remove") {
			return
		}
		req := httptest.NewRequest(http.MethodPost, rpc.Path, bytes.NewReader(body))
		req.Header.Set(rpc.SessionIDHeader, sid)
		w := httptest.NewRecorder()
		fx.h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("HTTP %d for %q", w.Code, body)
		}
		var r struct {
			Result    *string         `json:"result"`
			Arguments json.RawMessage `json:"arguments"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil || r.Result == nil || r.Arguments == nil {
			t.Fatalf("reply %q to %q (%v)", w.Body.Bytes(), body, err)
		}
	})
}
