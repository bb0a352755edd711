package wire

import (
	"bytes"
	"errors"
	mathrand "math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"
)

func TestParseExtHandshake(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    ExtHandshake
	}{
		{
			name:    "libtorrent-like",
			payload: "d1:ei0e4:ipv44:\x01\x02\x03\x0412:complete_agoi-1e1:md11:lt_donthavei7e10:share_modei8e11:upload_onlyi3e12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei31235e4:reqqi500e11:upload_onlyi1e1:v17:libtorrent/2.0.116:yourip4:\x0a\x00\x00\x01e",
			want: ExtHandshake{
				M:            map[string]int{"lt_donthave": 7, "share_mode": 8, "upload_only": 3, "ut_holepunch": 4, "ut_metadata": 2, "ut_pex": 1},
				V:            "libtorrent/2.0.11",
				YourIP:       []byte{10, 0, 0, 1},
				IPv4:         []byte{1, 2, 3, 4},
				Reqq:         500,
				MetadataSize: 31235,
				UploadOnly:   true,
				Extra:        map[string]bencode.Bytes{"complete_ago": bencode.Bytes("i-1e")},
			},
		},
		{
			name:    "minimal",
			payload: "de",
			want:    ExtHandshake{M: map[string]int{}},
		},
		{
			name:    "port, ipv6 yourip, encryption",
			payload: "d1:ei1e1:mde1:pi6881e6:yourip16:\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01e",
			want: ExtHandshake{
				M: map[string]int{}, Port: 6881, Encryption: true,
				YourIP: []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
			},
		},
		{
			name:    "disabled extension stays as 0",
			payload: "d1:md6:ut_pexi0eee",
			want:    ExtHandshake{M: map[string]int{"ut_pex": 0}},
		},
		{
			name:    "lenient: wrong types and sizes ignored",
			payload: "d1:ei-0e4:ipv43:abc4:ipv64:abcd1:md1:ai1e1:b1:x1:cli1ee1:di256e1:ei-1ee1:p2:xx4:reqqle11:upload_only1:x1:vi5e6:yourip5:abcdee",
			want:    ExtHandshake{M: map[string]int{"a": 1}},
		},
		{
			name:    "lenient: m not a dict",
			payload: "d1:mli1ee1:v1:ze",
			want:    ExtHandshake{M: map[string]int{}, V: "z"},
		},
		{
			name:    "unsorted keys accepted",
			payload: "d1:v1:a1:md1:zi2e1:ai1eee",
			want:    ExtHandshake{M: map[string]int{"a": 1, "z": 2}, V: "a"},
		},
		{
			name:    "limits inclusive",
			payload: "d13:metadata_sizei67108864e1:pi65535e4:reqqi1048576ee",
			want:    ExtHandshake{M: map[string]int{}, Port: 65535, Reqq: MaxReqq, MetadataSize: MaxMetadataSize},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseExtHandshake([]byte(tt.payload))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
			checkExtRoundTrip(t, got)
		})
	}
}

// checkExtRoundTrip requires Parse(Marshal(h)) == h for a parsed h.
func checkExtRoundTrip(t *testing.T, h ExtHandshake) {
	t.Helper()
	b, err := h.Marshal()
	if err != nil {
		t.Fatalf("Marshal(%+v): %v", h, err)
	}
	again, err := ParseExtHandshake(b)
	if err != nil {
		t.Fatalf("Parse(Marshal) of %q: %v", b, err)
	}
	if !reflect.DeepEqual(again, h) {
		t.Fatalf("round trip changed the handshake\nbefore %+v\nafter  %+v\nwire   %q", h, again, b)
	}
}

