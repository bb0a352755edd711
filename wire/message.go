package wire

// Message ids and the size rules for each.
//
// Invariants:
//   - For every id, fixedLen and minLen agree: a fixed-size id has
//     minLen == fixedLen, and every other id's frame is at least minLen.
//   - minLen is never 0 for a message with an id: the id byte is counted.

import "strconv"

// Protocol constants.
const (
	// Protocol is the BEP 3 protocol string a handshake starts with (after
	// its length byte).
	Protocol = "BitTorrent protocol"
	// HandshakeLen is the size of a full BEP 3 handshake: pstrlen, pstr,
	// 8 reserved bytes, info-hash and peer id.
	HandshakeLen = 1 + len(Protocol) + 8 + 20 + 20
	// HandshakePrefixLen is the size of a handshake up to and including the
	// info-hash: what an incoming connection needs to pick the torrent
	// before the peer id arrives.
	HandshakePrefixLen = HandshakeLen - 20
	// BlockSize is the standard request length (16 KiB). Peers may ask for
	// other sizes; the codec does not enforce it.
	BlockSize = 16384
	// DefaultMaxMessageLen is the largest length prefix (id byte plus body,
	// the 4 prefix bytes excluded) a Decoder accepts when its MaxLen is 0.
	//
	// 2 MiB holds a bitfield for a torrent of 16 million pieces (a 1M-piece
	// torrent needs 125 KB) and a piece message for any block a client
	// would ask for (the standard block is 16 KiB), and it bounds the buffer
	// a peer can make us hold for one frame. It is meant to equal
	// libtorrent's default max_peer_recv_buffer_size (not yet checked
	// against the interop suite), so a frame we refuse is one libtorrent
	// would refuse too.
	DefaultMaxMessageLen = 2 << 20
	// PieceHeaderLen is the size of a piece message up to its block: what
	// AppendPieceHeader writes and PeekPiece needs.
	PieceHeaderLen = headerLen + 4 + 4
	// ExtendedHeaderLen is the size of an extended message up to its
	// payload: what AppendExtendedHeader writes.
	ExtendedHeaderLen = headerLen + 1
)

// Frame layout sizes, named so the arithmetic below reads as the protocol.
const (
	lenPrefix    = 4             // the big-endian length prefix
	headerLen    = lenPrefix + 1 // prefix plus id byte
	requestLen   = 1 + 4 + 4 + 4 // length prefix value of request/cancel/reject
	indexMsgLen  = 1 + 4         // have, suggest, allowed fast
	portMsgLen   = 1 + 2         // port
	simpleMsgLen = 1             // id only
	pieceMinLen  = 1 + 4 + 4     // piece with an empty block
	extMinLen    = 1 + 1         // extended with no payload
	// The length prefix is a uint32, which bounds what an encoder can
	// describe; larger arguments are a caller bug and panic.
	maxBlockLen   = 1<<32 - 1 - pieceMinLen // largest block a piece frame holds
	maxPayloadLen = 1<<32 - 1 - 1           // largest bitfield or unknown body
	maxExtPayload = 1<<32 - 1 - extMinLen   // largest extended payload
)

// MessageID is the id byte of a BEP 3 message.
type MessageID uint8

// Message ids from BEP 3 (0-9), BEP 6 (13-17) and BEP 10 (20).
const (
	Choke         MessageID = 0
	Unchoke       MessageID = 1
	Interested    MessageID = 2
	NotInterested MessageID = 3
	Have          MessageID = 4
	Bitfield      MessageID = 5
	Request       MessageID = 6
	Piece         MessageID = 7
	Cancel        MessageID = 8
	Port          MessageID = 9
	Suggest       MessageID = 13
	HaveAll       MessageID = 14
	HaveNone      MessageID = 15
	Reject        MessageID = 16
	AllowedFast   MessageID = 17
	Extended      MessageID = 20
)

var idNames = [...]string{
	Choke:         "choke",
	Unchoke:       "unchoke",
	Interested:    "interested",
	NotInterested: "not interested",
	Have:          "have",
	Bitfield:      "bitfield",
	Request:       "request",
	Piece:         "piece",
	Cancel:        "cancel",
	Port:          "port",
	Suggest:       "suggest",
	HaveAll:       "have all",
	HaveNone:      "have none",
	Reject:        "reject",
	AllowedFast:   "allowed fast",
	Extended:      "extended",
}

// String returns the message's name as BEP 3/6/10 spell it, or "message N"
// for an id this package does not know.
// Safe from any goroutine.
func (id MessageID) String() string {
	if int(id) < len(idNames) && idNames[id] != "" {
		return idNames[id]
	}
	return "message " + strconv.Itoa(int(id))
}

// Known reports whether the package decodes id's body into Message fields.
// Messages with other ids are still framed; their body is in Payload.
// Safe from any goroutine.
func (id MessageID) Known() bool {
	return int(id) < len(idNames) && idNames[id] != ""
}

// fixedLen returns the length prefix value a fixed-size message must have.
func fixedLen(id MessageID) (uint32, bool) {
	switch id {
	case Choke, Unchoke, Interested, NotInterested, HaveAll, HaveNone:
		return simpleMsgLen, true
	case Have, Suggest, AllowedFast:
		return indexMsgLen, true
	case Request, Cancel, Reject:
		return requestLen, true
	case Port:
		return portMsgLen, true
	}
	return 0, false
}

// minLen returns the smallest length prefix value a message with id may have.
func minLen(id MessageID) uint32 {
	if n, ok := fixedLen(id); ok {
		return n
	}
	switch id {
	case Piece:
		return pieceMinLen
	case Extended:
		return extMinLen
	}
	// Bitfield and unknown ids: the id byte alone. An empty bitfield is
	// well-formed here; whether it fits the torrent is the engine's call.
	return 1
}

// Message is one decoded message. Which fields are set depends on ID; the
// others are zero.
//
// Payload aliases the buffer passed to Decoder.Next: it is valid only while
// that buffer is, and must be copied if kept past the next read into it.
// Its capacity ends at the frame's end, so appending to it can never
// overwrite the next frame.
type Message struct {
	// KeepAlive is true for a zero-length frame; every other field is zero.
	KeepAlive bool
	ID        MessageID
	// Index is the piece index of have, request, piece, cancel, suggest,
	// reject and allowed fast.
	Index uint32
	// Begin is the byte offset within the piece of request, piece, cancel
	// and reject.
	Begin uint32
	// Length is the block length of request, cancel and reject.
	Length uint32
	// Port is the DHT port of a port message.
	Port uint16
	// ExtID is the extended message id of an extended message
	// (0 = the extension handshake).
	ExtID uint8
	// Payload is the bitfield bytes, a piece's block, an extended message's
	// payload (after the ExtID byte) or an unknown message's body (after
	// the id byte). Nil for the fixed-size messages.
	Payload []byte
}
