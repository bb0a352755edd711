//go:build interop

package interop

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/internal/refpeer"
)

// Issue 10: a seed dials the leechers it learns about. Transmission 3.00
// fetches from our node, which knows Transmission's address (-peer) while
// Transmission knows nobody. On a magnet, Transmission takes the metadata,
// drops the connection to set the torrent up, and waits: only a redial
// from us lets it complete (libtorrent redials after min_reconnect_time,
// 60 s, and so do we).
//
// The Transmission launcher here is deliberately minimal (settings.json,
// the daemon, a JSON-RPC client with the session-id dance); a fuller one
// lives in internal/refpeer on the clients branch.

// seedDialTimeout covers the 60 s reconnect wait plus the transfer.
const seedDialTimeout = 4 * time.Minute

func TestSeedDialsTransmission(t *testing.T) {
	for _, kind := range []string{"magnet", "torrent"} {
		t.Run(kind, func(t *testing.T) {
			ctx := setup(t, seedDialTimeout)
			requireNode(t)
			if _, err := exec.LookPath("transmission-daemon"); err != nil {
				t.Skip("transmission-daemon not installed")
			}
			dir := t.TempDir()
			f := makeFixture(t, dir, "single.bin", 6<<20+4321, nil, 256<<10)
			ports := freePorts(t, 3)
			nodePort, trPeer, trRPC := ports[0], ports[1], ports[2]
			trDir := mkdir(t, dir, "transmission")
			tr := startTransmission(t, ctx, filepath.Join(dir, "trconf"), trDir, trRPC, trPeer)

			// Transmission has the torrent first, so our first dial finds it.
			var id int
			if kind == "magnet" {
				id = tr.add(t, ctx, map[string]any{"filename": magnetOf(f)})
			} else {
				b, err := os.ReadFile(f.Torrent)
				if err != nil {
					t.Fatal(err)
				}
				id = tr.add(t, ctx, map[string]any{"metainfo": base64.StdEncoding.EncodeToString(b)})
				// Wait for its (empty) check: a dial during it is refused.
				tr.waitTorrent(t, ctx, id, "the check", func(s trStatus) bool { return s.Status != trChecking && s.Status != trCheckWait })
			}
			start := time.Now()
			node := startNode(t, ctx, "node-seed", "-listen", loopback(nodePort), "-data", f.SeedDir, "-peer", loopback(trPeer), f.Torrent)
			if _, err := node.WaitLine(ctx, "listening on "+loopback(nodePort)); err != nil {
				t.Fatal(err)
			}
			tr.waitTorrent(t, ctx, id, "the download", func(s trStatus) bool { return s.Error == 0 && s.LeftUntilDone == 0 && s.HaveValid == f.Info.TotalSize })
			t.Logf("transmission complete %v after our node started", time.Since(start).Round(100*time.Millisecond))
			f.verify(t, "transmission", trDir)
		})
	}
}

// Transmission torrent states (RPC "status").
const (
	trCheckWait = 1
	trChecking  = 2
)

// transmission is a transmission-daemon driven over its JSON RPC.
type transmission struct {
	url     string
	session string // X-Transmission-Session-Id
	proc    *refpeer.Process
}

