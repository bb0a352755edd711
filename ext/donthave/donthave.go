// Package donthave is lt_donthave (BEP 54) as a plugin written against the
// public plugin API only: it advertises the message in the extension
// handshake, applies a peer's "I no longer have piece i" through
// PeerConn.IncomingDontHave, and tells every peer that advertised it when
// our torrent loses a piece (TorrentPieceLostHook).
//
// The session registers it by default (Settings.DisableDontHave turns it
// off).
package donthave

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/shardtorrent/shardtorrent/ext/internal/peererr"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// Name is the extension's key in the handshake's m dictionary and its
// peer plugin's Type.
const Name = "lt_donthave"

// LocalID is the extended message id we advertise (libtorrent's, too).
const LocalID = 7

// Errors a peer's lt_donthave message is refused with; each disconnects
// that peer. Match them with errors.Is on an *Error.
var (
	ErrLength = errors.New("donthave: lt_donthave payload is not 4 bytes")
	ErrPiece  = errors.New("donthave: lt_donthave piece index out of range")
)

// Error is the typed error of a refused lt_donthave message.
type Error struct {
	Kind   error // ErrLength or ErrPiece
	Length int   // the payload length
	Piece  int   // the piece index (ErrPiece)
}

// Error implements error.
func (e *Error) Error() string {
	if e.Kind == ErrPiece {
		return fmt.Sprintf("%v: %d", e.Kind, e.Piece)
	}
	return fmt.Sprintf("%v: %d bytes", e.Kind, e.Length)
}

// Unwrap returns Kind.
func (e *Error) Unwrap() error { return e.Kind }

// Plugin is the session plugin; it attaches a torrent plugin to every
// torrent. Stateless: safe to share between sessions.
type Plugin struct{}

// New returns the session plugin.
func New() *Plugin { return &Plugin{} }

// Features implements plugin.Plugin: no gated hooks.
func (*Plugin) Features() plugin.Feature { return 0 }

// NewTorrent implements plugin.TorrentCreator.
func (*Plugin) NewTorrent(th plugin.TorrentHandle, _ any) plugin.TorrentPlugin {
	return &torrent{th: th}
}

// torrent is the per-torrent part. Loop only.
type torrent struct {
	th  plugin.TorrentHandle
	buf [10]byte // one lt_donthave frame
}

func (t *torrent) NewConnection(pc plugin.PeerConn) plugin.PeerPlugin {
	return &peer{t: t, pc: pc}
}

// OnPieceLost tells every peer that understands lt_donthave.
func (t *torrent) OnPieceLost(piece int) {
	var payload [4]byte
	binary.BigEndian.PutUint32(payload[:], uint32(piece))
	for _, pc := range t.th.Peers() {
		pp, ok := pc.FindPlugin(Name).(*peer)
		if !ok || pp.remoteID == 0 || pc.InHandshake() {
			continue
		}
		pc.SendBuffer(wire.AppendExtended(t.buf[:0], pp.remoteID, payload[:]))
	}
}

// peer is the per-connection part. Loop only.
type peer struct {
	t        *torrent
	pc       plugin.PeerConn
	remoteID uint8 // the id the peer gave lt_donthave; 0: it does not speak it
}

func (p *peer) Type() string { return Name }

func (p *peer) AddHandshake(h *wire.ExtHandshake) {
	if h.M == nil {
		h.M = map[string]int{}
	}
	h.M[Name] = LocalID
}

func (p *peer) OnExtensionHandshake(h *wire.ExtHandshake) bool {
	if id, ok := h.M[Name]; ok && id > 0 && id < 256 {
		p.remoteID = uint8(id)
	} else if ok {
		p.remoteID = 0 // id 0 withdraws the extension (BEP 10)
	}
	return true
}

// OnExtended applies a complete lt_donthave message; a wrong length is
// refused at its first fragment, before the rest arrives.
func (p *peer) OnExtended(length int, msg int, body []byte) bool {
	if msg != LocalID {
		return false
	}
	if length != 4 {
		peererr.Disconnect(p.pc, &Error{Kind: ErrLength, Length: length})
		return true
	}
	if len(body) < length {
		return true
	}
	i := int(binary.BigEndian.Uint32(body))
	if !p.pc.IncomingDontHave(i) && p.pc.Valid() && !p.pc.IsDisconnecting() {
		peererr.Disconnect(p.pc, &Error{Kind: ErrPiece, Length: length, Piece: i})
	}
	return true
}
