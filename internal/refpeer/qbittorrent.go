package refpeer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// QBittorrentPath is the qbittorrent-nox executable (Debian's 4.5.2, on
// libtorrent 2.0.8).
var QBittorrentPath = "qbittorrent-nox"

var qbProbe toolProbe

// QBittorrentAvailable reports whether qbittorrent-nox runs. Safe from any
// goroutine.
func QBittorrentAvailable() error {
	// "qBittorrent v4.5.2"
	return qbProbe.check(QBittorrentPath, "qbittorrent-nox", []string{"--version"}, func(first string) (string, bool) {
		return strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(first, "qBittorrent")), "v"), true
	})
}

// QBittorrentVersion is the version found by QBittorrentAvailable (""
// if none). Safe from any goroutine.
func QBittorrentVersion() string {
	_ = QBittorrentAvailable()
	return qbProbe.version
}

// QBittorrentOptions configure StartQBittorrent.
type QBittorrentOptions struct {
	Dir        string // profile dir (--profile); the default save path is Dir/downloads
	ListenPort int    // TCP port on 127.0.0.1 for peers (required)
	WebUIPort  int    // WebUI port on 127.0.0.1; 0 picks a free one
	// Encryption is qBittorrent's BitTorrent\Session\Encryption: ""
	// or "enabled" (0, its default: libtorrent pe_enabled both ways),
	// "forced" (1: pe_forced, RC4 only) or "disabled" (2).
	Encryption string
	Log        io.Writer
	Name       string // label for logs; default "qbittorrent"
}

// QBittorrent is a running qbittorrent-nox driven over its WebUI API v2
// (no login: localhost authentication is bypassed). It listens on
// 127.0.0.1 only, TCP only, with DHT, LSD, PeX, UPnP and queueing off,
// several connections per IP allowed (every test peer is 127.0.0.1), and
// announces to every tracker. Methods are safe from any goroutine.
type QBittorrent struct {
	*Process
	opts   QBittorrentOptions
	api    string // http://127.0.0.1:PORT/api/v2
	client *http.Client
}

