package wire

import (
	"bytes"
	"reflect"
	"testing"
)

// Seeds beyond testdata/fuzz: every valid frame, concatenated, plus a few
// malformed ones.
func FuzzDecoder(f *testing.F) {
	var all []byte
	for _, tc := range validCases() {
		f.Add(tc.frame, uint16(0))
		all = append(all, tc.frame...)
	}
	f.Add(all, uint16(0))
	f.Add(all, uint16(20))
	f.Add(frameOf(12, Request, 11), uint16(0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 7}, uint16(0))
	// maxLen lets the fuzzer reach ErrTooLong with small inputs; 0 is the
	// default limit.
	f.Fuzz(func(t *testing.T, data []byte, maxLen uint16) {
		d := Decoder{MaxLen: uint32(maxLen)}
		buf := data
		for {
			m, n, err := d.Next(buf)
			if n < 0 || n > len(buf) {
				t.Fatalf("n %d outside 0..%d", n, len(buf))
			}
			if err != nil {
				if n != 0 || d.Need() != 0 {
					t.Fatalf("error %v with n %d, Need %d", err, n, d.Need())
				}
				return
			}
			if n == 0 {
				if need := d.Need(); need <= len(buf) || need < lenPrefix {
					t.Fatalf("partial frame of %d bytes but Need %d", len(buf), need)
				}
				if _, _, _, ok := PeekPiece(buf); ok && len(buf) >= headerLen && buf[lenPrefix] != byte(Piece) {
					t.Fatalf("PeekPiece accepted a non-piece")
				}
				return
			}
			if total, ok := FrameLen(buf); !ok || total != n {
				t.Fatalf("FrameLen = %d, %v; Next consumed %d", total, ok, n)
			}
			if index, begin, blockLen, ok := PeekPiece(buf); ok != (m.ID == Piece && !m.KeepAlive) ||
				ok && (index != m.Index || begin != m.Begin || blockLen != len(m.Payload)) {
				t.Fatalf("PeekPiece = %d %d %d %v for %+v", index, begin, blockLen, ok, m)
			}
			if re := AppendMessage(nil, &m); !bytes.Equal(re, buf[:n]) {
				t.Fatalf("re-encoded %+v as %x, frame was %x", m, re, buf[:n])
			}
			// No strict prefix of a frame the decoder accepted is a message.
			if n > 1 {
				cut := n - 1 - int(uint(len(buf))%uint(n-1))
				if _, pn, perr := d.Next(buf[:cut]); pn != 0 || perr != nil {
					t.Fatalf("prefix of %d/%d bytes: n %d, err %v", cut, n, pn, perr)
				}
			}
			buf = buf[n:]
		}
	})
}

func FuzzHandshake(f *testing.F) {
	f.Add(AppendHandshake(nil, &Handshake{Reserved: DefaultReserved(), InfoHash: [20]byte{1}, PeerID: [20]byte{2}}))
	f.Add([]byte("\x13BitTorrent protocol"))
	f.Add([]byte("\x13BitTorrent protocoX"))
	f.Add([]byte{0x8f, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseHandshake(data)
		r, ih, perr := ParseHandshakePrefix(data)
		if err == nil {
			if re := AppendHandshake(nil, &h); !bytes.Equal(re, data[:HandshakeLen]) {
				t.Fatalf("re-encoded %x, input %x", re, data[:HandshakeLen])
			}
			if perr != nil || r != h.Reserved || ih != h.InfoHash {
				t.Fatalf("prefix parse disagrees: %v", perr)
			}
		}
		if perr == nil && len(data) < HandshakePrefixLen {
			t.Fatalf("prefix parse accepted %d bytes", len(data))
		}
		if err != nil && perr == nil && len(data) >= HandshakeLen {
			t.Fatalf("full parse failed (%v) where the prefix parse passed on %d bytes", err, len(data))
		}
	})
}

func FuzzExtHandshake(f *testing.F) {
	f.Add([]byte("d1:md11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei31235e1:pi6881e4:reqqi500e1:v17:libtorrent/2.0.116:yourip4:\x0a\x00\x00\x01e"))
	f.Add([]byte("de"))
	f.Add([]byte("d1:md1:ai1e1:b1:xe12:complete_agoi-1e1:xld1:ai1eeee"))
	f.Add([]byte("d1:pi-1ee"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseExtHandshake(data)
		if err != nil {
			return
		}
		b, err := h.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed handshake %+v: %v", h, err)
		}
		again, err := ParseExtHandshake(b)
		if err != nil {
			t.Fatalf("Parse(Marshal) %q: %v", b, err)
		}
		if !reflect.DeepEqual(again, h) {
			t.Fatalf("round trip changed the handshake\nbefore %+v\nafter  %+v", h, again)
		}
		b2, err := again.Marshal()
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("Marshal not stable: %q then %q (%v)", b, b2, err)
		}
	})
}
