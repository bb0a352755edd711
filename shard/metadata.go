package shard

// Torrents without metadata (BEP 9 magnet links). Such a torrent has a nil
// info, storage, picker and have-set: it connects, completes handshakes and
// extension handshakes, and remembers what its peers say they have, but
// requests nothing and serves nothing until SetMetadata gives it an info
// dictionary that matches its info-hash. Every path that indexes pieces
// checks t.info (or t.pk) first; the message handlers route through
// handleNoMeta.

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"fmt"
	"math/bits"

	"github.com/shardtorrent/shardtorrent/bitfield"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// maxPiecesNoMeta bounds the piece indexes a peer may announce before we
// know the piece count: 2^21 pieces is a 256 KiB bitfield, more than any
// info dictionary ut_metadata accepts (30 MiB of 20-byte hashes is 1.5M
// pieces) can describe.
const maxPiecesNoMeta = 1 << 21

// metaState is the torrent's metadata bookkeeping. Owned by the loop.
type metaState struct {
	name      string // the magnet's display name, until the info's is known
	infoBytes []byte // the raw info dictionary, nil if unknown; read only
}

// preMeta is what a peer announced before the torrent had metadata, kept
// as raw bits because the piece count is unknown. Invariant: bits is nil
// when haveAll is set; its length is at most maxPiecesNoMeta/8.
type preMeta struct {
	bits    []byte
	haveAll bool
}

func (pm *preMeta) set(i uint32) {
	byteIdx := int(i / 8)
	if byteIdx >= len(pm.bits) {
		pm.bits = append(pm.bits, make([]byte, byteIdx+1-len(pm.bits))...)
	}
	pm.bits[byteIdx] |= 0x80 >> (i % 8)
}

// Name returns the torrent's name: the info dictionary's, or before it is
// known the magnet's display name (possibly empty). Loop only.
func (t *Torrent) Name() string {
	if t.info != nil {
		return t.info.Name
	}
	return t.meta.name
}

// HasMetadata reports whether the torrent has its info dictionary. Loop only.
func (t *Torrent) HasMetadata() bool { return t.info != nil }

// numPiecesBound is the piece count, or the bound on piece indexes a peer
// may announce while it is unknown.
func (t *Torrent) numPiecesBound() int {
	if t.info == nil {
		return maxPiecesNoMeta
	}
	return t.info.NumPieces()
}

// statusNoMeta is Status for a torrent still waiting for its metadata.
func (t *Torrent) statusNoMeta() Status {
	st := Status{
		Name: t.Name(), InfoHash: t.ih, SavePath: t.savePath, State: t.state,
		Paused: t.paused, Err: t.err, DownloadRate: t.downRate, UploadRate: t.upRate,
		TotalDownload: t.totalDown, TotalUpload: t.totalUp, NumCandidates: len(t.cands),
	}
	for _, p := range t.peers {
		if p.active() {
			st.NumPeers++
		} else {
			st.NumConnecting++
		}
	}
	return st
}

// hasMetadataSignal reports the messages after which libtorrent assumes a
// peer has the metadata (it is downloading, or claims pieces).
func hasMetadataSignal(id wire.MessageID) bool {
	switch id {
	case wire.Interested, wire.Have, wire.HaveAll, wire.HaveNone, wire.Bitfield:
		return true
	}
	return false
}

// noteExtHandshakeMetadata applies BEP 9's hint: a peer that speaks
// ut_metadata but sends no metadata_size lacks the metadata itself.
func (p *peer) noteExtHandshakeMetadata(h *wire.ExtHandshake) {
	if h.M["ut_metadata"] > 0 && h.MetadataSize == 0 {
		p.noMetadata = true
	}
}

// handleNoMeta applies a message while the torrent has no metadata. It
// handles every standard message; the others (unknown ids) go through
// handle's default case, which asks the plugins.
func (p *peer) handleNoMeta(m *wire.Message) {
	if hasMetadataSignal(m.ID) {
		p.noMetadata = false
	}
	switch m.ID {
	case wire.Choke:
		p.peerChoking = true
	case wire.Unchoke:
		p.peerChoking = false
	case wire.Interested:
		p.peerInterested = true
	case wire.NotInterested:
		p.peerInterested = false
	case wire.Have:
		if m.Index >= maxPiecesNoMeta {
			p.protocolError(protoErr(ErrPieceIndex, "have for piece %d before metadata (bound %d)", m.Index, maxPiecesNoMeta))
			return
		}
		if !p.pre.haveAll {
			p.pre.set(m.Index)
		}
	case wire.Bitfield:
		// The decoder's MaxLen (numPiecesBound) already bounds the payload.
		p.pre = preMeta{bits: append(p.pre.bits[:0], m.Payload...)}
	case wire.HaveAll, wire.HaveNone:
		if !p.fast {
			p.protocolError(protoErr(ErrNeedFast, "%v without the fast extension", m.ID))
			return
		}
		p.pre = preMeta{haveAll: m.ID == wire.HaveAll}
	case wire.Request:
		// We have nothing to serve; a fast peer learns it at once.
		if p.fast {
			p.sendReject(m.Index, m.Begin, m.Length)
		}
	case wire.AllowedFast, wire.Reject:
		if !p.fast {
			p.protocolError(protoErr(ErrNeedFast, "%v without the fast extension", m.ID))
		}
		// Nothing was requested: nothing to apply.
	case wire.Piece, wire.Cancel, wire.Suggest, wire.Port:
		// We requested and queued nothing; a hint we cannot use yet.
	default:
		if !p.unknownHooks(len(m.Payload)+1, int(m.ID), m.Payload) && !p.closing {
			p.protocolError(protoErr(ErrUnknownMessage, "unknown message id %d", uint8(m.ID)))
		}
	}
}

