package loop

import "errors"

// Ciphers transform a conn's bytes in place, for crypto plugins (MSE/RC4).
// The loop calls them on the loop goroutine only, never concurrently, and in
// stream order: a stream cipher keeps its position in its own state. A cipher
// must not call Conn methods.
//
// Send path (libtorrent's send barrier, done per queue entry): every queued
// entry remembers the SendCipher in force when it was queued. Just before
// writev the loop encrypts, in queue order, the entries about to be written
// that their cipher has not rewritten yet; each byte is encrypted exactly
// once, however the writes split it. Bytes queued before a SetSendCipher keep
// the cipher they were queued under (nil: plaintext).
//
// Receive path: right after a read and before OnData the loop passes the
// bytes its RecvCipher has not seen yet to Decrypt, which rewrites them in
// place inside the receive span; only plaintext reaches OnData.

// MaxCryptoPacket is the largest packetSize a RecvCipher may ask for (as
// libtorrent: 1 MiB + 1 KiB). A larger one closes the conn with ErrBadDecrypt.
const MaxCryptoPacket = 1<<20 + 1<<10

var (
	// ErrBadDecrypt closes a conn whose RecvCipher returned counts outside
	// its input or a packetSize above MaxCryptoPacket.
	ErrBadDecrypt = errors.New("loop: RecvCipher returned invalid counts")
	// ErrCipherPending is returned by Detach while received bytes are not
	// plaintext yet (see Conn.Detach).
	ErrCipherPending = errors.New("loop: detach with undecrypted received bytes")
)

// SendCipher encrypts outgoing bytes in place.
type SendCipher interface {
	// Encrypt rewrites every byte of vecs in place, in order. vecs and its
	// slices are valid only during the call (they alias pooled send spans).
	Encrypt(vecs [][]byte)
}

// RecvCipher decrypts incoming bytes in place.
type RecvCipher interface {
	// Decrypt gets the received bytes it has not processed yet (at least
	// one, and at least the packetSize it last asked for), in order, and may
	// rewrite them in place; vecs is valid only during the call. It returns:
	//   - consume: bytes at the head of vecs to drop (a record header);
	//   - produce: bytes right after those that are now plaintext, handed to
	//     OnData (a stream cipher like RC4 decrypts everything: 0, n, 0);
	//   - packetSize: how many unprocessed bytes (counted from after the
	//     produced ones) must be buffered before the next call can make
	//     progress; 0 means any amount.
	// Bytes after consume+produce are passed to the next call as the cipher
	// left them. The loop calls again at once while enough bytes remain.
	// consume+produce must not exceed the input; packetSize must not exceed
	// MaxCryptoPacket (else ErrBadDecrypt). A call that consumes and produces
	// nothing is not repeated until more bytes arrive. Today vecs always
	// holds one slice (the receive span is contiguous); do not rely on it.
	Decrypt(vecs [][]byte) (consume, produce, packetSize int)
}

// SetSendCipher makes s encrypt every byte queued (Write, WriteSpan) after
// the call; bytes queued before it go out as they were queued: plaintext, or
// encrypted by the cipher that was set then (a send barrier). nil sends later
// bytes in plaintext. The conn keeps using an old cipher until the bytes
// queued under it are written, so do not use s elsewhere meanwhile.
//
// Zero-copy: Write's copies live in conn-private spans and are encrypted in
// place. A WriteSpan span is encrypted in place only if the queue holds its
// only reference when it is encrypted (Refs() == 1); if anyone else holds it
// (a cached block sent to several peers, a receive span, a caller that
// retained it) the bytes are first copied to a fresh pooled span, which is
// encrypted instead, and Stats.CryptoCopies counts the copy. Loop only.
func (c *Conn) SetSendCipher(s SendCipher) {
	if c.state >= connClosed {
		return
	}
	c.txCiph = s
	c.txEpoch++ // Write must not append to a tail entry of the old cipher
}

