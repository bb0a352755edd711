// Package refpeer runs real reference BitTorrent peers (libtorrent via its
// Python bindings, aria2, Transmission 3.00, qBittorrent-nox 4.5.2,
// rtorrent 0.9.8) and Debian's opentracker as child processes on
// 127.0.0.1, plus the small fixtures interop tests and benchmarks need
// around them: free ports, a compact-peer-list HTTP tracker, deterministic
// test data and file hashing.
//
// libtorrent's bindings come from Debian's python3-libtorrent and load only
// under /usr/bin/python3 (see .ci/install-peers.sh); Python is that path on
// purpose, never a python3 looked up on PATH.
package refpeer

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Python is the interpreter that has Debian's libtorrent bindings.
const Python = "/usr/bin/python3"

//go:embed lt_peer.py
var ltScript []byte

var (
	scriptOnce sync.Once
	scriptPath string
	scriptErr  error
)

// ScriptPath writes the embedded lt_peer.py to a content-addressed file
// under os.TempDir (reused across runs, so nothing leaks) and returns it.
func ScriptPath() (string, error) {
	scriptOnce.Do(func() {
		sum := sha256.Sum256(ltScript)
		dir := filepath.Join(os.TempDir(), "shardtorrent-refpeer-"+hex.EncodeToString(sum[:8]))
		p := filepath.Join(dir, "lt_peer.py")
		if b, err := os.ReadFile(p); err == nil && bytes.Equal(b, ltScript) {
			scriptPath = p
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			scriptErr = err
			return
		}
		f, err := os.CreateTemp(dir, "lt_peer-*.py")
		if err != nil {
			scriptErr = err
			return
		}
		_, err = f.Write(ltScript)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(f.Name(), p)
		}
		if err != nil {
			_ = os.Remove(f.Name())
			scriptErr = err
			return
		}
		scriptPath = p
	})
	return scriptPath, scriptErr
}

var (
	availOnce sync.Once
	ltVersion string
	availErr  error
)

// Available reports whether /usr/bin/python3 can import libtorrent. On
// success LTVersion returns the version it found.
func Available() error {
	availOnce.Do(func() {
		if _, err := os.Stat(Python); err != nil {
			availErr = fmt.Errorf("refpeer: %s not found (%v); install python3-libtorrent (.ci/install-peers.sh)", Python, err)
			return
		}
		out, err := exec.Command(Python, "-c", "import libtorrent as lt; print(lt.__version__)").CombinedOutput()
		if err != nil {
			availErr = fmt.Errorf("refpeer: %s cannot import libtorrent (%v): %s; install python3-libtorrent (.ci/install-peers.sh)",
				Python, err, strings.TrimSpace(string(out)))
			return
		}
		ltVersion = strings.TrimSpace(string(out))
		if _, err := ScriptPath(); err != nil {
			availErr = fmt.Errorf("refpeer: writing lt_peer.py: %w", err)
		}
	})
	return availErr
}

// LTVersion is the libtorrent version found by Available ("" if none).
func LTVersion() string {
	_ = Available()
	return ltVersion
}

// LTOptions configure a libtorrent peer.
type LTOptions struct {
	Mode       string   // "seed" or "leech"
	Torrent    string   // .torrent file
	Magnet     string   // leech: a magnet URI instead of Torrent (metadata via ut_metadata)
	SaveDir    string   // save path: a torrent named X lives at SaveDir/X
	ListenPort int      // TCP port on 127.0.0.1 (required; see FreePort)
	Peers      []string // HOST:PORT to connect to (retried until connected)
	Encryption string   // "disabled", "enabled" (default) or "forced"
	EncLevel   string   // allowed_enc_level: "plaintext", "rc4" or "both" (default); "rc4" also sets prefer_rc4
	Perf       bool     // apply lt.high_performance_seed()
	SeedMode   bool     // seed without checking the data (default: check)
	Stay       bool     // leech: keep running (seeding) after completion
	DHT        bool     // run libtorrent's DHT with loopback settings and no routers
	DHTNodes   []string // with DHT: HOST:PORT nodes for add_dht_node
	DHTSample  string   // with DHT: HOST:PORT to send BEP 51 sample_infohashes to (see WaitDHTSample)
	Log        io.Writer
	Name       string // label for logs; default "lt-seed"/"lt-leech"

	// MoreTorrents (leech only) are further .torrent files added to the
	// same libtorrent session, saved under SaveDir too: one session
	// leeching many torrents. Status then sums over all of them and lists
	// each in Status.Torrents; WaitFinished waits for all.
	MoreTorrents []string

	// UploadRateLimit is libtorrent's session upload_rate_limit in
	// bytes/s (0 = unlimited), e.g. to keep a download running long
	// enough for a test to act during it.
	UploadRateLimit int
}

