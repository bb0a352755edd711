package refpeer

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// TransmissionPath is the transmission-daemon executable (Debian's
// transmission-daemon 3.00).
var TransmissionPath = "transmission-daemon"

var trProbe toolProbe

// TransmissionAvailable reports whether transmission-daemon runs. Safe
// from any goroutine.
func TransmissionAvailable() error {
	// "transmission-daemon 3.00 (bb6b5a062e)"
	return trProbe.check(TransmissionPath, "transmission-daemon", []string{"--version"}, trimPrefix("transmission-daemon"))
}

// TransmissionVersion is the version found by TransmissionAvailable (""
// if none). Safe from any goroutine.
func TransmissionVersion() string {
	_ = TransmissionAvailable()
	return trProbe.version
}

// TransmissionOptions configure StartTransmission.
type TransmissionOptions struct {
	Dir      string // config dir (settings.json, resume files) and default download dir under it
	PeerPort int    // TCP port on 127.0.0.1 for peers (required; our node dials it)
	RPCPort  int    // RPC port on 127.0.0.1; 0 picks a free one
	// Encryption is Transmission's "encryption" setting: "" or "preferred"
	// (1, its default), "tolerated" (0: plaintext preferred) or "required"
	// (2: MSE/PE only, both ways).
	Encryption string
	Log        io.Writer
	Name       string // label for logs; default "transmission"
}

// Transmission is a running transmission-daemon driven over its JSON RPC
// (extras/rpc-spec.txt in 3.00). It listens for peers on 127.0.0.1 only,
// with DHT, LPD, PEX, uTP and port forwarding off. Transmission 3.00
// ignores 127.0.0.0/8 peers learnt from trackers and has no RPC to add a
// peer, so the other side must dial it (PeerAddr). Measured with Debian's
// 3.00: with encryption "tolerated" it closes an incoming MSE handshake (a
// dialler must retry in plaintext); it declares interest, and so starts
// downloading, only on its 10 s rechoke timer; it never creates
// zero-length files; and on a magnet it drops every peer once it has the
// metadata and waits to be dialled again. Methods are safe from any
// goroutine.
type Transmission struct {
	*Process
	opts   TransmissionOptions
	rpcURL string
	client *http.Client

	mu        sync.Mutex
	sessionID string // X-Transmission-Session-Id, learnt from a 409
}

// StartTransmission writes settings.json into o.Dir, starts
// `transmission-daemon -f -g DIR -p RPCPORT -w DIR/downloads -P PEERPORT -T`,
// waits until its RPC answers and reads the settings back. Safe from any
// goroutine.
func StartTransmission(ctx context.Context, o TransmissionOptions) (*Transmission, error) {
	if err := TransmissionAvailable(); err != nil {
		return nil, err
	}
	if o.Dir == "" || o.PeerPort <= 0 {
		return nil, errors.New("refpeer: TransmissionOptions needs Dir and PeerPort")
	}
	enc, ok := map[string]int{"": 1, "preferred": 1, "tolerated": 0, "required": 2}[o.Encryption]
	if !ok {
		return nil, fmt.Errorf("refpeer: TransmissionOptions.Encryption %q, want tolerated, preferred or required", o.Encryption)
	}
	if o.RPCPort == 0 {
		ports, err := FreePorts(1)
		if err != nil {
			return nil, err
		}
		o.RPCPort = ports[0]
	}
	dl := filepath.Join(o.Dir, "downloads")
	if err := os.MkdirAll(dl, 0o755); err != nil {
		return nil, err
	}
	settings := map[string]any{
		"bind-address-ipv4":            "127.0.0.1",
		"bind-address-ipv6":            "::1",
		"rpc-bind-address":             "127.0.0.1",
		"rpc-port":                     o.RPCPort,
		"rpc-authentication-required":  false,
		"rpc-whitelist":                "127.0.0.1",
		"rpc-whitelist-enabled":        true,
		"rpc-host-whitelist-enabled":   false,
		"peer-port":                    o.PeerPort,
		"peer-port-random-on-start":    false,
		"port-forwarding-enabled":      false,
		"dht-enabled":                  false,
		"lpd-enabled":                  false,
		"pex-enabled":                  false,
		"utp-enabled":                  false,
		"blocklist-enabled":            false,
		"encryption":                   enc,
		"download-dir":                 dl,
		"incomplete-dir-enabled":       false,
		"rename-partial-files":         false, // files keep their names while incomplete
		"download-queue-enabled":       false,
		"seed-queue-enabled":           false,
		"queue-stalled-enabled":        false,
		"speed-limit-down-enabled":     false,
		"speed-limit-up-enabled":       false,
		"alt-speed-enabled":            false,
		"ratio-limit-enabled":          false,
		"idle-seeding-limit-enabled":   false,
		"start-added-torrents":         true,
		"trash-original-torrent-files": false,
		"peer-limit-global":            200,
		"peer-limit-per-torrent":       50,
		"message-level":                2,
	}
	b, err := json.MarshalIndent(settings, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "settings.json"), b, 0o644); err != nil {
		return nil, err
	}
	name := o.Name
	if name == "" {
		name = "transmission"
	}
	args := []string{"-f", "-g", o.Dir, "-p", strconv.Itoa(o.RPCPort), "-w", dl, "-P", strconv.Itoa(o.PeerPort), "-T"}
	if enc == 2 {
		args = append(args, "--encryption-required")
	}
	p, err := StartProcess(ctx, ProcOptions{Name: name, Path: TransmissionPath, Args: args, Log: o.Log})
	if err != nil {
		return nil, err
	}
	tr := &Transmission{
		Process: p, opts: o,
		rpcURL: "http://127.0.0.1:" + strconv.Itoa(o.RPCPort) + "/transmission/rpc",
		client: &http.Client{Timeout: 10 * time.Second},
	}
	if err := tr.waitRPC(ctx); err != nil {
		_, _ = p.Stop()
		return nil, err
	}
	if err := tr.checkSession(ctx, enc); err != nil {
		_, _ = p.Stop()
		return nil, err
	}
	return tr, nil
}

