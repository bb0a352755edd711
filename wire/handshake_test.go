package wire

import (
	"bytes"
	"testing"
)

func TestHandshakeRoundTrip(t *testing.T) {
	var ih, id [20]byte
	for i := range ih {
		ih[i], id[i] = byte(i), byte(0xff-i)
	}
	dht := DefaultReserved()
	dht.SetDHT()
	tests := []struct {
		name string
		h    Handshake
	}{
		{"zero", Handshake{}},
		{"default reserved", Handshake{Reserved: DefaultReserved(), InfoHash: ih, PeerID: id}},
		{"with dht", Handshake{Reserved: dht, InfoHash: ih, PeerID: id}},
		{"all bits", Handshake{Reserved: Reserved{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, InfoHash: ih}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := AppendHandshake([]byte("pre"), &tt.h)
			if len(b) != 3+HandshakeLen || string(b[:3]) != "pre" {
				t.Fatalf("AppendHandshake wrote %d bytes after the prefix, want %d", len(b)-3, HandshakeLen)
			}
			b = b[3:]
			if b[0] != 19 || string(b[1:20]) != Protocol {
				t.Fatalf("protocol header %q", b[:20])
			}
			// Trailing bytes (the peer's first message) are ignored.
			got, err := ParseHandshake(append(b, AppendSimple(nil, Unchoke)...))
			if err != nil || got != tt.h {
				t.Fatalf("ParseHandshake = %+v, %v; want %+v", got, err, tt.h)
			}
			r, infoHash, err := ParseHandshakePrefix(b[:HandshakePrefixLen])
			if err != nil || r != tt.h.Reserved || infoHash != tt.h.InfoHash {
				t.Fatalf("ParseHandshakePrefix = %x, %x, %v", r, infoHash, err)
			}
		})
	}
}

func TestReservedBits(t *testing.T) {
	tests := []struct {
		name                string
		set                 func(*Reserved)
		want                Reserved
		extended, fast, dht bool
	}{
		{"none", func(*Reserved) {}, Reserved{}, false, false, false},
		{"extended", (*Reserved).SetExtended, Reserved{5: 0x10}, true, false, false},
		{"fast", (*Reserved).SetFast, Reserved{7: 0x04}, false, true, false},
		{"dht", (*Reserved).SetDHT, Reserved{7: 0x01}, false, false, true},
		{"default", func(r *Reserved) { *r = DefaultReserved() }, Reserved{5: 0x10, 7: 0x04}, true, true, false},
	}
	for _, tt := range tests {
		var r Reserved
		tt.set(&r)
		if r != tt.want {
			t.Errorf("%s: reserved %x, want %x", tt.name, r, tt.want)
		}
		if r.SupportsExtended() != tt.extended || r.SupportsFast() != tt.fast || r.SupportsDHT() != tt.dht {
			t.Errorf("%s: Supports* = %v %v %v, want %v %v %v", tt.name,
				r.SupportsExtended(), r.SupportsFast(), r.SupportsDHT(), tt.extended, tt.fast, tt.dht)
		}
	}
}

// TestHandshakeDoesNotAliasInput: the parsed handshake outlives the receive
// buffer it came from.
func TestHandshakeDoesNotAliasInput(t *testing.T) {
	b := AppendHandshake(nil, &Handshake{InfoHash: [20]byte{1}, PeerID: [20]byte{2}})
	h, err := ParseHandshake(b)
	if err != nil {
		t.Fatal(err)
	}
	copy(b, bytes.Repeat([]byte{0xee}, len(b)))
	if h.InfoHash[0] != 1 || h.PeerID[0] != 2 {
		t.Fatalf("parsed handshake changed with its input: %+v", h)
	}
}
