package shard

import (
	"crypto/sha1"
	"encoding/binary"
	"net/netip"
)

// allowedFastSetSize is how many pieces a choked peer may request from us
// (BEP 6's k; libtorrent's allowed_fast_set_size is 5).
const allowedFastSetSize = 5

// maxAllowedFastIn bounds the allowed-fast pieces we remember from a peer.
const maxAllowedFastIn = 64

// allowedFastSet computes BEP 6's canonical allowed-fast set for a peer at
// addr: pieces derived from its /24 and the info-hash, so that the set is
// the same whoever computes it and a peer gains nothing by reconnecting.
// Only IPv4 is defined by BEP 6; other peers get no set.
func allowedFastSet(dst []uint32, addr netip.Addr, ih [20]byte, numPieces, k int) []uint32 {
	addr = addr.Unmap()
	if !addr.Is4() || numPieces <= 0 {
		return dst
	}
	k = min(k, numPieces)
	var x [24]byte
	ip := addr.As4()
	copy(x[:4], ip[:])
	x[3] = 0 // 0xFFFFFF00 & ip
	copy(x[4:], ih[:])
	buf := x[:]
	var h [20]byte
	for n := 0; len(dst)-n < k; {
		h = sha1.Sum(buf)
		buf = h[:]
		for i := 0; i < 5 && len(dst)-n < k; i++ {
			idx := binary.BigEndian.Uint32(h[i*4:]) % uint32(numPieces)
			dup := false
			for _, v := range dst[n:] {
				if v == idx {
					dup = true
					break
				}
			}
			if !dup {
				dst = append(dst, idx)
			}
		}
	}
	return dst
}