// startTransmission runs transmission-daemon on 127.0.0.1 only: settings.json
// turns off DHT, LPD, uTP, PEX and port forwarding before it starts.
func startTransmission(t *testing.T, ctx context.Context, conf, download string, rpcPort, peerPort int) *transmission {
	t.Helper()
	if err := os.MkdirAll(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	settings := map[string]any{
		"bind-address-ipv4":           "127.0.0.1",
		"bind-address-ipv6":           "::1",
		"rpc-bind-address":            "127.0.0.1",
		"rpc-port":                    rpcPort,
		"rpc-authentication-required": false,
		"rpc-whitelist-enabled":       true,
		"rpc-whitelist":               "127.0.0.1",
		"rpc-host-whitelist-enabled":  false,
		"peer-port":                   peerPort,
		"peer-port-random-on-start":   false,
		"port-forwarding-enabled":     false,
		"dht-enabled":                 false,
		"lpd-enabled":                 false,
		"utp-enabled":                 false,
		"pex-enabled":                 false,
		"blocklist-enabled":           false,
		"watch-dir-enabled":           false,
		"download-dir":                download,
		"incomplete-dir-enabled":      false,
		"start-added-torrents":        true,
		"message-level":               2,
	}
	b, err := json.Marshal(settings)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "settings.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := refpeer.StartProcess(ctx, refpeer.ProcOptions{Name: "transmission", Path: "transmission-daemon",
		Args: []string{"-f", "-g", conf, "-p", strconv.Itoa(rpcPort), "-w", download, "-P", strconv.Itoa(peerPort), "-T"},
		Log:  t.Output()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	if _, err := p.WaitLine(ctx, "Serving RPC and Web requests on 127.0.0.1:"+strconv.Itoa(rpcPort)); err != nil {
		t.Fatal(err)
	}
	return &transmission{url: "http://" + loopback(rpcPort) + "/transmission/rpc", proc: p}
}

// call runs one RPC method; a 409 reply hands out the session id to send,
// and the call is made again with it.
func (tr *transmission) call(ctx context.Context, method string, args any, out any) error {
	body, err := json.Marshal(map[string]any{"method": method, "arguments": args})
	if err != nil {
		return err
	}
	for try := 0; try < 2; try++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, tr.url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("X-Transmission-Session-Id", tr.session)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		if resp.StatusCode == http.StatusConflict {
			tr.session = resp.Header.Get("X-Transmission-Session-Id")
			resp.Body.Close()
			continue
		}
		var r struct {
			Result    string          `json:"result"`
			Arguments json.RawMessage `json:"arguments"`
		}
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%s: HTTP %d: %w", method, resp.StatusCode, err)
		}
		if r.Result != "success" {
			return fmt.Errorf("%s: %s", method, r.Result)
		}
		if out == nil {
			return nil
		}
		return json.Unmarshal(r.Arguments, out)
	}
	return fmt.Errorf("%s: no session id after a 409", method)
}

// add adds a torrent (filename: a magnet; metainfo: a .torrent in base64)
// and returns its id.
func (tr *transmission) add(t *testing.T, ctx context.Context, args map[string]any) int {
	t.Helper()
	var r struct {
		Added *struct {
			ID int `json:"id"`
		} `json:"torrent-added"`
	}
	if err := tr.call(ctx, "torrent-add", args, &r); err != nil {
		t.Fatal(err)
	}
	if r.Added == nil {
		t.Fatal("torrent-add: no torrent-added in the reply")
	}
	return r.Added.ID
}

type trStatus struct {
	Status         int    `json:"status"`
	Error          int    `json:"error"`
	ErrorString    string `json:"errorString"`
	LeftUntilDone  int64  `json:"leftUntilDone"`
	HaveValid      int64  `json:"haveValid"`
	PeersConnected int    `json:"peersConnected"`
}

// waitTorrent asks for torrent id's state every 200 ms until cond holds.
// Transmission has no push notification; the poll is its only signal.
func (tr *transmission) waitTorrent(t *testing.T, ctx context.Context, id int, what string, cond func(trStatus) bool) {
	t.Helper()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var last trStatus
	for {
		var r struct {
			Torrents []trStatus `json:"torrents"`
		}
		err := tr.call(ctx, "torrent-get", map[string]any{"ids": []int{id},
			"fields": []string{"status", "error", "errorString", "leftUntilDone", "haveValid", "peersConnected"}}, &r)
		if err == nil && len(r.Torrents) == 1 {
			last = r.Torrents[0]
			if cond(last) {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("transmission: %s not done: last state %+v (%v)\n%s", what, last, err, tr.proc.Tail(20))
		case <-tick.C:
		}
	}
}
