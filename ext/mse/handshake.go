package mse

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// CryptoMethod is a set of MSE crypto methods, as sent in crypto_provide and
// crypto_select (a 32-bit big-endian bitfield on the wire).
type CryptoMethod uint32

// The methods of the spec.
const (
	MethodPlaintext CryptoMethod = 1 << 0 // only the handshake is encrypted
	MethodRC4       CryptoMethod = 1 << 1 // the whole stream is RC4-drop1024
	MethodBoth                   = MethodPlaintext | MethodRC4
)

func (m CryptoMethod) String() string {
	switch m {
	case MethodPlaintext:
		return "plaintext"
	case MethodRC4:
		return "rc4"
	case MethodBoth:
		return "plaintext|rc4"
	}
	return fmt.Sprintf("CryptoMethod(%#x)", uint32(m))
}

// Wire limits of the spec. Every length a peer controls is checked against
// one of these before anything is buffered or searched.
const (
	// MaxPad is the longest PadA, PadB, PadC or PadD.
	MaxPad = 512
	// MaxInitialPayload is the longest IA (its length is a uint16).
	MaxInitialPayload = 1<<16 - 1

	vcLen     = 8  // verification constant: 8 zero bytes
	hashLen   = 20 // SHA-1
	methodLen = 4  // crypto_provide / crypto_select
	padLenLen = 2  // len(PadC) / len(PadD) / len(IA)

	// MaxReceiverRead is the most a Receiver consumes before it finishes or
	// fails: Ya, PadA, HASH('req1', S), the obfuscated SKEY hash, then
	// ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA), IA).
	MaxReceiverRead = pubKeyLen + MaxPad + hashLen + hashLen + vcLen + methodLen + padLenLen + MaxPad + padLenLen + MaxInitialPayload
	// MaxInitiatorRead is the most an Initiator consumes before it finishes
	// or fails: Yb, PadB, ENCRYPT(VC, crypto_select, len(PadD), PadD).
	MaxInitiatorRead = pubKeyLen + MaxPad + vcLen + methodLen + padLenLen + MaxPad
)

// Error is a handshake failure caused by the peer (or, for
// ErrPayloadTooLong, by the caller). Match with errors.Is.
type Error uint8

// Handshake errors.
const (
	// ErrSyncNotFound: no HASH('req1', S) (receiver) or ENCRYPT(VC)
	// (initiator) within MaxPad bytes after the peer's public key; the peer
	// does not speak MSE or uses other keys.
	ErrSyncNotFound Error = iota + 1
	// ErrUnknownInfoHash: the obfuscated SKEY hash matches no torrent.
	ErrUnknownInfoHash
	// ErrNoCommonMethod: crypto_provide and our allowed methods are disjoint.
	ErrNoCommonMethod
	// ErrBadSelect: crypto_select is not exactly one method we provided.
	ErrBadSelect
	// ErrPadTooLong: len(PadC) or len(PadD) exceeds MaxPad.
	ErrPadTooLong
	// ErrBadVC: the decrypted verification constant is not zero.
	ErrBadVC
	// ErrBadPublicKey: the peer's DH key is outside (1, P-1).
	ErrBadPublicKey
	// ErrPayloadTooLong: NewInitiator got more than MaxInitialPayload bytes.
	ErrPayloadTooLong
)

func (e Error) Error() string {
	switch e {
	case ErrSyncNotFound:
		return "mse: synchronisation pattern not found within the padding limit"
	case ErrUnknownInfoHash:
		return "mse: obfuscated info-hash matches no torrent"
	case ErrNoCommonMethod:
		return "mse: no common crypto method"
	case ErrBadSelect:
		return "mse: peer selected a crypto method we did not provide"
	case ErrPadTooLong:
		return "mse: padding longer than 512 bytes"
	case ErrBadVC:
		return "mse: bad verification constant"
	case ErrBadPublicKey:
		return "mse: invalid Diffie-Hellman public key"
	case ErrPayloadTooLong:
		return "mse: initial payload longer than 65535 bytes"
	}
	return fmt.Sprintf("mse: error %d", uint8(e))
}

