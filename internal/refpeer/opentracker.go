package refpeer

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/anacrolix/torrent/bencode"
)

// OpentrackerPath is the opentracker executable (Debian's package).
var OpentrackerPath = "opentracker"

var (
	otOnce    sync.Once
	otVersion string
	otErr     error
)

// OpentrackerAvailable reports whether opentracker is installed. It has no
// --version flag; OpentrackerVersion reports the Debian package version.
// Safe from any goroutine.
func OpentrackerAvailable() error {
	otOnce.Do(func() {
		if _, err := exec.LookPath(OpentrackerPath); err != nil {
			otErr = fmt.Errorf("refpeer: %s not found (%v); install opentracker (.ci/install-peers.sh)", OpentrackerPath, err)
			return
		}
		otVersion = debVersion("opentracker")
	})
	return otErr
}

// OpentrackerVersion is the version found by OpentrackerAvailable ("" if
// none). Safe from any goroutine.
func OpentrackerVersion() string {
	_ = OpentrackerAvailable()
	return otVersion
}

// debVersion returns the installed version of a Debian package, or
// "unknown" where dpkg-query cannot say.
func debVersion(pkg string) string {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", pkg).Output()
	if v := strings.TrimSpace(string(out)); err == nil && v != "" {
		return v
	}
	return "unknown"
}

// OpentrackerOptions configure StartOpentrackerOpts.
type OpentrackerOptions struct {
	// Dir holds the whitelist; it becomes opentracker's chroot when run as
	// root, so it is made world-readable (0755).
	Dir string
	// InfoHashes (v1, 40 hex digits) are whitelisted from the start.
	InfoHashes []string
	Log        io.Writer
	Name       string // label for logs; default "opentracker"
}

// Opentracker is a running Debian opentracker on 127.0.0.1, whitelist-only:
// announces for an info-hash not added with StartOpentracker or Allow are
// refused ("Requested download is not authorized"). It serves HTTP and UDP
// on one port. Its announce replies include the announcing peer itself.
// Methods are safe from any goroutine.
type Opentracker struct {
	*Process
	port      int
	whitelist string // absolute path of the whitelist file
	client    *http.Client

	mu     sync.Mutex // serialises whitelist rewrites
	hashes []string   // whitelisted info-hashes, lower-case hex, sorted
}

// otWhitelist is the whitelist's name inside Dir. opentracker reads it
// after chroot, so it is passed relative and the process runs in Dir
// (which also covers not running as root, when chroot fails softly).
const otWhitelist = "whitelist"

// StartOpentracker starts opentracker with dir as its chroot and whitelist
// directory and the given info-hashes (hex) whitelisted, and waits until it
// accepts connections and has loaded the whitelist. Safe from any
// goroutine.
func StartOpentracker(ctx context.Context, dir string, infohashes ...string) (*Opentracker, error) {
	return StartOpentrackerOpts(ctx, OpentrackerOptions{Dir: dir, InfoHashes: infohashes})
}

// StartOpentrackerOpts is StartOpentracker with options (a log writer).
// Safe from any goroutine.
func StartOpentrackerOpts(ctx context.Context, o OpentrackerOptions) (*Opentracker, error) {
	if err := OpentrackerAvailable(); err != nil {
		return nil, err
	}
	if o.Dir == "" {
		return nil, errors.New("refpeer: OpentrackerOptions needs Dir")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// As root it chroots here and drops to nobody, who must read the
	// whitelist (the umask may have narrowed these modes).
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	t := &Opentracker{whitelist: filepath.Join(dir, otWhitelist), client: &http.Client{Timeout: 10 * time.Second}}
	if err := t.addHashes(o.InfoHashes); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	t.port = port
	name := o.Name
	if name == "" {
		name = "opentracker"
	}
	ps := strconv.Itoa(port)
	p, err := StartProcess(ctx, ProcOptions{
		Name: name, Path: OpentrackerPath, Dir: dir, Log: o.Log,
		// -A blesses 127.0.0.1 as admin, which /stats requires.
		Args: []string{"-i", "127.0.0.1", "-p", ps, "-P", ps, "-A", "127.0.0.1", "-d", dir, "-w", otWhitelist},
	})
	if err != nil {
		return nil, err
	}
	t.Process = p
	if err := waitTCP(ctx, p, "127.0.0.1:"+ps); err != nil {
		_, _ = p.Stop()
		return nil, err
	}
	// The whitelist is read by a thread after start-up; make sure it is
	// loaded before anyone announces.
	if err := t.waitAuthorized(ctx, t.Allowed()); err != nil {
		_, _ = p.Stop()
		return nil, err
	}
	return t, nil
}

// waitTCP waits until addr accepts a TCP connection, for processes that
// print nothing when they are ready. It fails if p exits or ctx ends.
func waitTCP(ctx context.Context, p *Process, addr string) error {
	var d net.Dialer
	backoff := 5 * time.Millisecond
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: waiting for %s to accept: %w; last output:\n%s", p.Name(), addr, ctx.Err(), p.Tail(30))
		}
		// The child's start-up has no signal to wait on but the port itself:
		// retry with a short, growing pause, ending early on exit or ctx.
		select {
		case <-p.Done():
			return fmt.Errorf("%s exited (%v) before accepting on %s; last output:\n%s", p.Name(), p.exitErr(), addr, p.Tail(30))
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// HTTPAnnounce returns the HTTP announce URL. Safe from any goroutine.
func (t *Opentracker) HTTPAnnounce() string {
	return "http://127.0.0.1:" + strconv.Itoa(t.port) + "/announce"
}

// UDPAnnounce returns the UDP (BEP 15) announce URL. Safe from any goroutine.
func (t *Opentracker) UDPAnnounce() string {
	return "udp://127.0.0.1:" + strconv.Itoa(t.port) + "/announce"
}

// Port returns the TCP and UDP port it serves on. Safe from any goroutine.
func (t *Opentracker) Port() int { return t.port }

// Allowed returns the whitelisted info-hashes (lower-case hex). Safe from
// any goroutine.
func (t *Opentracker) Allowed() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.hashes)
}

