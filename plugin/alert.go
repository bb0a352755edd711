package plugin

import (
	"fmt"
	"net/netip"
	"sync"

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
	TypePeerLog
	TypePeerBanned
)

// TorrentRef is the application's handle to a torrent, as alerts carry it
// (libtorrent's torrent_alert::handle). The session fills it with its own
// handle type (*shardtorrent.Torrent: use shardtorrent.TorrentOf or a type
// assertion); there is one handle per torrent, so handles compare equal
// with ==. Its methods are safe from any goroutine.
type TorrentRef interface {
	// InfoHash is the torrent's info-hash.
	InfoHash() metainfo.InfoHash
	// Name is the torrent's name (its metadata's, or the magnet's dn
	// until the metadata is known).
	Name() string
}

// TorrentAlert is embedded by every alert about a torrent.
type TorrentAlert struct {
	InfoHash metainfo.InfoHash // the torrent's info-hash
	Torrent  string            // the torrent's name when the alert was posted
	// Handle is the torrent's handle, set by the session when the alert
	// is posted: by the engine for its own alerts, and by the alert
	// queue, from InfoHash, for alerts a plugin posts without one. Nil
	// only for a torrent that was not in the session when its alert was
	// posted.
	Handle TorrentRef
}

// torrentAlert returns the TorrentAlert a (pointer to an) alert embeds;
// see TorrentAlertOf.
func (t *TorrentAlert) torrentAlert() *TorrentAlert { return t }

// TorrentAlertOf returns the TorrentAlert embedded in a, or nil if a is
// not about a torrent (or is not a pointer, as every built-in alert is).
// The result points into a: read it, never write it after a was posted.
// Safe from any goroutine.
func TorrentAlertOf(a Alert) *TorrentAlert {
	if x, ok := a.(interface{ torrentAlert() *TorrentAlert }); ok {
		return x.torrentAlert()
	}
	return nil
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
	Addr   netip.AddrPort // the peer's address
	PeerID [20]byte       // the peer's id, zero before its handshake
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
	From, To TorrentState // the state before and after
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
	Have, Total int // pieces found on disk, of the torrent's pieces
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
	Piece int // the piece's index
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
	Piece int // the piece's index
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
	Incoming bool // the peer connected to us
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
	Reason error // why: a *shard.DisconnectError with its reason and cause
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
	Err error // the violation: a *wire.MessageError, *shard.ProtocolError ...
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
	Addr   netip.AddrPort // the remote address
	Reason error          // why, e.g. shardtorrent.ErrUnknownInfoHash
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
	Addr string // the address as configured
	Err  error  // the listen error
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
	Err error // the error, as Status.Err
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

// PluginDisabledAlert: a plugin panicked in a hook and was removed from the
// peer, torrent or session it was attached to. The engine carries on.
type PluginDisabledAlert struct {
	// InfoHash and Addr say where the plugin was attached: both zero for a
	// session plugin, Addr zero for a torrent plugin.
	TorrentAlert
	Addr netip.AddrPort
	// Plugin is the plugin's Go type (and Type() for peer plugins).
	Plugin string
	// Hook is the method that panicked, e.g. "OnRequest".
	Hook string
	// Panic is the recovered value.
	Panic any
}

func (*PluginDisabledAlert) Type() AlertType    { return TypePluginDisabled }
func (*PluginDisabledAlert) Category() Category { return CategoryError }
func (*PluginDisabledAlert) Name() string       { return "plugin_disabled" }
func (a *PluginDisabledAlert) Message() string {
	where := "session"
	switch {
	case a.Addr.IsValid():
		where = fmt.Sprintf("%s peer %s", a.TorrentAlert.prefix(), a.Addr)
	case a.InfoHash != (metainfo.InfoHash{}) || a.Torrent != "":
		where = a.TorrentAlert.prefix()
	}
	return fmt.Sprintf("%s: plugin %s disabled: panic in %s: %v", where, a.Plugin, a.Hook, a.Panic)
}

// PeerLogAlert is a line written with PeerConn.PeerLog (CategoryPeerLog).
type PeerLogAlert struct {
	PeerAlert
	Direction uint8  // a LogDirection
	Event     string // the event's short name, as PeerLog was given it
	Text      string // the formatted line
}

func (*PeerLogAlert) Type() AlertType    { return TypePeerLog }
func (*PeerLogAlert) Category() Category { return CategoryPeerLog }
func (*PeerLogAlert) Name() string       { return "peer_log" }
func (a *PeerLogAlert) Message() string {
	return fmt.Sprintf("%s [%s] %s", a.prefix(), a.Event, a.Text)
}

// alertTypes is the static type table: category and name per type id, so
// that a filter can be decided without an instance.
var (
	alertTypesMu sync.RWMutex
	alertTypes   = map[AlertType]alertTypeInfo{}
)

type alertTypeInfo struct {
	cat  Category
	name string
}

func init() {
	for _, a := range []Alert{
		(*TorrentAddedAlert)(nil), (*TorrentRemovedAlert)(nil), (*StateChangedAlert)(nil),
		(*TorrentFinishedAlert)(nil), (*PieceFinishedAlert)(nil), (*HashFailedAlert)(nil),
		(*PeerConnectedAlert)(nil), (*PeerDisconnectedAlert)(nil), (*ListenSucceededAlert)(nil),
		(*ListenFailedAlert)(nil), (*TorrentErrorAlert)(nil), (*TorrentPausedAlert)(nil),
		(*TorrentResumedAlert)(nil), (*TorrentCheckedAlert)(nil), (*PeerErrorAlert)(nil),
		(*IncomingRefusedAlert)(nil), (*AlertsDroppedAlert)(nil), (*PluginDisabledAlert)(nil),
		(*PeerLogAlert)(nil),
	} {
		alertTypes[a.Type()] = alertTypeInfo{a.Category(), a.Name()}
	}
}

// RegisterAlertType records the static category and name of a custom alert
// type, so CategoryOfType answers without an instance. Ids below
// UserAlertID are reserved and panic, as does registering an id twice with
// a different category or name. Any goroutine; usually called from init.
func RegisterAlertType(t AlertType, c Category, name string) {
	if t < UserAlertID {
		panic(fmt.Sprintf("plugin: alert type %d is below UserAlertID", t))
	}
	alertTypesMu.Lock()
	defer alertTypesMu.Unlock()
	if old, ok := alertTypes[t]; ok && (old.cat != c || old.name != name) {
		panic(fmt.Sprintf("plugin: alert type %d registered twice (%s, %s)", t, old.name, name))
	}
	alertTypes[t] = alertTypeInfo{c, name}
}

// CategoryOfType returns the static category of an alert type id: built-in
// types and those registered with RegisterAlertType. Any goroutine.
func CategoryOfType(t AlertType) (Category, bool) {
	alertTypesMu.RLock()
	defer alertTypesMu.RUnlock()
	i, ok := alertTypes[t]
	return i.cat, ok
}

// CategoryOf returns T's static category from its zero value: for the usual
// pointer alert types (methods on *X that read no field) that is a nil
// pointer, so no alert is built. Any goroutine.
func CategoryOf[T Alert]() Category {
	var zero T
	return zero.Category()
}