// Result is what a finished handshake negotiated.
//
// The bytes of the input the handshake did not consume (Step's n) are the
// peer's payload stream: RC4 ciphertext for Cipher's incoming direction
// when Method is MethodRC4, plaintext otherwise. To run on a loop.Conn,
// SetSendCipher(Cipher) and SetRecvCipher(Cipher) right when the handshake
// bytes are consumed (a switch from nil, which is exact); a connection
// handed to another loop with unconsumed bytes must Decrypt them first, as
// Adopt takes its pending bytes as plaintext.
type Result struct {
	Method CryptoMethod
	// Cipher is keyed both ways and positioned right after the handshake;
	// nil when Method is MethodPlaintext. Owned by the caller.
	Cipher *RC4
	// InfoHash is the torrent: the one given to NewInitiator, or the one
	// the receiver's lookup returned.
	InfoHash [20]byte
	// InitialPayload is IA, decrypted (receiver only; nil if empty).
	// Owned by the caller.
	InitialPayload []byte
}

// machine is what both roles share: the key pair, the pending output, the
// bytes of the field being collected and the consumption count.
type machine struct {
	rand   io.Reader
	key    dhKey
	secret [pubKeyLen]byte
	ciph   *RC4
	// padLen draws a pad length in [0, max]; tests replace it.
	padLen func(max int) (int, error)

	out []byte // bytes to send, handed out by Output
	// Invariant: len(buf) < the size the current state collects (or the
	// sync window); buf holds the current field's bytes, consumed already.
	buf   []byte
	state int
	done  bool
	err   error
	res   Result
}

// init sets the random source and draws the private key; the public key
// is computed too unless deferPub (a deferred Receiver computes it in its
// DHJob).
func (m *machine) init(rand io.Reader, deferPub bool) error {
	m.rand = rand
	m.padLen = m.randPadLen
	k, err := drawDHKey(rand)
	if err == nil && !deferPub {
		k.computePub()
	}
	m.key = k
	return err
}

func (m *machine) randPadLen(max int) (int, error) {
	var b [2]byte
	if _, err := io.ReadFull(m.rand, b[:]); err != nil {
		return 0, fmt.Errorf("mse: padding: %w", err)
	}
	return int(binary.BigEndian.Uint16(b[:])) % (max + 1), nil
}

// sendPubKey queues our public key and a random-length PadA/PadB of random
// bytes.
func (m *machine) sendPubKey() error {
	n, err := m.padLen(MaxPad)
	if err != nil {
		return err
	}
	m.out = append(m.out, m.key.pub[:]...)
	pad := make([]byte, n)
	if _, err := io.ReadFull(m.rand, pad); err != nil {
		return fmt.Errorf("mse: padding: %w", err)
	}
	m.out = append(m.out, pad...)
	return nil
}

// take collects the next n bytes of the stream. Once they are all there it
// returns them (ok, valid until the caller drops them: the next take
// starts a new slice), and always how many bytes of in it consumed.
func (m *machine) take(in []byte, n int) (field []byte, used int, ok bool) {
	used = min(n-len(m.buf), len(in))
	m.buf = append(m.buf, in[:used]...)
	if len(m.buf) < n {
		return nil, used, false
	}
	field = m.buf
	m.buf = nil
	return field, used, true
}

// sync searches the stream for pattern, which must end within window bytes
// of where the search began. It consumes the stream through the end of the
// pattern and no further, so bytes after the handshake are never taken.
func (m *machine) sync(in []byte, pattern []byte, window int) (found bool, used int, err error) {
	old := len(m.buf)
	used = min(window-old, len(in))
	m.buf = append(m.buf, in[:used]...)
	from := max(0, old-len(pattern)+1)
	if i := bytes.Index(m.buf[from:], pattern); i >= 0 {
		end := from + i + len(pattern)
		m.buf = nil
		return true, end - old, nil
	}
	if len(m.buf) >= window {
		return false, used, ErrSyncNotFound
	}
	return false, used, nil
}

// run drives step until it needs more input, finishes or fails.
func (m *machine) run(in []byte, step func([]byte) (int, bool, error)) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	n := 0
	for !m.done {
		used, progress, err := step(in[n:])
		n += used
		if err != nil {
			m.err = err
			return n, err
		}
		if !progress {
			break
		}
	}
	return n, nil
}

// Output returns the bytes to send to the peer, queued since the last call,
// and forgets them: the caller owns the slice.
func (m *machine) Output() []byte {
	out := m.out
	m.out = nil
	return out
}

// Done reports whether the handshake finished; Result is then valid and
// Step consumes nothing more.
func (m *machine) Done() bool { return m.done }