// Allow whitelists more info-hashes: it rewrites the whitelist, sends
// SIGHUP (opentracker reloads its access list on it) and waits until the
// tracker accepts announces for them.
func (t *Opentracker) Allow(ctx context.Context, infohashes ...string) error {
	if err := t.addHashes(infohashes); err != nil {
		return err
	}
	if err := t.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		return fmt.Errorf("refpeer: opentracker: SIGHUP: %w", err)
	}
	return t.waitAuthorized(ctx, infohashes)
}

func (t *Opentracker) addHashes(infohashes []string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, h := range infohashes {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 20 {
			return fmt.Errorf("refpeer: opentracker: info-hash %q is not 40 hex digits", h)
		}
		h = strings.ToLower(h)
		if !slices.Contains(t.hashes, h) {
			t.hashes = append(t.hashes, h)
		}
	}
	slices.Sort(t.hashes)
	// Write then rename, so a reload never sees half a file.
	tmp := t.whitelist + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(t.hashes, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, t.whitelist)
}

// ErrNotWhitelisted is opentracker's refusal of an info-hash off its
// whitelist ("Requested download is not authorized"); match it with
// errors.Is.
var ErrNotWhitelisted = errors.New("refpeer: opentracker: info-hash not whitelisted")

// waitAuthorized waits until a "stopped" announce (which registers no
// peer) of every hash is accepted, i.e. the whitelist has been (re)loaded.
func (t *Opentracker) waitAuthorized(ctx context.Context, hashes []string) error {
	backoff := 5 * time.Millisecond
	for _, h := range hashes {
		for {
			_, err := t.announce(ctx, h, announceQuery{port: 1, event: "stopped"})
			if err == nil {
				break
			}
			if !errors.Is(err, ErrNotWhitelisted) || ctx.Err() != nil {
				return err
			}
			// The reload runs on opentracker's own thread, which reports
			// nothing: retry briefly until it has.
			select {
			case <-t.Done():
				return fmt.Errorf("%s exited (%v) while reloading its whitelist; last output:\n%s", t.Name(), t.exitErr(), t.Tail(30))
			case <-ctx.Done():
				return fmt.Errorf("%s: whitelist never took %s: %w", t.Name(), h, ctx.Err())
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 100*time.Millisecond)
		}
	}
	return nil
}

// ScrapeResult is one torrent's entry of a scrape reply.
type ScrapeResult struct {
	Complete   int `bencode:"complete"`   // seeders
	Incomplete int `bencode:"incomplete"` // leechers
	Downloaded int `bencode:"downloaded"` // completed downloads reported
}

// Scrape asks the tracker (HTTP /scrape) for an info-hash's counts. Safe
// from any goroutine.
func (t *Opentracker) Scrape(ctx context.Context, infohash string) (ScrapeResult, error) {
	ih, err := hex.DecodeString(infohash)
	if err != nil || len(ih) != 20 {
		return ScrapeResult{}, fmt.Errorf("refpeer: opentracker: info-hash %q is not 40 hex digits", infohash)
	}
	u := "http://127.0.0.1:" + strconv.Itoa(t.port) + "/scrape?info_hash=" + url.QueryEscape(string(ih))
	body, err := t.get(ctx, u)
	if err != nil {
		return ScrapeResult{}, err
	}
	var r struct {
		Failure string                  `bencode:"failure reason"`
		Files   map[string]ScrapeResult `bencode:"files"`
	}
	if err := bencode.Unmarshal(body, &r); err != nil {
		return ScrapeResult{}, fmt.Errorf("refpeer: opentracker: scrape reply %q: %w", body, err)
	}
	if r.Failure != "" {
		return ScrapeResult{}, fmt.Errorf("refpeer: opentracker: scrape: %s", r.Failure)
	}
	// An info-hash nobody announced is simply absent: zero counts.
	return r.Files[string(ih)], nil
}

