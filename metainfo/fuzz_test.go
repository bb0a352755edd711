package metainfo

import (
	"crypto/sha1"
	"reflect"
	"testing"
)

// FuzzParse: Parse never panics; whatever it accepts satisfies Info's
// invariants, hashes its exact info bytes, re-parses identically through
// ParseInfo, and stops parsing when cut short.
func FuzzParse(f *testing.F) {
	f.Add([]byte("d4:infod4:name1:n12:piece lengthi16384e6:lengthi1e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"))
	f.Add([]byte("d4:infod5:filesld6:lengthi3e4:pathl2:..1:aeee4:name1:/12:piece lengthi1e6:pieces60:" +
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaee"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			if m != nil {
				t.Fatal("MetaInfo returned with an error")
			}
			return
		}
		if err := m.Info.validate(); err != nil {
			t.Fatalf("invariant broken: %v", err)
		}
		if m.InfoHash.V1 != sha1.Sum(m.InfoBytes) {
			t.Fatal("info-hash is not SHA-1 of InfoBytes")
		}
		info, err := ParseInfo(m.InfoBytes)
		if err != nil || !reflect.DeepEqual(*info, m.Info) {
			t.Fatalf("ParseInfo(InfoBytes) = %+v, %v", info, err)
		}
		for _, n := range []int{0, 1, len(data) / 2, len(data) - 1} {
			if _, err := Parse(data[:n]); err == nil {
				t.Fatalf("prefix of %d/%d bytes parsed", n, len(data))
			}
		}
	})
}

// FuzzParseMagnet: ParseMagnet never panics, and what it accepts survives a
// String round trip unchanged.
func FuzzParseMagnet(f *testing.F) {
	f.Add("magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=a+b&tr=udp%3A%2F%2Fx&x.pe=1.2.3.4:5")
	f.Add("magnet:?xt=urn:btmh:1220d8dd32ac93357c368556af3ac1d95c9d76bd0dff6fa9833ecdac3d53134efabb")
	f.Fuzz(func(t *testing.T, uri string) {
		m, err := ParseMagnet(uri)
		if err != nil {
			return
		}
		if m.InfoHash.IsZero() {
			t.Fatal("accepted without an info-hash")
		}
		again, err := ParseMagnet(m.String())
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("round trip via %q: %+v, %v", m.String(), again, err)
		}
	})
}