// Err returns the error that ended the handshake, if any.
func (m *machine) Err() error { return m.err }

// Result returns the negotiated state; valid once Done.
func (m *machine) Result() Result { return m.res }

// Initiator is the connecting side of an MSE handshake, without I/O: feed
// it the peer's bytes with Step and send what Output returns, until Done
// (or an error). Not safe for concurrent use; the engine runs it on the
// loop that owns the connection.
type Initiator struct {
	machine
	infoHash [20]byte
	provide  CryptoMethod
	payload  []byte
	vc       [vcLen]byte // ENCRYPT(VC) expected from the receiver
	padD     int
}

// Initiator states.
const (
	iReadYb = iota
	iSyncVC
	iReadSelect
	iReadPadD
)

// NewInitiator starts a handshake for infoHash offering provide (a set of
// methods). rand supplies the private key and padding (crypto/rand in
// production). initialPayload (IA, e.g. the BitTorrent handshake, at most
// MaxInitialPayload bytes) is sent encrypted in the third message; it is
// copied. Output holds Ya and PadA on return.
func NewInitiator(infoHash [20]byte, provide CryptoMethod, rand io.Reader, initialPayload []byte) (*Initiator, error) {
	return newInitiator(infoHash, provide, initialPayload, func(h *Initiator) error { return h.init(rand, false) })
}

// NewInitiatorKey is NewInitiator with a key pair made by GenerateKey
// instead of a fresh one: one modular exponentiation per handshake instead
// of two. rand still supplies the padding. See Key for what reusing a key
// gives up.
func NewInitiatorKey(infoHash [20]byte, provide CryptoMethod, key *Key, rand io.Reader, initialPayload []byte) (*Initiator, error) {
	return newInitiator(infoHash, provide, initialPayload, func(h *Initiator) error {
		h.rand, h.padLen, h.key = rand, h.randPadLen, key.k
		return nil
	})
}

// newInitiator checks the arguments, makes the Initiator, lets keys set
// up its key and padding, and writes Ya and PadA.
func newInitiator(infoHash [20]byte, provide CryptoMethod, initialPayload []byte, keys func(*Initiator) error) (*Initiator, error) {
	if len(initialPayload) > MaxInitialPayload {
		return nil, ErrPayloadTooLong
	}
	if provide&MethodBoth == 0 {
		return nil, ErrNoCommonMethod
	}
	h := &Initiator{infoHash: infoHash, provide: provide & MethodBoth}
	h.payload = append([]byte(nil), initialPayload...)
	if err := keys(h); err != nil {
		return nil, err
	}
	if err := h.sendPubKey(); err != nil {
		return nil, err
	}
	return h, nil
}

// Step consumes bytes received from the peer, in order, and returns how
// many it used; it never consumes past the end of the handshake, so
// in[n:] then belongs to the payload stream (see Result). After an error
// the handshake is dead and Step returns the same error.
func (h *Initiator) Step(in []byte) (n int, err error) { return h.run(in, h.step) }

func (h *Initiator) step(in []byte) (used int, progress bool, err error) {
	switch h.state {
	case iReadYb:
		f, used, ok := h.take(in, pubKeyLen)
		if !ok {
			return used, false, nil
		}
		if h.secret, err = h.key.secret(f); err != nil {
			return used, false, err
		}
		if err := h.sendReq(); err != nil {
			return used, false, err
		}
		h.state = iSyncVC
		return used, true, nil
	case iSyncVC:
		found, used, err := h.sync(in, h.vc[:], MaxPad+vcLen)
		if found {
			h.state = iReadSelect
		}
		return used, found, err
	case iReadSelect:
		f, used, ok := h.take(in, methodLen+padLenLen)
		if !ok {
			return used, false, nil
		}
		h.ciph.in.XORKeyStream(f, f)
		sel := CryptoMethod(binary.BigEndian.Uint32(f))
		if (sel != MethodPlaintext && sel != MethodRC4) || sel&h.provide == 0 {
			return used, false, ErrBadSelect
		}
		h.res.Method = sel
		h.padD = int(binary.BigEndian.Uint16(f[methodLen:]))
		if h.padD > MaxPad {
			return used, false, ErrPadTooLong
		}
		h.state = iReadPadD
		return used, true, nil
	case iReadPadD:
		f, used, ok := h.take(in, h.padD)
		if !ok {
			return used, false, nil
		}
		h.ciph.in.XORKeyStream(f, f) // PadD's content is ignored
		h.finish()
		return used, true, nil
	}
	panic("mse: bad initiator state")
}