// Peers returns the peers the tracker hands out for an info-hash. It
// announces as a leecher from 127.0.0.1 on a port it holds (nothing is
// served there), reads the peer list, and announces "stopped" so the probe
// leaves the swarm again; the probe's own address is left out. Safe from
// any goroutine.
func (t *Opentracker) Peers(ctx context.Context, infohash string) ([]netip.AddrPort, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	peers, err := t.announce(ctx, infohash, announceQuery{port: port, left: 1, numwant: 200})
	if _, serr := t.announce(ctx, infohash, announceQuery{port: port, left: 1, event: "stopped"}); err == nil {
		err = serr
	}
	if err != nil {
		return nil, err
	}
	self := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	return slices.DeleteFunc(peers, func(p netip.AddrPort) bool { return p == self }), nil
}

// WaitPeer waits until the tracker lists addr among the peers of infohash
// (present) or no longer lists it (!present), e.g. "our seed announced"
// and "our stopped node left". The tracker pushes nothing, so it is asked
// again every 100 ms; the error on ctx's end names the last list. Safe from
// any goroutine.
func (t *Opentracker) WaitPeer(ctx context.Context, infohash string, addr netip.AddrPort, present bool) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		peers, err := t.Peers(ctx, infohash)
		if err != nil {
			return err
		}
		if slices.Contains(peers, addr) == present {
			return nil
		}
		select {
		case <-tick.C:
		case <-t.Done():
			return fmt.Errorf("%s exited (%v); last output:\n%s", t.Name(), t.exitErr(), t.Tail(30))
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for %v present=%v among the peers of %s: %w (peers %v)", t.Name(), addr, present, infohash, ctx.Err(), peers)
		}
	}
}

type announceQuery struct {
	port    int
	left    int64
	numwant int
	event   string
}

// announce sends one HTTP announce with a peer id derived from the port
// and returns the compact peer list.
func (t *Opentracker) announce(ctx context.Context, infohash string, q announceQuery) ([]netip.AddrPort, error) {
	ih, err := hex.DecodeString(infohash)
	if err != nil || len(ih) != 20 {
		return nil, fmt.Errorf("refpeer: opentracker: info-hash %q is not 40 hex digits", infohash)
	}
	peerID := fmt.Sprintf("-RP0001-%012d", q.port)
	v := "info_hash=" + url.QueryEscape(string(ih)) + "&peer_id=" + url.QueryEscape(peerID) +
		"&port=" + strconv.Itoa(q.port) + "&uploaded=0&downloaded=0&left=" + strconv.FormatInt(q.left, 10) +
		"&compact=1&numwant=" + strconv.Itoa(q.numwant)
	if q.event != "" {
		v += "&event=" + q.event
	}
	body, err := t.get(ctx, "http://127.0.0.1:"+strconv.Itoa(t.port)+"/announce?"+v)
	if err != nil {
		return nil, err
	}
	var r struct {
		Failure string `bencode:"failure reason"`
		Peers   []byte `bencode:"peers"`
	}
	if err := bencode.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("refpeer: opentracker: announce reply %q: %w", body, err)
	}
	if r.Failure != "" {
		if strings.Contains(r.Failure, "not authorized") {
			return nil, fmt.Errorf("%w: %s: %s", ErrNotWhitelisted, infohash, r.Failure)
		}
		return nil, fmt.Errorf("refpeer: opentracker: announce: %s", r.Failure)
	}
	if len(r.Peers)%6 != 0 {
		return nil, fmt.Errorf("refpeer: opentracker: compact peer list of %d bytes", len(r.Peers))
	}
	var peers []netip.AddrPort
	for b := r.Peers; len(b) >= 6; b = b[6:] {
		a := netip.AddrFrom4([4]byte(b[:4]))
		peers = append(peers, netip.AddrPortFrom(a, uint16(b[4])<<8|uint16(b[5])))
	}
	return peers, nil
}

func (t *Opentracker) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("refpeer: opentracker: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("refpeer: opentracker: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("refpeer: opentracker: %s: HTTP %s: %q", u, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

// Stats returns opentracker's /stats page for a mode ("peer", "conn",
// "top10", "everything", ...), an admin-only page 127.0.0.1 is blessed for.
// Safe from any goroutine.
func (t *Opentracker) Stats(ctx context.Context, mode string) (string, error) {
	b, err := t.get(ctx, "http://127.0.0.1:"+strconv.Itoa(t.port)+"/stats?mode="+url.QueryEscape(mode))
	return string(b), err
}