// checkSession reads the settings back (session-get), so a setting the
// daemon did not take fails here rather than as a puzzling transfer.
func (tr *Transmission) checkSession(ctx context.Context, enc int) error {
	var got struct {
		PeerPort   int    `json:"peer-port"`
		Encryption string `json:"encryption"` // "tolerated", "preferred", "required"
		DHT        bool   `json:"dht-enabled"`
		LPD        bool   `json:"lpd-enabled"`
		PEX        bool   `json:"pex-enabled"`
		UTP        bool   `json:"utp-enabled"`
		Forwarding bool   `json:"port-forwarding-enabled"`
	}
	if err := tr.Call(ctx, "session-get", nil, &got); err != nil {
		return err
	}
	want := [...]string{"tolerated", "preferred", "required"}[enc]
	if got.PeerPort != tr.opts.PeerPort || got.Encryption != want || got.DHT || got.LPD || got.PEX || got.UTP || got.Forwarding {
		return fmt.Errorf("refpeer: transmission ignored part of settings.json: session %+v (want peer port %d, encryption %s)",
			got, tr.opts.PeerPort, want)
	}
	return nil
}

// PeerAddr returns "127.0.0.1:PEERPORT". Safe from any goroutine.
func (tr *Transmission) PeerAddr() string { return "127.0.0.1:" + strconv.Itoa(tr.opts.PeerPort) }

// waitRPC waits until session-get succeeds; the daemon says nothing on
// stdout when its RPC server is up.
func (tr *Transmission) waitRPC(ctx context.Context) error {
	if err := waitTCP(ctx, tr.Process, "127.0.0.1:"+strconv.Itoa(tr.opts.RPCPort)); err != nil {
		return err
	}
	return tr.Call(ctx, "session-get", nil, nil)
}

// TransmissionError is a reply whose "result" is not "success"; match it
// with errors.As.
type TransmissionError struct {
	Method string
	Result string
}

func (e *TransmissionError) Error() string {
	return fmt.Sprintf("refpeer: transmission %s: %s", e.Method, e.Result)
}