// sendReq queues the third message and computes the ENCRYPT(VC) to expect.
func (h *Initiator) sendReq() error {
	h.ciph = newCiphers(&h.secret, h.infoHash, true)
	// The receiver's first encrypted bytes are VC: the first 8 bytes of its
	// keystream. Generating them here leaves our incoming stream positioned
	// right after VC, where the sync search will leave the peer's stream.
	h.ciph.in.XORKeyStream(h.vc[:], h.vc[:])

	req1 := hash([]byte("req1"), h.secret[:])
	req2 := SKeyHash(h.infoHash)
	req3 := hash([]byte("req3"), h.secret[:])
	for i := range req2 {
		req2[i] ^= req3[i]
	}
	padC, err := h.padLen(MaxPad)
	if err != nil {
		return err
	}
	h.out = append(h.out, req1[:]...)
	h.out = append(h.out, req2[:]...)
	start := len(h.out)
	h.out = append(h.out, make([]byte, vcLen)...)
	h.out = binary.BigEndian.AppendUint32(h.out, uint32(h.provide))
	h.out = binary.BigEndian.AppendUint16(h.out, uint16(padC))
	h.out = append(h.out, make([]byte, padC)...) // PadC: zeros, as libtorrent
	h.out = binary.BigEndian.AppendUint16(h.out, uint16(len(h.payload)))
	h.out = append(h.out, h.payload...)
	enc := h.out[start:]
	h.ciph.out.XORKeyStream(enc, enc)
	h.payload = nil
	return nil
}

func (h *Initiator) finish() {
	h.done = true
	h.res.InfoHash = h.infoHash
	if h.res.Method == MethodRC4 {
		h.res.Cipher = h.ciph
	}
	h.ciph = nil
}

// Receiver is the accepting side of an MSE handshake, without I/O: feed it
// the peer's bytes with Step and send what Output returns, until Done (or
// an error). Not safe for concurrent use.
type Receiver struct {
	machine
	lookup  func(skeyHash [20]byte) (infoHash [20]byte, ok bool)
	allowed CryptoMethod
	// plainFirst: selects plaintext over RC4 when offered both (see
	// SetPreferRC4).
	plainFirst bool
	req1       [hashLen]byte
	padC       int
	iaLen      int
	// deferDH: Step stops at Ya and leaves both exponentiations to a DHJob
	// (NewDeferredReceiver); job is that work, draws the keys tried.
	deferDH bool
	job     DHJob
	draws   int
}

// Receiver states.
const (
	rReadYa = iota
	rSyncReq1
	rReadSKey
	rReadProvide
	rReadPadC
	rReadIALen
	rReadIA
	rWaitDH // deferred: Ya read, waiting for ResumeDH
)

// NewReceiver starts the accepting side. lookup maps HASH('req2', SKEY)
// (see SKeyHash) to the info-hash of a torrent we serve; it is called once,
// from Step. allowed is the set of methods we accept; when the peer offers
// both and both are allowed, RC4 is selected. rand supplies the private key
// and padding (crypto/rand in production).
func NewReceiver(lookup func(skeyHash [20]byte) (infoHash [20]byte, ok bool), allowed CryptoMethod, rand io.Reader) (*Receiver, error) {
	if allowed&MethodBoth == 0 {
		return nil, ErrNoCommonMethod
	}
	h := &Receiver{lookup: lookup, allowed: allowed & MethodBoth}
	if err := h.init(rand, false); err != nil {
		return nil, err
	}
	return h, nil
}

// NewDeferredReceiver is NewReceiver for a caller that runs the
// Diffie-Hellman work elsewhere: the Receiver makes no modular
// exponentiation itself. Step stops once it has read Ya (WaitingDH then
// reports true; Step consumes nothing more); the caller runs Job().Compute
// on any goroutine and hands the job back with ResumeDH on the goroutine
// that runs the Receiver, then goes on with Step. Output and random draws
// are exactly NewReceiver's for the same rand.
func NewDeferredReceiver(lookup func(skeyHash [20]byte) (infoHash [20]byte, ok bool), allowed CryptoMethod, rand io.Reader) (*Receiver, error) {
	if allowed&MethodBoth == 0 {
		return nil, ErrNoCommonMethod
	}
	h := &Receiver{lookup: lookup, allowed: allowed & MethodBoth, deferDH: true}
	if err := h.init(rand, true); err != nil {
		return nil, err
	}
	return h, nil
}

