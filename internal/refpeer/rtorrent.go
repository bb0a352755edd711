package refpeer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/shardtorrent/shardtorrent/metainfo"
)

// RTorrentPath is the rtorrent executable (Debian's rtorrent 0.9.8 on
// libtorrent 0.13.8).
var RTorrentPath = "rtorrent"

var rtProbe toolProbe

// RTorrentAvailable reports whether rtorrent runs. Safe from any goroutine.
func RTorrentAvailable() error {
	return rtProbe.check(RTorrentPath, "rtorrent", []string{"-h"}, func(first string) (string, bool) {
		const prefix = "Rakshasa's BitTorrent client version "
		return strings.TrimSuffix(strings.TrimPrefix(first, prefix), "."), strings.HasPrefix(first, prefix)
	})
}

// RTorrentVersion is the version found by RTorrentAvailable ("" if none).
// Safe from any goroutine.
func RTorrentVersion() string {
	_ = RTorrentAvailable()
	return rtProbe.version
}

// RTorrentOptions configure an rtorrent peer. rtorrent cannot be told to
// connect to a peer: a downloader learns its peers from the torrent's or
// the magnet's tracker (StartTracker); a seeder waits to be dialled.
type RTorrentOptions struct {
	// Torrent is a .torrent file or a magnet URI (metadata via ut_metadata).
	// A .torrent must name a tracker: with DHT off rtorrent 0.9.8 silently
	// drops a torrent without one (StartTracker with no peers will do).
	Torrent string
	// Dir is the download directory: a torrent named X lives at Dir/X. A
	// seeder's data must be there already.
	Dir string
	// StateDir holds rtorrent's session files and its generated
	// configuration (created; required, and distinct per process).
	StateDir   string
	ListenPort int // TCP port on 127.0.0.1 (required; see FreePort)
	// RequireEncryption: protocol.encryption = require,require_RC4 (MSE
	// only, RC4 after the handshake, both ways). Otherwise "none":
	// plaintext only, both ways.
	RequireEncryption bool
	// Config lines appended to the generated configuration (rtorrent.rc
	// syntax, "key = value").
	Config []string
	Log    io.Writer
	Name   string // label for logs; default "rtorrent"
}

// RTorrent is a running rtorrent. It runs until Stop: a downloader keeps
// seeding after WaitFinished. Its methods are safe from any goroutine.
type RTorrent struct {
	*Process
	opts RTorrentOptions

	mu       sync.Mutex
	finished chan struct{} // closed at the first non-meta "finished" event
	seeding  chan struct{} // closed at a non-meta "hash_done" that is complete
}

// rtEventPrefix starts the lines our event hooks print (through
// log.execute, which carries the hooks' echo output to our stdout).
const rtEventPrefix = "refpeer-event "

