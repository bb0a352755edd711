package plugin

import (
	"fmt"
	"net/netip"

	"github.com/shardtorrent/shardtorrent/metainfo"
)

// AlertType identifies an alert's concrete type. Built-in alerts use ids
// below UserAlertID; plugins define their own at UserAlertID and above, as in
// libtorrent (user_alert_id = 10000).
type AlertType int

// UserAlertID is the first alert type id available to plugins.
const UserAlertID AlertType = 10000

// Category is a bit set of alert categories, used to filter what the session
// queues. A type's category is static: filtering never needs an instance.
type Category uint32

// Alert categories, mirroring libtorrent's alert_category_t where they apply.
const (
	CategoryError Category = 1 << iota
	CategoryPeer
	CategoryPortMapping
	CategoryStorage
	CategoryTracker
	CategoryConnect
	CategoryStatus
	CategoryIPBlock
	CategoryPerformance
	CategoryDHT
	CategoryStats
	CategorySessionLog
	CategoryTorrentLog
	CategoryPeerLog
	CategoryIncomingRequest
	CategoryDHTLog
	CategoryDHTOperation
	CategoryPortMappingLog
	CategoryPickerLog
	CategoryFileProgress
	CategoryPieceProgress
	CategoryUpload
	CategoryBlockProgress

	// CategoryAll selects every category.
	CategoryAll Category = ^Category(0)
	// CategoryDefault is what a session queues unless told otherwise.
	CategoryDefault = CategoryError | CategoryPeer | CategoryStorage | CategoryTracker |
		CategoryConnect | CategoryStatus | CategoryIPBlock | CategoryPerformance
)

// Alert is a notification from the session. Alerts are immutable once posted
// and safe to read from any goroutine.
type Alert interface {
	// Type is the alert's type id; unique per concrete type.
	Type() AlertType
	// Category is the static category of the alert's type.
	Category() Category
	// Name is a short, stable, snake_case name of the type.
	Name() string
	// Message is a human-readable description.
	Message() string
}

// Cast returns a as a T when its concrete type is exactly T, like
// libtorrent's alert_cast.
func Cast[T Alert](a Alert) (T, bool) {
	t, ok := a.(T)
	return t, ok
}

// Built-in alert type ids. They are stable: never renumber one.
const (
	TypeTorrentAdded AlertType = iota + 1
	TypeTorrentRemoved
	TypeStateChanged
	TypeTorrentFinished
	TypePieceFinished
	TypeHashFailed
	TypePeerConnected
	TypePeerDisconnected
	TypeListenSucceeded
	TypeListenFailed
	TypeTorrentError
	TypeTorrentPaused
	TypeTorrentResumed
	TypeTorrentChecked
	TypePeerError
	TypeIncomingRefused
	TypeAlertsDropped
	TypePluginDisabled
)

// TorrentAlert is embedded by every alert about a torrent.
type TorrentAlert struct {
	InfoHash metainfo.InfoHash
	Torrent  string // the torrent's name
}

func (t TorrentAlert) prefix() string {
	if t.Torrent != "" {
		return t.Torrent
	}
	return t.InfoHash.String()
}

// PeerAlert is embedded by every alert about one peer of a torrent.
type PeerAlert struct {
	TorrentAlert
	Addr   netip.AddrPort
	PeerID [20]byte
}

func (p PeerAlert) prefix() string {
	return fmt.Sprintf("%s peer %s", p.TorrentAlert.prefix(), p.Addr)
}

// TorrentState is the state of a torrent, as in libtorrent's torrent_status::state_t.
type TorrentState uint8

// Torrent states.
const (
	StateCheckingFiles TorrentState = iota + 1
	StateDownloadingMetadata
	StateDownloading
	StateFinished
	StateSeeding
	StateCheckingResume
)

