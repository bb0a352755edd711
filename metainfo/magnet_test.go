package metainfo

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseMagnet(t *testing.T) {
	const hexHash = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a"
	const v2Hex = "d8dd32ac93357c368556af3ac1d95c9d76bd0dff6fa9833ecdac3d53134efabb"
	v1, _ := ParseHashV1(hexHash)
	v2, _ := ParseHashV2(v2Hex)
	tests := []struct {
		name string
		uri  string
		want Magnet
	}{
		{"hex", "magnet:?xt=urn:btih:" + hexHash, Magnet{InfoHash: InfoHash{V1: v1}}},
		{"hex upper, scheme upper", "MAGNET:?xt=URN:BTIH:" + strings.ToUpper(hexHash), Magnet{InfoHash: InfoHash{V1: v1}}},
		{"base32", "magnet:?xt=urn:btih:YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK", Magnet{InfoHash: InfoHash{V1: v1}}},
		{"all fields", "magnet:?xt=urn:btih:" + hexHash + "&dn=My+Film%20(2024)&tr=udp%3A%2F%2Ft1%3A80&tr=http://t2/a?x=1&x.pe=10.0.0.1:6881&x.pe=[::1]:6881",
			Magnet{InfoHash: InfoHash{V1: v1}, Name: "My Film (2024)", Trackers: []string{"udp://t1:80", "http://t2/a?x=1"}, Peers: []string{"10.0.0.1:6881", "[::1]:6881"}}},
		{"v2 only", "magnet:?xt=urn:btmh:1220" + v2Hex, Magnet{InfoHash: InfoHash{V2: v2}}},
		{"hybrid", "magnet:?xt=urn:btih:" + hexHash + "&xt=urn:btmh:1220" + v2Hex, Magnet{InfoHash: InfoHash{V1: v1, V2: v2}}},
		{"same hash twice", "magnet:?xt=urn:btih:" + hexHash + "&xt=urn:btih:YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK", Magnet{InfoHash: InfoHash{V1: v1}}},
		{"unknown keys and empty values ignored", "magnet:?&ws=http://w&xt=urn:ed2k:abc&xt=urn:btih:" + hexHash + "&tr=&x.pe=&xl=5",
			Magnet{InfoHash: InfoHash{V1: v1}}},
		{"first dn wins", "magnet:?dn=a&xt=urn:btih:" + hexHash + "&dn=b", Magnet{InfoHash: InfoHash{V1: v1}, Name: "a"}},
		{"utf-8 name", "magnet:?xt=urn:btih:" + hexHash + "&dn=%C3%BC", Magnet{InfoHash: InfoHash{V1: v1}, Name: "ü"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMagnet(tt.uri)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
			again, err := ParseMagnet(got.String())
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("round trip via %q: %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestParseMagnetErrors(t *testing.T) {
	const hexHash = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a"
	tests := []struct {
		name, uri string
		want      error
	}{
		{"empty", "", ErrBadMagnet},
		{"http", "http://x/?xt=urn:btih:" + hexHash, ErrBadMagnet},
		{"no query", "magnet:", ErrBadMagnet},
		{"no xt", "magnet:?dn=x", ErrBadMagnet},
		{"only other urn", "magnet:?xt=urn:sha1:" + hexHash, ErrBadMagnet},
		{"short hash", "magnet:?xt=urn:btih:" + hexHash[:39], ErrBadHash},
		{"bad hex", "magnet:?xt=urn:btih:" + strings.Repeat("z", 40), ErrBadHash},
		{"bad base32", "magnet:?xt=urn:btih:" + strings.Repeat("1", 32), ErrBadHash},
		{"conflicting btih", "magnet:?xt=urn:btih:" + hexHash + "&xt=urn:btih:" + strings.Repeat("0", 39) + "1", ErrBadMagnet},
		{"btmh not sha256", "magnet:?xt=urn:btmh:1114" + strings.Repeat("0", 40), ErrBadMagnet},
		{"btmh short", "magnet:?xt=urn:btmh:1220" + strings.Repeat("a", 63), ErrBadHash},
		{"bad escape in value", "magnet:?xt=urn:btih:" + hexHash + "&dn=%zz", ErrBadMagnet},
		{"bad escape in key", "magnet:?xt=urn:btih:" + hexHash + "&%=x", ErrBadMagnet},
		{"too long", "magnet:?xt=urn:btih:" + hexHash + "&dn=" + strings.Repeat("a", MaxMagnetLength), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMagnet(tt.uri)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseMagnet = %+v, %v; want %v", m, err, tt.want)
			}
		})
	}
}

func TestMetaInfoMagnet(t *testing.T) {
	dir := writeTree(t, "my film", map[string][]byte{"a": pattern(10, 1)})
	_, m, err := Create(dir, CreateOptions{Trackers: []string{"http://a", "", "udp://b"}})
	if err != nil {
		t.Fatal(err)
	}
	mg := m.Magnet()
	want := Magnet{InfoHash: m.InfoHash, Name: "my film", Trackers: []string{"http://a", "udp://b"}}
	if !reflect.DeepEqual(mg, want) {
		t.Fatalf("Magnet() = %+v", mg)
	}
	s := mg.String()
	if wantS := "magnet:?xt=urn:btih:" + m.InfoHash.V1.String() + "&dn=my+film&tr=http%3A%2F%2Fa&tr=udp%3A%2F%2Fb"; s != wantS {
		t.Fatalf("String() = %q\nwant %q", s, wantS)
	}
}
