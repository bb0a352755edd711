package wire

// The BEP 3 handshake: pstrlen (19), pstr, 8 reserved bytes, info-hash,
// peer id.
//
// Invariants:
//   - AppendHandshake always appends exactly HandshakeLen bytes.
//   - The parsers check the protocol header on whatever bytes they are given
//     before complaining that there are too few, so a stream that is not
//     plain BitTorrent (an MSE key exchange, an HTTP request) is recognised
//     from its first byte and the engine can switch to MSE without waiting
//     for 48 bytes that may never come.

// Reserved is the 8 reserved bytes of a handshake, which advertise
// extensions. The zero value advertises none.
type Reserved [8]byte

// Bit positions of the extensions we speak, as byte index and mask.
const (
	extendedByte, extendedMask = 5, 0x10 // BEP 10 extension protocol
	fastByte, fastMask         = 7, 0x04 // BEP 6 fast extension
	dhtByte, dhtMask           = 7, 0x01 // BEP 5 DHT (port message)
)

// SupportsExtended reports the BEP 10 extension protocol bit.
func (r Reserved) SupportsExtended() bool { return r[extendedByte]&extendedMask != 0 }

// SupportsFast reports the BEP 6 fast extension bit.
func (r Reserved) SupportsFast() bool { return r[fastByte]&fastMask != 0 }

// SupportsDHT reports the BEP 5 DHT bit.
func (r Reserved) SupportsDHT() bool { return r[dhtByte]&dhtMask != 0 }

// SetExtended sets the BEP 10 extension protocol bit.
func (r *Reserved) SetExtended() { r[extendedByte] |= extendedMask }

// SetFast sets the BEP 6 fast extension bit.
func (r *Reserved) SetFast() { r[fastByte] |= fastMask }

// SetDHT sets the BEP 5 DHT bit. Set it only when a DHT node is running: a
// peer that sees it will send us port messages.
func (r *Reserved) SetDHT() { r[dhtByte] |= dhtMask }

// DefaultReserved returns the reserved bytes the engine sends by default:
// the extension protocol and the fast extension. The DHT bit is left clear
// because it promises a DHT node; the session sets it when it runs one.
// Safe from any goroutine.
func DefaultReserved() Reserved {
	var r Reserved
	r.SetExtended()
	r.SetFast()
	return r
}

// Handshake is a BEP 3 handshake.
type Handshake struct {
	Reserved Reserved
	InfoHash [20]byte
	PeerID   [20]byte
}

// AppendHandshake appends the HandshakeLen bytes of h to dst and returns the
// extended slice. It does not allocate when dst has the capacity.
// Safe from any goroutine.
func AppendHandshake(dst []byte, h *Handshake) []byte {
	dst = append(dst, byte(len(Protocol)))
	dst = append(dst, Protocol...)
	dst = append(dst, h.Reserved[:]...)
	dst = append(dst, h.InfoHash[:]...)
	return append(dst, h.PeerID[:]...)
}

// ParseHandshake parses the handshake at the front of b, which must hold at
// least HandshakeLen bytes; bytes after the handshake are ignored (they are
// usually the peer's first messages). Errors are *HandshakeError with Kind
// ErrBadProtocol or ErrShortHandshake.
// Safe from any goroutine; the result does not alias b.
func ParseHandshake(b []byte) (Handshake, error) {
	var h Handshake
	if err := checkProtocol(b, HandshakeLen); err != nil {
		return h, err
	}
	copy(h.Reserved[:], b[20:28])
	copy(h.InfoHash[:], b[28:48])
	copy(h.PeerID[:], b[48:68])
	return h, nil
}

// ParseHandshakePrefix parses the first HandshakePrefixLen bytes of a
// handshake, up to the info-hash, which is what an incoming connection needs
// to find the torrent (and decide whether to answer at all) before the peer
// id arrives. Errors as for ParseHandshake.
// Safe from any goroutine.
func ParseHandshakePrefix(b []byte) (reserved Reserved, infoHash [20]byte, err error) {
	if err := checkProtocol(b, HandshakePrefixLen); err != nil {
		return reserved, infoHash, err
	}
	copy(reserved[:], b[20:28])
	copy(infoHash[:], b[28:48])
	return reserved, infoHash, nil
}

// checkProtocol validates the protocol header in as much of it as b holds,
// then that b has at least want bytes.
func checkProtocol(b []byte, want int) error {
	if len(b) > 0 && int(b[0]) != len(Protocol) {
		return &HandshakeError{Kind: ErrBadProtocol, Got: int(b[0]), Want: len(Protocol), Prefix: clonePrefix(b)}
	}
	n := min(len(b), 1+len(Protocol))
	if n > 1 && string(b[1:n]) != Protocol[:n-1] {
		return &HandshakeError{Kind: ErrBadProtocol, Got: len(Protocol), Want: len(Protocol), Prefix: clonePrefix(b)}
	}
	if len(b) < want {
		return &HandshakeError{Kind: ErrShortHandshake, Got: len(b), Want: want}
	}
	return nil
}

// clonePrefix copies the protocol header bytes of b for an error, so the
// error does not pin or alias the caller's receive buffer.
func clonePrefix(b []byte) []byte {
	return append([]byte(nil), b[:min(len(b), 1+len(Protocol))]...)
}
