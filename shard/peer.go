package shard

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"time"

	"github.com/shardtorrent/shardtorrent/bitfield"
	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/loop"
	"github.com/shardtorrent/shardtorrent/picker"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/storage"
	"github.com/shardtorrent/shardtorrent/wire"
)

// Limits on what a peer may ask of us.
const (
	// maxRequestLen is the largest block a peer may request. BEP 3 clients
	// ask for 16 KiB; libtorrent refuses more than its block size too, but a
	// few clients ask for 32 KiB, so we allow some headroom.
	maxRequestLen = 128 << 10
	// initialQueueDepth is the request pipeline before a rate is measured.
	initialQueueDepth = 64
	// minQueueDepth is the smallest pipeline once a rate is measured.
	minQueueDepth = 16
)

type stage uint8

const (
	stHandshake stage = iota // waiting for the peer's 68-byte handshake
	stActive                 // handshake done
)

type request struct {
	piece, begin, length uint32
}

// peer is one connection's protocol state. It implements loop.Handler.
// Owned by the torrent's shard loop.
type peer struct {
	t        *Torrent
	c        conn
	pid      picker.Peer
	cand     *candidate // for outgoing connections
	addr     netip.AddrPort
	outgoing bool

	stage         stage
	sentHandshake bool
	closed        bool // OnClose ran (or the conn never opened)
	closing       bool // disconnect requested
	discErr       *DisconnectError

	peerID   [20]byte
	client   string
	reserved wire.Reserved
	fast     bool // both sides support BEP 6
	extended bool // both sides support BEP 10
	reqq     int  // the peer's advertised request queue limit

	bf          *bitfield.Bitfield
	seedCounted bool               // counted with picker.AddSeed (have all) rather than its bitfield
	allowedFast []uint32           // pieces the peer lets us request while it chokes us
	allowedOut  []uint32           // pieces we let it request while we choke it (BEP 6)
	afBits      *bitfield.Bitfield // scratch: allowedFast ∩ what the peer has
	afDirty     bool

	// Rate limits (ratelimit.go): local is the peer's class (exempt unless
	// LimitLocal); rlWaitUp/rlWaitDown: in the shard's wait lists.
	local, rlWaitUp, rlWaitDown bool

	amChoking, amInterested     bool
	peerChoking, peerInterested bool

	// download side: our requests in flight, oldest first
	outstanding []picker.Block
	queueDepth  int
	wantFill    bool

	// upload side: the peer's requests waiting for a disk read
	upQ           []request
	upHead        int
	readsInFlight int

	// recvSwitched: SwitchRecvCrypto ran during the current message's hooks.
	recvSwitched bool
	// mse is the MSE handshake state until the cipher is in place (see
	// encryption.go); nil for plaintext connections and afterwards.
	mse *peerMSE

	dec     wire.Decoder
	scratch [32]byte

	connectedAt    time.Time
	lastRecv       time.Time
	lastSend       time.Time
	lastPiece      time.Time
	unchokedAt     time.Time
	lastOptimistic time.Time

	totalDown, totalUp int64
	secDown, secUp     int64
	downRate, upRate   int64
	upSinceUnchoke     int64

	// Plugins. hx is nil while no peer plugin is attached, so the data
	// path pays one nil check.
	hx               *peerHooks
	id               uint64      // session-unique, never reused (see peerHandle)
	ph               *peerHandle // created on first use
	source           plugin.PeerSource
	discNotified     bool // OnDisconnect ran
	fragBody         int  // body bytes of the pending frame already shown to OnExtended/OnUnknownMessage
	inFragment       bool // inside a fragment dispatch (PacketFinished is false)
	uploadOnly       bool // a plugin said the peer only uploads (SetUploadOnly)
	listenPort       uint16
	encrypted        bool // a send or receive cipher is on
	opened           bool // OnOpen ran: the connection is up (counters.go's connecting gauge)
	mseRC4           bool // an MSE handshake put RC4 on the connection (counters.go)
	lastSeenComplete time.Time

	// Metadata (metadata.go).
	pre        preMeta // what it has, while the torrent has no metadata
	noMetadata bool    // the peer said it lacks the metadata (see PeerConn.HasMetadata)
}

func (p *peer) active() bool { return p.stage == stActive && !p.closed && !p.closing }

func (p *peer) peerSeed() bool {
	return p.seedCounted || (p.bf != nil && p.bf.Len() > 0 && p.bf.All())
}

func (p *peer) now() time.Time { return p.t.s.now() }

// choker.Peer

func (p *peer) Interested() bool            { return p.peerInterested }
func (p *peer) Choked() bool                { return p.amChoking }
func (p *peer) DownloadRate() int64         { return p.downRate }
func (p *peer) UploadRate() int64           { return p.upRate }
func (p *peer) UploadedSinceUnchoke() int64 { return p.upSinceUnchoke }
func (p *peer) UnchokedAt() time.Time       { return p.unchokedAt }
func (p *peer) LastOptimistic() time.Time   { return p.lastOptimistic }
func (p *peer) IgnoreSlots() bool           { return false }

// loop.Handler

// conn is what a peer needs of its connection. *loop.Conn implements it;
// tests drive peers through a fake that records what was written, so the
// protocol logic runs without sockets.
type conn interface {
	Write(b []byte)
	WriteSpan(s *bufpool.Span, b []byte)
	WriteFile(fd int, off int64, n int, ref loop.FileRef) bool
	CanWriteFile() bool
	Writable() bool
	Close(err error)
	RxSpan() *bufpool.Span
	Reserve(n int)
	SetReadPaused(p bool)
}