// Call makes one RPC: method with args (nil for none); the reply's
// "arguments" are decoded into out unless it is nil. It answers the
// server's 409 with the session id it sends, once. Safe from any goroutine.
func (tr *Transmission) Call(ctx context.Context, method string, args, out any) error {
	body, err := json.Marshal(map[string]any{"method": method, "arguments": args})
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, tr.rpcURL, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		tr.mu.Lock()
		if tr.sessionID != "" {
			req.Header.Set("X-Transmission-Session-Id", tr.sessionID)
		}
		tr.mu.Unlock()
		resp, err := tr.client.Do(req)
		if err != nil {
			return fmt.Errorf("refpeer: transmission %s: %w", method, err)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("refpeer: transmission %s: %w", method, err)
		}
		if resp.StatusCode == http.StatusConflict && attempt == 0 {
			tr.mu.Lock()
			tr.sessionID = resp.Header.Get("X-Transmission-Session-Id")
			tr.mu.Unlock()
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("refpeer: transmission %s: HTTP %s: %q", method, resp.Status, bytes.TrimSpace(b))
		}
		var r struct {
			Result    string          `json:"result"`
			Arguments json.RawMessage `json:"arguments"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("refpeer: transmission %s: reply %q: %w", method, b, err)
		}
		if r.Result != "success" {
			return &TransmissionError{Method: method, Result: r.Result}
		}
		if out != nil && len(r.Arguments) > 0 {
			if err := json.Unmarshal(r.Arguments, out); err != nil {
				return fmt.Errorf("refpeer: transmission %s: arguments %q: %w", method, r.Arguments, err)
			}
		}
		return nil
	}
}

// TRAdd says what to add with Transmission.Add.
type TRAdd struct {
	Torrent     string // a .torrent file, or
	Magnet      string // a magnet URI
	DownloadDir string // "" for the daemon's default (Dir/downloads)
	Paused      bool
}

// Add adds a torrent or magnet and returns its id. Safe from any goroutine.
func (tr *Transmission) Add(ctx context.Context, a TRAdd) (int, error) {
	args := map[string]any{"paused": a.Paused}
	switch {
	case a.Torrent != "" && a.Magnet == "":
		b, err := os.ReadFile(a.Torrent)
		if err != nil {
			return 0, err
		}
		args["metainfo"] = base64.StdEncoding.EncodeToString(b)
	case a.Magnet != "" && a.Torrent == "":
		args["filename"] = a.Magnet
	default:
		return 0, errors.New("refpeer: TRAdd needs one of Torrent and Magnet")
	}
	if a.DownloadDir != "" {
		args["download-dir"] = a.DownloadDir
	}
	var out struct {
		Added *struct {
			ID int `json:"id"`
		} `json:"torrent-added"`
		Dup *struct {
			ID int `json:"id"`
		} `json:"torrent-duplicate"`
	}
	if err := tr.Call(ctx, "torrent-add", args, &out); err != nil {
		return 0, err
	}
	switch {
	case out.Added != nil:
		return out.Added.ID, nil
	case out.Dup != nil:
		return out.Dup.ID, nil
	}
	return 0, errors.New("refpeer: transmission torrent-add: reply names no torrent")
}

// Transmission torrent status codes (tr_torrent_activity).
const (
	TRStopped      = 0
	TRCheckWait    = 1
	TRCheck        = 2
	TRDownloadWait = 3
	TRDownload     = 4
	TRSeedWait     = 5
	TRSeed         = 6
)

// TRPeer is one connected peer of a torrent.
type TRPeer struct {
	Address     string  `json:"address"`
	Port        int     `json:"port"`
	ClientName  string  `json:"clientName"`
	IsEncrypted bool    `json:"isEncrypted"`
	IsIncoming  bool    `json:"isIncoming"`
	Progress    float64 `json:"progress"`
	FlagStr     string  `json:"flagStr"`
}

// TRTorrent is the subset of torrent-get fields the harness reads.
type TRTorrent struct {
	ID                      int      `json:"id"`
	HashString              string   `json:"hashString"`
	Name                    string   `json:"name"`
	Status                  int      `json:"status"`
	PercentDone             float64  `json:"percentDone"`
	MetadataPercentComplete float64  `json:"metadataPercentComplete"`
	HaveValid               int64    `json:"haveValid"`
	SizeWhenDone            int64    `json:"sizeWhenDone"`
	LeftUntilDone           int64    `json:"leftUntilDone"`
	Error                   int      `json:"error"`
	ErrorString             string   `json:"errorString"`
	PeersConnected          int      `json:"peersConnected"`
	Peers                   []TRPeer `json:"peers"`
	UploadedEver            int64    `json:"uploadedEver"`
	DownloadedEver          int64    `json:"downloadedEver"`
}

var trFields = []string{"id", "hashString", "name", "status", "percentDone", "metadataPercentComplete",
	"haveValid", "sizeWhenDone", "leftUntilDone", "error", "errorString", "peersConnected", "peers",
	"uploadedEver", "downloadedEver"}

// Torrent returns one torrent's state. Safe from any goroutine.
func (tr *Transmission) Torrent(ctx context.Context, id int) (TRTorrent, error) {
	var out struct {
		Torrents []TRTorrent `json:"torrents"`
	}
	if err := tr.Call(ctx, "torrent-get", map[string]any{"ids": []int{id}, "fields": trFields}, &out); err != nil {
		return TRTorrent{}, err
	}
	if len(out.Torrents) != 1 {
		return TRTorrent{}, fmt.Errorf("refpeer: transmission: torrent %d not found", id)
	}
	return out.Torrents[0], nil
}

// StartTorrent starts (resumes) a torrent (torrent-start). Safe from any
// goroutine.
func (tr *Transmission) StartTorrent(ctx context.Context, id int) error {
	return tr.Call(ctx, "torrent-start", map[string]any{"ids": []int{id}}, nil)
}

// StopTorrent pauses a torrent (torrent-stop). Safe from any goroutine.
func (tr *Transmission) StopTorrent(ctx context.Context, id int) error {
	return tr.Call(ctx, "torrent-stop", map[string]any{"ids": []int{id}}, nil)
}

// VerifyTorrent queues a check of a torrent's data (torrent-verify). Safe
// from any goroutine.
func (tr *Transmission) VerifyTorrent(ctx context.Context, id int) error {
	return tr.Call(ctx, "torrent-verify", map[string]any{"ids": []int{id}}, nil)
}

// trPoll is how often WaitTorrent asks the daemon; its RPC has no way to
// push a state change.
const trPoll = 100 * time.Millisecond

// WaitTorrent polls torrent-get until cond holds and returns that state.
// It fails on a torrent error, when the daemon exits, or when ctx ends
// (with the last state seen and the log tail). Safe from any goroutine.
func (tr *Transmission) WaitTorrent(ctx context.Context, id int, what string, cond func(TRTorrent) bool) (TRTorrent, error) {
	tick := time.NewTicker(trPoll)
	defer tick.Stop()
	var last TRTorrent
	var lastErr error
	for {
		t, err := tr.Torrent(ctx, id)
		lastErr = err
		if err == nil {
			last = t
			if t.Error != 0 {
				return t, fmt.Errorf("%s: torrent %d: error %d: %s", tr.Name(), id, t.Error, t.ErrorString)
			}
			if cond(t) {
				return t, nil
			}
		}
		select {
		case <-tick.C:
		case <-tr.Done():
			return last, fmt.Errorf("%s exited (%v) while waiting for %s; last output:\n%s", tr.Name(), tr.exitErr(), what, tr.Tail(30))
		case <-ctx.Done():
			return last, fmt.Errorf("%s: waiting for %s: %w (status %d, %.4f done, %d peers %+v, last RPC error %v); last output:\n%s",
				tr.Name(), what, ctx.Err(), last.Status, last.PercentDone, last.PeersConnected, last.Peers, lastErr, tr.Tail(30))
		}
	}
}

// WaitComplete waits until a torrent has every wanted byte verified. The
// daemon may still hold blocks in its write cache: stop it (Stop) before
// comparing files. Safe from any goroutine.
func (tr *Transmission) WaitComplete(ctx context.Context, id int) (TRTorrent, error) {
	return tr.WaitTorrent(ctx, id, "completion", func(t TRTorrent) bool {
		return t.SizeWhenDone > 0 && t.LeftUntilDone == 0 && t.PercentDone == 1 &&
			t.Status != TRCheck && t.Status != TRCheckWait
	})
}

// Seed adds a .torrent whose data is complete under dir, has Transmission
// check it, and starts it; it fails if the check finds the data incomplete.
// It returns the torrent id once Transmission is seeding. Safe from any
// goroutine.
func (tr *Transmission) Seed(ctx context.Context, torrent, dir string) (int, error) {
	id, err := tr.Add(ctx, TRAdd{Torrent: torrent, DownloadDir: dir, Paused: true})
	if err != nil {
		return 0, err
	}
	if err := tr.VerifyTorrent(ctx, id); err != nil {
		return id, err
	}
	// torrent-verify only queues the check: wait until it has run and found
	// data (a torrent never checked has none valid), and is stopped again.
	t, err := tr.WaitTorrent(ctx, id, "the data check", func(t TRTorrent) bool {
		return t.Status == TRStopped && t.HaveValid > 0
	})
	if err != nil {
		return id, err
	}
	if t.LeftUntilDone != 0 {
		return id, fmt.Errorf("%s: seed data incomplete after check: %d of %d bytes missing", tr.Name(), t.LeftUntilDone, t.SizeWhenDone)
	}
	if err := tr.StartTorrent(ctx, id); err != nil {
		return id, err
	}
	_, err = tr.WaitTorrent(ctx, id, "seeding", func(t TRTorrent) bool { return t.Status == TRSeed })
	return id, err
}
