package tracker

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// AnnounceEvent is the "event" of an announce.
type AnnounceEvent uint8

// Announce events (BEP 3; the numbering is ours, the UDP codes differ).
const (
	EventNone AnnounceEvent = iota
	EventStarted
	EventCompleted
	EventStopped
)

func (e AnnounceEvent) String() string {
	switch e {
	case EventStarted:
		return "started"
	case EventCompleted:
		return "completed"
	case EventStopped:
		return "stopped"
	}
	return ""
}

// Request is one announce. Immutable once built.
type Request struct {
	InfoHash   [20]byte
	PeerID     [20]byte
	Port       uint16
	Uploaded   int64
	Downloaded int64
	// Left is the bytes still wanted; negative (metadata unknown) is sent
	// as a large number, as libtorrent does.
	Left      int64
	Event     AnnounceEvent
	NumWant   int
	Key       uint32
	TrackerID string
}

// Transport sends announces and scrapes to one kind of tracker. Its
// methods are safe from any goroutine and honour ctx.
type Transport interface {
	Announce(ctx context.Context, u *url.URL, r Request, maxPeers int) (Response, error)
	Scrape(ctx context.Context, u *url.URL, ih [20]byte) (ScrapeResult, error)
	Close()
}

// Transports picks the transport by URL scheme: HTTP(S) or UDP. Safe from
// any goroutine.
type Transports struct {
	HTTP Transport
	UDP  Transport
}

// For returns the transport for u, or an ErrUnsupportedURL error.
func (ts Transports) For(u *url.URL) (Transport, error) {
	switch u.Scheme {
	case "http", "https":
		if ts.HTTP != nil {
			return ts.HTTP, nil
		}
	case "udp":
		if ts.UDP != nil {
			return ts.UDP, nil
		}
	}
	return nil, &Error{Kind: ErrUnsupportedURL, URL: u.String()}
}

// Close closes both transports.
func (ts Transports) Close() {
	if ts.HTTP != nil {
		ts.HTTP.Close()
	}
	if ts.UDP != nil {
		ts.UDP.Close()
	}
}

// netError wraps a transport failure as an *Error: a deadline becomes
// ErrTimeout, the rest ErrNetwork.
func netError(u string, err error) error {
	var te *Error
	if errors.As(err, &te) {
		if te.URL == "" {
			te.URL = u
		}
		return te
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &Error{Kind: ErrTimeout, URL: u, Err: err}
	}
	return &Error{Kind: ErrNetwork, URL: u, Err: err}
}

// SkipSelf drops from peers every address that is us: equal to self, or,
// when self listens on an unspecified address, a loopback address with
// self's port (opentracker hands the announcer back to itself).
func SkipSelf(peers []netip.AddrPort, self netip.AddrPort) []netip.AddrPort {
	if !self.IsValid() {
		return peers
	}
	out := peers[:0]
	for _, p := range peers {
		if p == self || (p.Port() == self.Port() && (self.Addr().IsUnspecified() || self.Addr().IsLoopback()) && p.Addr().IsLoopback()) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// ValidURL reports whether s is a tracker URL we can announce to.
func ValidURL(s string) bool {
	u, err := url.Parse(strings.TrimSpace(s))
	return err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "udp")
}
