package wire

// Every error this package returns on input a peer controls is one of the
// three pointer types below, and each carries an ErrorKind. ErrorKind itself
// implements error, so the kinds double as sentinels:
//
//	errors.Is(err, wire.ErrTooLong)   // match by kind
//	var me *wire.MessageError
//	errors.As(err, &me)               // get the details (message id, length)
//
// The kinds are stable values the engine maps onto disconnect reasons and
// alerts; the error structs say which message and which limit.

import (
	"strconv"
)

// ErrorKind classifies a protocol error. The values implement error so they
// can be used as errors.Is targets; the concrete errors returned are
// *MessageError, *HandshakeError and *ExtHandshakeError, whose Is methods
// match their Kind.
type ErrorKind uint8

// The error kinds. Zero is deliberately unused so that a zero MessageError is
// recognisably not a real error.
const (
	// ErrTooLong: a length prefix above the decoder's limit, or an extension
	// handshake payload above MaxExtHandshakeLen. Reported as soon as the
	// length is known, before any of the body is buffered.
	ErrTooLong ErrorKind = iota + 1
	// ErrBadLength: a message whose length prefix is wrong for its id, such
	// as a have that is not 5 bytes or a piece shorter than its 9-byte header.
	ErrBadLength
	// ErrBadProtocol: a handshake whose pstrlen or pstr is not
	// "\x13BitTorrent protocol". On an incoming connection this is also what
	// an encrypted (MSE) stream looks like.
	ErrBadProtocol
	// ErrShortHandshake: fewer bytes than the handshake needs were given to
	// ParseHandshake or ParseHandshakePrefix.
	ErrShortHandshake
	// ErrBadExtHandshake: a BEP 10 extension handshake that is not a bencoded
	// dictionary or holds an out-of-range value.
	ErrBadExtHandshake
)

var kindNames = [...]string{
	ErrTooLong:         "message too long",
	ErrBadLength:       "bad message length",
	ErrBadProtocol:     "bad handshake protocol",
	ErrShortHandshake:  "short handshake",
	ErrBadExtHandshake: "bad extension handshake",
}

// String returns a short lower-case description of the kind.
// Safe from any goroutine.
func (k ErrorKind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "error kind " + strconv.Itoa(int(k))
}

// Error makes a kind usable as an errors.Is target.
// Safe from any goroutine.
func (k ErrorKind) Error() string { return "wire: " + k.String() }

// MessageError is a framing error found by Decoder.Next: a length prefix
// above the limit (Kind ErrTooLong) or a length that does not fit the
// message id (Kind ErrBadLength).
type MessageError struct {
	Kind ErrorKind
	// ID is the message id. It is not known, and left zero, for ErrTooLong,
	// which is reported before the id byte is looked at.
	ID MessageID
	// Length is the frame's length prefix: the id byte plus the body.
	Length uint32
	// Limit is the maximum that Length exceeded (ErrTooLong only).
	Limit uint32
}

// Error describes the message and the rule it broke, e.g.
// "wire: request message of 12 bytes, want 13".
func (e *MessageError) Error() string {
	n := strconv.FormatUint(uint64(e.Length), 10)
	switch e.Kind {
	case ErrTooLong:
		return "wire: message of " + n + " bytes exceeds the limit of " + strconv.FormatUint(uint64(e.Limit), 10)
	case ErrBadLength:
		s := "wire: " + e.ID.String() + " message of " + n + " bytes, want "
		if want, ok := fixedLen(e.ID); ok {
			return s + strconv.Itoa(int(want))
		}
		return s + "at least " + strconv.Itoa(int(minLen(e.ID)))
	}
	return "wire: " + e.Kind.String() + " in " + e.ID.String() + " message of " + n + " bytes"
}

// Is reports whether target is e's Kind, so errors.Is(err, ErrTooLong) works.
func (e *MessageError) Is(target error) bool {
	k, ok := target.(ErrorKind)
	return ok && k == e.Kind
}

// HandshakeError is a malformed BEP 3 handshake: Kind is ErrBadProtocol or
// ErrShortHandshake.
type HandshakeError struct {
	Kind ErrorKind
	// Got is how many bytes were given (ErrShortHandshake) or the pstrlen
	// byte received (ErrBadProtocol).
	Got int
	// Want is how many bytes were needed (ErrShortHandshake) or 19
	// (ErrBadProtocol).
	Want int
	// Prefix holds the offending protocol bytes for ErrBadProtocol, at most
	// the 20 that a handshake's protocol header spans, so a log can show
	// what the peer actually sent (often an MSE key or an HTTP request).
	Prefix []byte
}

// Error describes the handshake problem.
func (e *HandshakeError) Error() string {
	switch e.Kind {
	case ErrShortHandshake:
		return "wire: handshake of " + strconv.Itoa(e.Got) + " bytes, want " + strconv.Itoa(e.Want)
	case ErrBadProtocol:
		if e.Got != len(Protocol) {
			return "wire: handshake protocol length " + strconv.Itoa(e.Got) + ", want " + strconv.Itoa(len(Protocol))
		}
		return "wire: handshake protocol " + strconv.Quote(string(e.Prefix)) + ", want " + strconv.Quote("\x13"+Protocol)
	}
	return "wire: handshake: " + e.Kind.String()
}

// Is reports whether target is e's Kind.
func (e *HandshakeError) Is(target error) bool {
	k, ok := target.(ErrorKind)
	return ok && k == e.Kind
}

// ExtHandshakeError is a BEP 10 extension handshake that could not be
// accepted. Its kind is ErrBadExtHandshake, or ErrTooLong for a payload above
// MaxExtHandshakeLen.
type ExtHandshakeError struct {
	Kind ErrorKind
	// Key is the dictionary key whose value was rejected, or "" when the
	// payload as a whole was (bad bencode, not a dictionary, too long).
	Key string
	// Reason says what was wrong, in a few words.
	Reason string
	// Err is the underlying bencode error, if any.
	Err error
}

// Error describes the rejected key or payload.
func (e *ExtHandshakeError) Error() string {
	s := "wire: extension handshake"
	if e.Key != "" {
		s += ": key " + strconv.Quote(e.Key)
	}
	s += ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is reports whether target is e's Kind. Every extension handshake error
// also matches ErrBadExtHandshake, so one errors.Is catches them all.
func (e *ExtHandshakeError) Is(target error) bool {
	k, ok := target.(ErrorKind)
	return ok && (k == e.Kind || k == ErrBadExtHandshake)
}

// Unwrap returns the underlying bencode error, if any.
func (e *ExtHandshakeError) Unwrap() error { return e.Err }
