package tracker

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseHTTPResponse(t *testing.T) {
	v6 := "\x20\x01\x0d\xb8" + strings.Repeat("\x00", 11) + "\x01\x1a\xe1"
	tests := []struct {
		name, body string
		max        int
		want       Response
		kind       ErrorKind
	}{
		{"compact", "d8:intervali1800e12:min intervali60e10:tracker id3:abc8:completei5e10:incompletei7e5:peers12:\x7f\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x00\x50e", 10,
			Response{Interval: 1800 * time.Second, MinInterval: time.Minute, TrackerID: "abc", Complete: 5, Incomplete: 7, Downloaded: -1,
				Peers: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:6881"), netip.MustParseAddrPort("10.0.0.2:80")}}, 0},
		{"peers6", "d8:intervali60e5:peers0:6:peers618:" + v6 + "e", 10,
			Response{Interval: time.Minute, Complete: -1, Incomplete: -1, Downloaded: -1,
				Peers: []netip.AddrPort{netip.MustParseAddrPort("[2001:db8::1]:6881")}}, 0},
		{"dict", "d8:intervali60e5:peersld2:ip9:127.0.0.14:porti7000e7:peer id20:aaaaaaaaaaaaaaaaaaaaed2:ip3:bad4:porti1eed2:ip3:::14:porti9eeee", 10,
			Response{Interval: time.Minute, Complete: -1, Incomplete: -1, Downloaded: -1,
				Peers: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:7000"), netip.MustParseAddrPort("[::1]:9")}}, 0},
		{"cap", "d5:peers18:\x7f\x00\x00\x01\x00\x01\x7f\x00\x00\x01\x00\x02\x7f\x00\x00\x01\x00\x03e", 2,
			Response{Complete: -1, Incomplete: -1, Downloaded: -1, Dropped: 1,
				Peers: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2")}}, 0},
		{"warning", "d15:warning message4:slow8:intervali60e5:peers0:e", 10,
			Response{Warning: "slow", Interval: time.Minute, Complete: -1, Incomplete: -1, Downloaded: -1}, 0},
		{"failure", "d14:failure reason9:not founde", 10, Response{Failure: "not found", Complete: -1, Incomplete: -1, Downloaded: -1}, ErrFailureReason},
		{"not dict", "le", 10, Response{}, ErrBadResponse},
		{"truncated", "d8:intervali60e5:peers12:\x7f", 10, Response{}, ErrBadResponse},
		{"odd compact", "d5:peers5:abcdee", 10, Response{}, ErrBadResponse},
		{"peers int", "d5:peersi3ee", 10, Response{}, ErrBadResponse},
		{"deep", "d1:x" + strings.Repeat("l", 100) + strings.Repeat("e", 100) + "e", 10, Response{}, ErrBadResponse},
		{"interval string", "d8:interval2:60e", 10, Response{}, ErrBadResponse},
		{"empty", "", 10, Response{}, ErrBadResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseHTTPResponse([]byte(tt.body), tt.max)
			if tt.kind != 0 {
				if !errors.Is(err, tt.kind) {
					t.Fatalf("err %v, want kind %v", err, tt.kind)
				}
				if tt.kind == ErrFailureReason && got.Failure != tt.want.Failure {
					t.Fatalf("failure %q", got.Failure)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Interval != tt.want.Interval || got.MinInterval != tt.want.MinInterval || got.TrackerID != tt.want.TrackerID ||
				got.Warning != tt.want.Warning || got.Complete != tt.want.Complete || got.Incomplete != tt.want.Incomplete ||
				got.Downloaded != tt.want.Downloaded || got.Dropped != tt.want.Dropped || len(got.Peers) != len(tt.want.Peers) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
			for i := range got.Peers {
				if got.Peers[i] != tt.want.Peers[i] {
					t.Fatalf("peer %d: %v, want %v", i, got.Peers[i], tt.want.Peers[i])
				}
			}
		})
	}
}

// TestParseTruncatedPrefixes: every proper prefix of a valid reply fails.
func TestParseTruncatedPrefixes(t *testing.T) {
	body := "d8:intervali1800e12:min intervali60e5:peers12:\x7f\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x00\x50e"
	for i := 0; i < len(body); i++ {
		if _, err := ParseHTTPResponse([]byte(body[:i]), 10); !errors.Is(err, ErrBadResponse) {
			t.Fatalf("prefix %d %q: err %v", i, body[:i], err)
		}
	}
}

func TestParseScrape(t *testing.T) {
	var ih [20]byte
	copy(ih[:], "aaaaaaaaaaaaaaaaaaaa")
	r, err := ParseScrapeResponse([]byte("d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei3e10:downloadedi9e10:incompletei2eeee"), ih)
	if err != nil || r != (ScrapeResult{3, 2, 9}) {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := ParseScrapeResponse([]byte("d5:filesdee"), ih); !errors.Is(err, ErrBadResponse) {
		t.Fatal(err)
	}
}

func FuzzParseHTTPResponse(f *testing.F) {
	f.Add([]byte("d8:intervali1800e5:peers6:\x7f\x00\x00\x01\x1a\xe1e"))
	f.Add([]byte("d5:peersld2:ip9:127.0.0.14:porti7000eee"))
	f.Add([]byte("d14:failure reason3:bade"))
	f.Add([]byte("d6:peers618:0123456789abcdef01e"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseHTTPResponse(b, 50)
		if err == nil && len(r.Peers) > 50 {
			t.Fatalf("%d peers past the cap", len(r.Peers))
		}
		var te *Error
		if err != nil && !errors.As(err, &te) {
			t.Fatalf("untyped error %v", err)
		}
	})
}

func FuzzParseScrapeResponse(f *testing.F) {
	f.Add([]byte("d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei3eeee"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var ih [20]byte
		copy(ih[:], "aaaaaaaaaaaaaaaaaaaa")
		_, err := ParseScrapeResponse(b, ih)
		var te *Error
		if err != nil && !errors.As(err, &te) {
			t.Fatalf("untyped error %v", err)
		}
	})
}