// OnOpen implements loop.Handler.
func (p *peer) OnOpen(c *loop.Conn) { p.open(c) }

// OnData implements loop.Handler.
func (p *peer) OnData(c *loop.Conn, data []byte) int { return p.data(data) }

// OnWritable implements loop.Handler: the send queue drained.
func (p *peer) OnWritable(c *loop.Conn) { p.writable() }

// OnClose implements loop.Handler.
func (p *peer) OnClose(c *loop.Conn, err error) { p.closedWith(err) }

// open: the connection is up (dialled, or adopted after an accept). Both
// sides send their handshake at once: the info-hash is known either way.
func (p *peer) open(c conn) {
	p.c = c
	p.opened = true
	p.connectedAt = p.now()
	if hx := p.hx; hx != nil && p.outgoing && len(hx.onConnected) > 0 {
		each(p, hx.onConnected, "OnConnected", func(h plugin.ConnectedHook) { h.OnConnected() })
		if p.closing {
			return
		}
	}
	if p.encOpen() {
		return
	}
	p.sendHandshake()
}

func (p *peer) sendHandshake() {
	if p.sentHandshake {
		return
	}
	p.sentHandshake = true
	var buf [wire.HandshakeLen]byte
	p.write(p.appendHandshake(buf[:0]))
}

// appendHandshake appends our 68-byte handshake to b.
func (p *peer) appendHandshake(b []byte) []byte {
	hs := wire.Handshake{InfoHash: p.t.wireIH, PeerID: p.t.s.peerID}
	hs.Reserved.SetExtended()
	hs.Reserved.SetFast()
	return wire.AppendHandshake(b, &hs)
}

func (p *peer) write(b []byte) {
	p.c.Write(b)
	p.t.s.met.V[MetricProtocolSentBytes] += uint64(len(b))
	p.lastSend = p.now()
}

// data consumes complete frames from data and returns how many bytes it used.
func (p *peer) data(data []byte) int {
	if p.closing || p.closed {
		return len(data)
	}
	p.lastRecv = p.now()
	n := 0
	if p.mse != nil && p.mse.init != nil {
		k, stop := p.encData(data)
		p.t.s.met.V[MetricProtocolReceivedBytes] += uint64(k)
		if stop || p.closing {
			return k
		}
		// MethodPlaintext: the peer's handshake follows in the clear.
		return k + p.data(data[k:])
	}
	if p.stage == stHandshake {
		if len(data) < wire.HandshakeLen {
			return 0
		}
		p.t.s.met.V[MetricProtocolReceivedBytes] += uint64(wire.HandshakeLen)
		if err := p.onHandshake(data[:wire.HandshakeLen]); err != nil {
			return len(data)
		}
		n = wire.HandshakeLen
	}
	for !p.closing {
		m, k, err := p.dec.Next(data[n:])
		if err != nil {
			p.protocolError(err)
			return len(data)
		}
		if k == 0 {
			if total, ok := wire.FrameLen(data[n:]); ok && total > len(data)-n {
				p.c.Reserve(total)
			}
			if !p.fragment(data[n:]) {
				p.protocolError(protoErr(ErrUnclaimedExtension, "extended or unknown message %d not claimed by any plugin", data[n+4]))
				return len(data)
			}
			break
		}
		p.fragBody = -1
		// Every frame's bytes are protocol bytes but a piece's payload,
		// which onPiece counts as payload (or, out of range, as protocol).
		pay := 0
		if m.ID == wire.Piece && !m.KeepAlive {
			pay = len(m.Payload)
		}
		p.t.s.met.V[MetricProtocolReceivedBytes] += uint64(k - pay)
		p.handle(&m)
		n += k
		if p.recvSwitched {
			// A plugin switched the receive cipher in this message's hook:
			// the bytes after it are ciphertext for the new cipher. Stop
			// here; the loop decrypts them and presents them again.
			p.recvSwitched = false
			break
		}
		if p.rlWaitDown {
			// Out of download quota (ratelimit.go): reads are paused, and
			// the rest stays in the conn's buffer until rateWake resumes
			// them and the loop presents it again. Taking it now would
			// let a limited peer have a whole socket buffer at once
			// (about 240 KiB on loopback, 2.4 s at 100 kB/s) and the
			// rate come in lumps of that size.
			break
		}
	}
	if p.closing {
		return len(data)
	}
	if p.wantFill {
		p.wantFill = false
		p.fillRequests()
	}
	if p.upHead < len(p.upQ) {
		p.serve()
	}
	return n
}

func (p *peer) writable() {
	if p.active() {
		p.serve()
	}
}