// applyPre replays what the peer announced before the metadata, now that
// the piece count is known. A piece index past the end is a protocol
// error, as a HAVE out of range would have been.
func (p *peer) applyPre() {
	t := p.t
	np := t.info.NumPieces()
	pre := p.pre
	p.pre = preMeta{}
	switch {
	case pre.haveAll:
		bf := bitfield.New(np)
		bf.SetAll()
		p.setBitfield(bf, true)
	case pre.bits != nil:
		bf := bitfield.New(np)
		for i, b := range pre.bits {
			for b != 0 {
				k := bits.LeadingZeros8(b) // bit 0 is the most significant
				b &^= 0x80 >> k
				bit := i*8 + k
				if bit >= np {
					p.protocolError(protoErr(ErrPieceIndex, "announced piece %d of %d before metadata", bit, np))
					return
				}
				bf.Set(bit)
			}
		}
		p.setBitfield(bf, false)
	}
}

// matchesInfoHash checks info against the torrent's info-hashes, as
// libtorrent's torrent::set_metadata: SHA-1 against v1 (or a truncated
// SHA-256 when the magnet named only a v2 hash, whose Short is that
// truncation), SHA-256 against v2.
func (t *Torrent) matchesInfoHash(info []byte) bool {
	ok := false
	if t.ih.HasV1() {
		ok = metainfo.HashV1(sha1.Sum(info)) == t.ih.V1
	}
	if t.ih.HasV2() {
		s2 := sha256.Sum256(info)
		ok = metainfo.HashV2(s2) == t.ih.V2 && (!t.ih.HasV1() || ok)
	}
	return ok
}

// SetMetadata gives a torrent added without metadata its info dictionary:
// see plugin.TorrentHandle.SetMetadata. Loop only.
func (t *Torrent) SetMetadata(info []byte) error {
	if t.removed {
		return ErrUnknownTorrent
	}
	if t.info != nil {
		return plugin.ErrHaveMetadata
	}
	if !t.matchesInfoHash(info) {
		err := fmt.Errorf("%w (%d bytes)", plugin.ErrMismatchingInfoHash, len(info))
		t.s.post(&plugin.MetadataFailedAlert{TorrentAlert: t.alertBase(), Err: err})
		return err
	}
	parsed, err := metainfo.ParseInfo(info)
	if err == nil {
		err = t.initMetadata(parsed, bytes.Clone(info))
	}
	if err != nil {
		// The right hash but an unusable dictionary: no peer can give a
		// better one, so the torrent stops, as in libtorrent.
		t.fail(err)
		return err
	}
	t.applyPending() // priorities set before the metadata (priority.go)
	if t.th != nil {
		t.th.name.Store(parsed.Name)
	}
	t.s.post(&plugin.MetadataReceivedAlert{TorrentAlert: t.alertBase()})
	t.announceMetadata()
	np := parsed.NumPieces()
	t.startCheck()
	for _, p := range append([]*peer(nil), t.peers...) {
		if p.closed || p.closing {
			continue
		}
		p.dec.MaxLen = maxMessageLen(np)
		if p.active() {
			p.applyPre()
		}
	}
	return nil
}

// Torrent handle: metadata.

func (h *torrentHandle) HasMetadata() bool {
	t := h.live()
	return t != nil && t.info != nil
}

func (h *torrentHandle) InfoBytes() []byte {
	if t := h.live(); t != nil {
		return t.meta.infoBytes
	}
	return nil
}

func (h *torrentHandle) Private() bool {
	t := h.live()
	return t != nil && t.info != nil && t.info.Private
}

func (h *torrentHandle) SetMetadata(info []byte) error {
	t := h.live()
	if t == nil {
		return ErrUnknownTorrent
	}
	return t.SetMetadata(info)
}

// SendBufferSize implements plugin.PeerConn.
func (h *peerHandle) SendBufferSize() int {
	p := h.live()
	if p == nil || p.c == nil {
		return 0
	}
	if b, ok := p.c.(interface{ Buffered() int }); ok {
		return b.Buffered()
	}
	return 0
}
