package plugin

import (
	"errors"
	"net/netip"
	"time"

	"github.com/shardtorrent/shardtorrent/bitfield"
	"github.com/shardtorrent/shardtorrent/wire"
)

// PeerPlugin is attached to one connection (libtorrent's peer_plugin) by a
// torrent plugin's NewConnection. Type is required; every other hook is an
// optional one-method interface below, found by a type assertion once, when
// the plugin is attached. The connection keeps one dispatch list per hook,
// so a hook nobody implements costs nothing on the data path.
//
// Threading: every hook runs on the loop that owns the torrent, in chain
// order. Hooks returning bool follow libtorrent: for incoming messages true
// means "handled": the chain stops and the engine's own handling is skipped.
type PeerPlugin interface {
	// Type names the plugin (PeerConn.FindPlugin looks it up).
	Type() string
}

// Request is a block request: piece index, offset and length.
type Request struct {
	Piece  int // the piece's index
	Begin  int // the block's offset in the piece
	Length int // the block's length in bytes
}

// Handshake hooks.
type (
	// AddHandshakeHook adds keys to our BEP 10 handshake after the engine
	// filled its own: set h.M["name"] = id for the extended message id you
	// want to receive (ids are yours to choose, as in libtorrent, where
	// ut_pex is 1, upload_only 3 and lt_donthave 7) and raw bencoded
	// values in h.Extra.
	AddHandshakeHook interface{ AddHandshake(h *wire.ExtHandshake) }
	// HandshakeHook sees the 8 reserved bytes of the peer's BitTorrent
	// handshake once it was checked (duplicate and self connections are
	// already refused). False removes the plugin from this peer.
	HandshakeHook interface{ OnHandshake(reserved [8]byte) bool }
	// ExtensionHandshakeHook sees every BEP 10 handshake the peer sends,
	// before the engine reads it; h is valid during the call only. False
	// removes the plugin from this peer.
	ExtensionHandshakeHook interface {
		OnExtensionHandshake(h *wire.ExtHandshake) bool
	}
	// ConnectedHook is called when an outgoing connection is established.
	// Incoming connections never get it.
	ConnectedHook interface{ OnConnected() }
	// DisconnectHook is called once when the connection ends, with the
	// reason, before the PeerDisconnectedAlert.
	DisconnectHook interface{ OnDisconnect(err error) }
)

// Incoming message hooks: called once the whole message arrived, before the
// engine's validity checks. True = handled: the chain stops and the engine
// ignores the message.
type (
	ChokeHook         interface{ OnChoke() bool }
	UnchokeHook       interface{ OnUnchoke() bool }
	InterestedHook    interface{ OnInterested() bool }
	NotInterestedHook interface{ OnNotInterested() bool }
	HaveHook          interface{ OnHave(piece int) bool }
	DontHaveHook      interface{ OnDontHave(piece int) bool }
	// BitfieldHook: bf is valid during the call only.
	BitfieldHook interface {
		OnBitfield(bf *bitfield.Bitfield) bool
	}
	HaveAllHook     interface{ OnHaveAll() bool }
	HaveNoneHook    interface{ OnHaveNone() bool }
	AllowedFastHook interface{ OnAllowedFast(piece int) bool }
	RequestHook     interface{ OnRequest(r Request) bool }
	CancelHook      interface{ OnCancel(r Request) bool }
	RejectHook      interface{ OnReject(r Request) bool }
	SuggestHook     interface{ OnSuggest(piece int) bool }
	// PieceHook sees a received block before any check and before it is
	// stored; true swallows it (not stored, not counted, still requested).
	PieceHook interface{ OnPiece(r Request, b Block) bool }
	// ExtendedHook is called for every fragment of an extended message with
	// an id other than 0, as bytes arrive: body grows until len(body) ==
	// length (the payload size after the extended id byte), on the last
	// call. msg is the id as we advertised it. Return true for every
	// fragment of your own message; an extended message no plugin claims
	// disconnects the peer. body is valid during the call only.
	ExtendedHook interface {
		OnExtended(length int, msg int, body []byte) bool
	}
	// UnknownMessageHook is ExtendedHook for message ids the engine does not
	// know. As in libtorrent, length counts the id byte and body does not.
	UnknownMessageHook interface {
		OnUnknownMessage(length int, msg int, body []byte) bool
	}
)

