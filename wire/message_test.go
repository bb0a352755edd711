package wire

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// codecCase is one valid frame and the message it decodes to.
type codecCase struct {
	name  string
	frame []byte
	want  Message
}

// validCases lists one or more valid frames for every message kind,
// including the edge sizes (empty bitfield, empty block, empty extended
// payload, an unknown id).
func validCases() []codecCase {
	block := bytes.Repeat([]byte{0xab}, BlockSize)
	return []codecCase{
		{"keep-alive", AppendKeepAlive(nil), Message{KeepAlive: true}},
		{"choke", AppendSimple(nil, Choke), Message{ID: Choke}},
		{"unchoke", AppendSimple(nil, Unchoke), Message{ID: Unchoke}},
		{"interested", AppendSimple(nil, Interested), Message{ID: Interested}},
		{"not interested", AppendSimple(nil, NotInterested), Message{ID: NotInterested}},
		{"have all", AppendSimple(nil, HaveAll), Message{ID: HaveAll}},
		{"have none", AppendSimple(nil, HaveNone), Message{ID: HaveNone}},
		{"have", AppendHave(nil, 0xdeadbeef), Message{ID: Have, Index: 0xdeadbeef}},
		{"suggest", AppendSuggest(nil, 7), Message{ID: Suggest, Index: 7}},
		{"allowed fast", AppendAllowedFast(nil, 1<<31), Message{ID: AllowedFast, Index: 1 << 31}},
		{"bitfield", AppendBitfield(nil, []byte{0xff, 0x80}), Message{ID: Bitfield, Payload: []byte{0xff, 0x80}}},
		{"empty bitfield", AppendBitfield(nil, nil), Message{ID: Bitfield, Payload: []byte{}}},
		{"request", AppendRequest(nil, 1, 2*BlockSize, BlockSize), Message{ID: Request, Index: 1, Begin: 2 * BlockSize, Length: BlockSize}},
		{"cancel", AppendCancel(nil, 3, 4, 5), Message{ID: Cancel, Index: 3, Begin: 4, Length: 5}},
		{"reject", AppendReject(nil, 0xffffffff, 0xfffffffe, 0xfffffffd), Message{ID: Reject, Index: 0xffffffff, Begin: 0xfffffffe, Length: 0xfffffffd}},
		{"piece", AppendPiece(nil, 9, BlockSize, block), Message{ID: Piece, Index: 9, Begin: BlockSize, Payload: block}},
		{"empty piece", AppendPiece(nil, 9, 0, nil), Message{ID: Piece, Index: 9, Payload: []byte{}}},
		{"port", AppendPort(nil, 6881), Message{ID: Port, Port: 6881}},
		{"extended handshake", AppendExtended(nil, 0, []byte("d1:md6:ut_pexi1eee")), Message{ID: Extended, ExtID: 0, Payload: []byte("d1:md6:ut_pexi1eee")}},
		{"extended empty", AppendExtended(nil, 3, nil), Message{ID: Extended, ExtID: 3, Payload: []byte{}}},
		{"unknown id", []byte{0, 0, 0, 3, 21, 'h', 'i'}, Message{ID: 21, Payload: []byte("hi")}},
		{"unknown id, no body", []byte{0, 0, 0, 1, 255}, Message{ID: 255, Payload: []byte{}}},
	}
}

// equalMessage compares messages treating nil and empty Payload alike only
// where the decoder documents it (it returns empty, not nil, for an empty
// variable-size body).
func equalMessage(a, b Message) bool {
	return a.KeepAlive == b.KeepAlive && a.ID == b.ID && a.Index == b.Index &&
		a.Begin == b.Begin && a.Length == b.Length && a.Port == b.Port && a.ExtID == b.ExtID &&
		bytes.Equal(a.Payload, b.Payload) && (a.Payload == nil) == (b.Payload == nil)
}

func TestDecodeRoundTrip(t *testing.T) {
	for _, tc := range validCases() {
		t.Run(tc.name, func(t *testing.T) {
			var d Decoder
			// Trailing bytes of a next frame must not be consumed.
			buf := append(append([]byte(nil), tc.frame...), 0, 0, 0)
			m, n, err := d.Next(buf)
			if err != nil || n != len(tc.frame) {
				t.Fatalf("Next = n %d, err %v; want n %d", n, err, len(tc.frame))
			}
			if !equalMessage(m, tc.want) {
				t.Fatalf("decoded %+v, want %+v", m, tc.want)
			}
			if m.Payload != nil && cap(m.Payload) != len(m.Payload) {
				t.Errorf("Payload cap %d reaches past the frame (len %d)", cap(m.Payload), len(m.Payload))
			}
			if got := AppendMessage(nil, &m); !bytes.Equal(got, tc.frame) {
				t.Errorf("AppendMessage = %x, want %x", got, tc.frame)
			}
			if d.Need() != 0 {
				t.Errorf("Need after a message = %d, want 0", d.Need())
			}
		})
	}
}