// closedWith: the connection is gone, for whatever reason. Runs once.
func (p *peer) closedWith(err error) {
	if p.closed {
		return
	}
	t := p.t
	wasActive := p.stage == stActive
	encRetry := p.encClosed(err)
	de := p.discErr
	if de == nil {
		switch {
		case errors.Is(err, io.EOF):
			de = &DisconnectError{Reason: ReasonClosedByPeer}
		default:
			de = &DisconnectError{Reason: ReasonIO, Err: err}
		}
		p.discErr = de
	}
	p.notifyDisconnect(de)
	p.closed = true
	if fse := (*loop.FileShortError)(nil); errors.As(err, &fse) {
		// A file shrank under a block queued with WriteFile (truncated
		// after CachedFileRange's probe): a disk error of the torrent, the
		// same FileError a short read gives on the worker path
		// (diskerror.go), so the alerts and Resume's re-check follow.
		ferr := err
		if fs, ok := t.st.(*storage.FileStorage); ok {
			ferr = fs.ShortSendError(fse.Ref, err)
		}
		defer t.fail(ferr)
	}
	if int(de.Reason) < NumDisconnectReasons {
		t.s.met.Disconnects[de.Reason]++
	}
	if len(p.outstanding) > 0 {
		for _, b := range p.outstanding {
			t.pk.Abort(b, p.pid)
		}
		p.outstanding = p.outstanding[:0]
	}
	if t.pk != nil {
		t.pk.SetParole(p.pid, false)
	}
	if p.seedCounted {
		t.pk.RemoveSeed()
	} else if p.bf != nil {
		t.pk.RemovePeerBitfield(p.bf)
	}
	p.upQ, p.upHead = nil, 0
	t.forgetPeer(p)
	t.s.conns.Add(-1)
	if p.cand != nil {
		t.candidateClosed(p, wasActive, de)
	}
	if encRetry {
		p.encRetry()
	}
	if wasActive {
		t.s.post(&plugin.PeerDisconnectedAlert{PeerAlert: p.alertBase(), Reason: de})
		if !p.amChoking && !t.removed && !t.paused {
			// Its slot is free: give it to a waiting peer.
			for _, q := range t.peers {
				if q.active() && q.amChoking && q.peerInterested {
					t.maybeUnchoke(q)
					break
				}
			}
		}
		t.requestFromAll()
	}
}

func (p *peer) alertBase() plugin.PeerAlert {
	return plugin.PeerAlert{TorrentAlert: p.t.alertBase(), Addr: p.addr, PeerID: p.peerID}
}

// disconnect closes the connection with a reason. Safe to call from any of
// the peer's callbacks; OnClose does the bookkeeping.
func (p *peer) disconnect(r DisconnectReason, err error) {
	if p.closing || p.closed {
		return
	}
	p.closing = true
	p.discErr = &DisconnectError{Reason: r, Err: err}
	p.notifyDisconnect(p.discErr)
	if p.c != nil {
		p.c.Close(p.discErr)
		return
	}
	p.closedWith(p.discErr)
}

func (p *peer) protocolError(err error) {
	if p.active() || p.stage == stHandshake {
		p.t.s.post(&plugin.PeerErrorAlert{PeerAlert: p.alertBase(), Err: err})
	}
	p.disconnect(ReasonProtocol, err)
}

func (p *peer) onHandshake(b []byte) error {
	hs, err := wire.ParseHandshake(b)
	if err != nil {
		p.t.s.count(MetricHandshakeBadProtocol, 1)
		p.protocolError(err)
		return err
	}
	t := p.t
	if hs.InfoHash != t.wireIH {
		t.s.count(MetricHandshakeInfoHash, 1)
		err := protoErr(ErrWrongInfoHash, "handshake for info-hash %x, want %x", hs.InfoHash, t.wireIH)
		p.protocolError(err)
		return err
	}
	if hs.PeerID == t.s.peerID {
		t.s.count(MetricHandshakeSelf, 1)
		p.disconnect(ReasonSelf, nil)
		return errSelf
	}
	p.peerID = hs.PeerID
	p.reserved = hs.Reserved
	p.fast = hs.Reserved.SupportsFast()
	p.extended = hs.Reserved.SupportsExtended()
	p.client = clientFromPeerID(hs.PeerID)
	if dup := t.findActive(hs.PeerID); dup != nil {
		// Two connections to the same peer (both sides dialled). Keep the one
		// dialled by the side with the lower peer id, so both ends agree.
		weDialledKeeper := bytes.Compare(t.s.peerID[:], hs.PeerID[:]) < 0
		if p.outgoing == weDialledKeeper {
			keepCandidate(dup, p)
			dup.disconnect(ReasonDuplicate, nil)
		} else {
			keepCandidate(p, dup)
			p.disconnect(ReasonDuplicate, nil)
			return errDuplicate
		}
	}
	if hx := p.hx; hx != nil && len(hx.onHandshake) > 0 {
		res := [8]byte(hs.Reserved)
		if filter(p, hx.onHandshake, "OnHandshake", func(h plugin.HandshakeHook) bool { return h.OnHandshake(res) }) {
			p.rebuild()
		}
		if p.closing {
			return errPluginClosed
		}
	}
	p.sendHandshake()
	p.stage = stActive
	if p.cand != nil {
		p.cand.fails = 0
	}
	// The extension handshake goes first, right after the handshake
	// (BEP 10), then the bitfield, as libtorrent, rtorrent and Transmission
	// send them. rtorrent 0.9.8 needs this order on a magnet's metadata
	// connection: when its MSE handshake read already swallowed our
	// messages, it stops at a bitfield and parses what follows only at its
	// next read event, so an extension handshake after the bitfield waits
	// for our next keep-alive (60 s).
	if p.extended {
		p.sendExtHandshake()
	}
	p.sendBitfield()
	if p.fast {
		p.sendAllowedFast()
	}
	t.s.post(&plugin.PeerConnectedAlert{PeerAlert: p.alertBase(), Incoming: !p.outgoing})
	return nil
}

var (
	errSelf      = errors.New("connected to self")
	errDuplicate = errors.New("duplicate connection")
	// errPluginClosed: a plugin disconnected the peer from a handshake hook.
	errPluginClosed = errors.New("closed by a plugin")
)

func (t *Torrent) findActive(id [20]byte) *peer {
	for _, q := range t.peers {
		if q.active() && q.peerID == id {
			return q
		}
	}
	return nil
}

