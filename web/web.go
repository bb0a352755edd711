// Package web is the node's status page: one HTML page, its stylesheet,
// script and icon, embedded in the binary and served by Handler at / on
// the node's HTTP service (internal/nodecmd/service.go).
//
// The page holds no data of its own. Its script reads the node's
// Transmission RPC on the same origin, as Transmission's own web UI does
// (POST /transmission/rpc, the X-Transmission-Session-Id handshake, the
// basic-auth credentials the browser already holds), every 2 s:
// torrent-get for the torrents and session-stats for the totals, whose
// extra key "shardtorrent" carries each shard's load and each plugin's
// cost (rpc.Extra). Every asset is embedded and the page loads nothing
// from anywhere else; its Content-Security-Policy forbids it to.
//
// # Threading
//
// Handler's result is safe from any goroutine; it only reads the
// embedded files, prepared once.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"time"
)

//go:embed static
var static embed.FS

// contentTypes are the types of the embedded files, by extension; a file
// of any other kind is not served (asset panics at start-up).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// CSP is the status page's Content-Security-Policy: everything from this
// origin only (the RPC included), no inline script or style, no framing.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// handler serves the embedded assets by path.
type handler struct {
	assets map[string]asset // by URL path: "/" is index.html
}

// Handler returns the status page's handler: GET or HEAD of / (the page)
// and of its assets (/status.css, /status.js, /favicon.svg); any other
// path is 404 and any other method 405. Mount it at / beside the RPC.
// Safe from any goroutine.
func Handler() http.Handler {
	h := &handler{assets: map[string]asset{}}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			panic("web: embedded file of unknown type: " + p)
		}
		sum := sha256.Sum256(b)
		a := asset{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		name := "/" + path.Base(p)
		h.assets[name] = a
		if name == "/index.html" {
			h.assets["/"] = a
		}
		return nil
	})
	if err != nil {
		panic("web: reading the embedded files: " + err.Error()) // cannot happen: they are in the binary
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a, ok := h.assets[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.contentType)
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-cache") // revalidated by ETag: a new binary's page is seen at once
	hd.Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
