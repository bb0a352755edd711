package tracker

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"
	"time"

	"github.com/anacrolix/torrent/bencode"
)

// Limits on what a tracker's answer may make us hold.
const (
	// maxNesting bounds bencode list/dict nesting in a response, checked
	// before the decoder (which recurses) sees the body.
	maxNesting = 16
	// maxDictPeers bounds the dictionary-form peer entries decoded; the
	// body cap bounds the rest.
	maxDictPeers = 1 << 14
)

// Response is a tracker's answer to an announce: the data of the reply,
// with Failure set (and the rest unset) when the tracker refused.
// Immutable once returned; safe from any goroutine.
type Response struct {
	// Failure is the "failure reason" (HTTP) or error message (UDP).
	Failure string
	// Warning is the "warning message", if any; the reply is used.
	Warning string
	// Interval and MinInterval are the tracker's re-announce periods
	// (zero when absent).
	Interval, MinInterval time.Duration
	// TrackerID is the "tracker id" to echo in later announces.
	TrackerID string
	// Complete and Incomplete are the swarm's seeders and leechers, -1
	// when absent; Downloaded is its completed downloads, -1 when absent.
	Complete, Incomplete, Downloaded int
	// Peers are the addresses given, at most the cap the parser was
	// called with (IPv4 compact, IPv6 compact and dictionary forms).
	Peers []netip.AddrPort
	// Dropped is how many peers were beyond the cap and not kept.
	Dropped int
}

// httpResponse is the wire shape of an HTTP announce reply.
type httpResponse struct {
	Failure     string        `bencode:"failure reason"`
	Warning     string        `bencode:"warning message"`
	Interval    int64         `bencode:"interval"`
	MinInterval int64         `bencode:"min interval"`
	TrackerID   string        `bencode:"tracker id"`
	Complete    *int64        `bencode:"complete"`
	Incomplete  *int64        `bencode:"incomplete"`
	Downloaded  *int64        `bencode:"downloaded"`
	Peers       bencode.Bytes `bencode:"peers"`
	Peers6      bencode.Bytes `bencode:"peers6"`
}

type dictPeer struct {
	IP   string `bencode:"ip"`
	Port int64  `bencode:"port"`
}

// ParseHTTPResponse decodes an HTTP tracker's announce reply, keeping at
// most maxPeers peers. A reply with a "failure reason" returns the
// Response (Failure set) and an *Error of kind ErrFailureReason; a body
// that is not a valid reply returns ErrBadResponse. Safe from any
// goroutine; body is not retained.
func ParseHTTPResponse(body []byte, maxPeers int) (Response, error) {
	r := Response{Complete: -1, Incomplete: -1, Downloaded: -1}
	var w httpResponse
	if err := decodeDict(body, &w); err != nil {
		return r, err
	}
	if w.Failure != "" {
		r.Failure = w.Failure
		return r, &Error{Kind: ErrFailureReason, Reason: w.Failure}
	}
	r.Warning = w.Warning
	r.Interval = seconds(w.Interval)
	r.MinInterval = seconds(w.MinInterval)
	r.TrackerID = w.TrackerID
	r.Complete, r.Incomplete, r.Downloaded = count(w.Complete), count(w.Incomplete), count(w.Downloaded)
	if err := r.addPeers(w.Peers, 6, maxPeers); err != nil {
		return r, err
	}
	if err := r.addPeers(w.Peers6, 18, maxPeers); err != nil {
		return r, err
	}
	return r, nil
}

// decodeDict checks body's nesting and decodes it into v; trailing bytes
// after the dictionary are ignored, as libtorrent does.
func decodeDict(body []byte, v any) error {
	if len(body) == 0 || body[0] != 'd' {
		return &Error{Kind: ErrBadResponse, Reason: "not a bencoded dictionary"}
	}
	if err := checkNesting(body, maxNesting); err != nil {
		return err
	}
	err := bencode.Unmarshal(body, v)
	var trailing bencode.ErrUnusedTrailingBytes
	if err != nil && !errors.As(err, &trailing) {
		return &Error{Kind: ErrBadResponse, Err: err}
	}
	return nil
}

func seconds(s int64) time.Duration {
	if s <= 0 {
		return 0
	}
	return time.Duration(min(s, 1<<31)) * time.Second
}

func count(p *int64) int {
	if p == nil || *p < 0 {
		return -1
	}
	return int(min(*p, 1<<31))
}

