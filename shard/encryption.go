package shard

import (
	"crypto/rand"
	"errors"
	"io"
	"net/netip"

	"github.com/shardtorrent/shardtorrent/loop"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/settings"
	"github.com/shardtorrent/shardtorrent/wire"
)

// Message Stream Encryption (MSE/PE) in the peer protocol. The handshake
// itself is not this package's: the engine declares what it needs of it
// (Handshaker, made by Config.NewHandshaker; MSEResult) and the root
// package wires ext/mse's socket-free state machines in, so that shard
// imports nothing under ext/ (see ext/mse/doc.go for the wiring contract).
// This file runs the handshake on a peer's connection:
//   - outgoing: the Handshaker runs right after connect, with our
//     BitTorrent handshake as its initial payload; when it finishes the
//     connection's receive and send ciphers are switched to the negotiated
//     StreamCipher (exact, from nil);
//   - incoming: the accepting loop runs the receiving side (root
//     encryption.go) and hands the fd, the negotiated cipher, the
//     receiver's last message and the decrypted leftovers to
//     AdoptEncrypted on the owning loop, which sends that message in
//     plaintext and switches both ciphers before anything else is queued.

// StreamCipher is the cipher an MSE handshake negotiated (ext/mse's RC4):
// it encrypts what the connection sends and decrypts what it receives, in
// place. It belongs to one connection, so to one loop: loop only.
type StreamCipher interface {
	loop.SendCipher
	loop.RecvCipher
}

// Handshaker is the initiating side of an outgoing MSE handshake in
// progress: a socket-free state machine the peer feeds with the bytes it
// receives and whose output it sends (ext/mse's Initiator). It belongs to
// one peer: loop only.
type Handshaker interface {
	// Step consumes a prefix of in and returns its length. It never
	// consumes bytes past the end of the handshake. After an error the
	// peer is disconnected and the Handshaker dropped.
	Step(in []byte) (n int, err error)
	// Output returns the bytes to send now and forgets them; they are
	// valid until the next Step.
	Output() []byte
	// Done reports whether the handshake finished.
	Done() bool
	// Cipher is the negotiated cipher once Done, positioned right after
	// the handshake; nil means the stream goes on in plaintext.
	Cipher() StreamCipher
}

// HandshakerFactory starts an outgoing MSE handshake for the torrent whose
// wire info-hash is infoHash, offering the crypto methods level allows,
// drawing keys and padding from rand, and carrying initialPayload (our
// BitTorrent handshake) encrypted. Its first Output is sent at once. It is
// called on the dialling shard's loop and may be shared by every shard, so
// it must be safe for concurrent use.
type HandshakerFactory func(infoHash [20]byte, level EncLevel, rand io.Reader, initialPayload []byte) (Handshaker, error)

// MSEResult is an incoming connection's finished MSE handshake, as the
// accepting loop hands it to AdoptEncrypted. Owned by the adopting peer
// from then on.
type MSEResult struct {
	// InfoHash is the torrent the peer asked for (wire info-hash).
	InfoHash [20]byte
	// Cipher is the negotiated cipher, positioned right after the
	// handshake; nil when only the handshake was encrypted.
	Cipher StreamCipher
	// InitialPayload is the initiator's initial payload, decrypted: the
	// start of its BitTorrent handshake (nil if empty).
	InitialPayload []byte
	// Prelude is the receiver's last message (its crypto_select), not
	// sent yet: the peer sends it in plaintext before switching ciphers.
	Prelude []byte
}

// The encryption policies and levels are settings' (Engine.InEncPolicy,
// OutEncPolicy, AllowedEncLevel); shard names them too.
type (
	// EncPolicy is settings.EncPolicy (libtorrent's in_enc_policy /
	// out_enc_policy).
	EncPolicy = settings.EncPolicy
	// EncLevel is settings.EncLevel (libtorrent's allowed_enc_level).
	EncLevel = settings.EncLevel
)

// The encryption policies and levels (settings' constants).
const (
	EncEnabled        = settings.EncEnabled
	EncForced         = settings.EncForced
	EncDisabled       = settings.EncDisabled
	EncLevelBoth      = settings.EncLevelBoth
	EncLevelPlaintext = settings.EncLevelPlaintext
	EncLevelRC4       = settings.EncLevelRC4
)

// ErrEncryptionHandshake matches (errors.Is) every *EncryptionError.
var ErrEncryptionHandshake = errors.New("shard: encryption handshake failed")