// Status is one status line of lt_peer.py. Rates are payload bytes/s,
// totals payload bytes.
type Status struct {
	Event         string  `json:"event,omitempty"` // "", "ready", "metadata" or "finished"
	State         string  `json:"state"`
	Progress      float64 `json:"progress"`
	DownloadRate  int64   `json:"download_rate"`
	UploadRate    int64   `json:"upload_rate"`
	TotalDownload int64   `json:"total_download"`
	TotalUpload   int64   `json:"total_upload"`
	TotalDone     int64   `json:"total_done"`
	NumPeers      int     `json:"num_peers"`
	Elapsed       float64 `json:"elapsed"` // seconds since the script started
	// Event "dht_sample": the reply of LTOptions.DHTSample's node.
	Samples    []string `json:"samples,omitempty"` // info-hashes, hex
	NumSamples int      `json:"num_samples,omitempty"`
	NumNodes   int      `json:"num_nodes,omitempty"`
	// With LTOptions.MoreTorrents: each torrent, in the order given
	// (Torrent first); the fields above are then sums (Progress the mean).
	Torrents []TorrentStatus `json:"torrents,omitempty"`
}

// TorrentStatus is one torrent's part of a Status of a session leeching
// several (LTOptions.MoreTorrents).
type TorrentStatus struct {
	Progress      float64 `json:"progress"`
	TotalDownload int64   `json:"total_download"`
	TotalUpload   int64   `json:"total_upload"`
	NumPeers      int     `json:"num_peers"`
}

// LTPeer is a running libtorrent peer process.
type LTPeer struct {
	*Process
	opts LTOptions

	mu       sync.Mutex
	last     Status
	ready    chan struct{}
	finished chan struct{}
	sample   chan Status // the dht_sample event, once
}

// StartLT starts a libtorrent seeder or leecher.
func StartLT(ctx context.Context, o LTOptions) (*LTPeer, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if o.Mode != "seed" && o.Mode != "leech" {
		return nil, fmt.Errorf("refpeer: LTOptions.Mode %q, want seed or leech", o.Mode)
	}
	if (o.Torrent == "") == (o.Magnet == "") || o.SaveDir == "" || o.ListenPort <= 0 {
		return nil, errors.New("refpeer: LTOptions needs one of Torrent and Magnet, SaveDir and ListenPort")
	}
	script, _ := ScriptPath()
	args := []string{script, "--mode", o.Mode, "--save", o.SaveDir, "--listen", strconv.Itoa(o.ListenPort)}
	if len(o.MoreTorrents) > 0 && (o.Mode != "leech" || o.Magnet != "") {
		return nil, errors.New("refpeer: LTOptions.MoreTorrents needs Mode leech and Torrent")
	}
	if o.Magnet != "" {
		args = append(args, "--magnet", o.Magnet)
	} else {
		args = append(args, "--torrent", o.Torrent)
	}
	for _, t := range o.MoreTorrents {
		args = append(args, "--torrent", t)
	}
	for _, p := range o.Peers {
		args = append(args, "--peer", p)
	}
	if o.Encryption != "" {
		args = append(args, "--encryption", o.Encryption)
	}
	if o.EncLevel != "" {
		args = append(args, "--enc-level", o.EncLevel)
	}
	if o.Perf {
		args = append(args, "--perf")
	}
	if o.SeedMode {
		args = append(args, "--seed-mode")
	}
	if o.Stay {
		args = append(args, "--stay")
	}
	if o.UploadRateLimit > 0 {
		args = append(args, "--upload-rate-limit", strconv.Itoa(o.UploadRateLimit))
	}
	if o.DHT {
		args = append(args, "--dht")
		for _, n := range o.DHTNodes {
			args = append(args, "--dht-node", n)
		}
		if o.DHTSample != "" {
			args = append(args, "--dht-sample", o.DHTSample)
		}
	}
	name := o.Name
	if name == "" {
		name = "lt-" + o.Mode
	}
	lp := &LTPeer{opts: o, ready: make(chan struct{}), finished: make(chan struct{}), sample: make(chan Status, 1)}
	p, err := startProcess(ctx, ProcOptions{Name: name, Path: Python, Args: args, Log: o.Log, KeepStdin: true}, lp.onLine)
	if err != nil {
		return nil, err
	}
	lp.Process = p
	return lp, nil
}

func (p *LTPeer) onLine(stream, line string) {
	if stream != "out" || !strings.HasPrefix(line, "{") {
		return
	}
	var st Status
	if json.Unmarshal([]byte(line), &st) != nil {
		return
	}
	p.mu.Lock()
	p.last = st
	p.mu.Unlock()
	switch st.Event {
	case "ready":
		closeOnce(p.ready)
	case "finished":
		closeOnce(p.finished)
	case "dht_sample":
		select {
		case p.sample <- st:
		default:
		}
	}
}

