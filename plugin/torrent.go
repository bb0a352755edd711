package plugin

import (
	"errors"
	"net/netip"
)

// TorrentPlugin is attached to one torrent (libtorrent's torrent_plugin). It
// may be any value; the torrent type-asserts it once, when it is attached,
// against the optional hook interfaces below (NewConnectionHook,
// TorrentPiecePassHook, TorrentPieceFailedHook, TorrentTickHook,
// ResumeHook, PauseHook, FilesCheckedHook, StateHook, AddPeerHook,
// TorrentPieceLostHook) and
// builds one dispatch list per hook, so a hook nobody implements costs
// nothing.
//
// Threading: every hook runs on the loop that owns the torrent, in attach
// order (AddTorrentParams.Extensions first, then the session plugins'
// NewTorrent results in registration order, then AddExtension at run time).
type TorrentPlugin any

// NewConnectionHook is called for every connection of the torrent: outgoing
// ones before they connect, incoming ones once the info-hash of their
// handshake was read, and every existing one when the plugin is added at run
// time. A non-nil result is attached to the peer; peer chains follow the
// torrent chain's order.
type NewConnectionHook interface {
	NewConnection(pc PeerConn) PeerPlugin
}

// TorrentPiecePassHook is called when a piece passed its hash check: after
// the contributing peers' PeerPiecePassHook, after HAVE was queued to peers.
type TorrentPiecePassHook interface {
	OnPiecePass(piece int)
}

// TorrentPieceFailedHook is called when a downloaded piece failed its hash
// check, before the contributing peers' PeerPieceFailedHook and before the
// HashFailedAlert.
type TorrentPieceFailedHook interface {
	OnPieceFailed(piece int)
}

// TorrentTickHook is called once a second, before the torrent's peers tick,
// while the torrent wants ticks (libtorrent's want_tick): it has
// connections, payload is still moving, it is checking, or it is an
// unpaused torrent that is not complete. An idle seed or a paused torrent
// without connections does not tick.
type TorrentTickHook interface {
	Tick()
}

// PauseHook is called when the torrent is paused (by hand, by the
// session's queue or by a seed limit), after it is marked paused. True skips the remaining plugins and the standard pause work
// (disconnecting peers, the TorrentPausedAlert); the torrent still reports
// paused. Calling Pause or Resume from the hook recurses into the chain.
type PauseHook interface {
	OnPause() bool
}

// ResumeHook is PauseHook's counterpart for resume.
type ResumeHook interface {
	OnResume() bool
}

// FilesCheckedHook is called once the torrent can download: after its
// check completed (after TorrentCheckedAlert), at once in seed mode, and
// at once for a plugin added at run time to a checked torrent.
type FilesCheckedHook interface {
	OnFilesChecked()
}

// StateHook is called after every change of the torrent's state.
type StateHook interface {
	OnState(s TorrentState)
}

// TorrentPieceLostHook is called when a piece we had is lost (a piece seed
// mode trusted failed its hash, or its file was missing or short, when a
// peer first asked for it), after the piece was marked missing and before
// the torrent looks for it again.
// Plugins tell peers (lt_donthave) from here.
type TorrentPieceLostHook interface {
	OnPieceLost(piece int)
}

// PeerSource says where an address came from (libtorrent's
// peer_source_flags); a bit set because several sources may name one peer.
type PeerSource uint8

// Peer sources.
const (
	SourceTracker PeerSource = 1 << iota
	SourceDHT
	SourcePEX
	SourceLSD
	SourceResumeData
	SourceIncoming
	// SourceManual: added through the API (AddTorrentParams.Peers,
	// ConnectPeer) or by a plugin.
	SourceManual PeerSource = 0
)

// AddPeerFlags qualify an AddPeerHook call.
type AddPeerFlags uint8

// Add-peer flags, as libtorrent's torrent_plugin::first_time and filtered.
const (
	// AddPeerFirstTime: the address is new to the peer list.
	AddPeerFirstTime AddPeerFlags = 1 << iota
	// AddPeerFiltered: the address was refused (full peer list, invalid).
	AddPeerFiltered
)

// AddPeerHook is called each time an address is offered to the torrent's
// peer list, before any connection to it.
type AddPeerHook interface {
	OnAddPeer(addr netip.AddrPort, src PeerSource, flags AddPeerFlags)
}

// TorrentStatus is the part of a torrent's state a plugin may read.
type TorrentStatus struct {
	State         TorrentState // as in StateChangedAlert
	Paused        bool         // paused (by the application or the queue)
	Seeding       bool         // it has every piece
	Pieces        int          // pieces we have
	NumPieces     int          // pieces in the torrent; 0 before the metadata
	NumPeers      int          // connections past the handshake
	DownloadRate  int64        // payload bytes/s
	UploadRate    int64        // payload bytes/s
	TotalDownload int64        // payload bytes this session
	TotalUpload   int64        // payload bytes this session
}