// DHJob is the Diffie-Hellman work of a deferred Receiver: our public key
// Yb = G^x and the secret S = Ya^x mod P, two 768-bit modular
// exponentiations with a 160-bit exponent. Between Receiver.Job and
// Receiver.ResumeDH it belongs to whoever computes it; nothing else reads
// or writes it then. It lives inside the Receiver: no allocation.
type DHJob struct {
	key    dhKey
	ya     [pubKeyLen]byte
	secret [pubKeyLen]byte
	err    error
}

// Compute does the job's exponentiations. Safe from any goroutine (it
// touches only the job), once per handing-out.
func (j *DHJob) Compute() {
	if j.secret, j.err = j.key.secret(j.ya[:]); j.err != nil {
		return // a bad Ya: no need for our public key
	}
	j.key.computePub()
}

// WaitingDH reports whether Step stopped for the Diffie-Hellman work
// (deferred receivers only); Job then returns it.
func (h *Receiver) WaitingDH() bool { return h.state == rWaitDH && h.err == nil }

// Job returns the pending Diffie-Hellman work; valid while WaitingDH.
func (h *Receiver) Job() *DHJob { return &h.job }

// ResumeDH takes back the job of Job once Compute has run. The handshake
// then goes on: Output holds Yb and PadB, and Step takes the bytes after
// Ya. When the secret starts with a zero byte (see pickKey) it draws
// another key instead, and WaitingDH stays true: compute the job again.
// After an error the handshake is dead, as with Step.
func (h *Receiver) ResumeDH(j *DHJob) error {
	if h.err != nil {
		return h.err
	}
	if h.state != rWaitDH || j != &h.job {
		panic("mse: ResumeDH without a pending job")
	}
	if j.err != nil {
		h.err = j.err
		return h.err
	}
	h.key, h.secret = j.key, j.secret
	if h.secret[0] == 0 && h.draws < maxKeyDraws {
		h.draws++
		k, err := drawDHKey(h.rand)
		if err != nil {
			h.err = err
			return err
		}
		j.key, j.err = k, nil
		return nil
	}
	if err := h.keyed(); err != nil {
		h.err = err
		return err
	}
	return nil
}

// keyed sends Yb and PadB once S is known and looks for HASH('req1', S).
func (h *Receiver) keyed() error {
	if err := h.sendPubKey(); err != nil {
		return err
	}
	h.req1 = hash([]byte("req1"), h.secret[:])
	h.state = rSyncReq1
	return nil
}

// SetPreferRC4 chooses what the receiver selects when the peer offers both
// methods and both are allowed: RC4 (true, the default of NewReceiver) or
// plaintext (false, libtorrent's default: its prefer_rc4 setting is off).
// Call it before the first Step.
func (h *Receiver) SetPreferRC4(rc4 bool) { h.plainFirst = !rc4 }

// Step consumes bytes received from the peer, as Initiator.Step. The
// receiver sends Yb and PadB once it has Ya, and its final message once it
// has read IA.
func (h *Receiver) Step(in []byte) (n int, err error) { return h.run(in, h.step) }

