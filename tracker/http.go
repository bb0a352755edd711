package tracker

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HTTP limits.
const (
	// DefaultMaxResponseSize caps an HTTP tracker's body (libtorrent's
	// max_http_recv_buffer_size is 4 MiB; a compact reply of 50,000 peers is
	// 300 KB). A larger body is an ErrBodyTooLarge, read no further.
	DefaultMaxResponseSize = 1 << 20
	// maxRedirects bounds the redirects one request follows.
	maxRedirects = 5
)

// HTTPTransport announces to HTTP(S) trackers over one shared
// http.Client, so connections to a tracker are kept alive and reused
// across torrents. Safe from any goroutine.
type HTTPTransport struct {
	client  *http.Client
	maxBody int64
	agent   string
}

var errRedirects = errors.New("redirect limit")

// NewHTTPTransport returns a transport over client (nil: a client of our
// own with keep-alive), reading at most maxBody bytes of a reply (0:
// DefaultMaxResponseSize). Redirects are bounded whatever client does.
func NewHTTPTransport(client *http.Client, maxBody int64, userAgent string) *HTTPTransport {
	if client == nil {
		client = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	c := *client
	c.CheckRedirect = func(_ *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			return errRedirects
		}
		return nil
	}
	if maxBody <= 0 {
		maxBody = DefaultMaxResponseSize
	}
	return &HTTPTransport{client: &c, maxBody: maxBody, agent: userAgent}
}

// AnnounceURL returns the announce URL for r: u's query (a private
// tracker's passkey) first, then ours. Safe from any goroutine.
func AnnounceURL(u *url.URL, r Request) string {
	var b strings.Builder
	b.WriteString(u.String())
	sep := byte('?')
	if u.RawQuery != "" || strings.HasSuffix(b.String(), "?") {
		sep = '&'
	}
	add := func(k, v string) {
		b.WriteByte(sep)
		sep = '&'
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v)
	}
	add("info_hash", escape(r.InfoHash[:]))
	add("peer_id", escape(r.PeerID[:]))
	add("port", strconv.Itoa(int(r.Port)))
	add("uploaded", strconv.FormatInt(r.Uploaded, 10))
	add("downloaded", strconv.FormatInt(r.Downloaded, 10))
	left := r.Left
	if left < 0 {
		left = 1<<63 - 1
	}
	add("left", strconv.FormatInt(left, 10))
	add("corrupt", "0")
	add("key", strconv.FormatUint(uint64(r.Key), 16))
	if r.Event != EventNone {
		add("event", r.Event.String())
	}
	add("numwant", strconv.Itoa(r.NumWant))
	add("compact", "1")
	add("no_peer_id", "1")
	add("supportcrypto", "1")
	if r.TrackerID != "" {
		add("trackerid", url.QueryEscape(r.TrackerID))
	}
	return b.String()
}

// escape percent-encodes every byte but the unreserved ones (RFC 3986),
// as trackers expect for info_hash and peer_id.
func escape(p []byte) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for _, c := range p {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// ScrapeURL derives the scrape URL from an announce URL by the
// convention: the last path segment starting with "announce" has it
// replaced by "scrape". ok is false when the URL has no such segment.
func ScrapeURL(u *url.URL, ih [20]byte) (string, bool) {
	i := strings.LastIndexByte(u.Path, '/')
	if i < 0 || !strings.HasPrefix(u.Path[i+1:], "announce") {
		return "", false
	}
	v := *u
	v.Path = u.Path[:i+1] + "scrape" + u.Path[i+1+len("announce"):]
	v.RawPath = ""
	s := v.String()
	sep := "?"
	if v.RawQuery != "" {
		sep = "&"
	}
	return s + sep + "info_hash=" + escape(ih[:]), true
}

// Announce implements Transport.
func (h *HTTPTransport) Announce(ctx context.Context, u *url.URL, r Request, maxPeers int) (Response, error) {
	body, err := h.get(ctx, u, AnnounceURL(u, r))
	if err != nil {
		return Response{Complete: -1, Incomplete: -1, Downloaded: -1}, err
	}
	resp, err := ParseHTTPResponse(body, maxPeers)
	if err != nil {
		err = netError(u.String(), err)
	}
	return resp, err
}

// Scrape implements Transport.
func (h *HTTPTransport) Scrape(ctx context.Context, u *url.URL, ih [20]byte) (ScrapeResult, error) {
	s, ok := ScrapeURL(u, ih)
	if !ok {
		return ScrapeResult{}, &Error{Kind: ErrNoScrape, URL: u.String()}
	}
	body, err := h.get(ctx, u, s)
	if err != nil {
		return ScrapeResult{}, err
	}
	res, err := ParseScrapeResponse(body, ih)
	if err != nil {
		err = netError(u.String(), err)
	}
	return res, err
}

func (h *HTTPTransport) get(ctx context.Context, u *url.URL, target string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, &Error{Kind: ErrUnsupportedURL, URL: u.String(), Err: err}
	}
	if h.agent != "" {
		req.Header.Set("User-Agent", h.agent)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		if errors.Is(err, errRedirects) {
			return nil, &Error{Kind: ErrTooManyRedirects, URL: u.String()}
		}
		return nil, netError(u.String(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, h.maxBody+1))
	if err != nil {
		return nil, netError(u.String(), err)
	}
	if int64(len(body)) > h.maxBody {
		return nil, &Error{Kind: ErrBodyTooLarge, URL: u.String(), Reason: ">" + strconv.FormatInt(h.maxBody, 10) + " bytes"}
	}
	if resp.StatusCode != http.StatusOK {
		// A tracker may explain a refusal in a bencoded body.
		if r, perr := ParseHTTPResponse(body, 0); perr != nil && r.Failure != "" {
			return nil, &Error{Kind: ErrFailureReason, URL: u.String(), Reason: r.Failure, Status: resp.StatusCode}
		}
		return nil, &Error{Kind: ErrHTTPStatus, URL: u.String(), Status: resp.StatusCode}
	}
	return body, nil
}

// Close drops the idle connections.
func (h *HTTPTransport) Close() { h.client.CloseIdleConnections() }
