package loadgen

import (
	"crypto/rand"
	"errors"
	"net"

	"github.com/shardtorrent/shardtorrent/ext/mse"
)

// errMSENotRC4: the seeder selected a plaintext stream although only RC4
// was offered.
var errMSENotRC4 = errors.New("loadgen: MSE handshake did not select RC4")

// rc4Conn is a connection whose stream is RC4 after an MSE handshake.
// Reads decrypt in place in the caller's buffer; Writes encrypt the
// caller's buffer in place (the load generator rebuilds its write buffer
// for every write, so no copy is needed). Owned by one conn goroutine.
type rc4Conn struct {
	net.Conn
	c       *mse.RC4
	pending []byte // decrypted bytes read past the handshake, served first
	vec     [1][]byte
}

func (r *rc4Conn) Read(p []byte) (int, error) {
	if len(r.pending) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		return n, nil
	}
	n, err := r.Conn.Read(p)
	if n > 0 {
		r.vec[0] = p[:n]
		r.c.Decrypt(r.vec[:])
		r.vec[0] = nil
	}
	return n, err
}

func (r *rc4Conn) Write(p []byte) (int, error) {
	r.vec[0] = p
	r.c.Encrypt(r.vec[:])
	r.vec[0] = nil
	return r.Conn.Write(p)
}

// encrypt runs an MSE handshake as the initiator for infoHash, offering RC4
// only, and returns nc wrapped in its cipher. The caller sets the deadline.
func encrypt(nc net.Conn, infoHash [20]byte) (net.Conn, error) {
	ini, err := mse.NewInitiator(infoHash, mse.MethodRC4, rand.Reader, nil)
	if err != nil {
		return nil, err
	}
	if _, err := nc.Write(ini.Output()); err != nil {
		return nil, err
	}
	buf := make([]byte, 4096)
	for {
		k, err := nc.Read(buf)
		if k > 0 {
			n, serr := ini.Step(buf[:k])
			if serr != nil {
				return nil, serr
			}
			if out := ini.Output(); len(out) > 0 {
				if _, err := nc.Write(out); err != nil {
					return nil, err
				}
			}
			if ini.Done() {
				res := ini.Result()
				if res.Cipher == nil {
					return nil, errMSENotRC4
				}
				rest := append([]byte(nil), buf[n:k]...)
				res.Cipher.Decrypt([][]byte{rest})
				return &rc4Conn{Conn: nc, c: res.Cipher, pending: rest}, nil
			}
		}
		if err != nil {
			return nil, err
		}
	}
}