func (p *peer) sendExtHandshake() {
	s := p.t.s
	// lt_donthave and upload_only are plugins (ext/donthave,
	// ext/uploadonly): they add their keys in AddHandshake.
	h := wire.ExtHandshake{
		M:    map[string]int{},
		V:    s.set.ClientName,
		Reqq: s.set.MaxInRequests,
		Port: s.set.ListenPort,
	}
	if p.addr.Addr().Is4() {
		a := p.addr.Addr().As4()
		h.YourIP = a[:]
	} else if p.addr.IsValid() {
		a := p.addr.Addr().As16()
		h.YourIP = a[:]
	}
	if hx := p.hx; hx != nil && len(hx.addHandshake) > 0 {
		each(p, hx.addHandshake, "AddHandshake", func(x plugin.AddHandshakeHook) { x.AddHandshake(&h) })
	}
	payload, err := h.Marshal()
	if err != nil {
		return
	}
	p.write(wire.AppendExtended(nil, 0, payload))
}

func (p *peer) sendBitfield() {
	t := p.t
	if t.info == nil {
		// Nothing to claim yet; a fast peer is told so explicitly, as
		// libtorrent does.
		if p.fast {
			p.sendSimple(wire.HaveNone)
		}
		return
	}
	n := t.have.Count()
	switch {
	case p.fast && n == t.info.NumPieces() && n > 0:
		p.sendSimple(wire.HaveAll)
	case p.fast && n == 0:
		p.sendSimple(wire.HaveNone)
	case n > 0:
		p.write(wire.AppendBitfield(nil, t.have.Bytes()))
	}
}

// sendAllowedFast tells a fast-extension peer which pieces it may request
// even while we choke it: BEP 6's canonical set for its address, limited to
// pieces we have.
func (p *peer) sendAllowedFast() {
	t := p.t
	if t.info == nil {
		return
	}
	p.allowedOut = allowedFastSet(p.allowedOut[:0], p.addr.Addr(), t.wireIH, t.info.NumPieces(), allowedFastSetSize)
	for _, i := range p.allowedOut {
		if t.have.Has(int(i)) {
			p.write(wire.AppendAllowedFast(p.scratch[:0], i))
			p.sent(wire.AllowedFast, i, 0, 0)
		}
	}
}

// allowedOutHas reports whether piece is in the set we granted the peer.
func (p *peer) allowedOutHas(piece uint32) bool {
	for _, i := range p.allowedOut {
		if i == piece {
			return true
		}
	}
	return false
}

// mayServe reports whether a request for piece may be answered now.
func (p *peer) mayServe(piece uint32) bool {
	return !p.amChoking || p.allowedOutHas(piece)
}

func (p *peer) sendHave(piece uint32) {
	p.write(wire.AppendHave(p.scratch[:0], piece))
	p.sent(wire.Have, piece, 0, 0)
}

func (p *peer) sendSimple(id wire.MessageID) {
	p.write(wire.AppendSimple(p.scratch[:0], id))
	p.sent(id, 0, 0, 0)
}

// sendReject refuses a request (BEP 6).
func (p *peer) sendReject(piece, begin, length uint32) {
	p.t.s.met.V[MetricRequestsRejected]++
	p.write(wire.AppendReject(p.scratch[:0], piece, begin, length))
	p.sent(wire.Reject, piece, begin, length)
}

