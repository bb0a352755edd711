package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

// TestServesPageAndAssets: / is the page, and every asset the page names
// is served with its content type, the CSP and nosniff, and revalidates
// by ETag.
func TestServesPageAndAssets(t *testing.T) {
	h := Handler()
	res := get(t, h, "GET", "/", nil)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	// The page's own references: every src and href.
	refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(string(body), -1)
	want := map[string]string{
		"status.js":   "text/javascript; charset=utf-8",
		"status.css":  "text/css; charset=utf-8",
		"favicon.svg": "image/svg+xml",
	}
	if len(refs) != len(want) {
		t.Fatalf("page references %q, want exactly %v", refs, want)
	}
	for _, m := range refs {
		ct, ok := want[m[1]]
		if !ok {
			t.Fatalf("page references %q, not one of its assets", m[1])
		}
		for _, method := range []string{"GET", "HEAD"} {
			res := get(t, h, method, "/"+m[1], nil)
			if res.StatusCode != 200 || res.Header.Get("Content-Type") != ct {
				t.Errorf("%s /%s: %d %q, want 200 %q", method, m[1], res.StatusCode, res.Header.Get("Content-Type"), ct)
			}
			if res.Header.Get("Content-Security-Policy") != CSP || res.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s /%s: headers %v", method, m[1], res.Header)
			}
			etag := res.Header.Get("ETag")
			if etag == "" {
				t.Fatalf("/%s: no ETag", m[1])
			}
			if res := get(t, h, method, "/"+m[1], map[string]string{"If-None-Match": etag}); res.StatusCode != http.StatusNotModified {
				t.Errorf("%s /%s with its ETag: %d, want 304", method, m[1], res.StatusCode)
			}
		}
	}
	if !strings.Contains(CSP, "default-src 'none'") || strings.Contains(CSP, "unsafe") {
		t.Fatalf("CSP %q lets the page load from elsewhere or run inline code", CSP)
	}
}

// TestRefusesOtherPathsAndMethods: nothing but the page's files is
// served, and only to GET and HEAD.
func TestRefusesOtherPathsAndMethods(t *testing.T) {
	h := Handler()
	for _, p := range []string{"/static/status.js", "/../web.go", "/index.htm", "/x", "/transmission/rpc", "/status.js/"} {
		if res := get(t, h, "GET", p, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, res.StatusCode)
		}
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		res := get(t, h, m, "/", nil)
		if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /: %d allow %q, want 405", m, res.StatusCode, res.Header.Get("Allow"))
		}
	}
}

// TestNoExternalReferences: no embedded file names anything outside the
// node: no URL with a scheme or a protocol-relative one, no CSS import
// or url(), no font. The one absolute URL allowed is the SVG namespace,
// an identifier no browser fetches.
func TestNoExternalReferences(t *testing.T) {
	const svgNS = `xmlns="http://www.w3.org/2000/svg"`
	bad := regexp.MustCompile(`(?i)[a-z][a-z0-9+.-]*://|["'(]//|@import|url\(|@font-face|<iframe|<link[^>]+rel="(?:pre|dns-)`)
	n := 0
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		s := strings.ReplaceAll(string(b), svgNS, "")
		if m := bad.FindString(s); m != "" {
			t.Errorf("%s references something outside the node: %q", p, m)
		}
		if _, ok := contentTypes[p[strings.LastIndex(p, "."):]]; !ok {
			t.Errorf("%s: no content type", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Fatalf("%d embedded files, want 4 (index.html, status.css, status.js, favicon.svg)", n)
	}
	// The RPC path the script posts to is this origin's.
	js, _ := static.ReadFile("static/status.js")
	if !strings.Contains(string(js), `const RPC_PATH = "/transmission/rpc";`) {
		t.Fatal("status.js does not post to /transmission/rpc on its own origin")
	}
}