// TorrentHandle is a plugin's view of its torrent. Methods are "loop only"
// (the loop owning the torrent: call them from a hook) unless they say
// "any goroutine". A handle to a removed torrent answers zero values and
// does nothing.
type TorrentHandle interface {
	// InfoHash returns the torrent's info-hash. Any goroutine.
	InfoHash() [20]byte
	// Name returns the torrent's name. Any goroutine.
	Name() string
	// Valid reports whether the torrent is still in the session. Loop only.
	Valid() bool
	// Status returns a snapshot. Loop only.
	Status() TorrentStatus
	// HavePiece reports whether the piece passed its hash check. Loop only.
	HavePiece(piece int) bool
	// Pause and Resume run the pause and resume paths, plugins included.
	// Loop only.
	Pause()
	Resume()
	// ConnectPeer adds addr to the peer list (source SourceManual) and
	// connects when there is room. Loop only.
	ConnectPeer(addr netip.AddrPort)
	// Peers returns handles to every connection. Loop only.
	Peers() []PeerConn
	// AddExtension attaches a torrent plugin at run time: ctor is called
	// with this handle and userData; a nil result attaches nothing.
	// OnFilesChecked runs at once if the torrent is checked, and
	// NewConnection for every existing connection. Loop only.
	AddExtension(ctor func(TorrentHandle, any) TorrentPlugin, userData any)
	// PostAlert queues a (custom) alert. Any goroutine.
	PostAlert(a Alert)
	// UserData returns AddTorrentParams.UserData. Loop only.
	UserData() any
	// Post runs fn on the torrent's loop: the safe way for another
	// goroutine to reach a plugin. Any goroutine; fn runs later, in order
	// with other posts, and is dropped if the session closed.
	Post(fn func())
	// InLoop reports whether the caller runs on the torrent's loop. Any
	// goroutine.
	InLoop() bool

	// --- Block reads and bans (smart_ban; see ban.go) ---

	// ReadBlock reads length bytes at begin in piece from the torrent's
	// storage through the disk workers and calls fn on the torrent's loop
	// with them, later (never from inside ReadBlock). b is valid during the
	// call only (a pooled span). A range outside the piece, or a length
	// above MaxReadBlock, is answered with ErrBlockRange; a removed
	// torrent with ErrHandleClosed. Reading a piece the torrent does not
	// have returns whatever the files hold. Loop only.
	ReadBlock(piece, begin, length int, fn func(b []byte, err error))
	// BanPeer bans addr from this torrent, as libtorrent bans by IP: every
	// connection from addr is closed with ErrPeerBanned, addr leaves the
	// peer list, and later incoming and outgoing connections from or to it
	// are refused. The first ban of an address posts one PeerBannedAlert;
	// banning it again does nothing. Loop only.
	BanPeer(addr netip.Addr)
	// IsBanned reports whether addr is banned from this torrent. Loop only.
	IsBanned(addr netip.Addr) bool

	// Metadata (BEP 9): for torrents added from a magnet URI or an
	// info-hash alone, and for ut_metadata serving.

	// HasMetadata reports whether the torrent has its info dictionary.
	// Loop only.
	HasMetadata() bool
	// InfoBytes returns the raw bencoded info dictionary (whose SHA-1 is
	// the v1 info-hash), nil before the metadata is known or when the
	// torrent was added from a parsed Info without its bytes. The slice is
	// the engine's copy: read only. Loop only.
	InfoBytes() []byte
	// Private reports whether the info dictionary says private (BEP 27);
	// false before the metadata is known. Loop only.
	Private() bool
	// SetMetadata gives a torrent without metadata its info dictionary.
	// It checks SHA-1(info) against the v1 info-hash (a truncated
	// SHA-256 for a v2-only magnet) and SHA-256 against the v2 one; on a
	// mismatch it posts MetadataFailedAlert and returns an error matching
	// ErrMismatchingInfoHash. A dictionary with the right hash that does
	// not parse fails the torrent (TorrentErrorAlert, paused). On success
	// it copies info, turns the torrent into a normal one on the same
	// loop (storage, check of existing files, picker, interest in the
	// connected peers, which are kept) and posts MetadataReceivedAlert.
	// ErrHaveMetadata if it already has metadata. Loop only.
	SetMetadata(info []byte) error

	// Peer list and privacy (peer exchange).

	// AddPeer offers addr to the peer list with source src (AddPeerHook
	// sees src); the torrent connects to it as to any other candidate.
	// Loop only.
	AddPeer(addr netip.AddrPort, src PeerSource)
}

// Errors of TorrentHandle.SetMetadata.
var (
	// ErrMismatchingInfoHash: the metadata does not hash to the info-hash
	// (libtorrent's errors::mismatching_info_hash).
	ErrMismatchingInfoHash = errors.New("plugin: metadata does not match the info-hash")
	// ErrHaveMetadata: the torrent already has its metadata.
	ErrHaveMetadata = errors.New("plugin: torrent already has metadata")
)

// SessionHandle is a session plugin's view of its session. Every method is
// safe from any goroutine.
type SessionHandle interface {
	// PostAlert queues a (custom) alert.
	PostAlert(a Alert)
	// PeerID returns the session's peer id.
	PeerID() [20]byte
	// ListenAddr returns where the session accepts peers (invalid if none).
	ListenAddr() netip.AddrPort
	// NumShards returns the number of loops.
	NumShards() int
}