// handle applies one message. It may disconnect the peer.
func (p *peer) handle(m *wire.Message) {
	if m.KeepAlive {
		return
	}
	if p.hx != nil && p.msgHooks(m) {
		return
	}
	t := p.t
	if t.info == nil && m.ID != wire.Extended {
		p.handleNoMeta(m)
		return
	}
	if t.info != nil && p.noMetadata && hasMetadataSignal(m.ID) {
		p.noMetadata = false
	}
	// BEP 3 and BEP 6 say bitfield, have all and have none come first, but
	// real clients (aria2) send other messages before their bitfield. Like
	// libtorrent, we accept a late one and let it replace what we knew.
	np := uint32(t.numPiecesBound()) // only Extended gets here without metadata
	switch m.ID {
	case wire.Choke:
		p.peerChoking = true
		p.abortOutstanding()
		if len(p.allowedFast) > 0 {
			p.wantFill = true // allowed-fast pieces may still be requested
		}
	case wire.Unchoke:
		p.peerChoking = false
		p.wantFill = true
	case wire.Interested:
		p.peerInterested = true
		t.maybeUnchoke(p)
	case wire.NotInterested:
		p.peerInterested = false
		if !p.amChoking {
			p.choke()
			for _, q := range t.peers {
				if q != p && q.active() && q.amChoking && q.peerInterested {
					t.maybeUnchoke(q)
					break
				}
			}
		}
	case wire.Have:
		if m.Index >= np {
			p.protocolError(protoErr(ErrPieceIndex, "have for piece %d of %d", m.Index, np))
			return
		}
		p.onHave(int(m.Index))
	case wire.Bitfield:
		bf, err := bitfield.FromBytes(m.Payload, int(np))
		if err != nil {
			p.protocolError(err)
			return
		}
		p.setBitfield(bf, false)
	case wire.HaveAll, wire.HaveNone:
		if !p.fast {
			p.protocolError(protoErr(ErrNeedFast, "%v without the fast extension", m.ID))
			return
		}
		bf := bitfield.New(int(np))
		if m.ID == wire.HaveAll {
			bf.SetAll()
		}
		p.setBitfield(bf, m.ID == wire.HaveAll)
	case wire.Request:
		p.onRequest(m)
	case wire.Piece:
		p.onPiece(m)
	case wire.Cancel:
		p.onCancel(m)
	case wire.Port:
		// The peer's DHT port (BEP 5). Ignored: the DHT (package dht)
		// finds its nodes through its own lookups, not from peers
		// (libtorrent would add the node to its routing table).
	case wire.Suggest:
		if m.Index >= np {
			p.protocolError(protoErr(ErrPieceIndex, "suggest for piece %d of %d", m.Index, np))
		}
		// Suggestions are a hint we do not act on.
	case wire.AllowedFast:
		if !p.fast {
			p.protocolError(protoErr(ErrNeedFast, "allowed fast without the fast extension"))
			return
		}
		if m.Index < np && len(p.allowedFast) < maxAllowedFastIn && !slices.Contains(p.allowedFast, m.Index) {
			p.allowedFast = append(p.allowedFast, m.Index)
			p.afDirty = true
			if p.peerChoking {
				p.wantFill = true
			}
		}
	case wire.Reject:
		if !p.fast {
			p.protocolError(protoErr(ErrNeedFast, "reject without the fast extension"))
			return
		}
		b := picker.Block{Piece: m.Index, Begin: m.Begin, Length: m.Length}
		if p.removeOutstanding(b) {
			t.pk.Abort(b, p.pid)
			p.wantFill = true
		}
	case wire.Extended:
		if !p.extended {
			p.protocolError(protoErr(ErrNeedExtended, "extended message without the extension protocol"))
			return
		}
		switch m.ExtID {
		case 0:
			p.onExtHandshake(m.Payload)
		default:
			// Plugins choose the ids they advertise; a message none claims
			// ends the connection, as in libtorrent.
			if !p.extendedHooks(len(m.Payload), int(m.ExtID), m.Payload) && !p.closing {
				p.protocolError(protoErr(ErrUnclaimedExtension, "extended message %d not claimed by any plugin", m.ExtID))
			}
		}
	default:
		// As in libtorrent, length counts the id byte and body does not.
		if !p.unknownHooks(len(m.Payload)+1, int(m.ID), m.Payload) && !p.closing {
			p.protocolError(protoErr(ErrUnknownMessage, "unknown message id %d", uint8(m.ID)))
		}
	}
}

func (p *peer) setBitfield(bf *bitfield.Bitfield, haveAll bool) {
	t := p.t
	// A repeated bitfield replaces the previous one's availability.
	if p.seedCounted {
		t.pk.RemoveSeed()
		p.seedCounted = false
	} else if p.bf != nil {
		t.pk.RemovePeerBitfield(p.bf)
	}
	p.bf = bf
	p.afDirty = true
	if haveAll {
		p.seedCounted = true
		t.pk.AddSeed()
	} else {
		t.pk.AddPeerBitfield(bf)
	}
	if p.peerSeed() {
		p.lastSeenComplete = p.now()
	}
	if p.redundant() && p.policyDisconnect(ReasonRedundant, nil) {
		return
	}
	p.updateInterest()
}

func (p *peer) onHave(i int) {
	t := p.t
	if p.bf == nil {
		p.bf = bitfield.New(t.info.NumPieces())
		t.pk.AddPeerBitfield(p.bf)
	}
	if p.bf.Has(i) {
		return
	}
	p.bf.Set(i)
	p.afDirty = true
	if !p.seedCounted {
		t.pk.IncAvailability(i)
	}
	if p.bf.All() {
		p.lastSeenComplete = p.now()
		if t.isSeed() && p.policyDisconnect(ReasonRedundant, nil) {
			return
		}
	}
	if !p.amInterested && !t.checking && t.wantPiece(i) {
		p.setInterested(true)
	}
}

// updateInterest recomputes whether the peer has a piece we want.
func (p *peer) updateInterest() {
	t := p.t
	want := false
	if p.bf != nil && !t.checking && !t.isSeed() {
		n := t.info.NumPieces()
		for i := p.bf.NextSet(0); i >= 0 && i < n; i = p.bf.NextSet(i + 1) {
			if t.wantPiece(i) { // not had, not skipped (priority.go)
				want = true
				break
			}
		}
	}
	p.setInterested(want)
}

func (p *peer) setInterested(v bool) {
	if p.amInterested == v {
		return
	}
	p.amInterested = v
	if v {
		p.sendSimple(wire.Interested)
		p.wantFill = true
	} else {
		p.sendSimple(wire.NotInterested)
	}
}

func (p *peer) choke() {
	if p.amChoking || !p.active() {
		return
	}
	p.amChoking = true
	p.sendSimple(wire.Choke)
	// Requests queued while unchoked are dropped, except for allowed-fast
	// pieces; with the fast extension we say so explicitly (BEP 6), without
	// it the peer knows from the choke.
	kept := p.upQ[:0]
	for i := p.upHead; i < len(p.upQ); i++ {
		r := p.upQ[i]
		switch {
		case r.length == 0:
		case p.allowedOutHas(r.piece):
			kept = append(kept, r)
		case p.fast:
			p.sendReject(r.piece, r.begin, r.length)
		}
	}
	p.upQ, p.upHead = kept, 0
}

func (p *peer) unchoke() {
	if !p.amChoking || !p.active() {
		return
	}
	p.amChoking = false
	p.unchokedAt = p.now()
	p.upSinceUnchoke = 0
	p.sendSimple(wire.Unchoke)
	p.suggestCached()
}