// StartQBittorrent writes Dir/qBittorrent/config/qBittorrent.conf, starts
// qbittorrent-nox --profile=Dir, waits until its WebUI API answers and
// reads the preferences back. Safe from any goroutine.
func StartQBittorrent(ctx context.Context, o QBittorrentOptions) (*QBittorrent, error) {
	if err := QBittorrentAvailable(); err != nil {
		return nil, err
	}
	if o.Dir == "" || o.ListenPort <= 0 {
		return nil, errors.New("refpeer: QBittorrentOptions needs Dir and ListenPort")
	}
	enc, ok := map[string]int{"": 0, "enabled": 0, "forced": 1, "disabled": 2}[o.Encryption]
	if !ok {
		return nil, fmt.Errorf("refpeer: QBittorrentOptions.Encryption %q, want enabled, forced or disabled", o.Encryption)
	}
	if o.WebUIPort == 0 {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		o.WebUIPort = p
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	o.Dir = dir
	dl := filepath.Join(dir, "downloads")
	conf := filepath.Join(dir, "qBittorrent", "config")
	for _, d := range []string{dl, conf} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	// Keys as qBittorrent 4.5.2 names them (src/base/bittorrent/sessionimpl.cpp,
	// src/base/preferences.cpp); QSettings' INI format writes "A/B/C" as
	// section A, key B\C.
	ini := strings.Join([]string{
		"[LegalNotice]",
		"Accepted=true",
		"",
		"[BitTorrent]",
		"Session\\Port=" + strconv.Itoa(o.ListenPort),
		"Session\\InterfaceAddress=127.0.0.1",
		"Session\\BTProtocol=TCP",
		"Session\\DHTEnabled=false",
		"Session\\LSDEnabled=false",
		"Session\\PeXEnabled=false",
		"Session\\Encryption=" + strconv.Itoa(enc),
		"Session\\DefaultSavePath=" + dl,
		"Session\\TempPathEnabled=false",
		"Session\\MultiConnectionsPerIp=true",
		"Session\\AnnounceToAllTrackers=true",
		"Session\\AnnounceToAllTiers=true",
		"Session\\SSRFMitigation=false",
		"Session\\QueueingSystemEnabled=false",
		"Session\\IPFilteringEnabled=false",
		"Session\\AnonymousModeEnabled=false",
		"Session\\AddTorrentPaused=false",
		"",
		"[Preferences]",
		"WebUI\\Enabled=true",
		"WebUI\\Address=127.0.0.1",
		"WebUI\\Port=" + strconv.Itoa(o.WebUIPort),
		"WebUI\\LocalHostAuth=false",
		"WebUI\\CSRFProtection=false",
		"WebUI\\HostHeaderValidation=false",
		"WebUI\\UseUPnP=false",
		"Connection\\UPnP=false",
		"General\\Locale=en",
		"",
	}, "\n")
	if err := os.WriteFile(filepath.Join(conf, "qBittorrent.conf"), []byte(ini), 0o644); err != nil {
		return nil, err
	}
	name := o.Name
	if name == "" {
		name = "qbittorrent"
	}
	p, err := StartProcess(ctx, ProcOptions{Name: name, Path: QBittorrentPath, Args: []string{"--profile=" + dir}, Log: o.Log})
	if err != nil {
		return nil, err
	}
	qb := &QBittorrent{
		Process: p, opts: o,
		api:    "http://127.0.0.1:" + strconv.Itoa(o.WebUIPort) + "/api/v2",
		client: &http.Client{Timeout: 10 * time.Second},
	}
	if err := waitTCP(ctx, p, "127.0.0.1:"+strconv.Itoa(o.WebUIPort)); err != nil {
		_, _ = p.Stop()
		return nil, err
	}
	if err := qb.checkPreferences(ctx, enc); err != nil {
		_, _ = p.Stop()
		return nil, err
	}
	return qb, nil
}

// checkPreferences reads the preferences back (/app/preferences): a key
// qBittorrent does not know is silently ignored, so this is what proves
// the configuration file took.
func (qb *QBittorrent) checkPreferences(ctx context.Context, enc int) error {
	b, err := qb.do(ctx, http.MethodGet, "/app/preferences", nil, "")
	if err != nil {
		return err
	}
	var got struct {
		ListenPort   int    `json:"listen_port"`
		Encryption   int    `json:"encryption"`
		DHT          bool   `json:"dht"`
		LSD          bool   `json:"lsd"`
		PeX          bool   `json:"pex"`
		Interface    string `json:"current_interface_address"`
		MultiConnsIP bool   `json:"enable_multi_connections_from_same_ip"`
		AllTrackers  bool   `json:"announce_to_all_trackers"`
		Queueing     bool   `json:"queueing_enabled"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		return fmt.Errorf("refpeer: qbittorrent /app/preferences: %q: %w", b, err)
	}
	if got.ListenPort != qb.opts.ListenPort || got.Encryption != enc || got.DHT || got.LSD || got.PeX ||
		got.Interface != "127.0.0.1" || !got.MultiConnsIP || !got.AllTrackers || got.Queueing {
		return fmt.Errorf("refpeer: qbittorrent ignored part of qBittorrent.conf: preferences %+v (want port %d, encryption %d)",
			got, qb.opts.ListenPort, enc)
	}
	return nil
}

// PeerAddr returns "127.0.0.1:LISTENPORT". Safe from any goroutine.
func (qb *QBittorrent) PeerAddr() string { return "127.0.0.1:" + strconv.Itoa(qb.opts.ListenPort) }

// LogTail returns the last n lines of qBittorrent's own log file (its
// stdout says little), for failure messages. Safe from any goroutine.
func (qb *QBittorrent) LogTail(n int) string {
	b, err := os.ReadFile(filepath.Join(qb.opts.Dir, "qBittorrent", "data", "logs", "qbittorrent.log"))
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	l := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// QBittorrentError is a WebUI API reply other than 200, or a "Fails."
// reply; match it with errors.As.
type QBittorrentError struct {
	Path   string
	Status int
	Body   string
}

func (e *QBittorrentError) Error() string {
	return fmt.Sprintf("refpeer: qbittorrent %s: HTTP %d: %q", e.Path, e.Status, e.Body)
}

func (qb *QBittorrent) do(ctx context.Context, method, path string, body io.Reader, contentType string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, qb.api+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := qb.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("refpeer: qbittorrent %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("refpeer: qbittorrent %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &QBittorrentError{Path: path, Status: resp.StatusCode, Body: string(bytes.TrimSpace(b))}
	}
	return b, nil
}

// post sends a form; it fails on an HTTP error or a "Fails." reply.
func (qb *QBittorrent) post(ctx context.Context, path string, form url.Values) error {
	b, err := qb.do(ctx, http.MethodPost, path, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
	if err == nil && strings.TrimSpace(string(b)) == "Fails." {
		err = &QBittorrentError{Path: path, Status: http.StatusOK, Body: "Fails."}
	}
	return err
}

// QBAdd says what to add with QBittorrent.Add.
type QBAdd struct {
	Torrent  string // a .torrent file, or
	Magnet   string // a magnet URI
	SavePath string // "" for the default (Dir/downloads)
	Paused   bool
}

// Add adds a .torrent (multipart upload) or a magnet (urls=). The torrent
// appears in Torrent/WaitTorrent under its info-hash shortly after. Safe
// from any goroutine.
func (qb *QBittorrent) Add(ctx context.Context, a QBAdd) error {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	switch {
	case a.Torrent != "" && a.Magnet == "":
		b, err := os.ReadFile(a.Torrent)
		if err != nil {
			return err
		}
		fw, err := mw.CreateFormFile("torrents", filepath.Base(a.Torrent))
		if err != nil {
			return err
		}
		if _, err := fw.Write(b); err != nil {
			return err
		}
	case a.Magnet != "" && a.Torrent == "":
		if err := mw.WriteField("urls", a.Magnet); err != nil {
			return err
		}
	default:
		return errors.New("refpeer: QBAdd needs one of Torrent and Magnet")
	}
	if a.SavePath != "" {
		if err := mw.WriteField("savepath", a.SavePath); err != nil {
			return err
		}
	}
	if err := mw.WriteField("paused", strconv.FormatBool(a.Paused)); err != nil {
		return err
	}
	if err := mw.Close(); err != nil {
		return err
	}
	b, err := qb.do(ctx, http.MethodPost, "/torrents/add", &buf, mw.FormDataContentType())
	if err != nil {
		return err
	}
	if s := strings.TrimSpace(string(b)); s != "Ok." {
		return &QBittorrentError{Path: "/torrents/add", Status: http.StatusOK, Body: s}
	}
	return nil
}

// QBTorrent is the subset of /torrents/info fields the harness reads.
type QBTorrent struct {
	Hash       string  `json:"hash"`
	Name       string  `json:"name"`
	State      string  `json:"state"` // "metaDL", "checkingUP", "downloading", "stalledUP", "uploading", "error", ...
	Progress   float64 `json:"progress"`
	Size       int64   `json:"size"`
	AmountLeft int64   `json:"amount_left"`
	Completed  int64   `json:"completed"`
	NumSeeds   int     `json:"num_seeds"`
	NumLeechs  int     `json:"num_leechs"`
	SavePath   string  `json:"save_path"`
	Uploaded   int64   `json:"uploaded"`
	Downloaded int64   `json:"downloaded"`
	// SeedingTime is libtorrent's seeding_duration in seconds: it grows only
	// while the torrent is seeding and not paused.
	SeedingTime int64 `json:"seeding_time"`
}

// Torrent returns one torrent's state; found is false while qBittorrent
// does not list it yet. Safe from any goroutine.
func (qb *QBittorrent) Torrent(ctx context.Context, infohash string) (t QBTorrent, found bool, err error) {
	b, err := qb.do(ctx, http.MethodGet, "/torrents/info?hashes="+url.QueryEscape(strings.ToLower(infohash)), nil, "")
	if err != nil {
		return QBTorrent{}, false, err
	}
	var ts []QBTorrent
	if err := json.Unmarshal(b, &ts); err != nil {
		return QBTorrent{}, false, fmt.Errorf("refpeer: qbittorrent /torrents/info: %q: %w", b, err)
	}
	if len(ts) == 0 {
		return QBTorrent{}, false, nil
	}
	return ts[0], true, nil
}

// QBPeer is one connected peer (/sync/torrentPeers).
type QBPeer struct {
	IP         string  `json:"ip"`
	Port       int     `json:"port"`
	Client     string  `json:"client"`
	Connection string  `json:"connection"` // "BT", "μTP"
	Flags      string  `json:"flags"`      // libtorrent-style: "E" encrypted, "I" incoming, ...
	Progress   float64 `json:"progress"`
}

// Peers returns a torrent's connected peers. Safe from any goroutine.
func (qb *QBittorrent) Peers(ctx context.Context, infohash string) ([]QBPeer, error) {
	b, err := qb.do(ctx, http.MethodGet, "/sync/torrentPeers?hash="+url.QueryEscape(strings.ToLower(infohash)), nil, "")
	if err != nil {
		return nil, err
	}
	var r struct {
		Peers map[string]QBPeer `json:"peers"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("refpeer: qbittorrent /sync/torrentPeers: %q: %w", b, err)
	}
	out := make([]QBPeer, 0, len(r.Peers))
	for _, p := range r.Peers {
		out = append(out, p)
	}
	return out, nil
}

// AddPeers makes qBittorrent connect to peers ("127.0.0.1:PORT") for a
// torrent (/torrents/addPeers). Safe from any goroutine.
func (qb *QBittorrent) AddPeers(ctx context.Context, infohash string, peers ...string) error {
	return qb.post(ctx, "/torrents/addPeers", url.Values{"hashes": {strings.ToLower(infohash)}, "peers": {strings.Join(peers, "|")}})
}

// Resume starts a paused torrent. Safe from any goroutine.
func (qb *QBittorrent) Resume(ctx context.Context, infohash string) error {
	return qb.post(ctx, "/torrents/resume", url.Values{"hashes": {strings.ToLower(infohash)}})
}

// qbPoll is how often WaitTorrent asks qBittorrent; the API has no way to
// push a state change.
const qbPoll = 100 * time.Millisecond

// WaitTorrent polls /torrents/info until the torrent is listed and cond
// holds, and returns that state. It fails on state "error" or
// "missingFiles", when qBittorrent exits, or when ctx ends (with the last
// state and its log tail). Safe from any goroutine.
func (qb *QBittorrent) WaitTorrent(ctx context.Context, infohash, what string, cond func(QBTorrent) bool) (QBTorrent, error) {
	tick := time.NewTicker(qbPoll)
	defer tick.Stop()
	var last QBTorrent
	var lastErr error
	for {
		t, found, err := qb.Torrent(ctx, infohash)
		lastErr = err
		if err == nil && found {
			last = t
			if t.State == "error" || t.State == "missingFiles" {
				return t, fmt.Errorf("%s: torrent %s in state %s; log:\n%s", qb.Name(), infohash, t.State, qb.LogTail(30))
			}
			if cond(t) {
				return t, nil
			}
		}
		select {
		case <-tick.C:
		case <-qb.Done():
			return last, fmt.Errorf("%s exited (%v) while waiting for %s; last output:\n%s", qb.Name(), qb.exitErr(), what, qb.Tail(30))
		case <-ctx.Done():
			return last, fmt.Errorf("%s: waiting for %s: %w (torrent %+v, last API error %v); log:\n%s",
				qb.Name(), what, ctx.Err(), last, lastErr, qb.LogTail(30))
		}
	}
}

// qbChecking reports whether a state is one of the data-check states.
func qbChecking(state string) bool { return strings.HasPrefix(state, "checking") }

// WaitComplete waits until a torrent has all its data (progress 1, not
// checking). libtorrent may still hold blocks in memory: stop qBittorrent
// (Shutdown) before comparing files. Safe from any goroutine.
func (qb *QBittorrent) WaitComplete(ctx context.Context, infohash string) (QBTorrent, error) {
	return qb.WaitTorrent(ctx, infohash, "completion", func(t QBTorrent) bool {
		return t.Progress == 1 && t.AmountLeft == 0 && t.Size > 0 && !qbChecking(t.State) && t.State != "metaDL"
	})
}

// Seed adds a .torrent whose data is complete under savePath; qBittorrent
// checks it (libtorrent checks every torrent added without resume data).
// It returns once the torrent is in a seeding state, and fails if the check
// finds data missing. Measured: for a second or two after that, an
// incoming encrypted (forced RC4) connection may still be closed during
// its MSE handshake, so a test whose peer dials qBittorrent once should
// also have qBittorrent dial it (AddPeers). Safe from any goroutine.
func (qb *QBittorrent) Seed(ctx context.Context, torrent, savePath, infohash string) error {
	if err := qb.Add(ctx, QBAdd{Torrent: torrent, SavePath: savePath}); err != nil {
		return err
	}
	t, err := qb.WaitTorrent(ctx, infohash, "seeding", func(t QBTorrent) bool {
		switch t.State {
		case "stalledUP", "uploading", "forcedUP", // seeding
			"downloading", "stalledDL", "forcedDL": // checked, and found data missing
			return true
		}
		return false
	})
	if err != nil {
		return err
	}
	if t.Progress != 1 {
		return fmt.Errorf("%s: seed data incomplete after check: progress %.6f, state %s", qb.Name(), t.Progress, t.State)
	}
	return nil
}

// Shutdown asks qBittorrent to exit (/app/shutdown), which saves and
// closes every torrent, and waits for the process to end. Safe from any
// goroutine.
func (qb *QBittorrent) Shutdown(ctx context.Context) (Usage, error) {
	if err := qb.post(ctx, "/app/shutdown", nil); err != nil && !isExited(qb.Process) {
		return Usage{}, err
	}
	return qb.Wait(ctx)
}

func isExited(p *Process) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}