// StartRTorrent starts rtorrent 0.9.8 without its terminal UI
// (system.daemon), bound to 127.0.0.1 only, with DHT, PEX and UDP trackers
// off, loading o.Torrent with load.start. Its log (debug level: the
// handshakes) goes to the process output; download hooks print event lines
// that WaitFinished and WaitSeeding wait for, so no test polls. The child
// gets PDEATHSIG; its usage is reported by Stop and Wait (Process). Safe
// from any goroutine.
func StartRTorrent(ctx context.Context, o RTorrentOptions) (*RTorrent, error) {
	if err := RTorrentAvailable(); err != nil {
		return nil, err
	}
	if o.Torrent == "" || o.Dir == "" || o.StateDir == "" || o.ListenPort <= 0 {
		return nil, errors.New("refpeer: RTorrentOptions needs Torrent, Dir, StateDir and ListenPort")
	}
	src := o.Torrent
	if !strings.HasPrefix(src, "magnet:") {
		mi, err := metainfo.Load(src)
		if err != nil {
			return nil, fmt.Errorf("refpeer: rtorrent: %w", err)
		}
		if mi.Announce == "" && len(mi.AnnounceList) == 0 {
			// Seen with 0.9.8: the download is dropped without a word.
			return nil, fmt.Errorf("refpeer: rtorrent (DHT off) ignores %s: it has no tracker; give it one (StartTracker)", src)
		}
		if src, err = filepath.Abs(src); err != nil {
			return nil, err
		}
	}
	if strings.ContainsAny(src, "\"\\\n") {
		return nil, fmt.Errorf("refpeer: rtorrent cannot load %q: quote, backslash or newline in it", src)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	state, err := filepath.Abs(o.StateDir)
	if err != nil {
		return nil, err
	}
	session := filepath.Join(state, "session")
	for _, d := range []string{dir, session} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	enc := "none"
	if o.RequireEncryption {
		enc = "require,require_RC4"
	}
	port := strconv.Itoa(o.ListenPort)
	// rtorrent's -o splits its argument on commas, so everything goes into
	// a configuration file loaded with -o import=FILE.
	lines := []string{
		"system.daemon.set = true",
		"session.path.set = " + session,
		"directory.default.set = " + dir,
		"network.port_range.set = " + port + "-" + port,
		"network.port_random.set = no",
		"network.bind_address.set = 127.0.0.1",
		"network.local_address.set = 127.0.0.1",
		"protocol.encryption.set = " + enc,
		"dht.mode.set = disable",
		"protocol.pex.set = no",
		"trackers.use_udp.set = no",
		"log.open_file = refpeer,/dev/stdout",
		"log.add_output = debug,refpeer", // handshakes are logged at debug
		// Commands run by execute.* write their output to log.execute.
		"log.execute = /dev/stdout",
	}
	for _, ev := range []string{"finished", "hash_done"} {
		lines = append(lines, fmt.Sprintf(
			`method.set_key = event.download.%s,refpeer,"execute.nothrow=echo,%s,%s,$d.hash=,$d.is_meta=,$d.complete="`,
			ev, strings.TrimSpace(rtEventPrefix), ev))
	}
	lines = append(lines, o.Config...)
	lines = append(lines, `load.start = "`+src+`"`)
	rc := filepath.Join(state, "rtorrent.rc")
	if err := os.WriteFile(rc, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	name := o.Name
	if name == "" {
		name = "rtorrent"
	}
	r := &RTorrent{opts: o, finished: make(chan struct{}), seeding: make(chan struct{})}
	p, err := startProcess(ctx, ProcOptions{Name: name, Path: RTorrentPath, Args: []string{"-n", "-o", "import=" + rc},
		Dir: state, Log: o.Log}, r.onLine)
	if err != nil {
		return nil, err
	}
	r.Process = p
	return r, nil
}

// onLine parses our hooks' lines: "refpeer-event EVENT HASH IS_META COMPLETE"
// (log.execute prefixes them with a NUL byte).
func (r *RTorrent) onLine(_, line string) {
	line = strings.TrimLeft(line, "\x00")
	if !strings.HasPrefix(line, rtEventPrefix) {
		return
	}
	f := strings.Fields(line)
	if len(f) != 5 || f[3] != "0" {
		return // malformed, or the magnet's metadata download
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case f[1] == "finished":
		closeOnce(r.finished)
	case f[1] == "hash_done" && f[4] == "1":
		closeOnce(r.seeding)
	}
}

// WaitFinished waits until a download is complete (rtorrent's
// event.download.finished for the torrent, not for a magnet's metadata).
// rtorrent then keeps seeding; Stop it. Safe from any goroutine.
func (r *RTorrent) WaitFinished(ctx context.Context) error {
	return r.waitEvent(ctx, r.finished, "finished")
}

// WaitSeeding waits until rtorrent has checked complete data and seeds
// (event.download.hash_done with d.complete = 1). Safe from any goroutine.
func (r *RTorrent) WaitSeeding(ctx context.Context) error {
	return r.waitEvent(ctx, r.seeding, "seeding")
}

func (r *RTorrent) waitEvent(ctx context.Context, ch chan struct{}, ev string) error {
	select {
	case <-ch:
		return nil
	case <-r.Done():
		select {
		case <-ch:
			return nil
		default:
		}
		return fmt.Errorf("%s exited (%v) before %q; last output:\n%s", r.Name(), r.exitErr(), ev, r.Tail(30))
	case <-ctx.Done():
		return fmt.Errorf("%s: waiting for %q: %w; last output:\n%s", r.Name(), ev, ctx.Err(), r.Tail(30))
	}
}

// Addr returns "127.0.0.1:PORT" of rtorrent's listen socket. Safe from any
// goroutine.
func (r *RTorrent) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.opts.ListenPort) }
