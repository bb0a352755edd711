// Package trackertest is an HTTP BitTorrent tracker for tests: it records
// every announce, keeps a swarm per info-hash, and can be told to
// misbehave (failure reasons, warnings, huge or broken bodies, redirect
// loops, silence, floods of peers). It listens on 127.0.0.1 only.
package trackertest

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/anacrolix/torrent/bencode"
)

// Announce is one recorded announce request.
type Announce struct {
	InfoHash   [20]byte
	PeerID     [20]byte
	Addr       netip.AddrPort // the sender's IP with the announced port
	Port       int
	Uploaded   int64
	Downloaded int64
	Left       int64
	Event      string
	NumWant    int
	Key        string
	TrackerID  string
	Query      url.Values
}

// Mode is how the tracker answers.
type Mode int

// Modes.
const (
	// Normal answers with the swarm's other peers, compact.
	Normal Mode = iota
	// Failure answers "failure reason" Server.Reason.
	Failure
	// Warning answers normally plus "warning message" Server.Reason.
	Warning
	// Huge answers a 10 MiB body.
	Huge
	// BadBencode answers a body that is not bencode.
	BadBencode
	// RedirectLoop redirects to itself forever.
	RedirectLoop
	// Silent never answers (until the client gives up).
	Silent
	// ManyPeers answers Server.NumPeers compact peers.
	ManyPeers
)

// Server is a test tracker. Its fields may be changed while it runs,
// under Lock/Unlock.
type Server struct {
	sync.Mutex
	// Mode, Reason and NumPeers select the answer.
	Mode     Mode
	Reason   string
	NumPeers int
	// Interval and MinInterval are sent in every normal answer (0: not sent).
	Interval, MinInterval int
	// TrackerID is sent in every normal answer when set.
	TrackerID string

	srv       *httptest.Server
	announces []Announce
	scrapes   int
	swarms    map[[20]byte]map[[20]byte]netip.AddrPort
	changed   chan struct{} // closed and replaced on every announce
	quit      chan struct{}
}

