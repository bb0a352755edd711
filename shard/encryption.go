package shard

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/shardtorrent/shardtorrent/ext/mse"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// Message Stream Encryption (MSE/PE) in the peer protocol. ext/mse holds
// the socket-free handshakes and the RC4 cipher; this file runs them on a
// peer's connection (see ext/mse/doc.go for the wiring contract):
//   - outgoing: the Initiator runs right after connect, with our BitTorrent
//     handshake as its initial payload; when it finishes the connection's
//     receive and send ciphers are switched to RC4 (exact, from nil);
//   - incoming: the accepting loop runs the Receiver (root accept.go) and
//     hands the fd, the negotiated cipher, the receiver's last message and
//     the decrypted leftovers to AdoptEncrypted on the owning loop, which
//     sends that message in plaintext and switches both ciphers before
//     anything else is queued.

// EncPolicy is libtorrent's in_enc_policy / out_enc_policy. The zero value
// is EncEnabled, libtorrent's default.
type EncPolicy uint8

// Encryption policies.
const (
	// EncEnabled: incoming peers may use MSE or plaintext; outgoing
	// connections try MSE first and redial once in plaintext when the
	// encrypted attempt fails before its handshake completes.
	EncEnabled EncPolicy = iota
	// EncForced: only MSE; plaintext incoming handshakes are refused and
	// outgoing connections never fall back.
	EncForced
	// EncDisabled: never start MSE; incoming MSE handshakes are refused.
	EncDisabled
)

var encPolicyNames = [...]string{EncEnabled: "enabled", EncForced: "forced", EncDisabled: "disabled"}

// String returns the policy's name as ParseEncPolicy accepts it.
func (p EncPolicy) String() string {
	if int(p) < len(encPolicyNames) {
		return encPolicyNames[p]
	}
	return fmt.Sprintf("EncPolicy(%d)", uint8(p))
}

// ParseEncPolicy parses "disabled", "enabled" or "forced".
func ParseEncPolicy(s string) (EncPolicy, error) {
	for i, n := range encPolicyNames {
		if n == s {
			return EncPolicy(i), nil
		}
	}
	return 0, fmt.Errorf("shard: unknown encryption policy %q (want disabled, enabled or forced)", s)
}

// EncLevel is libtorrent's allowed_enc_level: what an MSE connection may
// carry after its handshake. The zero value is EncLevelBoth, libtorrent's
// default.
type EncLevel uint8

// Encryption levels.
const (
	// EncLevelBoth: plaintext or RC4; a receiver offered both selects
	// plaintext, or RC4 with Settings.PreferRC4 (as libtorrent).
	EncLevelBoth EncLevel = iota
	// EncLevelPlaintext: only the handshake is encrypted.
	EncLevelPlaintext
	// EncLevelRC4: the whole stream is RC4.
	EncLevelRC4
)

var encLevelNames = [...]string{EncLevelBoth: "both", EncLevelPlaintext: "plaintext", EncLevelRC4: "rc4"}

// String returns the level's name as ParseEncLevel accepts it.
func (l EncLevel) String() string {
	if int(l) < len(encLevelNames) {
		return encLevelNames[l]
	}
	return fmt.Sprintf("EncLevel(%d)", uint8(l))
}

// ParseEncLevel parses "plaintext", "rc4" or "both".
func ParseEncLevel(s string) (EncLevel, error) {
	for i, n := range encLevelNames {
		if n == s {
			return EncLevel(i), nil
		}
	}
	return 0, fmt.Errorf("shard: unknown encryption level %q (want plaintext, rc4 or both)", s)
}

// Methods maps the level to the MSE crypto methods offered (outgoing) or
// accepted (incoming).
func (l EncLevel) Methods() mse.CryptoMethod {
	switch l {
	case EncLevelPlaintext:
		return mse.MethodPlaintext
	case EncLevelRC4:
		return mse.MethodRC4
	}
	return mse.MethodBoth
}

// ErrEncryptionHandshake matches (errors.Is) every *EncryptionError.
var ErrEncryptionHandshake = errors.New("shard: encryption handshake failed")

// Causes of an EncryptionError that are not mse.Error values.
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
)

// EncryptionError is an MSE handshake that failed: the peer's bytes were
// refused by ext/mse (Err is an mse.Error), the peer closed or stalled, or
// the policy refused the connection. It is carried by PeerErrorAlert,
// PeerDisconnectedAlert reasons and IncomingRefusedAlert.
type EncryptionError struct {
	Op  plugin.Operation // always plugin.OpEncryption
	Err error
}

func newEncryptionError(err error) *EncryptionError {
	return &EncryptionError{Op: plugin.OpEncryption, Err: err}
}

// NewEncryptionError wraps err (an mse.Error or one of this package's
// causes) as an EncryptionError.
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
	init *mse.Initiator
	// Incoming: what the receiver negotiated. prelude (the receiver's last
	// message) goes out in plaintext, then ciph (nil for MethodPlaintext)
	// becomes the send and receive cipher, both in open.
	ciph    *mse.RC4
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

// wantMSE reports whether an outgoing connection starts with MSE.
func (p *peer) wantMSE() bool {
	switch p.t.s.set.OutEncPolicy {
	case EncForced:
		return true
	case EncEnabled:
		return p.cand == nil || !p.cand.plainOnly
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
	var buf [wire.HandshakeLen]byte
	init, err := mse.NewInitiator(p.t.wireIH, p.t.s.set.AllowedEncLevel.Methods(), p.t.s.keyRand(), p.appendHandshake(buf[:0]))
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
	res := init.Result()
	p.mse = nil
	if res.Cipher == nil {
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
	cc.SetRecvCipher(res.Cipher)
	cc.SetSendCipher(res.Cipher)
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
// after the handshake, still as they came off the wire (RC4 ciphertext when
// res.Cipher is set); prelude is the receiver's last message (its
// crypto_select), not sent yet. The peer sends prelude, then switches its
// send and receive ciphers to res.Cipher before queuing anything else.
// Loop only.
func (s *Shard) AdoptEncrypted(fd int, raw []byte, res mse.Result, prelude []byte, remote netip.AddrPort) error {
	pending := append([]byte(nil), res.InitialPayload...)
	if len(raw) > 0 {
		start := len(pending)
		pending = append(pending, raw...)
		if res.Cipher != nil {
			res.Cipher.Decrypt([][]byte{pending[start:]})
		}
	}
	return s.adoptIncoming(fd, pending, res.InfoHash, remote, &peerMSE{ciph: res.Cipher, prelude: prelude})
}