// TestDecodeStrictPrefixIsPartial guards the framing contract on a
// non-blocking socket: a frame cut anywhere is "need more", never a message
// and never an error.
func TestDecodeStrictPrefixIsPartial(t *testing.T) {
	for _, tc := range validCases() {
		t.Run(tc.name, func(t *testing.T) {
			var d Decoder
			for i := 0; i < len(tc.frame); i++ {
				m, n, err := d.Next(tc.frame[:i])
				if n != 0 || err != nil || !equalMessage(m, Message{}) {
					t.Fatalf("prefix of %d/%d bytes: n %d, err %v, m %+v", i, len(tc.frame), n, err, m)
				}
				want := len(tc.frame)
				if i < 4 {
					want = 4
				}
				if d.Need() != want {
					t.Fatalf("prefix of %d bytes: Need %d, want %d", i, d.Need(), want)
				}
			}
		})
	}
}

// TestDecodeChunkedStream feeds many concatenated frames in random chunk
// sizes, as a socket would deliver them, and checks the same sequence comes
// out.
func TestDecodeChunkedStream(t *testing.T) {
	cases := validCases()
	rng := rand.New(rand.NewPCG(1, 2))
	var stream []byte
	var want []Message
	for range 500 {
		tc := cases[rng.IntN(len(cases))]
		stream = append(stream, tc.frame...)
		want = append(want, tc.want)
	}
	for _, maxChunk := range []int{1, 3, 7, 64, 4096, 100000} {
		var d Decoder
		// buf[off:] is what the reader has received and not yet consumed.
		var buf []byte
		off := 0
		var got []Message
		for rest := stream; len(rest) > 0; {
			c := min(1+rng.IntN(maxChunk), len(rest))
			if off == len(buf) {
				buf, off = buf[:0], 0
			}
			buf = append(buf, rest[:c]...)
			rest = rest[c:]
			for {
				m, n, err := d.Next(buf[off:])
				if err != nil {
					t.Fatalf("maxChunk %d: message %d: %v", maxChunk, len(got), err)
				}
				if n == 0 {
					break
				}
				// Copy: buf is reused once drained.
				m.Payload = bytes.Clone(m.Payload)
				got = append(got, m)
				off += n
			}
		}
		if off != len(buf) {
			t.Fatalf("maxChunk %d: %d bytes left undecoded", maxChunk, len(buf)-off)
		}
		if len(got) != len(want) {
			t.Fatalf("maxChunk %d: got %d messages, want %d", maxChunk, len(got), len(want))
		}
		for i := range want {
			if !equalMessage(got[i], want[i]) {
				t.Fatalf("maxChunk %d: message %d = %+v, want %+v", maxChunk, i, got[i], want[i])
			}
		}
	}
}

func TestFrameLen(t *testing.T) {
	tests := []struct {
		buf   []byte
		total int
		ok    bool
	}{
		{nil, 0, false},
		{[]byte{0, 0, 0}, 0, false},
		{[]byte{0, 0, 0, 0}, 4, true},
		{AppendRequest(nil, 1, 2, 3), 17, true},
		{[]byte{0, 0, 1, 0, 7}, 260, true},
		{[]byte{0xff, 0xff, 0xff, 0xff}, 4 + 0xffffffff, true},
	}
	for _, tt := range tests {
		total, ok := FrameLen(tt.buf)
		if total != tt.total || ok != tt.ok {
			t.Errorf("FrameLen(%x) = %d, %v; want %d, %v", tt.buf, total, ok, tt.total, tt.ok)
		}
	}
}

func TestPeekPiece(t *testing.T) {
	hdr := AppendPieceHeader(nil, 5, 3*BlockSize, BlockSize)
	if len(hdr) != PieceHeaderLen {
		t.Fatalf("AppendPieceHeader wrote %d bytes, want %d", len(hdr), PieceHeaderLen)
	}
	tests := []struct {
		name          string
		buf           []byte
		index, begin  uint32
		blockLen      int
		ok            bool
		decodesAsMore bool
	}{
		{"header only", hdr, 5, 3 * BlockSize, BlockSize, true, true},
		{"whole piece", AppendPiece(nil, 1, 2, []byte("abc")), 1, 2, 3, true, false},
		{"empty block", AppendPiece(nil, 1, 2, nil), 1, 2, 0, true, false},
		{"short", hdr[:PieceHeaderLen-1], 0, 0, 0, false, true},
		{"not a piece", AppendRequest(nil, 1, 2, 3), 0, 0, 0, false, false},
		{"piece too short for its header", []byte{0, 0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0}, 0, 0, 0, false, false},
	}
	for _, tt := range tests {
		index, begin, blockLen, ok := PeekPiece(tt.buf)
		if index != tt.index || begin != tt.begin || blockLen != tt.blockLen || ok != tt.ok {
			t.Errorf("%s: PeekPiece = %d, %d, %d, %v; want %d, %d, %d, %v", tt.name,
				index, begin, blockLen, ok, tt.index, tt.begin, tt.blockLen, tt.ok)
		}
	}
}

