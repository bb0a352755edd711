package shardtorrent

import (
	"bytes"
	"crypto/rand"
	"io"

	"github.com/shardtorrent/shardtorrent/ext/mse"
	"github.com/shardtorrent/shardtorrent/loop"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/shard"
)

// Incoming MSE: the accepting loop tells a plaintext handshake (19 then
// "BitTorrent protocol") from an MSE one by its first bytes and, for MSE,
// runs an mse.Receiver to the end of the handshake. The obfuscated
// info-hash is looked up in the session's SKeyHash index (every shard's
// torrents); the fd, the cipher, the receiver's last message and the bytes
// read past the handshake then go to the owning loop (shard.AdoptEncrypted).
// Outgoing MSE runs in the shard (shard/encryption.go).

// Aliases of the shard's encryption settings and errors, for Settings.Engine.
type (
	// EncPolicy is libtorrent's in_enc_policy / out_enc_policy.
	EncPolicy = shard.EncPolicy
	// EncLevel is libtorrent's allowed_enc_level.
	EncLevel = shard.EncLevel
	// EncryptionError is a failed MSE handshake (see shard.EncryptionError).
	EncryptionError = shard.EncryptionError
)

// Encryption policies and levels (see shard.EncPolicy, shard.EncLevel).
const (
	EncEnabled        = shard.EncEnabled
	EncForced         = shard.EncForced
	EncDisabled       = shard.EncDisabled
	EncLevelBoth      = shard.EncLevelBoth
	EncLevelPlaintext = shard.EncLevelPlaintext
	EncLevelRC4       = shard.EncLevelRC4
)

// ErrEncryptionHandshake matches every *EncryptionError (errors.Is).
var ErrEncryptionHandshake = shard.ErrEncryptionHandshake

// protocolPrefix is how a plaintext handshake starts.
var protocolPrefix = []byte("\x13BitTorrent protocol")

// register records ih as owned by sh, with its MSE lookup key. Caller holds
// regMu for writing.
func (s *Session) register(ih [20]byte, sh *shard.Shard) {
	s.registry[ih] = sh
	s.q.add(ih) // at the bottom of the queue (queue.go)
	if s.skeys == nil {
		s.skeys = make(map[[20]byte][20]byte)
	}
	s.skeys[mse.SKeyHash(ih)] = ih
}

// unregister forgets ih. Caller holds regMu for writing.
func (s *Session) unregister(ih [20]byte) {
	delete(s.registry, ih)
	s.q.remove(ih)
	delete(s.skeys, mse.SKeyHash(ih))
}

// lookupSKey maps HASH('req2', info-hash) to the info-hash of a torrent we
// have, for the Receiver. Safe from any goroutine.
func (s *Session) lookupSKey(h [20]byte) ([20]byte, bool) {
	s.regMu.RLock()
	defer s.regMu.RUnlock()
	ih, ok := s.skeys[h]
	return ih, ok
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
		rcv, err := mse.NewReceiver(a.s.lookupSKey, a.s.live.Load().Engine.AllowedEncLevel.Methods(), a.s.keyRand())
		if err != nil {
			a.refuse(shard.NewEncryptionError(err))
			return len(data), true
		}
		rcv.SetPreferRC4(a.s.live.Load().Engine.PreferRC4)
		a.rcv = rcv
	}
	n, err := a.rcv.Step(data)
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
	a.handing = true
	if a.timer != nil {
		a.timer.Stop()
	}
	c.Loop().Post(handOffEncrypted, &encHandoff{a: a, res: a.rcv.Result(), prelude: a.rcv.Output()})
	return n, true
}

type encHandoff struct {
	a       *acceptConn
	res     mse.Result
	prelude []byte
}

// handOffEncrypted moves a connection whose MSE handshake finished to the
// loop owning its torrent. Runs on the accepting loop after the OnData
// that finished the handshake.
func handOffEncrypted(arg any) {
	r := arg.(*encHandoff)
	a := r.a
	if a.c.Closed() {
		return
	}
	remote := a.c.RemoteAddr()
	fd, raw, err := a.c.Detach()
	if err != nil {
		a.refuse(err)
		return
	}
	a.finished = true
	sh := a.s.lookup(r.res.InfoHash)
	if sh == nil {
		closeFd(fd)
		a.s.incoming.refused(ErrUnknownInfoHash)
		a.s.alerts.Post(&plugin.IncomingRefusedAlert{Addr: remote, Reason: ErrUnknownInfoHash})
		return
	}
	sh.Loop().Post(func(any) {
		if err := sh.AdoptEncrypted(fd, raw, r.res, r.prelude, remote); err != nil {
			a.s.alerts.Post(&plugin.IncomingRefusedAlert{Addr: remote, Reason: err})
		}
	}, nil)
}

// keyRand is the source of MSE keys and padding: Settings.Rand or crypto/rand.
func (s *Session) keyRand() io.Reader {
	if s.set.Rand != nil {
		return s.set.Rand
	}
	return rand.Reader
}
