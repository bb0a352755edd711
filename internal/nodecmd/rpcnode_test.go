package nodecmd

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/rpc"
)

// rpcClient posts Transmission requests (its own types, from the spec)
// to a handler in front of a running node.
type rpcClient struct {
	t   *testing.T
	srv *httptest.Server
	sid string
}

func (c *rpcClient) call(method string, args any) (string, json.RawMessage) {
	c.t.Helper()
	body, _ := json.Marshal(map[string]any{"method": method, "arguments": args})
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, c.srv.URL+rpc.Path, bytes.NewReader(body))
		req.Header.Set("X-Transmission-Session-Id", c.sid)
		resp, err := c.srv.Client().Do(req)
		if err != nil {
			c.t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusConflict {
			c.sid = resp.Header.Get("X-Transmission-Session-Id")
			continue
		}
		var r struct {
			Result    string          `json:"result"`
			Arguments json.RawMessage `json:"arguments"`
		}
		if err := json.Unmarshal(data, &r); err != nil {
			c.t.Fatalf("%s: %v: %s", method, err, data)
		}
		return r.Result, r.Arguments
	}
	c.t.Fatalf("%s: 409 twice", method)
	return "", nil
}

// startRPCNode runs a node with args and serves its rpc.Backend.
func startRPCNode(t *testing.T, args ...string) (*nodeRun, *rpcClient) {
	t.Helper()
	ready := make(chan rpc.Backend, 1)
	rpcReady = func(b rpc.Backend) { ready <- b }
	t.Cleanup(func() { rpcReady = nil })
	r := startNode(t, args...)
	var b rpc.Backend
	select {
	case b = <-ready:
	case <-r.exited:
		t.Fatalf("node exited: %s", r.err.String())
	}
	srv := httptest.NewServer(rpc.New(b, rpc.Config{}))
	t.Cleanup(srv.Close)
	return r, &rpcClient{t: t, srv: srv}
}

// TestRPCAddedTorrentCountsForExitWhenComplete: a torrent added over RPC
// is tracked like one from the command line: the node reports it added
// and seeding, and -exit-when-complete exits 0 once it is complete.
func TestRPCAddedTorrentCountsForExitWhenComplete(t *testing.T) {
	dir := t.TempDir()
	data, list := makeTinyTorrents(t, dir, 1)
	listed, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	tor := string(bytes.TrimSpace(listed))
	watch := filepath.Join(dir, "watch")
	if err := os.Mkdir(watch, 0o755); err != nil {
		t.Fatal(err)
	}
	r, c := startRPCNode(t, "-listen", "127.0.0.1:0", "-dht=false", "-data", data, "-state", "off", "-status", "0",
		"-watch", watch, "-exit-when-complete")
	res, args := c.call("torrent-add", map[string]any{"filename": tor})
	if res != "success" {
		t.Fatalf("torrent-add: %s", res)
	}
	var added struct {
		T struct {
			ID   int    `json:"id"`
			Name string `json:"name"`
		} `json:"torrent-added"`
	}
	if err := json.Unmarshal(args, &added); err != nil || added.T.ID != 1 || added.T.Name != "t00000.bin" {
		t.Fatalf("torrent-add answered %s (%v)", args, err)
	}
	r.waitOut(t, "added t00000.bin", 10*time.Second)
	r.waitOut(t, "over RPC", 10*time.Second)
	r.waitOut(t, "seeding t00000.bin", 30*time.Second)
	if code, hung := r.wait(t, 30*time.Second); hung || code != 0 {
		t.Fatalf("exit code %d (hung %v); stdout:\n%s", code, hung, r.out.String())
	}
}

// TestRPCRemoveAndSessionClose: a torrent removed over RPC with its data
// leaves the node's books and the disk; session-close stops the node
// cleanly (exit 0).
func TestRPCRemoveAndSessionClose(t *testing.T) {
	dir := t.TempDir()
	data, list := makeTinyTorrents(t, dir, 1)
	listed, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	tor := string(bytes.TrimSpace(listed))
	r, c := startRPCNode(t, "-listen", "127.0.0.1:0", "-dht=false", "-data", data, "-state", filepath.Join(dir, "state"), "-status", "0", tor)
	r.waitOut(t, "seeding t00000.bin", 30*time.Second)
	res, args := c.call("torrent-get", map[string]any{"fields": []string{"id", "name", "status"}})
	if res != "success" || !bytes.Contains(args, []byte(`"name":"t00000.bin"`)) || !bytes.Contains(args, []byte(`"status":6`)) {
		t.Fatalf("torrent-get: %s %s", res, args)
	}
	if res, _ := c.call("torrent-remove", map[string]any{"ids": []int{1}, "delete-local-data": true}); res != "success" {
		t.Fatalf("torrent-remove: %s", res)
	}
	r.waitOut(t, "removed with its data t00000.bin", 10*time.Second)
	if _, args := c.call("torrent-get", map[string]any{"fields": []string{"id"}}); string(args) != `{"torrents":[]}` {
		t.Fatalf("after remove: %s", args)
	}
	if res, _ := c.call("session-close", nil); res != "success" {
		t.Fatalf("session-close: %s", res)
	}
	if code, hung := r.wait(t, 30*time.Second); hung || code != 0 {
		t.Fatalf("exit code %d (hung %v); stdout:\n%s", code, hung, r.out.String())
	}
	if !bytes.Contains([]byte(r.out.String()), []byte("stopping: session-close over RPC")) {
		t.Fatalf("stdout:\n%s", r.out.String())
	}
	if _, err := os.Stat(filepath.Join(data, "t00000.bin")); !os.IsNotExist(err) {
		t.Fatalf("data file still there after remove with delete-local-data (%v)", err)
	}
}