// closeOnce closes ch unless already closed (only the stdout scanner calls it).
func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// LastStatus returns the most recent status line.
func (p *LTPeer) LastStatus() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// WaitReady waits until a seeder has checked its data and is seeding.
func (p *LTPeer) WaitReady(ctx context.Context) error { return p.waitEvent(ctx, p.ready, "ready") }

// WaitFinished waits until a leecher has the complete torrent. Without Stay
// the process then exits by itself; use Wait to collect its usage.
func (p *LTPeer) WaitFinished(ctx context.Context) error {
	return p.waitEvent(ctx, p.finished, "finished")
}

func (p *LTPeer) waitEvent(ctx context.Context, ch chan struct{}, ev string) error {
	select {
	case <-ch:
		return nil
	default:
	}
	select {
	case <-ch:
		return nil
	case <-p.Done():
		select {
		case <-ch: // the event line was the last thing it printed
			return nil
		default:
		}
		return p.crashed(fmt.Errorf("%s exited (%v) before %q; last output:\n%s", p.Name(), p.exitErr(), ev, p.Tail(30)))
	case <-ctx.Done():
		st := p.LastStatus()
		return fmt.Errorf("%s: waiting for %q: %w (state %s, progress %.4f, peers %d); last output:\n%s",
			p.Name(), ev, ctx.Err(), st.State, st.Progress, st.NumPeers, p.Tail(30))
	}
}

// WaitDHTSample waits for the reply to LTOptions.DHTSample's
// sample_infohashes query, as libtorrent's dht_sample_infohashes_alert
// reported it.
func (p *LTPeer) WaitDHTSample(ctx context.Context) (Status, error) {
	select {
	case st := <-p.sample: // also after the process exited
		return st, nil
	default:
	}
	select {
	case st := <-p.sample:
		return st, nil
	case <-p.Done():
		select {
		case st := <-p.sample:
			return st, nil
		default:
		}
		return Status{}, fmt.Errorf("%s exited (%v) before its dht_sample; last output:\n%s", p.Name(), p.exitErr(), p.Tail(30))
	case <-ctx.Done():
		return Status{}, fmt.Errorf("%s: waiting for dht_sample: %w; last output:\n%s", p.Name(), ctx.Err(), p.Tail(30))
	}
}

// Addr returns "127.0.0.1:PORT" of the peer's listen socket.
func (p *LTPeer) Addr() string { return "127.0.0.1:" + strconv.Itoa(p.opts.ListenPort) }

// TorrentInfo describes a torrent created by MakeTorrent.
type TorrentInfo struct {
	Name      string `json:"name"`
	InfoHash  string `json:"info_hash"` // v1, hex
	NumFiles  int    `json:"num_files"`
	NumPieces int    `json:"num_pieces"`
	PieceSize int    `json:"piece_size"`
	TotalSize int64  `json:"total_size"`
}

// MakeTorrent creates a v1-only torrent (no pad files) of path (a file or
// directory; the torrent's name is its base name) with libtorrent.
// pieceSize 0 lets libtorrent choose; trackers become the announce list.
func MakeTorrent(ctx context.Context, path, out string, pieceSize int, trackers ...string) (TorrentInfo, error) {
	if err := Available(); err != nil {
		return TorrentInfo{}, err
	}
	script, _ := ScriptPath()
	args := []string{script, "--mode", "make", "--path", path, "--out", out, "--piece-size", strconv.Itoa(pieceSize)}
	for _, t := range trackers {
		args = append(args, "--tracker", t)
	}
	cmd := exec.CommandContext(ctx, Python, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return TorrentInfo{}, fmt.Errorf("refpeer: make torrent of %s: %v: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	var ti TorrentInfo
	if err := json.Unmarshal(bytes.TrimSpace(b), &ti); err != nil {
		return TorrentInfo{}, fmt.Errorf("refpeer: make torrent: bad output %q: %v", b, err)
	}
	return ti, nil
}

// WaitStatus waits for a status line (including lines already printed)
// that match accepts and returns it; what names the condition in errors.
func (p *LTPeer) WaitStatus(ctx context.Context, match func(Status) bool, what string) (Status, error) {
	var st Status
	_, err := p.WaitLineFunc(ctx, func(line string) bool {
		if !strings.HasPrefix(line, "{") {
			return false
		}
		var s Status
		if json.Unmarshal([]byte(line), &s) != nil || !match(s) {
			return false
		}
		st = s
		return true
	}, what)
	return st, err
}
