package shard

import (
	"errors"
	"fmt"
)

// DisconnectReason classifies why a peer connection ended; it maps to the
// reason in PeerDisconnectedAlert and decides whether plugins may veto
// (policy reasons only, once plugins land).
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

// ProtocolError is a peer's violation of the BitTorrent protocol that is not
// a framing error (framing errors come from package wire as *wire.MessageError).
type ProtocolError struct {
	What string
}

func (e *ProtocolError) Error() string { return "protocol: " + e.What }

func protoErr(format string, args ...any) error {
	return &ProtocolError{What: fmt.Sprintf(format, args...)}
}

// Errors returned to callers of the shard.
var (
	ErrUnknownTorrent = errors.New("shard: unknown info-hash")
	ErrDuplicate      = errors.New("shard: torrent already added")
	ErrTimeout        = errors.New("timed out")
	ErrConnLimit      = errors.New("connection limit reached")
)