// SetRecvCipher switches the receive cipher. Rule: every received byte that
// OnData has not consumed when the switch takes effect is ciphertext for r,
// and r decrypts it before it is presented again. The switch takes effect:
//   - inside this conn's OnData: when that call returns, after the bytes it
//     consumed (its return value), so a handshake parser calls
//     SetRecvCipher and returns the handshake's length; bytes received past
//     the handshake (even in the same read) are decrypted by r and presented
//     in a new OnData call right away;
//   - anywhere else: at once; unconsumed bytes are decrypted and presented
//     after the current callback.
//
// "Ciphertext for r" means the bytes in their present form: raw wire bytes
// unless a previous cipher already decrypted them in place (it does so for
// everything it can as soon as it is read). So a switch is exact from nil
// (MSE's handshake, whose encrypted fields the handshake code decrypts itself,
// then RC4 for the rest of the stream), or when nothing already decrypted is
// left unconsumed. r == nil presents later bytes unchanged. Bytes given to
// Adopt as pending are plaintext and never passed to r. Loop only.
func (c *Conn) SetRecvCipher(r RecvCipher) {
	if c.state >= connClosed {
		return
	}
	c.rxCiph = r
	c.rxNeed = 0
	if c.inData {
		c.rxSwitch = true
		return
	}
	c.rekeyRx()
	if c.state == connOpen && c.rxEnd > c.rxOff {
		c.l.deferConn(c, notifyData)
	}
}

// rekeyRx marks the unconsumed bytes (past Adopt's plaintext) as not yet
// through the receive cipher.
func (c *Conn) rekeyRx() {
	if c.rxCiph == nil {
		c.rxDec = c.rxEnd
		return
	}
	c.rxDec = min(max(c.rxOff, c.rxFloor), c.rxEnd)
}

// sealTx encrypts, in queue order, the bytes of entries [txHead, end) that
// their cipher has not rewritten yet. Consecutive entries of one cipher epoch
// go to one Encrypt call.
func (c *Conn) sealTx(end int) {
	if c.txPlain == 0 {
		return
	}
	l := c.l
	if l.cvecs == nil {
		l.cvecs = make([][]byte, 0, iovMax) // once per loop: no allocation per flush
	}
	vecs := l.cvecs[:0]
	var run SendCipher
	var epoch uint32
	for i := c.txHead; i < end; i++ {
		e := &c.txq[i]
		if e.ciph == nil || e.sealed == len(e.b) {
			continue
		}
		if len(vecs) > 0 && e.epoch != epoch {
			run.Encrypt(vecs)
			clear(vecs)
			vecs = vecs[:0]
		}
		// Only own entries get bytes appended after sealing, so any other
		// entry here is whole and unwritten (sealed == 0).
		if !e.own && e.span.Refs() > 1 {
			c.privatize(e)
		}
		vecs = append(vecs, e.b[e.sealed:])
		c.txPlain -= len(e.b) - e.sealed
		e.sealed = len(e.b)
		run, epoch = e.ciph, e.epoch
	}
	if len(vecs) > 0 {
		run.Encrypt(vecs)
		clear(vecs) // drop the views so the scratch pins no span
	}
	l.cvecs = vecs[:0]
}

// privatize moves e's bytes to a fresh pooled span, so encrypting them does
// not rewrite a span someone else still reads.
func (c *Conn) privatize(e *txEntry) {
	s := c.l.pool.Get(len(e.b))
	copy(s.Bytes(), e.b)
	e.span.Release()
	e.span, e.b = s, s.Bytes()
	c.l.st.cryptoCopies.Add(1)
}

// decryptRx runs the receive cipher over [rxDec, rxEnd) as long as it makes
// progress and has the packet it asked for. Produced plaintext is appended at
// rxDec; consumed bytes are dropped. When no plaintext waits in front of
// them this only moves rxOff (no copy: the RC4 case, and any first packet of
// a read); otherwise the produced bytes are moved down over the consumed
// ones, which never touches presented bytes, so it is safe in a shared span.
func (c *Conn) decryptRx() {
	buf := c.rx.Full()
	w, r := c.rxDec, c.rxDec // plaintext ends at w; unprocessed bytes start at r
	for c.rxEnd-r >= max(c.rxNeed, 1) {
		in := buf[r:c.rxEnd]
		vec := &c.l.rvec
		vec[0] = in
		consume, produce, need := c.rxCiph.Decrypt(vec[:])
		vec[0] = nil
		if consume < 0 || produce < 0 || consume > len(in)-produce || need < 0 || need > MaxCryptoPacket {
			c.Close(ErrBadDecrypt)
			return
		}
		if consume+produce == 0 {
			need = max(need, len(in)+1) // wait for more bytes
		}
		c.rxNeed = need
		r += consume
		if w == c.rxOff {
			c.rxOff, w = r, r
		} else if produce > 0 {
			copy(buf[w:], buf[r:r+produce])
		}
		w += produce
		r += produce
	}
	if r != w {
		c.rxEnd = w + copy(buf[w:], buf[r:c.rxEnd])
	}
	c.rxDec = w
}
