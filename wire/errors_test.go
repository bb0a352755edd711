package wire

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		max  uint32
		buf  []byte
		kind ErrorKind
		id   MessageID
		len  uint32
		msg  string
	}{
		{"too long at default, prefix only", 0, []byte{0, 0x20, 0, 1}, ErrTooLong, 0, DefaultMaxMessageLen + 1, "exceeds the limit of 2097152"},
		{"too long, max uint32", 0, []byte{0xff, 0xff, 0xff, 0xff}, ErrTooLong, 0, 0xffffffff, "4294967295 bytes"},
		{"too long at custom limit", 16, frameOf(17, Bitfield, 16), ErrTooLong, 0, 17, "limit of 16"},
		{"choke with a body", 0, frameOf(2, Choke, 0), ErrBadLength, Choke, 2, "choke message of 2 bytes, want 1"},
		{"unchoke with a body", 0, frameOf(5, Unchoke, 0), ErrBadLength, Unchoke, 5, ""},
		{"interested with a body", 0, frameOf(2, Interested, 1), ErrBadLength, Interested, 2, ""},
		{"not interested with a body", 0, frameOf(2, NotInterested, 1), ErrBadLength, NotInterested, 2, ""},
		{"have all with a body", 0, frameOf(2, HaveAll, 1), ErrBadLength, HaveAll, 2, ""},
		{"have none with a body", 0, frameOf(2, HaveNone, 1), ErrBadLength, HaveNone, 2, ""},
		{"have of 3 bytes", 0, frameOf(3, Have, 2), ErrBadLength, Have, 3, "have message of 3 bytes, want 5"},
		{"have of 6 bytes", 0, frameOf(6, Have, 5), ErrBadLength, Have, 6, ""},
		{"suggest short", 0, frameOf(4, Suggest, 3), ErrBadLength, Suggest, 4, ""},
		{"allowed fast long", 0, frameOf(9, AllowedFast, 8), ErrBadLength, AllowedFast, 9, ""},
		{"request of 12 bytes", 0, frameOf(12, Request, 11), ErrBadLength, Request, 12, "wire: request message of 12 bytes, want 13"},
		{"request of 14 bytes", 0, frameOf(14, Request, 13), ErrBadLength, Request, 14, ""},
		{"cancel short", 0, frameOf(1, Cancel, 0), ErrBadLength, Cancel, 1, ""},
		{"reject long", 0, frameOf(17, Reject, 16), ErrBadLength, Reject, 17, ""},
		{"port short", 0, frameOf(2, Port, 1), ErrBadLength, Port, 2, "port message of 2 bytes, want 3"},
		{"port long", 0, frameOf(5, Port, 4), ErrBadLength, Port, 5, ""},
		{"piece shorter than header", 0, frameOf(8, Piece, 7), ErrBadLength, Piece, 8, "piece message of 8 bytes, want at least 9"},
		{"extended without ext id", 0, frameOf(1, Extended, 0), ErrBadLength, Extended, 1, "want at least 2"},
		// Reported from the id byte alone, before the body is buffered.
		{"bad length seen at the id byte", 0, frameOf(12, Request, 0), ErrBadLength, Request, 12, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decoder{MaxLen: tt.max}
			m, n, err := d.Next(tt.buf)
			if n != 0 || !equalMessage(m, Message{}) {
				t.Errorf("n %d, m %+v on error; want 0, zero message", n, m)
			}
			if !errors.Is(err, tt.kind) {
				t.Fatalf("err %v, want kind %v", err, tt.kind)
			}
			var me *MessageError
			if !errors.As(err, &me) {
				t.Fatalf("err %T is not a *MessageError", err)
			}
			if me.ID != tt.id || me.Length != tt.len {
				t.Errorf("MessageError ID %v Length %d, want %v %d", me.ID, me.Length, tt.id, tt.len)
			}
			for _, other := range []ErrorKind{ErrTooLong, ErrBadLength, ErrBadProtocol} {
				if other != tt.kind && errors.Is(err, other) {
					t.Errorf("err also matches %v", other)
				}
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Error() = %q, want it to contain %q", err, tt.msg)
			}
		})
	}
}

// TestTooLongAsSoonAsPrefixSeen guards the rule that an oversized frame is
// refused from its 4-byte prefix, before the caller buffers any body.
func TestTooLongAsSoonAsPrefixSeen(t *testing.T) {
	var d Decoder
	buf := frameOf(DefaultMaxMessageLen+1, Piece, 0)
	for i := range buf {
		_, n, err := d.Next(buf[:i+1])
		if i+1 < lenPrefix {
			if err != nil || n != 0 {
				t.Fatalf("%d bytes: n %d, err %v before the prefix is complete", i+1, n, err)
			}
			continue
		}
		if !errors.Is(err, ErrTooLong) {
			t.Fatalf("%d bytes: err %v, want ErrTooLong", i+1, err)
		}
	}
}

func TestHandshakeErrors(t *testing.T) {
	good := AppendHandshake(nil, &Handshake{Reserved: DefaultReserved()})
	badLen := append([]byte{18}, good[1:]...)
	badStr := append([]byte(nil), good...)
	badStr[5] = 't'
	tests := []struct {
		name   string
		b      []byte
		kind   ErrorKind
		msg    string
		noFull bool // an error for ParseHandshake only; the prefix is fine
	}{
		{"empty", nil, ErrShortHandshake, "handshake of 0 bytes, want", false},
		{"47 bytes", good[:47], ErrShortHandshake, "handshake of 47 bytes", false},
		{"67 bytes", good[:67], ErrShortHandshake, "handshake of 67 bytes, want 68", true},
		{"pstrlen 18", badLen, ErrBadProtocol, "protocol length 18, want 19", false},
		{"pstrlen 18, one byte", badLen[:1], ErrBadProtocol, "protocol length 18", false},
		{"pstr differs", badStr, ErrBadProtocol, `"\x13BitTorrent protocol"`, false},
		{"pstr differs, 6 bytes", badStr[:6], ErrBadProtocol, "handshake protocol", false},
		{"MSE-looking", []byte{0x8f, 0x22, 0x01}, ErrBadProtocol, "length 143", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseHandshake(tt.b)
			check := func(fn string, err error) {
				if !errors.Is(err, tt.kind) {
					t.Fatalf("%s: err %v, want %v", fn, err, tt.kind)
				}
				var he *HandshakeError
				if !errors.As(err, &he) || he.Kind != tt.kind {
					t.Fatalf("%s: err %#v is not a *HandshakeError of kind %v", fn, err, tt.kind)
				}
				if !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("%s: Error() = %q, want it to contain %q", fn, err, tt.msg)
				}
			}
			check("ParseHandshake", err)
			_, _, err = ParseHandshakePrefix(tt.b)
			if tt.noFull {
				if err != nil {
					t.Errorf("ParseHandshakePrefix: %v, want nil", err)
				}
				return
			}
			check("ParseHandshakePrefix", err)
		})
	}
}

func TestErrorKindString(t *testing.T) {
	for k := ErrTooLong; k <= ErrBadExtHandshake; k++ {
		if s := k.Error(); !strings.HasPrefix(s, "wire: ") || strings.Contains(s, "kind") {
			t.Errorf("ErrorKind(%d).Error() = %q", k, s)
		}
	}
	if s := ErrorKind(99).String(); s != "error kind 99" {
		t.Errorf("ErrorKind(99).String() = %q", s)
	}
}
