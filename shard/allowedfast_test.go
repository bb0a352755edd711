package shard

import (
	"encoding/hex"
	"net/netip"
	"slices"
	"testing"
)

// TestAllowedFastSetMatchesBEP6 checks the canonical example from BEP 6:
// 1313 pieces, peer 80.4.4.200, info-hash 0xaa * 20.
func TestAllowedFastSetMatchesBEP6(t *testing.T) {
	var ih [20]byte
	b, _ := hex.DecodeString("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	copy(ih[:], b)
	addr := netip.MustParseAddr("80.4.4.200")
	got := allowedFastSet(nil, addr, ih, 1313, 7)
	want := []uint32{1059, 431, 808, 1217, 287, 376, 1188}
	if !slices.Equal(got, want) {
		t.Fatalf("k=7: got %v, want %v", got, want)
	}
	got = allowedFastSet(nil, addr, ih, 1313, 9)
	want = []uint32{1059, 431, 808, 1217, 287, 376, 1188, 353, 508}
	if !slices.Equal(got, want) {
		t.Fatalf("k=9: got %v, want %v", got, want)
	}
	if got := allowedFastSet(nil, netip.MustParseAddr("::1"), ih, 1313, 7); len(got) != 0 {
		t.Fatalf("IPv6 peer got a set %v", got)
	}
	if got := allowedFastSet(nil, addr, ih, 3, 7); len(got) != 3 {
		t.Fatalf("3-piece torrent: set %v, want all 3", got)
	}
}
