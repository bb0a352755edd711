package shardtorrent

import (
	"bytes"
	"crypto/rand"
	"io"

	"github.com/shardtorrent/shardtorrent/ext/mse"
	"github.com/shardtorrent/shardtorrent/loop"
	"github.com/shardtorrent/shardtorrent/settings"
	"github.com/shardtorrent/shardtorrent/shard"
)

// Incoming MSE: the accepting loop tells a plaintext handshake (19 then
// "BitTorrent protocol") from an MSE one by its first bytes and, for MSE,
// runs an mse.Receiver to the end of the handshake, its Diffie-Hellman
// work computed on the session's worker pool (dhpool.go). The obfuscated
// info-hash is looked up in the session's SKeyHash index (every shard's
// torrents, registry.go); the fd, the cipher, the receiver's last message
// and the bytes read past the handshake then go to the owning loop through
// the same hand-off as a plaintext connection (accept.go, handOff; then
// shard.AdoptEncrypted). Outgoing MSE runs in the shard
// (shard/encryption.go) with the ext/mse Initiator this file gives it
// (newMSEHandshaker): the shard declares the interface, the session wires
// the implementation in.

// Aliases of the encryption settings (package settings) and errors, for
// Settings.Engine.
type (
	// EncPolicy is libtorrent's in_enc_policy / out_enc_policy
	// (settings.EncPolicy).
	EncPolicy = settings.EncPolicy
	// EncLevel is libtorrent's allowed_enc_level (settings.EncLevel).
	EncLevel = settings.EncLevel
	// EncryptionError is a failed MSE handshake (see shard.EncryptionError).
	EncryptionError = shard.EncryptionError
)

// Encryption policies and levels (see settings.EncPolicy, settings.EncLevel).
const (
	EncEnabled        = settings.EncEnabled
	EncForced         = settings.EncForced
	EncDisabled       = settings.EncDisabled
	EncLevelBoth      = settings.EncLevelBoth
	EncLevelPlaintext = settings.EncLevelPlaintext
	EncLevelRC4       = settings.EncLevelRC4
)

// ErrEncryptionHandshake matches every *EncryptionError (errors.Is).
var ErrEncryptionHandshake = shard.ErrEncryptionHandshake

// protocolPrefix is how a plaintext handshake starts.
var protocolPrefix = []byte("\x13BitTorrent protocol")

// mseMethods maps an encryption level to the MSE crypto methods offered
// (outgoing) or accepted (incoming).
func mseMethods(l EncLevel) mse.CryptoMethod {
	switch l {
	case EncLevelPlaintext:
		return mse.MethodPlaintext
	case EncLevelRC4:
		return mse.MethodRC4
	}
	return mse.MethodBoth
}

// mseInitiator is ext/mse's Initiator as the shard's Handshaker. A
// one-pointer struct, so storing it in the interface allocates nothing.
type mseInitiator struct{ *mse.Initiator }

// Cipher returns the negotiated RC4, or nil for the plaintext method (an
// untyped nil: the shard tests the interface against nil). Loop only.
func (h mseInitiator) Cipher() shard.StreamCipher {
	if c := h.Result().Cipher; c != nil {
		return c
	}
	return nil
}

// newMSEHandshaker is the shards' Config.NewHandshaker: an mse.Initiator
// offering the methods of level. Safe from any goroutine.
func newMSEHandshaker(infoHash [20]byte, level shard.EncLevel, rand io.Reader, initialPayload []byte) (shard.Handshaker, error) {
	init, err := mse.NewInitiator(infoHash, mseMethods(level), rand, initialPayload)
	if err != nil {
		return nil, err
	}
	return mseInitiator{init}, nil
}

// encData runs before the plaintext path of acceptConn.OnData. It reports
// handled when it decided what to do with data (n is then OnData's result);
// otherwise the connection is plaintext and allowed.
func (a *acceptConn) encData(c *loop.Conn, data []byte) (n int, handled bool) {
	pol := a.s.live.Load().Engine.InEncPolicy
	if a.rcv == nil {
		k := min(len(data), len(protocolPrefix))
		if bytes.Equal(data[:k], protocolPrefix[:k]) {
			if pol != shard.EncForced {
				return 0, false
			}
			if k < len(protocolPrefix) {
				return 0, true // too early to tell
			}
			a.refuse(shard.NewEncryptionError(shard.ErrPlaintextRefused))
			return len(data), true
		}
		if pol == shard.EncDisabled {
			a.refuse(shard.NewEncryptionError(shard.ErrEncryptedRefused))
			return len(data), true
		}
		rcv, err := mse.NewDeferredReceiver(a.s.registry.lookupSKey, mseMethods(a.s.live.Load().Engine.AllowedEncLevel), a.s.keyRand())
		if err != nil {
			a.refuse(shard.NewEncryptionError(err))
			return len(data), true
		}
		rcv.SetPreferRC4(a.s.live.Load().Engine.PreferRC4)
		a.rcv = rcv
	}
	if a.dhBusy {
		return 0, true // reads are paused; the bytes wait for dhDone
	}
	n, err := a.rcv.Step(data)
	// The DH work goes to the pool (dhpool.go) unless it is full.
	for err == nil && a.rcv.WaitingDH() {
		if a.startDH() {
			return n, true
		}
		if err = a.rcv.ResumeDH(a.rcv.Job()); err != nil || a.rcv.WaitingDH() {
			continue
		}
		var m int
		m, err = a.rcv.Step(data[n:])
		n += m
	}
	if err != nil {
		a.refuse(shard.NewEncryptionError(err))
		return len(data), true
	}
	if !a.rcv.Done() {
		if out := a.rcv.Output(); len(out) > 0 {
			c.Write(out)
		}
		return n, true
	}
	// The last message goes out from the owning loop, ahead of the cipher
	// switch there: Detach needs an empty send queue.
	res := a.rcv.Result()
	enc := &shard.MSEResult{InfoHash: res.InfoHash, InitialPayload: res.InitialPayload, Prelude: a.rcv.Output()}
	if res.Cipher != nil {
		enc.Cipher = res.Cipher // only a non-nil *RC4: a nil one would make a non-nil interface
	}
	a.handOffLater(&handoffReq{a: a, ih: res.InfoHash, enc: enc})
	return n, true
}

// keyRand is the source of MSE keys and padding: Settings.Rand or crypto/rand.
func (s *Session) keyRand() io.Reader {
	if s.set.Rand != nil {
		return s.set.Rand
	}
	return rand.Reader
}