// Outgoing notifications: called when the message is queued to the
// connection (not when it reaches the wire).
type (
	SentChokeHook         interface{ SentChoke() }
	SentUnchokeHook       interface{ SentUnchoke() }
	SentInterestedHook    interface{ SentInterested() }
	SentNotInterestedHook interface{ SentNotInterested() }
	SentHaveHook          interface{ SentHave(piece int) }
	SentHaveAllHook       interface{ SentHaveAll() }
	SentHaveNoneHook      interface{ SentHaveNone() }
	SentAllowFastHook     interface{ SentAllowFast(piece int) }
	SentSuggestHook       interface{ SentSuggest(piece int) }
	SentRequestHook       interface{ SentRequest(r Request) }
	SentCancelHook        interface{ SentCancel(r Request) }
	SentRejectHook        interface{ SentReject(r Request) }
	SentPieceHook         interface{ SentPiece(r Request) }
	// SentPayloadHook is told of payload bytes queued to the peer (a block
	// header is not payload).
	SentPayloadHook interface{ SentPayload(bytes int) }
)

// Other peer hooks.
type (
	// CanDisconnectHook is consulted before a policy disconnect (timeouts,
	// both sides seeding); any false keeps the peer. Protocol errors,
	// explicit Disconnect, pauses and shutdown never ask.
	CanDisconnectHook interface{ CanDisconnect(err error) bool }
	// PeerPiecePassHook and PeerPieceFailedHook are called on the peers
	// that sent blocks of a piece when it passes or fails its hash check.
	PeerPiecePassHook   interface{ OnPiecePass(piece int) }
	PeerPieceFailedHook interface{ OnPieceFailed(piece int) }
	// PeerTickHook is called once a second, before the peer's timeouts.
	PeerTickHook interface{ Tick() }
	// WriteRequestHook is asked before a request is written; true means
	// the plugin sent it its own way: the engine writes nothing (the block
	// stays requested from this peer) and the chain stops.
	WriteRequestHook interface{ WriteRequest(r Request) bool }
)

// ConnectionType is the kind of a connection.
type ConnectionType uint8

// Connection types.
const (
	ConnBitTorrent ConnectionType = iota
	ConnWebSeed
	ConnHTTPSeed
)

// Operation says what the engine was doing when a connection failed, as
// libtorrent's operation_t (the subset we use).
type Operation uint8

// Operations.
const (
	OpUnknown Operation = iota
	OpBitTorrent
	OpConnect
	OpSockRead
	OpSockWrite
	OpEncryption
	OpPlugin
)

// Severity is how bad a disconnect is, as libtorrent's disconnect_severity_t.
type Severity uint8

// Severities.
const (
	SeverityNormal Severity = iota
	SeverityFailure
	SeverityPeerError
)

// LogDirection is the direction of a peer log line.
type LogDirection uint8

// Log directions.
const (
	LogInfo LogDirection = iota
	LogIncoming
	LogOutgoing
	LogIncomingMessage
	LogOutgoingMessage
)

// PeerInfo is what PeerConn.PeerInfo reports.
type PeerInfo struct {
	Addr          netip.AddrPort // the peer's address
	PeerID        [20]byte       // zero before the handshake
	Client        string         // the client, from the peer id or the "v" key of BEP 10
	Outgoing      bool           // we connected to it
	Seed          bool           // it has every piece
	AmChoking     bool           // we choke it
	AmInterested  bool           // we are interested in it
	PeerChoking   bool           // it chokes us
	PeerInterest  bool           // it is interested in us
	DownloadRate  int64          // payload bytes/s from it
	UploadRate    int64          // payload bytes/s to it
	TotalDownload int64          // payload bytes from it
	TotalUpload   int64          // payload bytes to it
	Source        PeerSource     // where its address came from
	Outstanding   int            // our requests in flight to the peer
	QueueDepth    int            // the request pipeline we aim for with the peer
}

// ErrCryptoUnsupported is returned by SwitchSendCrypto and SwitchRecvCrypto
// when the connection cannot run crypto transforms (one that is not a
// loop connection, as in the engine's own tests).
var ErrCryptoUnsupported = errors.New("plugin: the connection cannot switch crypto")

// ErrHandleClosed is returned by PeerConn methods that return an error when
// the connection is gone.
var ErrHandleClosed = errors.New("plugin: connection is closed")

