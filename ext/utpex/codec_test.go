package utpex

import (
	"errors"
	"net/netip"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestCodecRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		in   Message
		want string // exact bencoding, "" to skip
	}{
		{"empty", Message{}, "d5:added0:7:added.f0:6:added60:8:added6.f0:7:dropped0:8:dropped60:e"},
		{"ipv4 with flags", Message{Added: []Peer{{ap("1.2.3.4:258"), FlagSeed | FlagEncryption}}, Dropped: []netip.AddrPort{ap("5.6.7.8:1")}},
			"d5:added6:\x01\x02\x03\x04\x01\x027:added.f1:\x036:added60:8:added6.f0:7:dropped6:\x05\x06\x07\x08\x00\x018:dropped60:e"},
		{"ipv6", Message{Added: []Peer{{ap("[2001:db8::1]:6881"), FlagUTP | FlagHolepunch}}, Dropped: []netip.AddrPort{ap("[2001:db8::2]:80")}}, ""},
		{"mixed", Message{
			Added:   []Peer{{ap("10.0.0.1:1"), 0}, {ap("[2001:db8::1]:2"), FlagSeed}, {ap("10.0.0.2:3"), FlagEncryption}},
			Dropped: []netip.AddrPort{ap("10.0.0.9:9"), ap("[2001:db8::9]:9")},
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.in.Append(nil)
			if c.want != "" && string(b) != c.want {
				t.Fatalf("encoded %q, want %q", b, c.want)
			}
			got, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			// Parse yields IPv4 entries before IPv6 ones.
			want := Message{}
			for _, fam := range []bool{true, false} {
				for _, p := range c.in.Added {
					if p.Addr.Addr().Is4() == fam {
						want.Added = append(want.Added, p)
					}
				}
				for _, d := range c.in.Dropped {
					if d.Addr().Is4() == fam {
						want.Dropped = append(want.Dropped, d)
					}
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip %+v, want %+v", got, want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	v4 := "\x01\x02\x03\x04\x00\x50"
	cases := []struct {
		name    string
		in      string
		added   []Peer
		dropped []netip.AddrPort
		err     error
	}{
		{"added without added.f is ignored", "d5:added6:" + v4 + "e", nil, nil, nil},
		{"added.f of the wrong length ignores the list", "d5:added6:" + v4 + "7:added.f2:\x01\x01e", nil, nil, nil},
		{"flag 0x80 is masked off", "d5:added6:" + v4 + "7:added.f1:\x83e", []Peer{{ap("1.2.3.4:80"), 0x03}}, nil, nil},
		{"trailing partial entry ignored", "d5:added8:" + v4 + "xx7:added.f1:\x00e", []Peer{{ap("1.2.3.4:80"), 0}}, nil, nil},
		{"dropped only", "d7:dropped6:" + v4 + "e", nil, []netip.AddrPort{ap("1.2.3.4:80")}, nil},
		{"unknown keys ignored", "d1:xi5e7:dropped6:" + v4 + "e", nil, []netip.AddrPort{ap("1.2.3.4:80")}, nil},
		{"not bencode", "garbage", nil, nil, ErrBadMessage},
		{"truncated", "d5:added6:\x01", nil, nil, ErrBadMessage},
		{"not a dictionary", "li1ee", nil, nil, ErrBadMessage},
		{"wrong type", "d5:addedi5ee", nil, nil, ErrBadMessage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Parse([]byte(c.in))
			if !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if !reflect.DeepEqual(m.Added, c.added) || !reflect.DeepEqual(m.Dropped, c.dropped) {
				t.Fatalf("parsed %+v, want added %v dropped %v", m, c.added, c.dropped)
			}
		})
	}
}

// TestParseLengthBombAndDepth: a declared string length past the message
// and deep nesting are refused without allocating or recursing (the
// decoder alone would allocate 128 MiB for 25 bytes).
func TestParseLengthBombAndDepth(t *testing.T) {
	for _, p := range []string{"d5:added134000000:xxxx", "d5:added" + strings.Repeat("l", 500_000)} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Parse([]byte(p))
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrBadMessage) {
			t.Errorf("%.30q: err %v, want ErrBadMessage", p, err)
		}
		if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
			t.Errorf("%.30q: %d bytes allocated to refuse it", p, d)
		}
	}
}

// FuzzParse: no input panics or allocates past its size; a message that
// parses re-encodes to one that parses to the same peers.
func FuzzParse(f *testing.F) {
	seed := Message{Added: []Peer{{netip.MustParseAddrPort("10.0.0.1:6881"), 2}, {netip.MustParseAddrPort("[2001:db8::1]:51413"), 1}},
		Dropped: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.9:1")}}
	f.Add(seed.Append(nil))
	f.Add([]byte("d5:added6:abcdef7:added.f1:\x02e"))
	f.Add([]byte("d5:added134000000:x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		m2, err := Parse(m.Append(nil))
		if err != nil {
			t.Fatalf("re-encoded message does not parse: %v", err)
		}
		if len(m2.Added) != len(m.Added) || len(m2.Dropped) != len(m.Dropped) {
			t.Fatalf("round trip: %d/%d peers, want %d/%d", len(m2.Added), len(m2.Dropped), len(m.Added), len(m.Dropped))
		}
	})
}
