package rpc

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	shardtorrent "github.com/shardtorrent/shardtorrent"
)

// Path is where Transmission clients send their requests. Transmission
// 3.00's transmission-remote posts to PathSlash (Path with a trailing
// slash): serve the handler at both.
const (
	Path      = "/transmission/rpc"
	PathSlash = Path + "/"
)

// SessionIDHeader carries the CSRF token of Transmission's handshake.
const SessionIDHeader = "X-Transmission-Session-Id"

// Protocol versions: Transmission 4.0's rpc-version 17; the oldest we
// answer is 14 (Transmission 2.80), as Transmission 4 does.
const (
	RPCVersion        = 17
	RPCVersionMinimum = 14
	RPCVersionSemver  = "5.3.0"
)

// DefaultMaxBody caps a request body: a base64 .torrent of the largest
// size metainfo.Parse accepts fits with room to spare.
const DefaultMaxBody = 16 << 20

// Backend is what the handler needs from the node. The node implements it
// (internal/nodecmd) so that torrents added or removed over RPC are
// tracked like the ones from its command line; SessionBackend is a plain
// implementation over a Session. Its methods are called from the
// handler's goroutines, concurrently.
type Backend interface {
	// Session is the engine every read goes to.
	Session() *shardtorrent.Session
	// AddTorrent adds a torrent; shardtorrent.ErrDuplicateTorrent (with
	// the existing handle, or nil) if it is there already.
	AddTorrent(ctx context.Context, p shardtorrent.AddTorrentParams) (*shardtorrent.Torrent, error)
	// RemoveTorrent removes a torrent, with its files if deleteData.
	RemoveTorrent(ctx context.Context, h *shardtorrent.Torrent, deleteData bool) error
	// Settings are the node's settings session-get reports.
	Settings() Settings
	// Close asks the node to shut down cleanly (session-close). It must
	// not wait for the shutdown: the response is written after it.
	Close()
}

// Settings are the node's settings as session-get reports them.
type Settings struct {
	// Version is the daemon's version string (session-get "version").
	Version string
	// ConfigDir is where the node keeps its state ("config-dir").
	ConfigDir string
	// DownloadDir is the default save path of added torrents.
	DownloadDir string
	// PeerPort is the port peers connect to.
	PeerPort int
	// DHT and PEX say whether the node runs them.
	DHT, PEX bool
}

// Config configures a Handler. The zero value is usable.
type Config struct {
	// Confine maps a path a client gave (download-dir, a .torrent
	// filename, free-space) to the path to use, or refuses it; nil
	// accepts any path as given. The node's -rpc-roots sets it.
	Confine func(path string) (string, error)
	// MaxBody caps a request body in bytes (0: DefaultMaxBody); a larger
	// one gets 413 and a JSON result.
	MaxBody int64
	// SessionID is the handshake token; empty draws a random one (what a
	// node does: a new id per process).
	SessionID string
	// Now is the clock ("recently-active", dates); nil is time.Now.
	Now func() time.Time
	// Logger gets one debug line per request; nil is slog.Default().
	Logger *slog.Logger
}

// Handler serves Transmission's RPC. Safe from any goroutine.
//
// Invariant: reg has seen every listing, add and removal made through
// the handler, in order (all under mu).
type Handler struct {
	b       Backend
	sess    *shardtorrent.Session
	cfg     Config
	sid     string
	log     *slog.Logger
	now     func() time.Time
	started time.Time

	// mu serialises the methods that read or change the set of torrents
	// (the registry must see listings, adds and removals in order) and
	// guards the state below. It is held across their calls into the
	// session, each bounded by the request's context.
	mu          sync.Mutex
	reg         registry
	scratch     listing // the views of the last listing, reused
	downloadDir string  // session-set's "download-dir"
	startAdded  bool    // session-set's "start-added-torrents"
	// upKB, downKB are the session's speed limits in kB/s while disabled;
	// torrentKB the torrents' (upload, download) by wire info-hash
	// (speed.go).
	upKB, downKB int64
	// queueSize are the download and seed queue sizes while the queue is
	// off (Transmission keeps them; its defaults are 5 and 10).
	queueSize [2]int64
	torrentKB map[[20]byte][2]int64
}

// New returns a Handler serving b. Safe from any goroutine.
func New(b Backend, cfg Config) *Handler {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	sid := cfg.SessionID
	if sid == "" {
		var r [24]byte
		_, _ = rand.Read(r[:])
		sid = hex.EncodeToString(r[:])
	}
	set := b.Settings()
	h := &Handler{
		b: b, sess: b.Session(), cfg: cfg, sid: sid, log: cfg.Logger, now: cfg.Now,
		queueSize: [2]int64{5, 10}, downloadDir: set.DownloadDir, startAdded: true,
	}
	h.started = h.now()
	h.reg.init()
	return h
}

// SessionID returns the handshake token clients must send. Safe from any
// goroutine.
func (h *Handler) SessionID() string { return h.sid }

// request is the JSON a client sends.
type request struct {
	Method    string          `json:"method"`
	Arguments json.RawMessage `json:"arguments"`
	Tag       json.RawMessage `json:"tag"`
}