// PeerConn is a plugin's handle to one connection (libtorrent's
// bt_peer_connection_handle). Every method is loop only (the loop owning
// the torrent: call it from a hook, or from a function given to
// TorrentHandle.Post) unless it says otherwise.
//
// A handle outlives its connection safely: it carries a generation, and
// once the connection is gone every method answers zero values (false, 0,
// nil, an invalid address) or does nothing, and never panics.
type PeerConn interface {
	// ID identifies the connection; unique within the session, never
	// reused. Any goroutine. Equal IDs mean the same connection.
	ID() uint64
	// Less orders handles by ID. Any goroutine.
	Less(o PeerConn) bool
	// Valid reports whether the connection is still open.
	Valid() bool
	// Type is the kind of connection (ConnBitTorrent: the engine has no
	// web seeds).
	Type() ConnectionType
	// AddExtension attaches a peer plugin at the end of the chain.
	AddExtension(pp PeerPlugin)
	// FindPlugin returns the first attached plugin whose Type is typ.
	FindPlugin(typ string) PeerPlugin
	IsSeed() bool
	UploadOnly() bool
	HasPiece(piece int) bool
	PeerID() [20]byte
	// IsInteresting: we are interested in the peer.
	IsInteresting() bool
	// IsChoked: the peer chokes us.
	IsChoked() bool
	// HasPeerChoked: we choke the peer.
	HasPeerChoked() bool
	IsPeerInterested() bool
	ChokeThisPeer()
	MaybeUnchokeThisPeer()
	PeerInfo() PeerInfo
	// AssociatedTorrent returns the torrent's handle (nil before one is
	// attached).
	AssociatedTorrent() TorrentHandle
	LocalEndpoint() netip.AddrPort
	RemoteEndpoint() netip.AddrPort
	// IsConnecting: an outgoing connection not yet established.
	IsConnecting() bool
	IsOutgoing() bool
	// Disconnect closes the connection now; plugins are not asked
	// (CanDisconnect is for the engine's policy disconnects).
	Disconnect(err error, op Operation, sev Severity)
	IsDisconnecting() bool
	IgnoreUnchokeSlots() bool
	OnLocalNetwork() bool
	// Failed: the connection ended with an error.
	Failed() bool
	// PeerLog and ShouldLog write to the session's peer log alerts
	// (CategoryPeerLog).
	PeerLog(dir LogDirection, event, format string, args ...any)
	ShouldLog(dir LogDirection) bool
	// CanDisconnect asks the CanDisconnectHook chain.
	CanDisconnect(err error) bool
	// HasMetadata reports whether the peer has the torrent's metadata, as
	// far as we know (libtorrent's has_metadata): false once its extension
	// handshake advertised ut_metadata without metadata_size, true again
	// after it sends INTERESTED, HAVE, HAVE_ALL, HAVE_NONE or a bitfield.
	HasMetadata() bool
	// InHandshake: the BitTorrent handshake is not complete.
	InHandshake() bool
	// SendBuffer queues raw bytes to the peer (copied). Build BitTorrent
	// frames with package wire, e.g. wire.AppendExtended.
	SendBuffer(b []byte)
	TimeOfLastUnchoke() time.Time
	LastSeenComplete() time.Time

	// PacketFinished: the message being received is complete (inside
	// ExtendedHook and UnknownMessageHook; true elsewhere).
	PacketFinished() bool
	// SupportExtensions: both sides set the BEP 10 bit.
	SupportExtensions() bool
	// SupportsEncryption: the connection could be encrypted (MSE).
	SupportsEncryption() bool
	// SwitchSendCrypto and SwitchRecvCrypto make c transform the bytes
	// queued (received) after the call; nil turns crypto off.
	SwitchSendCrypto(c CryptoPlugin) error
	SwitchRecvCrypto(c CryptoPlugin) error

	// Metadata (BEP 9) support.

	// SendBufferSize returns the bytes queued to the peer and not yet
	// written to the socket (0 when gone), so a plugin can hold back bulk
	// data, as ut_metadata does above 160 KiB.
	SendBufferSize() int

	// Peer exchange, lt_donthave and upload_only.

	// ListenPort is where the peer accepts connections: the port we
	// dialled for an outgoing connection, else the "p" of its extension
	// handshake; 0 while unknown.
	ListenPort() uint16
	// Encrypted: a crypto plugin transforms the connection's stream.
	Encrypted() bool
	// IncomingDontHave applies "the peer no longer has piece" (BEP 54): it
	// runs the DontHaveHook chain and, unless a hook handled it, updates
	// the piece's availability and our interest. It reports false, doing
	// nothing, for a piece outside the torrent.
	IncomingDontHave(piece int) bool
	// SetUploadOnly records that the peer only uploads (its upload_only
	// flag), which UploadOnly then reports: a seed drops the connection,
	// since neither side wants anything from the other.
	SetUploadOnly(v bool)
}

// CryptoPlugin transforms a connection's byte stream (libtorrent's
// crypto_plugin). Called on the connection's loop only.
type CryptoPlugin interface {
	// SetOutgoingKey keys the direction Encrypt serves (the bytes we
	// send), before its first call.
	SetOutgoingKey(key []byte)
	// SetIncomingKey keys the direction Decrypt serves (the bytes we
	// receive), before its first call.
	SetIncomingKey(key []byte)
	// Encrypt rewrites vecs in place; they are the connection's queued
	// bytes, owned by the engine and valid during the call only.
	Encrypt(vecs [][]byte)
	// Decrypt rewrites vecs in place and reports how many bytes to drop
	// from the front (consume), how many plaintext bytes are ready
	// (produce) and the minimum bytes to collect before the next call
	// (packetSize, 0 = any).
	Decrypt(vecs [][]byte) (consume, produce, packetSize int)
}