// New starts a tracker on 127.0.0.1.
func New() *Server {
	s := &Server{swarms: map[[20]byte]map[[20]byte]netip.AddrPort{}, changed: make(chan struct{}), quit: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/announce", s.announce)
	mux.HandleFunc("/scrape", s.scrape)
	s.srv = httptest.NewUnstartedServer(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	s.srv.Listener = ln
	s.srv.Start()
	return s
}

// URL is the announce URL.
func (s *Server) URL() string { return s.srv.URL + "/announce" }

// Close stops the server; silent requests are released.
func (s *Server) Close() {
	close(s.quit)
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Announces returns a copy of every announce so far.
func (s *Server) Announces() []Announce {
	s.Lock()
	defer s.Unlock()
	return append([]Announce(nil), s.announces...)
}

// Scrapes returns the number of scrape requests.
func (s *Server) Scrapes() int {
	s.Lock()
	defer s.Unlock()
	return s.scrapes
}

// Wait blocks until pred holds for the announces so far, or ctx ends.
func (s *Server) Wait(ctx context.Context, pred func([]Announce) bool) error {
	for {
		s.Lock()
		ok, ch := pred(s.announces), s.changed
		s.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("trackertest: %w (%d announces)", ctx.Err(), len(s.Announces()))
		}
	}
}

func parse(r *http.Request) (Announce, error) {
	q := r.URL.Query()
	var a Announce
	a.Query = q
	ih, pid := q.Get("info_hash"), q.Get("peer_id")
	if len(ih) != 20 || len(pid) != 20 {
		return a, fmt.Errorf("bad info_hash or peer_id")
	}
	copy(a.InfoHash[:], ih)
	copy(a.PeerID[:], pid)
	var err error
	if a.Port, err = strconv.Atoi(q.Get("port")); err != nil {
		return a, err
	}
	if a.Uploaded, err = strconv.ParseInt(q.Get("uploaded"), 10, 64); err != nil {
		return a, err
	}
	if a.Downloaded, err = strconv.ParseInt(q.Get("downloaded"), 10, 64); err != nil {
		return a, err
	}
	if a.Left, err = strconv.ParseInt(q.Get("left"), 10, 64); err != nil {
		return a, err
	}
	a.Event, a.Key, a.TrackerID = q.Get("event"), q.Get("key"), q.Get("trackerid")
	a.NumWant, _ = strconv.Atoi(q.Get("numwant"))
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	ip, _ := netip.ParseAddr(host)
	a.Addr = netip.AddrPortFrom(ip, uint16(a.Port))
	return a, nil
}

func (s *Server) announce(w http.ResponseWriter, r *http.Request) {
	a, err := parse(r)
	s.Lock()
	mode := s.Mode
	if mode == RedirectLoop {
		s.Unlock()
		http.Redirect(w, r, r.URL.String(), http.StatusFound)
		return
	}
	if err != nil {
		s.Unlock()
		_, _ = w.Write(mustBencode(map[string]any{"failure reason": err.Error()}))
		return
	}
	s.announces = append(s.announces, a)
	close(s.changed)
	s.changed = make(chan struct{})
	swarm := s.swarms[a.InfoHash]
	if swarm == nil {
		swarm = map[[20]byte]netip.AddrPort{}
		s.swarms[a.InfoHash] = swarm
	}
	if a.Event == "stopped" {
		delete(swarm, a.PeerID)
	} else {
		swarm[a.PeerID] = a.Addr
	}
	var compact []byte
	for id, p := range swarm {
		if id != a.PeerID {
			compact = append(compact, p.Addr().AsSlice()...)
			compact = binary.BigEndian.AppendUint16(compact, p.Port())
		}
	}
	reason, n := s.Reason, s.NumPeers
	resp := map[string]any{"peers": compact}
	if s.Interval > 0 {
		resp["interval"] = s.Interval
	}
	if s.MinInterval > 0 {
		resp["min interval"] = s.MinInterval
	}
	if s.TrackerID != "" {
		resp["tracker id"] = s.TrackerID
	}
	s.Unlock()

	switch mode {
	case Failure:
		_, _ = w.Write(mustBencode(map[string]any{"failure reason": reason}))
	case Warning:
		resp["warning message"] = reason
		_, _ = w.Write(mustBencode(resp))
	case Huge:
		chunk := []byte(strings.Repeat("x", 1<<16))
		for i := 0; i < 160; i++ { // 10 MiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	case BadBencode:
		_, _ = w.Write([]byte("d8:intervali1800e5:peers12:short"))
	case Silent:
		select {
		case <-r.Context().Done():
		case <-s.quit:
		}
	case ManyPeers:
		peers := make([]byte, 0, 6*n)
		for i := 0; i < n; i++ {
			peers = append(peers, 127, 1, byte(i>>8), byte(i), byte(i>>16)|1, byte(i)|1)
		}
		resp["peers"] = peers
		_, _ = w.Write(mustBencode(resp))
	default:
		_, _ = w.Write(mustBencode(resp))
	}
}

func (s *Server) scrape(w http.ResponseWriter, r *http.Request) {
	s.Lock()
	s.scrapes++
	files := map[string]any{}
	for _, ih := range r.URL.Query()["info_hash"] {
		var k [20]byte
		copy(k[:], ih)
		seeders, leechers := 0, 0
		for id := range s.swarms[k] {
			if s.seeding(k, id) {
				seeders++
			} else {
				leechers++
			}
		}
		files[ih] = map[string]any{"complete": seeders, "incomplete": leechers, "downloaded": 0}
	}
	s.Unlock()
	_, _ = w.Write(mustBencode(map[string]any{"files": files}))
}

// seeding reports whether the last announce of peer id for ih had left 0.
// Called with s locked.
func (s *Server) seeding(ih, id [20]byte) bool {
	for i := len(s.announces) - 1; i >= 0; i-- {
		if a := s.announces[i]; a.InfoHash == ih && a.PeerID == id {
			return a.Left == 0
		}
	}
	return false
}

func mustBencode(v any) []byte {
	b, err := bencode.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
