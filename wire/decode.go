package wire

// Framing and decoding of messages out of a caller-owned byte stream.
//
// Invariants (checked by the tests and FuzzDecoder):
//   - Next returns either n == 0 (a partial frame, or an error) or n equal to
//     one whole frame, 4 + its length prefix; so 0 <= n <= len(buf) always.
//   - Next never returns a message from a strict prefix of a valid frame.
//   - A length prefix above the limit is an error as soon as its 4 bytes are
//     visible, and a length that does not fit the id as soon as the id byte
//     is: the caller never buffers the body of a frame that will be refused.
//   - Nothing on the success path allocates: Message is returned by value and
//     Payload is a subslice of buf.

import (
	"encoding/binary"
	"math"
)

// Decoder frames messages out of a byte stream. It holds no buffer: the
// caller keeps the received bytes, hands their unconsumed front to Next, and
// drops the n bytes Next reports consumed.
//
// The zero value is ready to use with DefaultMaxMessageLen. A Decoder is not
// safe for concurrent use; each connection owns one, used from that
// connection's loop only.
type Decoder struct {
	// MaxLen is the largest length prefix accepted (id byte plus body);
	// 0 means DefaultMaxMessageLen.
	MaxLen uint32

	// need is the frame size the last partial Next call was waiting for;
	// 0 after a decoded message or an error.
	need int
}

// limit returns the effective MaxLen.
func (d *Decoder) limit() uint32 {
	if d.MaxLen == 0 {
		return DefaultMaxMessageLen
	}
	return d.MaxLen
}

// Next decodes one message from the front of buf.
//
// When buf holds a whole frame it returns the message and n, the frame's size
// in bytes; the caller drops those n bytes. When buf holds only part of a
// frame it returns n == 0 and a nil error, and Need says how many bytes the
// frame needs in total. A frame that can never be valid is reported with
// n == 0 and a *MessageError (Kind ErrTooLong or ErrBadLength); the stream is
// then unusable and the connection should be closed.
//
// Messages with an id the package does not know are not errors: they are
// returned with ID set and the body after the id byte in Payload, for the
// engine or a plugin to judge. Whether a message is allowed at this point of
// the conversation (a fast-extension message without the fast bit, a
// bitfield after the first message) is likewise left to the engine.
//
// Payload aliases buf; see Message.
func (d *Decoder) Next(buf []byte) (m Message, n int, err error) {
	d.need = 0
	if len(buf) < lenPrefix {
		d.need = lenPrefix
		return m, 0, nil
	}
	length := binary.BigEndian.Uint32(buf)
	if length == 0 {
		m.KeepAlive = true
		return m, lenPrefix, nil
	}
	if limit := d.limit(); length > limit {
		return m, 0, &MessageError{Kind: ErrTooLong, Length: length, Limit: limit}
	}
	// length <= MaxLen < 2^32, so total fits in an int on 64-bit platforms;
	// on 32-bit ones a MaxLen that large could not be buffered anyway.
	total := frameTotal(length)
	if len(buf) < headerLen {
		d.need = total
		return m, 0, nil
	}
	id := MessageID(buf[lenPrefix])
	if !lengthFits(id, length) {
		return m, 0, &MessageError{Kind: ErrBadLength, ID: id, Length: length}
	}
	if len(buf) < total {
		d.need = total
		return m, 0, nil
	}
	// The three-index slice caps every Payload at the frame's end.
	body := buf[headerLen:total:total]
	m.ID = id
	switch id {
	case Choke, Unchoke, Interested, NotInterested, HaveAll, HaveNone:
	case Have, Suggest, AllowedFast:
		m.Index = binary.BigEndian.Uint32(body)
	case Request, Cancel, Reject:
		m.Index = binary.BigEndian.Uint32(body)
		m.Begin = binary.BigEndian.Uint32(body[4:])
		m.Length = binary.BigEndian.Uint32(body[8:])
	case Piece:
		m.Index = binary.BigEndian.Uint32(body)
		m.Begin = binary.BigEndian.Uint32(body[4:])
		m.Payload = body[8:]
	case Port:
		m.Port = binary.BigEndian.Uint16(body)
	case Extended:
		m.ExtID = body[0]
		m.Payload = body[1:]
	default: // Bitfield and unknown ids
		m.Payload = body
	}
	return m, total, nil
}

// Need returns the total number of bytes, counted from the front of the
// buffer last passed to Next, that the pending frame needs: 4 while the
// length prefix is incomplete, the whole frame size after that. It is 0
// after Next returned a message or an error. A caller uses it to size its
// receive buffer or to read exactly the rest of a frame.
func (d *Decoder) Need() int { return d.need }

// lengthFits reports whether a frame with this id may have this length
// prefix value.
func lengthFits(id MessageID, length uint32) bool {
	if want, ok := fixedLen(id); ok {
		return length == want
	}
	return length >= minLen(id)
}

// frameTotal is the frame size for a length prefix value, saturating at
// math.MaxInt where int is 32 bits wide.
func frameTotal(length uint32) int {
	if uint64(length) > math.MaxInt-lenPrefix {
		return math.MaxInt
	}
	return lenPrefix + int(length)
}

// FrameLen peeks at the length prefix: when buf holds at least 4 bytes it
// returns the whole frame's size including the prefix and ok == true. It
// applies no limit; Decoder.Next does.
// Safe from any goroutine.
func FrameLen(buf []byte) (total int, ok bool) {
	if len(buf) < lenPrefix {
		return 0, false
	}
	return frameTotal(binary.BigEndian.Uint32(buf)), true
}

// PeekPiece reports whether buf starts with the 13-byte header of a piece
// message, and if so the block's index, begin and length, so the engine can
// choose where the block should land (a storage span) before its bytes
// arrive and receive it there without a copy.
//
// PeekPiece checks the frame's shape only, not a size limit: call
// Decoder.Next on the same bytes first (it reports ErrTooLong as soon as
// the prefix is visible) or compare blockLen with the engine's own bound.
// Safe from any goroutine.
func PeekPiece(buf []byte) (index, begin uint32, blockLen int, ok bool) {
	if len(buf) < PieceHeaderLen || MessageID(buf[lenPrefix]) != Piece {
		return 0, 0, 0, false
	}
	length := binary.BigEndian.Uint32(buf)
	if length < pieceMinLen {
		return 0, 0, 0, false
	}
	index = binary.BigEndian.Uint32(buf[headerLen:])
	begin = binary.BigEndian.Uint32(buf[headerLen+4:])
	return index, begin, frameTotal(length) - PieceHeaderLen, true
}