// ServeHTTP implements http.Handler. Safe from any goroutine.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(SessionIDHeader) != h.sid {
		w.Header().Set(SessionIDHeader, h.sid)
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.WriteHeader(http.StatusConflict)
		_, _ = w.Write([]byte("<h1>409: Conflict</h1><p>Your request had an invalid session-id header.</p>" +
			"<p>To fix this, follow these steps:<ol><li>When reading a response, get its " + SessionIDHeader +
			" header and remember it<li>Add the updated header to your outgoing requests<li>When you get this 409 error message, resend your request with the updated header</ol></p>"))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed: POST a JSON request", http.StatusMethodNotAllowed)
		return
	}
	body := http.MaxBytesReader(w, r.Body, h.cfg.MaxBody)
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(body); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeResult(w, http.StatusRequestEntityTooLarge, nil, "request body larger than "+itoa(h.cfg.MaxBody)+" bytes")
			return
		}
		writeResult(w, http.StatusBadRequest, nil, "reading request: "+err.Error())
		return
	}
	var req request
	if err := json.Unmarshal(buf.Bytes(), &req); err != nil {
		writeResult(w, http.StatusOK, nil, "couldn't parse JSON request: "+err.Error())
		return
	}
	tag := req.Tag
	if len(tag) > 0 && !isJSONNumber(tag) {
		tag = nil // the spec's tag is a number; anything else is dropped, not echoed
	}
	start := h.now()
	out, err := h.call(r.Context(), req.Method, req.Arguments, getBuf())
	h.log.Debug("rpc", "method", req.Method, "err", err, "took", h.now().Sub(start))
	if err != nil {
		putBuf(out)
		// The result is the error's text without the package prefix
		// ("method name not recognized", as Transmission says it).
		writeResult(w, http.StatusOK, tag, strings.TrimPrefix(err.Error(), "rpc: "))
		return
	}
	resp := append(getBuf(), `{"arguments":`...)
	resp = append(resp, out...)
	putBuf(out)
	resp = append(resp, `,"result":"success"`...)
	if len(tag) > 0 {
		resp = append(resp, `,"tag":`...)
		resp = append(resp, tag...)
	}
	resp = append(resp, '}')
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = w.Write(resp)
	putBuf(resp)
	if req.Method == "session-close" {
		h.b.Close()
	}
}

// writeResult writes a response whose result is msg (an error) and whose
// arguments are empty.
func writeResult(w http.ResponseWriter, code int, tag json.RawMessage, msg string) {
	b := append([]byte(`{"arguments":{},"result":`), appendString(nil, msg)...)
	if len(tag) > 0 {
		b = append(b, `,"tag":`...)
		b = append(b, tag...)
	}
	b = append(b, '}')
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func isJSONNumber(b []byte) bool {
	var n json.Number
	return json.Unmarshal(b, &n) == nil
}

func itoa(v int64) string { return string(appendInt(nil, v)) }

// Response buffers are pooled: a torrent-get over 10,000 torrents writes
// about 3 MB, and a fresh buffer per request would be that much garbage.
// Buffers above maxPooledBuf are dropped rather than kept.
const maxPooledBuf = 32 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuf() []byte { return (*bufPool.Get().(*[]byte))[:0] }

func putBuf(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooledBuf {
		return
	}
	b = b[:0]
	bufPool.Put(&b)
}

// call runs one method and appends its arguments object to out.
func (h *Handler) call(ctx context.Context, method string, args json.RawMessage, out []byte) ([]byte, error) {
	if len(args) == 0 || string(args) == "null" {
		args = json.RawMessage("{}")
	}
	switch method {
	case "session-get":
		return h.sessionGet(args, out)
	case "session-set":
		return h.sessionSet(ctx, args, out)
	case "session-stats":
		return h.sessionStats(ctx, out)
	case "torrent-get":
		return h.torrentGet(ctx, args, out)
	case "torrent-add":
		return h.torrentAdd(ctx, args, out)
	case "torrent-remove":
		return h.torrentRemove(ctx, args, out)
	case "torrent-start":
		return h.torrentAction(ctx, args, out, actStart)
	case "torrent-start-now":
		return h.torrentAction(ctx, args, out, actStartNow)
	case "torrent-stop":
		return h.torrentAction(ctx, args, out, actStop)
	case "torrent-verify":
		return h.torrentAction(ctx, args, out, actVerify)
	case "torrent-reannounce":
		return h.torrentAction(ctx, args, out, actReannounce)
	case "torrent-set":
		return h.torrentSet(ctx, args, out)
	case "free-space":
		return h.freeSpace(args, out)
	case "port-test":
		// We do not probe our own port from outside (that needs a third
		// party on the internet); the honest answer is "not known to be
		// open", which Transmission's clients show as closed.
		return append(out, `{"port-is-open":false}`...), nil
	case "queue-move-top":
		return h.queueMove(ctx, args, out, queueTop)
	case "queue-move-up":
		return h.queueMove(ctx, args, out, queueUp)
	case "queue-move-down":
		return h.queueMove(ctx, args, out, queueDown)
	case "queue-move-bottom":
		return h.queueMove(ctx, args, out, queueBottom)
	case "session-close":
		return append(out, `{}`...), nil
	}
	return out, ErrUnknownMethod
}

// confine applies Config.Confine to a path argument.
func (h *Handler) confine(arg, p string) (string, error) {
	if h.cfg.Confine == nil {
		return p, nil
	}
	c, err := h.cfg.Confine(p)
	if err != nil {
		return "", &PathError{Arg: arg, Path: p, Err: err}
	}
	return c, nil
}