// Causes of an EncryptionError that are not the handshake's own errors
// (ext/mse's Error values).
var (
	// ErrPlaintextRefused: a plaintext handshake reached a session whose
	// incoming policy is EncForced.
	ErrPlaintextRefused = errors.New("shard: plaintext handshake refused: encryption is forced")
	// ErrEncryptedRefused: an MSE handshake reached a session whose
	// incoming policy is EncDisabled.
	ErrEncryptedRefused = errors.New("shard: encrypted handshake refused: encryption is disabled")
	// ErrEncryptionTimeout: the MSE handshake did not finish within the
	// handshake timeout.
	ErrEncryptionTimeout = errors.New("shard: encryption handshake timed out")
	// ErrEncryptionUnavailable: the outgoing policy is EncForced but the
	// shard has no Config.NewHandshaker, so no MSE handshake can start.
	ErrEncryptionUnavailable = errors.New("shard: encryption forced but no MSE handshake is available")
)

// EncryptionError is an MSE handshake that failed: the peer's bytes were
// refused by the handshake (Err is an ext/mse Error), the peer closed or stalled, or
// the policy refused the connection. It is carried by PeerErrorAlert,
// PeerDisconnectedAlert reasons and IncomingRefusedAlert.
type EncryptionError struct {
	Op  plugin.Operation // always plugin.OpEncryption
	Err error
}

func newEncryptionError(err error) *EncryptionError {
	return &EncryptionError{Op: plugin.OpEncryption, Err: err}
}

// NewEncryptionError wraps err (a handshake's error, such as an ext/mse
// Error, or one of this package's causes) as an EncryptionError.
func NewEncryptionError(err error) *EncryptionError { return newEncryptionError(err) }

