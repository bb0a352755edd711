// Package uploadonly is libtorrent's upload_only extension as a plugin
// written against the public plugin API only. We advertise "upload_only"
// in our extension handshake while we seed, and send the standalone
// upload_only extended message (one byte, 0 or 1) to peers that advertised
// m.upload_only when that changes mid-connection. A peer's flag, from
// either, goes to PeerConn.SetUploadOnly: the engine then drops the
// connection when we seed too (neither side wants anything), and is never
// interested in it unless it has pieces we want.
//
// The session registers it by default (Settings.DisableUploadOnly turns it
// off).
package uploadonly

import (
	"errors"
	"fmt"

	"github.com/shardtorrent/shardtorrent/ext/internal/peererr"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// Name is the extension's key in the handshake's m dictionary and its
// peer plugin's Type.
const Name = "upload_only"

// LocalID is the extended message id we advertise (libtorrent's, too).
const LocalID = 3

// ErrLength refuses an upload_only message whose payload is not one byte.
var ErrLength = errors.New("uploadonly: upload_only payload is not 1 byte")

// Error is the typed error of a refused upload_only message.
type Error struct {
	Kind   error // ErrLength
	Length int
}

// Error implements error.
func (e *Error) Error() string { return fmt.Sprintf("%v: %d bytes", e.Kind, e.Length) }

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
	return &torrent{th: th, seeding: th.Status().Seeding}
}

// torrent is the per-torrent part. Loop only.
type torrent struct {
	th      plugin.TorrentHandle
	seeding bool // what we last told peers
	buf     [7]byte
}

func (t *torrent) NewConnection(pc plugin.PeerConn) plugin.PeerPlugin {
	return &peer{t: t, pc: pc}
}

// OnState sends upload_only to the peers that speak it when our seeding
// state flips (finished downloading, or lost a piece).
func (t *torrent) OnState(plugin.TorrentState) {
	now := t.th.Status().Seeding
	if now == t.seeding {
		return
	}
	t.seeding = now
	var v byte
	if now {
		v = 1
	}
	for _, pc := range t.th.Peers() {
		pp, ok := pc.FindPlugin(Name).(*peer)
		if !ok || pp.remoteID == 0 || pc.InHandshake() || !pc.Valid() || pc.IsDisconnecting() {
			continue
		}
		pc.SendBuffer(wire.AppendExtended(t.buf[:0], pp.remoteID, []byte{v}))
	}
}

// peer is the per-connection part. Loop only.
type peer struct {
	t        *torrent
	pc       plugin.PeerConn
	remoteID uint8
}

func (p *peer) Type() string { return Name }

func (p *peer) AddHandshake(h *wire.ExtHandshake) {
	if h.M == nil {
		h.M = map[string]int{}
	}
	h.M[Name] = LocalID
	h.UploadOnly = p.t.th.Status().Seeding
}

func (p *peer) OnExtensionHandshake(h *wire.ExtHandshake) bool {
	if id, ok := h.M[Name]; ok && id > 0 && id < 256 {
		p.remoteID = uint8(id)
	} else if ok {
		p.remoteID = 0
	}
	p.pc.SetUploadOnly(h.UploadOnly)
	return true
}

func (p *peer) OnExtended(length int, msg int, body []byte) bool {
	if msg != LocalID {
		return false
	}
	if length != 1 {
		peererr.Disconnect(p.pc, &Error{Kind: ErrLength, Length: length})
		return true
	}
	if len(body) < length {
		return true
	}
	p.pc.SetUploadOnly(body[0] != 0)
	return true
}