func (p *peer) abortOutstanding() {
	for _, b := range p.outstanding {
		p.t.pk.Abort(b, p.pid)
	}
	p.outstanding = p.outstanding[:0]
	if p.t.pk != nil {
		p.t.pk.Unreserve(p.pid) // its parole pieces are open to others now
	}
}

func (p *peer) removeOutstanding(b picker.Block) bool {
	for i, o := range p.outstanding {
		if o.Piece == b.Piece && o.Begin == b.Begin {
			copy(p.outstanding[i:], p.outstanding[i+1:])
			p.outstanding = p.outstanding[:len(p.outstanding)-1]
			return true
		}
	}
	return false
}

// fillRequests tops up the request pipeline from the picker.
func (p *peer) fillRequests() {
	t := p.t
	if !p.active() || !p.amInterested || t.checking || t.paused || t.pk == nil || t.writeBlocked() {
		return
	}
	want := p.queueDepth - len(p.outstanding)
	if p.reqq > 0 {
		want = min(want, p.reqq-len(p.outstanding))
	}
	if want <= 0 {
		return
	}
	wasEmpty := len(p.outstanding) == 0
	has, seed := p.bf, p.seedCounted
	if p.peerChoking {
		// Choked: only the pieces the peer allows fast (BEP 6).
		if len(p.allowedFast) == 0 {
			return
		}
		has, seed = p.allowedFastBits(), false
	}
	blocks := t.pickBuf[:0]
	if t.pk.NumDeadlines() > 0 {
		blocks = t.pickDeadline(p, blocks, has, seed, want) // deadline.go
	}
	if n := want - len(blocks); n > 0 {
		blocks = t.pk.Pick(blocks, p.pid, has, seed, n)
	}
	for _, b := range blocks {
		p.outstanding = append(p.outstanding, b)
		if p.hx != nil && p.writeRequestHooks(b.Piece, b.Begin, b.Length) {
			continue // a plugin sent it its own way
		}
		p.write(wire.AppendRequest(p.scratch[:0], b.Piece, b.Begin, b.Length))
		p.sent(wire.Request, b.Piece, b.Begin, b.Length)
		t.s.met.V[MetricRequestsSent]++
	}
	// The piece timer runs from the first request of a new pipeline, so a
	// peer is not timed out for the time it had nothing to send.
	if wasEmpty && len(p.outstanding) > 0 {
		p.lastPiece = p.now()
	}
	t.pickBuf = blocks[:0]
}

// allowedFastBits returns the pieces we may request while choked: the
// peer's allowed-fast set intersected with what it has.
func (p *peer) allowedFastBits() *bitfield.Bitfield {
	if p.afBits == nil || p.afDirty {
		n := p.t.info.NumPieces()
		if p.afBits == nil {
			p.afBits = bitfield.New(n)
		} else {
			p.afBits.ClearAll()
		}
		for _, i := range p.allowedFast {
			if p.peerSeed() || (p.bf != nil && p.bf.Has(int(i))) {
				p.afBits.Set(int(i))
			}
		}
		p.afDirty = false
	}
	return p.afBits
}

func (p *peer) onPiece(m *wire.Message) {
	t := p.t
	blen := len(m.Payload)
	np := uint32(t.info.NumPieces())
	if m.Index >= np || blen == 0 || blen > maxRequestLen ||
		int64(m.Begin)+int64(blen) > t.info.PieceSize(int(m.Index)) {
		t.s.met.V[MetricProtocolReceivedBytes] += uint64(blen)
		p.protocolError(protoErr(ErrBlockRange, "piece %d begin %d length %d out of range", m.Index, m.Begin, blen))
		return
	}
	b := picker.Block{Piece: m.Index, Begin: m.Begin, Length: uint32(blen)}
	requested := p.removeOutstanding(b)
	now := p.now()
	p.lastPiece = now
	p.totalDown += int64(blen)
	p.secDown += int64(blen)
	t.totalDown += int64(blen)
	t.secDown += int64(blen)
	met := &t.s.met.V
	met[MetricPayloadReceivedBytes] += uint64(blen)
	p.wantFill = true
	if t.rlDown {
		p.downSpent(blen)
	}
	if t.have.Has(int(m.Index)) || m.Begin%wire.BlockSize != 0 {
		met[MetricRedundantReceivedBytes] += uint64(blen)
		return // redundant, or not a block we would ever ask for
	}
	bi := int(m.Begin / wire.BlockSize)
	if bi >= t.pk.BlocksInPiece(int(m.Index)) || uint32(blen) != t.pk.BlockLength(int(m.Index), bi) {
		met[MetricRedundantReceivedBytes] += uint64(blen)
		return
	}
	if !requested && t.downloading[m.Index] == nil {
		// Unrequested block of a piece we hold nothing of: dropping it keeps
		// a peer from pinning receive spans with data nobody asked for.
		met[MetricRedundantReceivedBytes] += uint64(blen)
		return
	}
	complete, dup := t.pk.Received(b, p.pid)
	if dup {
		met[MetricRedundantReceivedBytes] += uint64(blen)
		return
	}
	pb := t.getPieceBuf(m.Index)
	if pb.blocks[bi].Span != nil {
		met[MetricRedundantReceivedBytes] += uint64(blen)
		return
	}
	met[MetricBlocksReceived]++
	pb.blocks[bi] = storage.BlockRef{Span: p.c.RxSpan().Retain(), Data: m.Payload}
	pb.got++
	if !slices.Contains(pb.contrib, p) {
		pb.contrib = append(pb.contrib, p)
	}
	if t.pk.InEndgame() {
		// Others may have the same block in flight: cancel theirs.
		for _, q := range t.peers {
			if q != p && q.active() && q.removeOutstanding(b) {
				q.write(wire.AppendCancel(q.scratch[:0], b.Piece, b.Begin, b.Length))
				q.sent(wire.Cancel, b.Piece, b.Begin, b.Length)
			}
		}
	} else if t.pk.NumDeadlines() > 0 {
		t.cancelDuplicates(b, p) // a late deadline piece's copies (deadline.go)
	}
	if complete {
		t.pieceComplete(m.Index)
	}
}