func (s TorrentState) String() string {
	switch s {
	case StateCheckingFiles:
		return "checking_files"
	case StateDownloadingMetadata:
		return "downloading_metadata"
	case StateDownloading:
		return "downloading"
	case StateFinished:
		return "finished"
	case StateSeeding:
		return "seeding"
	case StateCheckingResume:
		return "checking_resume_data"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// TorrentAddedAlert: a torrent was added to the session.
type TorrentAddedAlert struct{ TorrentAlert }

func (*TorrentAddedAlert) Type() AlertType    { return TypeTorrentAdded }
func (*TorrentAddedAlert) Category() Category { return CategoryStatus }
func (*TorrentAddedAlert) Name() string       { return "torrent_added" }
func (a *TorrentAddedAlert) Message() string  { return a.prefix() + " added" }

// TorrentRemovedAlert: a torrent was removed from the session.
type TorrentRemovedAlert struct{ TorrentAlert }

func (*TorrentRemovedAlert) Type() AlertType    { return TypeTorrentRemoved }
func (*TorrentRemovedAlert) Category() Category { return CategoryStatus }
func (*TorrentRemovedAlert) Name() string       { return "torrent_removed" }
func (a *TorrentRemovedAlert) Message() string  { return a.prefix() + " removed" }

// StateChangedAlert: a torrent moved from one state to another.
type StateChangedAlert struct {
	TorrentAlert
	From, To TorrentState
}

func (*StateChangedAlert) Type() AlertType    { return TypeStateChanged }
func (*StateChangedAlert) Category() Category { return CategoryStatus }
func (*StateChangedAlert) Name() string       { return "state_changed" }
func (a *StateChangedAlert) Message() string {
	return fmt.Sprintf("%s state changed: %s -> %s", a.prefix(), a.From, a.To)
}

// TorrentFinishedAlert: every wanted piece is downloaded and verified.
type TorrentFinishedAlert struct{ TorrentAlert }

func (*TorrentFinishedAlert) Type() AlertType    { return TypeTorrentFinished }
func (*TorrentFinishedAlert) Category() Category { return CategoryStatus }
func (*TorrentFinishedAlert) Name() string       { return "torrent_finished" }
func (a *TorrentFinishedAlert) Message() string  { return a.prefix() + " finished downloading" }

// TorrentCheckedAlert: the torrent's existing data was checked.
type TorrentCheckedAlert struct {
	TorrentAlert
	Have, Total int
}

func (*TorrentCheckedAlert) Type() AlertType    { return TypeTorrentChecked }
func (*TorrentCheckedAlert) Category() Category { return CategoryStatus }
func (*TorrentCheckedAlert) Name() string       { return "torrent_checked" }
func (a *TorrentCheckedAlert) Message() string {
	return fmt.Sprintf("%s checked: %d of %d pieces on disk", a.prefix(), a.Have, a.Total)
}

// PieceFinishedAlert: a piece passed its hash check and was written.
type PieceFinishedAlert struct {
	TorrentAlert
	Piece int
}

func (*PieceFinishedAlert) Type() AlertType    { return TypePieceFinished }
func (*PieceFinishedAlert) Category() Category { return CategoryPieceProgress }
func (*PieceFinishedAlert) Name() string       { return "piece_finished" }
func (a *PieceFinishedAlert) Message() string {
	return fmt.Sprintf("%s piece %d finished", a.prefix(), a.Piece)
}

// HashFailedAlert: a downloaded piece failed its hash check.
type HashFailedAlert struct {
	TorrentAlert
	Piece int
}

func (*HashFailedAlert) Type() AlertType    { return TypeHashFailed }
func (*HashFailedAlert) Category() Category { return CategoryStatus }
func (*HashFailedAlert) Name() string       { return "hash_failed" }
func (a *HashFailedAlert) Message() string {
	return fmt.Sprintf("%s piece %d failed its hash check", a.prefix(), a.Piece)
}

// PeerConnectedAlert: a peer completed the BitTorrent handshake.
type PeerConnectedAlert struct {
	PeerAlert
	Incoming bool
}

func (*PeerConnectedAlert) Type() AlertType    { return TypePeerConnected }
func (*PeerConnectedAlert) Category() Category { return CategoryConnect }
func (*PeerConnectedAlert) Name() string       { return "peer_connected" }
func (a *PeerConnectedAlert) Message() string {
	dir := "outgoing"
	if a.Incoming {
		dir = "incoming"
	}
	return fmt.Sprintf("%s connected (%s)", a.prefix(), dir)
}

// PeerDisconnectedAlert: a peer connection closed, with the reason.
type PeerDisconnectedAlert struct {
	PeerAlert
	Reason error
}

func (*PeerDisconnectedAlert) Type() AlertType    { return TypePeerDisconnected }
func (*PeerDisconnectedAlert) Category() Category { return CategoryConnect }
func (*PeerDisconnectedAlert) Name() string       { return "peer_disconnected" }
func (a *PeerDisconnectedAlert) Message() string {
	return fmt.Sprintf("%s disconnected: %v", a.prefix(), a.Reason)
}

// PeerErrorAlert: a peer violated the protocol and was disconnected.
type PeerErrorAlert struct {
	PeerAlert
	Err error
}

func (*PeerErrorAlert) Type() AlertType    { return TypePeerError }
func (*PeerErrorAlert) Category() Category { return CategoryPeer | CategoryError }
func (*PeerErrorAlert) Name() string       { return "peer_error" }
func (a *PeerErrorAlert) Message() string {
	return fmt.Sprintf("%s protocol error: %v", a.prefix(), a.Err)
}

// IncomingRefusedAlert: an incoming connection was refused before it was
// attached to a torrent (unknown info-hash, bad handshake, limits).
type IncomingRefusedAlert struct {
	Addr   netip.AddrPort
	Reason error
}

func (*IncomingRefusedAlert) Type() AlertType    { return TypeIncomingRefused }
func (*IncomingRefusedAlert) Category() Category { return CategoryPeer }
func (*IncomingRefusedAlert) Name() string       { return "incoming_refused" }
func (a *IncomingRefusedAlert) Message() string {
	return fmt.Sprintf("incoming connection from %s refused: %v", a.Addr, a.Reason)
}

// ListenSucceededAlert: the session listens on Addr.
type ListenSucceededAlert struct{ Addr netip.AddrPort }

func (*ListenSucceededAlert) Type() AlertType    { return TypeListenSucceeded }
func (*ListenSucceededAlert) Category() Category { return CategoryStatus }
func (*ListenSucceededAlert) Name() string       { return "listen_succeeded" }
func (a *ListenSucceededAlert) Message() string  { return fmt.Sprintf("listening on %s", a.Addr) }

// ListenFailedAlert: the session could not listen on Addr.
type ListenFailedAlert struct {
	Addr string
	Err  error
}

func (*ListenFailedAlert) Type() AlertType    { return TypeListenFailed }
func (*ListenFailedAlert) Category() Category { return CategoryError | CategoryStatus }
func (*ListenFailedAlert) Name() string       { return "listen_failed" }
func (a *ListenFailedAlert) Message() string {
	return fmt.Sprintf("listening on %s failed: %v", a.Addr, a.Err)
}

// TorrentErrorAlert: a torrent hit an error it cannot continue past (disk
// full, unreadable files) and was paused.
type TorrentErrorAlert struct {
	TorrentAlert
	Err error
}

func (*TorrentErrorAlert) Type() AlertType    { return TypeTorrentError }
func (*TorrentErrorAlert) Category() Category { return CategoryError | CategoryStatus }
func (*TorrentErrorAlert) Name() string       { return "torrent_error" }
func (a *TorrentErrorAlert) Message() string {
	return fmt.Sprintf("%s error: %v", a.prefix(), a.Err)
}

// TorrentPausedAlert: a torrent was paused.
type TorrentPausedAlert struct{ TorrentAlert }

func (*TorrentPausedAlert) Type() AlertType    { return TypeTorrentPaused }
func (*TorrentPausedAlert) Category() Category { return CategoryStatus }
func (*TorrentPausedAlert) Name() string       { return "torrent_paused" }
func (a *TorrentPausedAlert) Message() string  { return a.prefix() + " paused" }

// TorrentResumedAlert: a torrent was resumed.
type TorrentResumedAlert struct{ TorrentAlert }

func (*TorrentResumedAlert) Type() AlertType    { return TypeTorrentResumed }
func (*TorrentResumedAlert) Category() Category { return CategoryStatus }
func (*TorrentResumedAlert) Name() string       { return "torrent_resumed" }
func (a *TorrentResumedAlert) Message() string  { return a.prefix() + " resumed" }

// AlertsDroppedAlert: the queue was full and alerts were dropped. Dropped
// counts drops per built-in type; DroppedUser counts plugin alerts by type id
// (libtorrent's fixed-size bitset cannot index user ids; see
// shared/reference/libtorrent-hooks.md §0.15).
type AlertsDroppedAlert struct {
	Dropped     map[AlertType]int
	DroppedUser map[AlertType]int
}

func (*AlertsDroppedAlert) Type() AlertType    { return TypeAlertsDropped }
func (*AlertsDroppedAlert) Category() Category { return CategoryError }
func (*AlertsDroppedAlert) Name() string       { return "alerts_dropped" }
func (a *AlertsDroppedAlert) Message() string {
	n := 0
	for _, c := range a.Dropped {
		n += c
	}
	for _, c := range a.DroppedUser {
		n += c
	}
	return fmt.Sprintf("%d alerts dropped (queue full)", n)
}