func TestParseExtHandshakeErrors(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		kind    ErrorKind
		key     string
	}{
		{"empty", "", ErrBadExtHandshake, ""},
		{"list", "le", ErrBadExtHandshake, ""},
		{"int", "i1e", ErrBadExtHandshake, ""},
		{"truncated", "d1:md6:ut_pexi1e", ErrBadExtHandshake, ""},
		{"trailing bytes", "d1:md6:ut_pexi1eeex", ErrBadExtHandshake, ""},
		{"bad string length", "d1:m99:ae", ErrBadExtHandshake, ""},
		{"non-string key", "di1ei2ee", ErrBadExtHandshake, ""},
		{"negative port", "d1:pi-1ee", ErrBadExtHandshake, "p"},
		{"port too large", "d1:pi65536ee", ErrBadExtHandshake, "p"},
		{"negative reqq", "d4:reqqi-5ee", ErrBadExtHandshake, "reqq"},
		{"absurd reqq", "d4:reqqi1048577ee", ErrBadExtHandshake, "reqq"},
		{"negative metadata_size", "d13:metadata_sizei-1ee", ErrBadExtHandshake, "metadata_size"},
		{"absurd metadata_size", "d13:metadata_sizei67108865ee", ErrBadExtHandshake, "metadata_size"},
		{"metadata_size overflows int64", "d13:metadata_sizei99999999999999999999ee", ErrBadExtHandshake, "metadata_size"},
		{"too long", "d1:v" + strings.Repeat("x", MaxExtHandshakeLen) + "e", ErrTooLong, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseExtHandshake([]byte(tt.payload))
			if !errors.Is(err, tt.kind) || !errors.Is(err, ErrBadExtHandshake) {
				t.Fatalf("err %v, want kind %v", err, tt.kind)
			}
			var e *ExtHandshakeError
			if !errors.As(err, &e) {
				t.Fatalf("err %T is not an *ExtHandshakeError", err)
			}
			if e.Key != tt.key {
				t.Errorf("Key %q, want %q (%v)", e.Key, tt.key, err)
			}
			if errors.Is(err, ErrBadLength) {
				t.Errorf("err matches ErrBadLength")
			}
		})
	}
}

func TestExtHandshakeMarshal(t *testing.T) {
	h := ExtHandshake{
		M:          map[string]int{"ut_pex": 1, "ut_metadata": 2},
		V:          "shardtorrent/0.1",
		Port:       6881,
		Reqq:       250,
		UploadOnly: true,
		Extra: map[string]bencode.Bytes{
			"complete_ago": bencode.Bytes("i-1e"),
			"v":            bencode.Bytes("3:bad"), // collides with V: the field wins
		},
	}
	got, err := h.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := "d12:complete_agoi-1e1:md11:ut_metadatai2e6:ut_pexi1ee1:pi6881e4:reqqi250e11:upload_onlyi1e1:v16:shardtorrent/0.1e"
	if string(got) != want {
		t.Fatalf("Marshal = %q\nwant      %q", got, want)
	}
	empty, err := (&ExtHandshake{}).Marshal()
	if err != nil || !bytes.Equal(empty, []byte("d1:mdee")) {
		t.Fatalf("empty Marshal = %q, %v; want d1:mdee", empty, err)
	}
}