func (p *peer) onRequest(m *wire.Message) {
	t := p.t
	np := uint32(t.info.NumPieces())
	if m.Index >= np || m.Length == 0 || m.Length > maxRequestLen ||
		int64(m.Begin)+int64(m.Length) > t.info.PieceSize(int(m.Index)) {
		p.protocolError(protoErr(ErrBlockRange, "request piece %d begin %d length %d out of range", m.Index, m.Begin, m.Length))
		return
	}
	t.s.met.V[MetricRequestsReceived]++
	ok := t.have.Has(int(m.Index)) && p.mayServe(m.Index) && len(p.upQ)-p.upHead < t.s.set.MaxInRequests
	if !ok {
		if p.fast {
			p.sendReject(m.Index, m.Begin, m.Length)
		}
		return
	}
	if p.upHead > 0 && p.upHead == len(p.upQ) {
		p.upQ, p.upHead = p.upQ[:0], 0
	} else if len(p.upQ) == cap(p.upQ) && p.upHead >= len(p.upQ)/2 {
		// Under a rate limit (or a slow socket) the queue may never drain:
		// appending behind the served head would grow the array by every
		// request ever served. Move the queued half (at most) to the
		// front instead, so the array stays within a few times the
		// requests outstanding (TestUploadQueueCompactsUnderLimit).
		n := copy(p.upQ, p.upQ[p.upHead:])
		p.upQ, p.upHead = p.upQ[:n], 0
	}
	p.upQ = append(p.upQ, request{m.Index, m.Begin, m.Length})
}

func (p *peer) onCancel(m *wire.Message) {
	for i := p.upHead; i < len(p.upQ); i++ {
		r := &p.upQ[i]
		if r.piece == m.Index && r.begin == m.Begin && r.length == m.Length {
			r.length = 0 // tombstone: skipped by serve
			return
		}
	}
}

func (p *peer) onExtHandshake(payload []byte) {
	h, err := wire.ParseExtHandshake(payload)
	if err != nil {
		p.protocolError(err)
		return
	}
	if hx := p.hx; hx != nil && len(hx.onExtHandshake) > 0 {
		if filter(p, hx.onExtHandshake, "OnExtensionHandshake", func(x plugin.ExtensionHandshakeHook) bool {
			return x.OnExtensionHandshake(&h)
		}) {
			p.rebuild()
		}
		if p.closing {
			return
		}
	}
	p.noteExtHandshakeMetadata(&h)
	if h.Port > 0 {
		p.listenPort = uint16(h.Port)
		p.t.listenPortKnown(p)
	}
	if h.Reqq > 0 {
		p.reqq = h.Reqq
	}
	if h.V != "" {
		p.client = h.V
	}
}

// serve sends blocks for queued requests while the socket takes them.
// Page-cache hits go to a plaintext conn with sendfile, from file storage
// (zero copy: sendBlockFile), or are read on the loop with RWF_NOWAIT;
// everything else goes to a disk worker so the loop never blocks.
func (p *peer) serve() {
	t := p.t
	fs, _ := t.st.(*storage.FileStorage) // only file storage has descriptors to send from
	for p.upHead < len(p.upQ) && p.c.Writable() && p.readsInFlight < t.s.set.MaxInFlightReads {
		r := p.upQ[p.upHead]
		if r.length != 0 && t.awaitVerified(r.piece) {
			break // seed mode hashes the piece first (seedmode.go); its completion serves again
		}
		if r.length != 0 && t.rlUp && !p.upAllowed(int(r.length)) {
			break // out of quota: rateWake serves again
		}
		p.upHead++
		if r.length == 0 {
			continue
		}
		if !t.have.Has(int(r.piece)) { // lost since it was requested (seedmode.go)
			if p.fast {
				p.sendReject(r.piece, r.begin, r.length)
			}
			continue
		}
		if fs != nil && p.c.CanWriteFile() {
			if fd, off, ref, ok := fs.CachedFileRange(int(r.piece), int64(r.begin), int(r.length)); ok {
				t.s.met.V[MetricBlocksReadCache]++
				p.sendBlockFile(r.piece, r.begin, r.length, fd, off, ref)
				t.noteRead(r.piece, p)
				continue
			}
		}
		sp := t.s.pool.Get(int(r.length))
		if n, ok := t.st.TryReadNoWait(sp.Bytes(), int(r.piece), int64(r.begin)); ok && n == int(r.length) {
			t.s.met.V[MetricBlocksReadCache]++
			p.sendBlock(r.piece, r.begin, sp)
			t.noteRead(r.piece, p)
			continue
		}
		sp.Release()
		j := t.s.disk.NewJob()
		j.Kind = storage.JobRead
		j.Storage = t.st
		j.Piece = int(r.piece)
		j.Begin = int64(r.begin)
		j.Length = int(r.length)
		j.Poster = t.s.loop
		j.User = p
		j.Done = onBlockRead
		p.readsInFlight++
		t.s.disk.Submit(j)
	}
	if p.upHead == len(p.upQ) {
		p.upQ, p.upHead = p.upQ[:0], 0
	}
}

