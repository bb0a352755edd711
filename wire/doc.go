// Package wire is the BitTorrent peer protocol as a codec over byte spans:
// the BEP 3 handshake and messages, the BEP 6 fast extension and the BEP 10
// extension protocol. It does no I/O and keeps no connection state; the
// engine reads bytes, hands them to a Decoder, and appends what it wants to
// send to its own buffers with the Append* functions.
//
// # Decoding
//
// Decoder.Next frames one message from the front of a caller-owned buffer.
// It is incremental: given part of a frame it consumes nothing and reports,
// through Decoder.Need, how many bytes the frame needs, so a reader can
// append more and call again. PeekPiece reads a piece message's header
// before its block arrives, so the block can be received straight into its
// storage span.
//
// A decoded Message's Payload aliases the buffer passed to Next. It is valid
// only while that buffer is: copy it, or keep the buffer's span referenced,
// before the bytes are overwritten or released.
//
// # Allocation
//
// Decoding and encoding messages allocate nothing: Next returns Message by
// value with Payload pointing into the input, and every Append* writes into
// dst, allocating only when dst lacks the capacity. The AllocsPerRun tests
// hold both to zero. Errors, handshakes' error paths and the BEP 10
// extension handshake (parsed from bencode into maps) may allocate; none of
// them is per-message.
//
// # Limits
//
// Every length a peer controls is checked before it is trusted. A length
// prefix above Decoder.MaxLen (DefaultMaxMessageLen, 2 MiB, when zero) is
// an ErrTooLong error as soon as its four bytes are seen, so a peer cannot
// make the engine buffer a frame it will refuse. A fixed-size message with
// the wrong length, or a variable one shorter than its header, is an
// ErrBadLength error as soon as its id byte is seen. An extension handshake
// above MaxExtHandshakeLen is refused before it is parsed. Malformed input
// is always a typed error (*MessageError, *HandshakeError,
// *ExtHandshakeError, matched with errors.Is against the ErrorKind values),
// never a panic. Unknown message ids are not errors: they are framed and
// returned for the engine or a plugin to judge.
//
// # Threading
//
// The functions are safe from any goroutine. A Decoder is owned by one
// connection and used from its loop only.
package wire
