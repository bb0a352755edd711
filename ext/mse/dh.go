package mse

import (
	"crypto/sha1"
	"fmt"
	"io"
	"math/big"
)

// Diffie-Hellman parameters of MSE: the 768-bit prime P and generator 2.
const (
	pubKeyLen  = 96 // bytes of Ya, Yb and S (768 bits, big-endian, left-padded)
	privKeyLen = 20 // 160-bit private exponents, as the spec recommends
)

var (
	dhP = mustHex("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74" +
		"020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437" +
		"4FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563")
	dhG     = big.NewInt(2)
	dhPMin1 = new(big.Int).Sub(dhP, big.NewInt(1))
)

func mustHex(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("mse: bad constant " + s)
	}
	return n
}

// dhKey is one side's key pair. The public half is computed apart from
// the draw (computePub), so a Receiver can leave that exponentiation to
// another goroutine (DHJob).
type dhKey struct {
	x   *big.Int
	pub [pubKeyLen]byte
}

// drawDHKey draws a 160-bit private key from rand; pub is not computed.
func drawDHKey(rand io.Reader) (dhKey, error) {
	var b [privKeyLen]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return dhKey{}, fmt.Errorf("mse: private key: %w", err)
	}
	k := dhKey{x: new(big.Int).SetBytes(b[:])}
	if k.x.Sign() == 0 {
		k.x.SetInt64(1) // a zero exponent would make Y = 1 for a broken rand
	}
	return k, nil
}

// computePub sets pub = G^x mod P: one 768-bit modular exponentiation with
// a 160-bit exponent (about 65 us on this project's 2-vCPU machine).
func (k *dhKey) computePub() {
	new(big.Int).Exp(dhG, k.x, dhP).FillBytes(k.pub[:])
}

// newDHKey draws a private key and computes its public key.
func newDHKey(rand io.Reader) (dhKey, error) {
	k, err := drawDHKey(rand)
	if err != nil {
		return k, err
	}
	k.computePub()
	return k, nil
}

// Key is a Diffie-Hellman key pair an Initiator can reuse over many
// handshakes (NewInitiatorKey), which saves one of its two modular
// exponentiations per handshake. Reusing a key gives up forward secrecy
// between the connections that share it: it is meant for load generators
// and tests, not for the engine. Immutable; safe from any goroutine.
type Key struct{ k dhKey }

// GenerateKey draws a key pair from rand (crypto/rand in production).
// Safe from any goroutine.
func GenerateKey(rand io.Reader) (*Key, error) {
	k, err := newDHKey(rand)
	if err != nil {
		return nil, err
	}
	return &Key{k: k}, nil
}

// secret computes S from the peer's public key; a key outside (1, P-1) is
// refused (it would force S to 0, 1 or ±1, known to anyone watching).
func (k dhKey) secret(peer []byte) ([pubKeyLen]byte, error) {
	var s [pubKeyLen]byte
	y := new(big.Int).SetBytes(peer)
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(dhPMin1) >= 0 {
		return s, ErrBadPublicKey
	}
	new(big.Int).Exp(y, k.x, dhP).FillBytes(s[:])
	return s, nil
}

// hash is MSE's HASH: SHA-1 over the concatenation of its arguments.
func hash(parts ...[]byte) [20]byte {
	h := sha1.New()
	for _, p := range parts {
		h.Write(p)
	}
	var out [20]byte
	h.Sum(out[:0])
	return out
}

// SKeyHash is HASH('req2', SKEY) for an info-hash: the value a receiver's
// lookup is asked about. The engine indexes its torrents by it.
func SKeyHash(infoHash [20]byte) [20]byte {
	return hash([]byte("req2"), infoHash[:])
}

// newCiphers keys the RC4 pair of one side: the initiator sends with keyA
// and receives with keyB, the receiver the reverse.
func newCiphers(s *[pubKeyLen]byte, skey [20]byte, initiator bool) *RC4 {
	a := hash([]byte("keyA"), s[:], skey[:])
	b := hash([]byte("keyB"), s[:], skey[:])
	c := new(RC4)
	if initiator {
		c.SetOutgoingKey(a[:])
		c.SetIncomingKey(b[:])
	} else {
		c.SetOutgoingKey(b[:])
		c.SetIncomingKey(a[:])
	}
	return c
}