func onBlockRead(j *storage.Job) {
	p := j.User.(*peer)
	sp, err, piece, begin := j.Span, j.Err, uint32(j.Piece), uint32(j.Begin)
	p.t.s.disk.Free(j)
	p.readsInFlight--
	if err != nil {
		// The data of a verified piece cannot be read: deleted, truncated
		// or unreadable, it is a disk error of the torrent, as in
		// libtorrent (diskerror.go), which drops this peer with the rest.
		if sp != nil {
			sp.Release()
		}
		p.t.fail(err)
		return
	}
	if !p.active() || !p.mayServe(piece) || !p.t.have.Has(int(piece)) {
		sp.Release()
		return
	}
	p.t.s.met.V[MetricBlocksReadDisk]++
	p.sendBlock(piece, begin, sp)
	p.t.noteRead(piece, p)
	p.serve()
}

// sendBlock queues a piece message; the block's span goes to the send queue
// without a copy and is released once written.
func (p *peer) sendBlock(piece, begin uint32, sp *bufpool.Span) {
	n := sp.Len()
	p.write(wire.AppendPieceHeader(p.scratch[:0], piece, begin, n))
	p.c.WriteSpan(sp, sp.Bytes())
	p.sentBlock(piece, begin, n)
}

// sendBlockFile queues a piece message whose block the loop sends with
// sendfile from [off, off+length) of fd, which ref holds open until then.
// The caller checked CanWriteFile (a plaintext conn), so WriteFile queues.
func (p *peer) sendBlockFile(piece, begin, length uint32, fd int, off int64, ref storage.Ref) {
	p.write(wire.AppendPieceHeader(p.scratch[:0], piece, begin, int(length)))
	if !p.c.WriteFile(fd, off, int(length), ref) {
		// Not reached: CanWriteFile held in this same callback. The
		// header is queued without its block, so the stream is lost.
		ref.Release()
		p.c.Close(loop.ErrConnClosed)
		return
	}
	p.sentBlock(piece, begin, int(length))
}

// sentBlock runs the hooks and counts of a queued piece message of n bytes.
func (p *peer) sentBlock(piece, begin uint32, n int) {
	p.sent(wire.Piece, piece, begin, uint32(n))
	p.totalUp += int64(n)
	p.secUp += int64(n)
	p.upSinceUnchoke += int64(n)
	p.t.totalUp += int64(n)
	p.t.secUp += int64(n)
	met := &p.t.s.met.V
	met[MetricPayloadSentBytes] += uint64(n)
	met[MetricBlocksSent]++
}

// onTick: rates, pipeline depth, timeouts, keep-alives. May disconnect p.
func (p *peer) onTick(now time.Time) {
	t := p.t
	p.downRate = (p.downRate + p.secDown) / 2
	p.upRate = (p.upRate + p.secUp) / 2
	p.secDown, p.secUp = 0, 0
	if p.closing || p.closed {
		return
	}
	if hx := p.hx; hx != nil && len(hx.tick) > 0 {
		each(p, hx.tick, "Tick", func(h plugin.PeerTickHook) { h.Tick() })
		if p.closing {
			return
		}
	}
	if p.stage == stHandshake {
		mse := p.mse != nil // an MSE handshake's timeout counts as its failure (encClosed)
		if now.Sub(p.connectedAt) > t.s.set.HandshakeTimeout && p.policyDisconnect(ReasonTimeout, errHandshakeTimeout) && !mse {
			t.s.count(MetricHandshakeTimeout, 1)
		}
		return
	}
	if now.Sub(p.lastRecv) > t.s.set.InactivityTimeout && p.policyDisconnect(ReasonTimeout, errInactive) {
		return
	}
	if len(p.outstanding) > 0 && now.Sub(p.lastPiece) > t.s.set.PieceTimeout {
		// Snubbed: give its blocks to the other peers first, then ask it
		// again with a short pipeline.
		p.abortOutstanding()
		p.queueDepth = minQueueDepth
		for _, q := range t.peers {
			if q != p && q.active() {
				q.fillRequests()
			}
		}
		p.wantFill = true
	}
	if p.redundant() && p.policyDisconnect(ReasonRedundant, nil) {
		return
	}
	// Pipeline depth covers RequestQueueTime of download at the measured rate.
	if p.downRate > 0 {
		d := int(p.downRate * int64(t.s.set.RequestQueueTime) / int64(time.Second) / wire.BlockSize)
		d = max(d, minQueueDepth, initialQueueDepth)
		d = min(d, t.s.set.MaxOutRequests)
		if p.reqq > 0 {
			d = min(d, p.reqq)
		}
		p.queueDepth = d
		p.wantFill = true
	}
	if now.Sub(p.lastSend) > t.s.set.KeepAliveInterval {
		p.write(wire.AppendKeepAlive(p.scratch[:0]))
	}
	if p.wantFill {
		p.wantFill = false
		p.fillRequests()
	}
}

var (
	errHandshakeTimeout = fmt.Errorf("%w: handshake not completed", ErrTimeout)
	errInactive         = fmt.Errorf("%w: no data received within the inactivity timeout", ErrTimeout)
)

// clientFromPeerID decodes Azureus-style peer ids ("-LT2080-...").
func clientFromPeerID(id [20]byte) string {
	if id[0] == '-' && id[7] == '-' {
		return string(id[1:7])
	}
	return ""
}