// TestExtHandshakeMarshalMatchesBencode: the hand-written encoder writes
// exactly what anacrolix's reflective bencode.Marshal writes for the same
// dictionary, over random handshakes (names and Extra keys that sort
// around the known keys, all address sizes, zero and non-zero fields).
func TestExtHandshakeMarshalMatchesBencode(t *testing.T) {
	r := mathrand.New(mathrand.NewPCG(1, 2))
	keys := []string{"", "a", "e0", "lt_donthave", "m", "n", "p2", "ut_holepunch", "ut_metadata", "ut_pex", "v", "yourip", "zz", "\xff"}
	addr := func() []byte {
		switch r.IntN(3) {
		case 0:
			return nil
		case 1:
			return bytes.Repeat([]byte{byte(r.IntN(256))}, 4)
		}
		return bytes.Repeat([]byte{byte(r.IntN(256))}, 16)
	}
	for i := range 2000 {
		h := ExtHandshake{M: map[string]int{}, Port: r.IntN(2) * r.IntN(65536), Reqq: r.IntN(2) * r.IntN(MaxReqq+1),
			MetadataSize: r.IntN(2) * r.IntN(1<<20), UploadOnly: r.IntN(2) == 0, Encryption: r.IntN(2) == 0, YourIP: addr()}
		if r.IntN(2) == 0 {
			h.V = keys[r.IntN(len(keys))] + "/1.0"
		}
		if r.IntN(3) == 0 {
			h.IPv4 = bytes.Repeat([]byte{9}, 4)
		}
		if r.IntN(3) == 0 {
			h.IPv6 = bytes.Repeat([]byte{7}, 16)
		}
		d := map[string]any{}
		for range r.IntN(5) {
			h.M[keys[r.IntN(len(keys))]] = r.IntN(256)
		}
		m := map[string]int64{}
		for k, v := range h.M {
			m[k] = int64(v)
		}
		d["m"] = m
		if r.IntN(2) == 0 {
			h.Extra = map[string]bencode.Bytes{}
			for range r.IntN(4) {
				k := keys[r.IntN(len(keys))] + "x"
				v := bencode.Bytes([]string{"i-1e", "3:abc", "le", "d1:ai1ee"}[r.IntN(4)])
				h.Extra[k], d[k] = v, v
			}
		}
		for k, v := range map[string]int{"p": h.Port, "reqq": h.Reqq, "metadata_size": h.MetadataSize} {
			if v != 0 {
				d[k] = int64(v)
			}
		}
		for k, v := range map[string][]byte{"yourip": h.YourIP, "ipv4": h.IPv4, "ipv6": h.IPv6} {
			if len(v) > 0 {
				d[k] = v
			}
		}
		if h.V != "" {
			d["v"] = h.V
		}
		if h.UploadOnly {
			d["upload_only"] = int64(1)
		}
		if h.Encryption {
			d["e"] = int64(1)
		}
		want, err := bencode.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		got, err := h.Marshal()
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d: Marshal = %q\nbencode     %q", i, got, want)
		}
	}
}

func TestExtHandshakeMarshalErrors(t *testing.T) {
	tests := []struct {
		name string
		h    ExtHandshake
		key  string
	}{
		{"ext id 256", ExtHandshake{M: map[string]int{"x": 256}}, "m"},
		{"ext id negative", ExtHandshake{M: map[string]int{"x": -1}}, "m"},
		{"port", ExtHandshake{Port: 70000}, "p"},
		{"reqq", ExtHandshake{Reqq: -1}, "reqq"},
		{"metadata size", ExtHandshake{MetadataSize: MaxMetadataSize + 1}, "metadata_size"},
		{"yourip size", ExtHandshake{YourIP: []byte{1, 2, 3}}, "yourip"},
		{"ipv6 size", ExtHandshake{IPv6: []byte{1, 2, 3, 4}}, "ipv6"},
		{"extra not bencode", ExtHandshake{Extra: map[string]bencode.Bytes{"x": bencode.Bytes("zz")}}, "x"},
		{"extra two values", ExtHandshake{Extra: map[string]bencode.Bytes{"x": bencode.Bytes("i1ei2e")}}, "x"},
		{"extra empty", ExtHandshake{Extra: map[string]bencode.Bytes{"x": {}}}, "x"},
	}
	for _, tt := range tests {
		_, err := tt.h.Marshal()
		var e *ExtHandshakeError
		if !errors.As(err, &e) || e.Key != tt.key || !errors.Is(err, ErrBadExtHandshake) {
			t.Errorf("%s: err %v, want an *ExtHandshakeError for key %q", tt.name, err, tt.key)
		}
	}
}

// TestExtHandshakeLengthBomb: a declared string length far past the
// payload is refused without allocating it (the decoder alone would
// allocate 128 MiB for these 15 bytes).
func TestExtHandshakeLengthBomb(t *testing.T) {
	for _, p := range []string{"d134000000:xxxx", "d1:v134000000:xx", "d1:md1:a100000000:e"} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := ParseExtHandshake([]byte(p))
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("%q accepted", p)
		}
		if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
			t.Errorf("%q: %d bytes allocated to refuse it", p, d)
		}
	}
}