func (h *Receiver) step(in []byte) (used int, progress bool, err error) {
	switch h.state {
	case rReadYa:
		f, used, ok := h.take(in, pubKeyLen)
		if !ok {
			return used, false, nil
		}
		if h.deferDH {
			copy(h.job.ya[:], f)
			h.job.key, h.draws = h.key, 1
			h.state = rWaitDH
			return used, false, nil
		}
		if err := h.pickKey(f); err != nil {
			return used, false, err
		}
		if err := h.keyed(); err != nil {
			return used, false, err
		}
		return used, true, nil
	case rWaitDH:
		return 0, false, nil
	case rSyncReq1:
		found, used, err := h.sync(in, h.req1[:], MaxPad+hashLen)
		if found {
			h.state = rReadSKey
		}
		return used, found, err
	case rReadSKey:
		f, used, ok := h.take(in, hashLen)
		if !ok {
			return used, false, nil
		}
		req3 := hash([]byte("req3"), h.secret[:])
		var x [hashLen]byte
		for i := range x {
			x[i] = f[i] ^ req3[i]
		}
		ih, ok := h.lookup(x)
		if !ok {
			return used, false, ErrUnknownInfoHash
		}
		h.res.InfoHash = ih
		h.ciph = newCiphers(&h.secret, ih, false)
		h.state = rReadProvide
		return used, true, nil
	case rReadProvide:
		f, used, ok := h.take(in, vcLen+methodLen+padLenLen)
		if !ok {
			return used, false, nil
		}
		h.ciph.in.XORKeyStream(f, f)
		if !bytes.Equal(f[:vcLen], make([]byte, vcLen)) {
			return used, false, ErrBadVC
		}
		common := CryptoMethod(binary.BigEndian.Uint32(f[vcLen:])) & h.allowed
		switch {
		case h.plainFirst && common&MethodPlaintext != 0:
			h.res.Method = MethodPlaintext
		case common&MethodRC4 != 0:
			h.res.Method = MethodRC4
		case common&MethodPlaintext != 0:
			h.res.Method = MethodPlaintext
		default:
			return used, false, ErrNoCommonMethod
		}
		h.padC = int(binary.BigEndian.Uint16(f[vcLen+methodLen:]))
		if h.padC > MaxPad {
			return used, false, ErrPadTooLong
		}
		h.state = rReadPadC
		return used, true, nil
	case rReadPadC:
		f, used, ok := h.take(in, h.padC)
		if !ok {
			return used, false, nil
		}
		h.ciph.in.XORKeyStream(f, f) // PadC's content is ignored
		h.state = rReadIALen
		return used, true, nil
	case rReadIALen:
		f, used, ok := h.take(in, padLenLen)
		if !ok {
			return used, false, nil
		}
		h.ciph.in.XORKeyStream(f, f)
		h.iaLen = int(binary.BigEndian.Uint16(f)) // <= MaxInitialPayload by type
		h.state = rReadIA
		return used, true, nil
	case rReadIA:
		f, used, ok := h.take(in, h.iaLen)
		if !ok {
			return used, false, nil
		}
		if len(f) > 0 {
			h.ciph.in.XORKeyStream(f, f)
			h.res.InitialPayload = f
		}
		if err := h.sendSelect(); err != nil {
			return used, false, err
		}
		h.done = true
		if h.res.Method == MethodRC4 {
			h.res.Cipher = h.ciph
		}
		h.ciph = nil
		return used, true, nil
	}
	panic("mse: bad receiver state")
}

// maxKeyDraws bounds the private keys pickKey draws for one handshake.
// Each draw gives a secret with a leading zero byte with probability
// 1/256, so four draws all do with probability 2^-32; the last is then
// kept (it is valid, and a compliant initiator accepts it).
const maxKeyDraws = 4

// pickKey computes S from the initiator's Ya, drawing a new private key
// while S has a leading zero byte. The spec hashes S as 96 bytes, zeros
// included; rtorrent 0.9.8 (libtorrent 0.13.8) hashes OpenSSL's
// DH_compute_key output, which drops them, so with such an S its
// HASH('req1', S) never matches ours and the handshake can only time out
// (1 in 256 of its connections; fixed upstream after 0.13.8). The receiver
// sends Yb after reading Ya, so it can avoid those secrets; Yb and S stay
// uniformly random over the remaining keys. An initiator cannot: its Ya is
// sent before S is known.
func (h *Receiver) pickKey(ya []byte) (err error) {
	for i := 1; ; i++ {
		if h.secret, err = h.key.secret(ya); err != nil {
			return err
		}
		if h.secret[0] != 0 || i == maxKeyDraws {
			return nil
		}
		if h.key, err = newDHKey(h.rand); err != nil {
			return err
		}
	}
}

// sendSelect queues ENCRYPT(VC, crypto_select, len(PadD), PadD).
func (h *Receiver) sendSelect() error {
	padD, err := h.padLen(MaxPad)
	if err != nil {
		return err
	}
	start := len(h.out)
	h.out = append(h.out, make([]byte, vcLen)...)
	h.out = binary.BigEndian.AppendUint32(h.out, uint32(h.res.Method))
	h.out = binary.BigEndian.AppendUint16(h.out, uint16(padD))
	h.out = append(h.out, make([]byte, padD)...)
	enc := h.out[start:]
	h.ciph.out.XORKeyStream(enc, enc)
	return nil
}
