package wire

import "testing"

// The zero-allocation rule of doc.go, enforced per message kind and per
// encoder. A regression here means garbage per message on every connection.

func TestDecodeAllocsZero(t *testing.T) {
	for _, tc := range validCases() {
		t.Run(tc.name, func(t *testing.T) {
			var d Decoder
			var sink Message
			allocs := testing.AllocsPerRun(100, func() {
				m, _, err := d.Next(tc.frame)
				if err != nil {
					t.Fatal(err)
				}
				sink = m
				// A partial frame is the other hot outcome.
				if _, _, err := d.Next(tc.frame[:len(tc.frame)-1]); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("Next allocates %v times per message", allocs)
			}
			_ = sink
		})
	}
}

func TestEncodeAllocsZero(t *testing.T) {
	block := make([]byte, BlockSize)
	bits := make([]byte, 128)
	m := Message{ID: Piece, Index: 1, Payload: block}
	h := Handshake{Reserved: DefaultReserved()}
	tests := []struct {
		name string
		f    func([]byte) []byte
	}{
		{"keep-alive", AppendKeepAlive},
		{"simple", func(b []byte) []byte { return AppendSimple(b, Unchoke) }},
		{"have", func(b []byte) []byte { return AppendHave(b, 1) }},
		{"suggest", func(b []byte) []byte { return AppendSuggest(b, 1) }},
		{"allowed fast", func(b []byte) []byte { return AppendAllowedFast(b, 1) }},
		{"bitfield", func(b []byte) []byte { return AppendBitfield(b, bits) }},
		{"request", func(b []byte) []byte { return AppendRequest(b, 1, 2, 3) }},
		{"cancel", func(b []byte) []byte { return AppendCancel(b, 1, 2, 3) }},
		{"reject", func(b []byte) []byte { return AppendReject(b, 1, 2, 3) }},
		{"piece header", func(b []byte) []byte { return AppendPieceHeader(b, 1, 2, BlockSize) }},
		{"piece", func(b []byte) []byte { return AppendPiece(b, 1, 2, block) }},
		{"port", func(b []byte) []byte { return AppendPort(b, 6881) }},
		{"extended header", func(b []byte) []byte { return AppendExtendedHeader(b, 1, 100) }},
		{"extended", func(b []byte) []byte { return AppendExtended(b, 1, bits) }},
		{"message", func(b []byte) []byte { return AppendMessage(b, &m) }},
		{"handshake", func(b []byte) []byte { return AppendHandshake(b, &h) }},
	}
	buf := make([]byte, 0, 2*BlockSize)
	for _, tt := range tests {
		allocs := testing.AllocsPerRun(100, func() {
			buf = tt.f(buf[:0])
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations with capacity to spare", tt.name, allocs)
		}
	}
}

func TestParseHandshakeAllocsZero(t *testing.T) {
	b := AppendHandshake(nil, &Handshake{Reserved: DefaultReserved()})
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := ParseHandshake(b); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ParseHandshakePrefix(b); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("handshake parsing allocates %v times", allocs)
	}
}
