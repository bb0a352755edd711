package wire

// Encoders: each appends one whole frame (or a frame header whose body the
// caller sends separately) to dst, in the style of strconv.Append*.
//
// Invariants:
//   - Every Append* grows dst by exactly the frame (or header) size and
//     allocates only when dst lacks the capacity.
//   - What an encoder writes, Decoder.Next decodes back to the same fields
//     (the round-trip tests and FuzzDecoder check both directions).
//   - Lengths that cannot be expressed in the uint32 prefix are caller bugs
//     and panic; they can only come from our own code, never from a peer.

import (
	"encoding/binary"
	"strconv"
)

// appendHeader appends the length prefix and id of a frame whose length
// prefix value is length.
func appendHeader(dst []byte, length uint32, id MessageID) []byte {
	dst = binary.BigEndian.AppendUint32(dst, length)
	return append(dst, byte(id))
}

// checkLen panics when n bytes cannot follow a header within a uint32
// length prefix.
func checkLen(what string, n int, limit uint64) {
	if n < 0 || uint64(n) > limit {
		panic("wire: " + what + " length " + strconv.Itoa(n) + " out of range")
	}
}

// AppendKeepAlive appends a keep-alive (a zero length prefix).
// Safe from any goroutine.
func AppendKeepAlive(dst []byte) []byte {
	return append(dst, 0, 0, 0, 0)
}

// AppendSimple appends a message that is its id alone: choke, unchoke,
// interested, not interested, have all or have none. It does not check id;
// passing another id writes a frame that id's decoder rejects.
// Safe from any goroutine.
func AppendSimple(dst []byte, id MessageID) []byte {
	return appendHeader(dst, simpleMsgLen, id)
}

func appendIndexMsg(dst []byte, id MessageID, index uint32) []byte {
	dst = appendHeader(dst, indexMsgLen, id)
	return binary.BigEndian.AppendUint32(dst, index)
}

// AppendHave appends a have message.
// Safe from any goroutine.
func AppendHave(dst []byte, index uint32) []byte { return appendIndexMsg(dst, Have, index) }

// AppendSuggest appends a BEP 6 suggest piece message.
// Safe from any goroutine.
func AppendSuggest(dst []byte, index uint32) []byte { return appendIndexMsg(dst, Suggest, index) }

// AppendAllowedFast appends a BEP 6 allowed fast message.
// Safe from any goroutine.
func AppendAllowedFast(dst []byte, index uint32) []byte {
	return appendIndexMsg(dst, AllowedFast, index)
}

// AppendBitfield appends a bitfield message carrying bits.
// Safe from any goroutine.
func AppendBitfield(dst []byte, bits []byte) []byte {
	checkLen("bitfield", len(bits), maxPayloadLen)
	dst = appendHeader(dst, uint32(1+len(bits)), Bitfield)
	return append(dst, bits...)
}

func appendBlockMsg(dst []byte, id MessageID, index, begin, length uint32) []byte {
	dst = appendHeader(dst, requestLen, id)
	dst = binary.BigEndian.AppendUint32(dst, index)
	dst = binary.BigEndian.AppendUint32(dst, begin)
	return binary.BigEndian.AppendUint32(dst, length)
}

// AppendRequest appends a request for length bytes at begin in piece index.
// Safe from any goroutine.
func AppendRequest(dst []byte, index, begin, length uint32) []byte {
	return appendBlockMsg(dst, Request, index, begin, length)
}

// AppendCancel appends a cancel for an earlier request.
// Safe from any goroutine.
func AppendCancel(dst []byte, index, begin, length uint32) []byte {
	return appendBlockMsg(dst, Cancel, index, begin, length)
}

// AppendReject appends a BEP 6 reject request message.
// Safe from any goroutine.
func AppendReject(dst []byte, index, begin, length uint32) []byte {
	return appendBlockMsg(dst, Reject, index, begin, length)
}

// AppendPieceHeader appends the 13-byte header of a piece message whose
// length prefix covers a block of blockLen bytes that the caller sends
// separately (a writev of header and storage span, with no copy). It panics
// if blockLen is negative or too large for the length prefix.
// Safe from any goroutine.
func AppendPieceHeader(dst []byte, index, begin uint32, blockLen int) []byte {
	checkLen("piece block", blockLen, maxBlockLen)
	dst = appendHeader(dst, uint32(pieceMinLen+blockLen), Piece)
	dst = binary.BigEndian.AppendUint32(dst, index)
	return binary.BigEndian.AppendUint32(dst, begin)
}

// AppendPiece appends a whole piece message, block included.
// Safe from any goroutine.
func AppendPiece(dst []byte, index, begin uint32, block []byte) []byte {
	return append(AppendPieceHeader(dst, index, begin, len(block)), block...)
}

// AppendPort appends a BEP 5 port message.
// Safe from any goroutine.
func AppendPort(dst []byte, port uint16) []byte {
	dst = appendHeader(dst, portMsgLen, Port)
	return binary.BigEndian.AppendUint16(dst, port)
}

// AppendExtendedHeader appends the 6-byte header of a BEP 10 extended
// message whose payload of payloadLen bytes the caller sends separately. It
// panics if payloadLen is negative or too large for the length prefix.
// Safe from any goroutine.
func AppendExtendedHeader(dst []byte, extID uint8, payloadLen int) []byte {
	checkLen("extended payload", payloadLen, maxExtPayload)
	dst = appendHeader(dst, uint32(extMinLen+payloadLen), Extended)
	return append(dst, extID)
}

// AppendExtended appends a whole BEP 10 extended message.
// Safe from any goroutine.
func AppendExtended(dst []byte, extID uint8, payload []byte) []byte {
	return append(AppendExtendedHeader(dst, extID, len(payload)), payload...)
}

// AppendMessage appends m as the frame Decoder.Next decoded it from, so a
// decoded message can be forwarded or re-encoded unchanged. Messages with
// unknown ids are written as the id followed by Payload. Fields that m.ID
// does not use are ignored.
// Safe from any goroutine.
func AppendMessage(dst []byte, m *Message) []byte {
	if m.KeepAlive {
		return AppendKeepAlive(dst)
	}
	switch m.ID {
	case Choke, Unchoke, Interested, NotInterested, HaveAll, HaveNone:
		return AppendSimple(dst, m.ID)
	case Have, Suggest, AllowedFast:
		return appendIndexMsg(dst, m.ID, m.Index)
	case Request, Cancel, Reject:
		return appendBlockMsg(dst, m.ID, m.Index, m.Begin, m.Length)
	case Piece:
		return AppendPiece(dst, m.Index, m.Begin, m.Payload)
	case Port:
		return AppendPort(dst, m.Port)
	case Extended:
		return AppendExtended(dst, m.ExtID, m.Payload)
	}
	// Bitfield and unknown ids share the id-then-body layout.
	checkLen("message body", len(m.Payload), maxPayloadLen)
	dst = appendHeader(dst, uint32(1+len(m.Payload)), m.ID)
	return append(dst, m.Payload...)
}