func TestDecoderNeedAndMaxLen(t *testing.T) {
	d := Decoder{MaxLen: 100}
	frame := AppendBitfield(nil, make([]byte, 99)) // length prefix 100: at the limit
	if _, n, err := d.Next(frame[:10]); n != 0 || err != nil || d.Need() != 104 {
		t.Fatalf("partial at limit: n %d, err %v, Need %d; want 0, nil, 104", n, err, d.Need())
	}
	if _, n, err := d.Next(frame); n != 104 || err != nil {
		t.Fatalf("whole at limit: n %d, err %v", n, err)
	}
	over := AppendBitfield(nil, make([]byte, 100))
	if _, n, err := d.Next(over[:4]); n != 0 || err == nil || d.Need() != 0 {
		t.Fatalf("over limit: n %d, err %v, Need %d; want an error", n, err, d.Need())
	}
}

func TestMessageIDString(t *testing.T) {
	tests := []struct {
		id    MessageID
		want  string
		known bool
	}{
		{Choke, "choke", true},
		{NotInterested, "not interested", true},
		{AllowedFast, "allowed fast", true},
		{Extended, "extended", true},
		{10, "message 10", false},
		{21, "message 21", false},
		{255, "message 255", false},
	}
	for _, tt := range tests {
		if got := tt.id.String(); got != tt.want || tt.id.Known() != tt.known {
			t.Errorf("MessageID(%d): String %q, Known %v; want %q, %v", uint8(tt.id), got, tt.id.Known(), tt.want, tt.known)
		}
	}
}

// TestEncodersAppend checks that encoders append after existing bytes and
// produce the documented header sizes.
func TestEncodersAppend(t *testing.T) {
	prefix := []byte("xyz")
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"keep-alive", AppendKeepAlive(prefix), []byte("xyz\x00\x00\x00\x00")},
		{"have", AppendHave(prefix, 0x01020304), []byte("xyz\x00\x00\x00\x05\x04\x01\x02\x03\x04")},
		{"request", AppendRequest(prefix, 1, 2, 3), []byte("xyz\x00\x00\x00\x0d\x06\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03")},
		{"port", AppendPort(prefix, 0x1ae1), []byte("xyz\x00\x00\x00\x03\x09\x1a\xe1")},
		{"piece header", AppendPieceHeader(prefix, 1, 2, 3), []byte("xyz\x00\x00\x00\x0c\x07\x00\x00\x00\x01\x00\x00\x00\x02")},
		{"extended header", AppendExtendedHeader(prefix, 2, 3), []byte("xyz\x00\x00\x00\x05\x14\x02")},
	}
	for _, tt := range tests {
		if !bytes.Equal(tt.got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	if n := len(AppendExtendedHeader(nil, 1, 10)); n != ExtendedHeaderLen {
		t.Errorf("AppendExtendedHeader wrote %d bytes, want %d", n, ExtendedHeaderLen)
	}
}

func TestEncoderPanicsOnImpossibleLength(t *testing.T) {
	tests := []struct {
		name string
		f    func()
	}{
		{"negative block", func() { AppendPieceHeader(nil, 0, 0, -1) }},
		{"negative extended", func() { AppendExtendedHeader(nil, 0, -1) }},
	}
	for _, tt := range tests {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tt.name)
				}
			}()
			tt.f()
		}()
	}
}

// frameOf builds a raw frame for error tests: a length prefix, an id and
// body bytes, independently of the encoders under test.
func frameOf(length uint32, id MessageID, body int) []byte {
	b := binary.BigEndian.AppendUint32(nil, length)
	b = append(b, byte(id))
	return append(b, make([]byte, body)...)
}

// TestLengthRulesAgree backs the invariant at the top of message.go.
func TestLengthRulesAgree(t *testing.T) {
	for i := range 256 {
		id := MessageID(i)
		least := minLen(id)
		if least == 0 {
			t.Errorf("%v: minLen 0", id)
		}
		if fixed, ok := fixedLen(id); ok && (fixed != least || !lengthFits(id, fixed) || lengthFits(id, fixed+1)) {
			t.Errorf("%v: fixedLen %d, minLen %d disagree", id, fixed, least)
		}
		if lengthFits(id, least-1) {
			t.Errorf("%v: length %d below minLen fits", id, least-1)
		}
	}
}
