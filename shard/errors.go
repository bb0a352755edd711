package shard

import (
	"errors"
	"fmt"
)

// DisconnectReason classifies why a peer connection ended; it maps to the
// reason in PeerDisconnectedAlert and decides whether plugins may veto it
// (CanDisconnect: policy reasons only, timeouts and redundant connections;
// see policyDisconnect).
type DisconnectReason uint8

// Disconnect reasons.
const (
	ReasonProtocol     DisconnectReason = iota + 1 // the peer broke the protocol
	ReasonClosedByPeer                             // EOF or reset
	ReasonTimeout                                  // handshake, inactivity
	ReasonRedundant                                // both sides are seeds
	ReasonSelf                                     // we connected to ourselves
	ReasonDuplicate                                // already connected to that peer id
	ReasonLimit                                    // connection limit
	ReasonTorrentStop                              // torrent paused or removed
	ReasonShutdown                                 // session closing
	ReasonIO                                       // socket error
	ReasonPlugin                                   // a plugin called Disconnect
	ReasonBanned                                   // the address was banned (TorrentHandle.BanPeer)
)

var reasonNames = [...]string{
	ReasonProtocol:     "protocol error",
	ReasonClosedByPeer: "closed by peer",
	ReasonTimeout:      "timeout",
	ReasonRedundant:    "redundant connection (both seeds)",
	ReasonSelf:         "connected to self",
	ReasonDuplicate:    "duplicate peer id",
	ReasonLimit:        "connection limit",
	ReasonTorrentStop:  "torrent stopped",
	ReasonShutdown:     "session shutting down",
	ReasonIO:           "socket error",
	ReasonPlugin:       "disconnected by a plugin",
	ReasonBanned:       "peer banned",
}

func (r DisconnectReason) String() string {
	if int(r) < len(reasonNames) && reasonNames[r] != "" {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// DisconnectError is the error carried by a PeerDisconnectedAlert.
type DisconnectError struct {
	Reason DisconnectReason
	Err    error
}

func (e *DisconnectError) Error() string {
	if e.Err == nil {
		return e.Reason.String()
	}
	return e.Reason.String() + ": " + e.Err.Error()
}

func (e *DisconnectError) Unwrap() error { return e.Err }

// ProtocolErrorKind classifies a peer's violation of the BitTorrent
// protocol. The kinds implement error, so they are errors.Is targets for
// any *ProtocolError of that kind (as wire.ErrorKind for framing errors).
type ProtocolErrorKind uint8

// The protocol error kinds. Zero is unused, so a zero ProtocolError is
// recognisably not a real one.
const (
	// ErrPieceIndex: a have, suggest or bitfield names a piece the
	// torrent does not have (or, before the metadata, beyond the bound we
	// accept).
	ErrPieceIndex ProtocolErrorKind = iota + 1
	// ErrNeedFast: a message of the fast extension (BEP 6) from a peer
	// that did not negotiate it.
	ErrNeedFast
	// ErrNeedExtended: an extended message (BEP 10) from a peer that did
	// not negotiate the extension protocol.
	ErrNeedExtended
	// ErrUnclaimedExtension: an extended message id, or an unknown
	// message id, that no plugin claims.
	ErrUnclaimedExtension
	// ErrUnknownMessage: a message id the protocol does not define.
	ErrUnknownMessage
	// ErrBlockRange: a piece or request whose begin and length fall
	// outside the piece.
	ErrBlockRange
	// ErrWrongInfoHash: a handshake for another torrent than the one the
	// connection is for.
	ErrWrongInfoHash
)

var protocolKindNames = [...]string{
	ErrPieceIndex:         "piece index out of range",
	ErrNeedFast:           "fast extension message without the fast extension",
	ErrNeedExtended:       "extended message without the extension protocol",
	ErrUnclaimedExtension: "message not claimed by any plugin",
	ErrUnknownMessage:     "unknown message id",
	ErrBlockRange:         "block out of range",
	ErrWrongInfoHash:      "handshake for another info-hash",
}

// String returns a short description of the kind. Safe from any goroutine.
func (k ProtocolErrorKind) String() string {
	if int(k) < len(protocolKindNames) && protocolKindNames[k] != "" {
		return protocolKindNames[k]
	}
	return fmt.Sprintf("protocol error kind %d", uint8(k))
}

// Error makes a kind usable as an errors.Is target. Safe from any
// goroutine.
func (k ProtocolErrorKind) Error() string { return "shard: protocol error: " + k.String() }

// ProtocolError is a peer's violation of the BitTorrent protocol that is not
// a framing error (framing errors come from package wire as
// *wire.MessageError). Match a kind with errors.Is(err, shard.ErrBlockRange),
// any of them with errors.As(err, new(*shard.ProtocolError)).
type ProtocolError struct {
	Kind ProtocolErrorKind
	// What is the detail: the message, the index, the bound.
	What string
}

func (e *ProtocolError) Error() string { return "shard: protocol error: " + e.What }

// Is makes errors.Is(err, kind) true for the error's Kind.
func (e *ProtocolError) Is(target error) bool {
	k, ok := target.(ProtocolErrorKind)
	return ok && k == e.Kind
}

// protoErr builds a *ProtocolError of kind k. It formats, so it runs only
// on the path that disconnects a peer, never per block.
func protoErr(k ProtocolErrorKind, format string, args ...any) error {
	return &ProtocolError{Kind: k, What: fmt.Sprintf(format, args...)}
}

// Errors returned to callers of the shard.
var (
	ErrUnknownTorrent = errors.New("shard: unknown info-hash")
	ErrDuplicate      = errors.New("shard: torrent already added")
	// ErrTimeout is wrapped by every timeout that disconnects a peer
	// (handshake, inactivity): errors.Is(err, ErrTimeout) matches them.
	ErrTimeout = errors.New("shard: timed out")
	// ErrConnLimit refuses an incoming connection to a torrent or shard
	// at its connection limit.
	ErrConnLimit = errors.New("shard: connection limit reached")
)