// addPeers decodes one "peers"/"peers6" value: a compact string of
// stride-byte entries or a list of dictionaries.
func (r *Response) addPeers(raw []byte, stride, maxPeers int) error {
	if len(raw) == 0 {
		return nil
	}
	switch c := raw[0]; {
	case c >= '0' && c <= '9':
		var s []byte
		if err := bencode.Unmarshal(raw, &s); err != nil {
			return &Error{Kind: ErrBadResponse, Reason: "peers", Err: err}
		}
		if len(s)%stride != 0 {
			return &Error{Kind: ErrBadResponse, Reason: "compact peers length " + strconv.Itoa(len(s))}
		}
		for ; len(s) > 0; s = s[stride:] {
			ip, _ := netip.AddrFromSlice(s[:stride-2])
			r.add(netip.AddrPortFrom(ip, binary.BigEndian.Uint16(s[stride-2:])), maxPeers)
		}
	case c == 'l':
		var list []bencode.Bytes
		if err := bencode.Unmarshal(raw, &list); err != nil {
			return &Error{Kind: ErrBadResponse, Reason: "peers", Err: err}
		}
		for i, e := range list {
			if i >= maxDictPeers {
				r.Dropped += len(list) - i
				break
			}
			var p dictPeer
			if bencode.Unmarshal(e, &p) != nil {
				continue // one bad entry does not spoil the reply
			}
			ip, err := netip.ParseAddr(p.IP)
			if err != nil || p.Port <= 0 || p.Port > 65535 {
				continue
			}
			r.add(netip.AddrPortFrom(ip.Unmap(), uint16(p.Port)), maxPeers)
		}
	default:
		return &Error{Kind: ErrBadResponse, Reason: "peers is neither a string nor a list"}
	}
	return nil
}

func (r *Response) add(a netip.AddrPort, maxPeers int) {
	if a.Port() == 0 || !a.Addr().IsValid() {
		return
	}
	if len(r.Peers) >= maxPeers {
		r.Dropped++
		return
	}
	r.Peers = append(r.Peers, a)
}

// ScrapeResult is one torrent's scrape figures, -1 where absent.
type ScrapeResult struct {
	Complete, Incomplete, Downloaded int
}

type scrapeFile struct {
	Complete   *int64 `bencode:"complete"`
	Incomplete *int64 `bencode:"incomplete"`
	Downloaded *int64 `bencode:"downloaded"`
}

type scrapeResponse struct {
	Failure string                `bencode:"failure reason"`
	Files   map[string]scrapeFile `bencode:"files"`
}

// ParseScrapeResponse decodes an HTTP scrape reply and returns the
// figures of info-hash ih. Safe from any goroutine.
func ParseScrapeResponse(body []byte, ih [20]byte) (ScrapeResult, error) {
	var w scrapeResponse
	if err := decodeDict(body, &w); err != nil {
		return ScrapeResult{}, err
	}
	if w.Failure != "" {
		return ScrapeResult{}, &Error{Kind: ErrFailureReason, Reason: w.Failure}
	}
	f, ok := w.Files[string(ih[:])]
	if !ok {
		return ScrapeResult{}, &Error{Kind: ErrBadResponse, Reason: "info-hash not in scrape reply"}
	}
	return ScrapeResult{count(f.Complete), count(f.Incomplete), count(f.Downloaded)}, nil
}

// checkNesting walks b's bencode tokens and fails if lists and
// dictionaries nest deeper than max or a length runs past the end. It
// validates no more than that; the decoder checks the rest.
func checkNesting(b []byte, max int) error {
	depth := 0
	for i := 0; i < len(b); {
		switch c := b[i]; {
		case c == 'l' || c == 'd':
			depth++
			if depth > max {
				return &Error{Kind: ErrBadResponse, Reason: "nesting too deep"}
			}
			i++
		case c == 'e':
			depth--
			i++
			if depth == 0 {
				return nil
			}
			if depth < 0 {
				return &Error{Kind: ErrBadResponse, Reason: "unbalanced end"}
			}
		case c == 'i':
			j := i + 1
			for j < len(b) && b[j] != 'e' {
				j++
			}
			i = j + 1
		case c >= '0' && c <= '9':
			n, j := 0, i
			for j < len(b) && b[j] >= '0' && b[j] <= '9' {
				if n > len(b) {
					return &Error{Kind: ErrBadResponse, Reason: "string length"}
				}
				n = n*10 + int(b[j]-'0')
				j++
			}
			if j >= len(b) || b[j] != ':' || n > len(b)-j-1 {
				return &Error{Kind: ErrBadResponse, Reason: "string length"}
			}
			i = j + 1 + n
		default:
			return &Error{Kind: ErrBadResponse, Reason: "bad bencode token"}
		}
	}
	return &Error{Kind: ErrBadResponse, Reason: "truncated"}
}