// Error describes the failure with its cause.
func (e *EncryptionError) Error() string { return "encryption handshake: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *EncryptionError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrEncryptionHandshake) hold.
func (e *EncryptionError) Is(target error) bool { return target == ErrEncryptionHandshake }

// peerMSE is a peer's MSE state until the cipher is in place.
type peerMSE struct {
	// init runs the outgoing handshake; nil for incoming connections.
	init Handshaker
	// Incoming: what the receiver negotiated. prelude (the receiver's last
	// message) goes out in plaintext, then ciph (nil for MethodPlaintext)
	// becomes the send and receive cipher, both in open.
	ciph    StreamCipher
	prelude []byte
	// alerted: a PeerErrorAlert for the failure was posted.
	alerted bool
}

// keyRand is the shard's source of MSE keys and padding.
func (s *Shard) keyRand() io.Reader {
	if s.rand != nil {
		return s.rand
	}
	return rand.Reader
}

// wantMSE reports whether an outgoing connection starts with MSE. Without
// a Config.NewHandshaker only EncForced does (and fails at once, with
// ErrEncryptionUnavailable); EncEnabled connects in plaintext.
func (p *peer) wantMSE() bool {
	switch p.t.s.set.OutEncPolicy {
	case EncForced:
		return true
	case EncEnabled:
		return p.t.s.newHandshaker != nil && (p.cand == nil || !p.cand.plainOnly)
	}
	return false
}

// encOpen runs when the connection opens, before our plaintext handshake
// would be sent. Incoming: it sends the receiver's last message and switches
// in the negotiated cipher, and the caller goes on. Outgoing: it starts the
// Initiator (our handshake is its initial payload) and reports true: the
// caller must not send the handshake again.
func (p *peer) encOpen() bool {
	m := p.mse
	if !p.outgoing {
		if m == nil {
			return false
		}
		p.mse = nil
		if len(m.prelude) > 0 {
			p.write(m.prelude)
		}
		if m.ciph == nil {
			p.t.s.count(MetricMSEIncomingPlaintext, 1)
		} else {
			cc, ok := p.c.(cipherConn)
			if !ok {
				p.encFail(plugin.ErrCryptoUnsupported)
				return true
			}
			p.t.s.count(MetricMSEIncomingRC4, 1)
			p.mseRC4 = true
			// Bytes queued so far (the prelude) stay plaintext: the send
			// barrier. Adopt's pending bytes are plaintext already.
			cc.SetSendCipher(m.ciph)
			cc.SetRecvCipher(m.ciph)
		}
		return false
	}
	if !p.wantMSE() {
		return false
	}
	newHS := p.t.s.newHandshaker
	if newHS == nil {
		p.mse = &peerMSE{}
		p.encFail(ErrEncryptionUnavailable)
		return true
	}
	var buf [wire.HandshakeLen]byte
	init, err := newHS(p.t.wireIH, p.t.s.set.AllowedEncLevel, p.t.s.keyRand(), p.appendHandshake(buf[:0]))
	if err != nil {
		p.mse = &peerMSE{}
		p.encFail(err)
		return true
	}
	p.mse = &peerMSE{init: init}
	p.sentHandshake = true
	p.write(init.Output())
	return true
}

// encData feeds the outgoing handshake while it runs. It returns what data
// consumed and whether the caller should return at once (handshake still
// running, failed, or finished with a receive cipher switch that re-presents
// the rest of data decrypted).
func (p *peer) encData(data []byte) (int, bool) {
	init := p.mse.init
	n, err := init.Step(data)
	if out := init.Output(); len(out) > 0 {
		p.write(out)
	}
	if err != nil {
		p.encFail(err)
		return len(data), true
	}
	if !init.Done() {
		return n, true
	}
	ciph := init.Cipher()
	p.mse = nil
	if ciph == nil {
		p.t.s.count(MetricMSEOutgoingPlaintext, 1)
		return n, false // MethodPlaintext: the stream goes on unchanged
	}
	cc, ok := p.c.(cipherConn)
	if !ok {
		p.mse = &peerMSE{}
		p.encFail(plugin.ErrCryptoUnsupported)
		return len(data), true
	}
	p.t.s.count(MetricMSEOutgoingRC4, 1)
	p.mseRC4 = true
	// Inside OnData: the receive switch applies after the n bytes
	// consumed, and the loop presents the rest again, decrypted.
	cc.SetRecvCipher(ciph)
	cc.SetSendCipher(ciph)
	return n, true
}

// encFail disconnects a peer whose MSE handshake failed, with an alert.
func (p *peer) encFail(err error) {
	e := newEncryptionError(err)
	if p.mse != nil {
		p.mse.alerted = true
	}
	p.t.s.post(&plugin.PeerErrorAlert{PeerAlert: p.alertBase(), Err: e})
	p.disconnect(ReasonProtocol, e)
}

// encClosed runs first in closedWith. While the outgoing handshake runs,
// any close (EOF from a plaintext-only peer, a reset, the handshake
// timeout) is an encryption failure: the reason is wrapped and alerted, and
// under EncEnabled the candidate is redialled in plaintext at once, as
// libtorrent does. It reports whether the failure is to be retried.
func (p *peer) encClosed(err error) (retry bool) {
	m := p.mse
	if m == nil || !p.outgoing {
		return false
	}
	if de := p.discErr; de != nil && (de.Reason == ReasonShutdown || de.Reason == ReasonTorrentStop) {
		return false // we ended it: not the handshake's failure
	}
	p.t.s.count(MetricHandshakeMSE, 1)
	if p.discErr == nil {
		r := ReasonIO
		if errors.Is(err, io.EOF) {
			r = ReasonClosedByPeer
		}
		p.discErr = &DisconnectError{Reason: r, Err: newEncryptionError(err)}
	} else if !errors.Is(p.discErr.Err, ErrEncryptionHandshake) {
		cause := p.discErr.Err
		if errors.Is(cause, errHandshakeTimeout) {
			cause = ErrEncryptionTimeout
		}
		if cause == nil {
			cause = errors.New(p.discErr.Reason.String())
		}
		p.discErr.Err = newEncryptionError(cause)
	}
	if !m.alerted {
		m.alerted = true
		p.t.s.post(&plugin.PeerErrorAlert{PeerAlert: p.alertBase(), Err: p.discErr.Err})
	}
	return p.cand != nil && !p.cand.plainOnly && p.t.s.set.OutEncPolicy == EncEnabled
}

// encRetry makes the candidate of a failed encrypted attempt redial in
// plaintext at the next connection round, without counting a failure.
func (p *peer) encRetry() {
	c := p.cand
	c.plainOnly = true
	c.fails = max(c.fails-1, 0)
	c.lastTried = zeroTime // due at once
	p.t.noteReady(c)
}

// AdoptEncrypted takes an incoming connection whose MSE handshake the
// accepting loop completed (see AdoptIncoming). raw holds the bytes read
// after the handshake, still as they came off the wire (ciphertext when
// res.Cipher is set). The peer sends res.Prelude, then switches its send
// and receive ciphers to res.Cipher before queuing anything else.
// Loop only.
func (s *Shard) AdoptEncrypted(fd int, raw []byte, res MSEResult, remote netip.AddrPort) error {
	pending := append([]byte(nil), res.InitialPayload...)
	if len(raw) > 0 {
		start := len(pending)
		pending = append(pending, raw...)
		if res.Cipher != nil {
			res.Cipher.Decrypt([][]byte{pending[start:]})
		}
	}
	return s.adoptIncoming(fd, pending, res.InfoHash, remote, &peerMSE{ciph: res.Cipher, prelude: res.Prelude})
}
