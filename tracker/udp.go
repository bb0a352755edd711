package tracker

import (
	"context"
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"sync"

	"github.com/anacrolix/torrent/tracker/shared"
	"github.com/anacrolix/torrent/tracker/udp"
)

// UDPTransport announces to UDP trackers (BEP 15) with anacrolix/torrent's
// udp.ConnClient: one socket and one connection id per tracker host:port,
// shared by every torrent announcing there. The client keeps the
// connection id for 60 s and retransmits on the 15·2^n s schedule until
// the request's context ends; the URL's path and query travel as BEP 41
// URL data. Safe from any goroutine.
type UDPTransport struct {
	mu      sync.Mutex
	clients map[string]*udp.ConnClient // by host:port; guarded by mu
	closed  bool
}

// NewUDPTransport returns an empty UDP transport.
func NewUDPTransport() *UDPTransport {
	return &UDPTransport{clients: make(map[string]*udp.ConnClient)}
}

func (t *UDPTransport) client(u *url.URL) (*udp.ConnClient, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, &Error{Kind: ErrNetwork, URL: u.String(), Reason: "closed"}
	}
	if c := t.clients[u.Host]; c != nil {
		return c, nil
	}
	c, err := udp.NewConnClient(udp.NewConnClientOpts{Network: "udp", Host: u.Host})
	if err != nil {
		return nil, netError(u.String(), err)
	}
	t.clients[u.Host] = c
	return c, nil
}

// urlData is the BEP 41 request string: the path and query.
func urlData(u *url.URL) string {
	s := u.EscapedPath()
	if u.RawQuery != "" {
		s += "?" + u.RawQuery
	}
	if s == "/" {
		return ""
	}
	return s
}

var udpEvents = [...]shared.AnnounceEvent{
	EventNone: shared.None, EventStarted: shared.Started,
	EventCompleted: shared.Completed, EventStopped: shared.Stopped,
}

// Announce implements Transport.
func (t *UDPTransport) Announce(ctx context.Context, u *url.URL, r Request, maxPeers int) (Response, error) {
	resp := Response{Complete: -1, Incomplete: -1, Downloaded: -1}
	c, err := t.client(u)
	if err != nil {
		return resp, err
	}
	left := r.Left
	if left < 0 {
		left = 1<<63 - 1
	}
	hdr, peers, err := c.Announce(ctx, udp.AnnounceRequest{
		InfoHash: r.InfoHash, PeerId: r.PeerID, Downloaded: r.Downloaded, Left: left, Uploaded: r.Uploaded,
		Event: udpEvents[r.Event], Key: int32(r.Key), NumWant: int32(r.NumWant), Port: r.Port,
	}, udp.Options{RequestUri: urlData(u)})
	if err != nil {
		return resp, udpError(u.String(), err, &resp)
	}
	resp.Interval = seconds(int64(hdr.Interval))
	resp.Complete, resp.Incomplete = int(max(hdr.Seeders, -1)), int(max(hdr.Leechers, -1))
	for _, na := range peers.NodeAddrs() {
		ip, ok := netip.AddrFromSlice(na.IP)
		if ok {
			resp.add(netip.AddrPortFrom(ip.Unmap(), uint16(na.Port)), maxPeers)
		}
	}
	return resp, nil
}

func udpError(u string, err error, resp *Response) error {
	var er udp.ErrorResponse
	if errors.As(err, &er) {
		reason := strings.TrimRight(er.Message, "\x00")
		if resp != nil {
			resp.Failure = reason
		}
		return &Error{Kind: ErrFailureReason, URL: u, Reason: reason}
	}
	if strings.Contains(err.Error(), "reading response") {
		return &Error{Kind: ErrBadResponse, URL: u, Err: err}
	}
	return netError(u, err)
}

// Scrape implements Transport.
func (t *UDPTransport) Scrape(ctx context.Context, u *url.URL, ih [20]byte) (ScrapeResult, error) {
	c, err := t.client(u)
	if err != nil {
		return ScrapeResult{}, err
	}
	out, err := c.Client.Scrape(ctx, []udp.InfoHash{ih})
	if err != nil {
		return ScrapeResult{}, udpError(u.String(), err, nil)
	}
	if len(out) != 1 {
		return ScrapeResult{}, &Error{Kind: ErrBadResponse, URL: u.String(), Reason: "scrape reply without the torrent"}
	}
	return ScrapeResult{int(max(out[0].Seeders, -1)), int(max(out[0].Leechers, -1)), int(max(out[0].Completed, -1))}, nil
}

// Close closes every socket.
func (t *UDPTransport) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for k, c := range t.clients {
		_ = c.Close()
		delete(t.clients, k)
	}
}
