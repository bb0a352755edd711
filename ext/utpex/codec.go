package utpex

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/anacrolix/torrent/bencode"

	"github.com/shardtorrent/shardtorrent/wire/bencheck"
)

// Flags of an added peer (one byte each in added.f / added6.f).
const (
	FlagEncryption byte = 0x01 // the peer supports or uses encryption
	FlagSeed       byte = 0x02 // the peer is a seed (or upload only)
	FlagUTP        byte = 0x04 // the peer speaks uTP
	FlagHolepunch  byte = 0x08 // the peer supports ut_holepunch
	// flagLTv2 is libtorrent-internal (pex_lt_v2); incoming flags are
	// masked with its complement so a peer cannot set it on us.
	flagLTv2 byte = 0x80
)

// Peer is one added peer of a message.
type Peer struct {
	Addr  netip.AddrPort
	Flags byte
}

// Message is one ut_pex message. The codec splits and merges the IPv4
// (added, added.f, dropped) and IPv6 (added6, added6.f, dropped6) keys:
// Added and Dropped hold both families.
type Message struct {
	Added   []Peer
	Dropped []netip.AddrPort
}

// ErrBadMessage refuses a message that is not a bencoded dictionary of the
// expected types.
var ErrBadMessage = errors.New("utpex: ut_pex message is bad bencode")

// wireMsg is the bencoded form; unknown keys are ignored.
type wireMsg struct {
	Added    []byte `bencode:"added,omitempty"`
	AddedF   []byte `bencode:"added.f,omitempty"`
	Added6   []byte `bencode:"added6,omitempty"`
	Added6F  []byte `bencode:"added6.f,omitempty"`
	Dropped  []byte `bencode:"dropped,omitempty"`
	Dropped6 []byte `bencode:"dropped6,omitempty"`
}

// Parse decodes a ut_pex message. As libtorrent, added (added6) entries are
// used only when added.f (added6.f) has exactly one flag byte per entry;
// otherwise that family's added list is dropped whole. Flags lose the
// internal 0x80 bit. A trailing partial entry is ignored.
func Parse(b []byte) (m Message, err error) {
	var w wireMsg
	if err := unmarshal(b, &w); err != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	m.Added = appendAdded(m.Added, w.Added, w.AddedF, 4)
	m.Added = appendAdded(m.Added, w.Added6, w.Added6F, 16)
	m.Dropped = appendAddrs(m.Dropped, w.Dropped, 4)
	m.Dropped = appendAddrs(m.Dropped, w.Dropped6, 16)
	return m, nil
}

// maxDepth bounds a message's nesting; real ones are one flat dictionary.
const maxDepth = 8

// unmarshal runs the bencode decoder, which is not trusted not to panic on
// hostile input.
func unmarshal(b []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panic: %v", r)
		}
	}()
	if len(b) == 0 || b[0] != 'd' {
		return errors.New("not a dictionary")
	}
	// The decoder allocates any declared string length (128 MiB for a
	// 25-byte message) and recurses per nesting level: check first.
	if err := bencheck.Check(b, maxDepth); err != nil {
		return err
	}
	return bencode.Unmarshal(b, v)
}

func appendAdded(dst []Peer, addrs, flags []byte, ipLen int) []Peer {
	n := len(addrs) / (ipLen + 2)
	if n == 0 || len(flags) != n {
		return dst
	}
	for i := 0; i < n; i++ {
		a := addrAt(addrs, i, ipLen)
		dst = append(dst, Peer{Addr: a, Flags: flags[i] &^ flagLTv2})
	}
	return dst
}

func appendAddrs(dst []netip.AddrPort, addrs []byte, ipLen int) []netip.AddrPort {
	n := len(addrs) / (ipLen + 2)
	for i := 0; i < n; i++ {
		dst = append(dst, addrAt(addrs, i, ipLen))
	}
	return dst
}

func addrAt(b []byte, i, ipLen int) netip.AddrPort {
	e := b[i*(ipLen+2):]
	var ip netip.Addr
	if ipLen == 4 {
		ip = netip.AddrFrom4([4]byte(e[:4]))
	} else {
		ip = netip.AddrFrom16([16]byte(e[:16]))
	}
	return netip.AddrPortFrom(ip, uint16(e[ipLen])<<8|uint16(e[ipLen+1]))
}

// Append bencodes m onto dst: every key present, possibly empty, in
// bencode's sorted order, IPv4-mapped IPv6 addresses as IPv4.
func (m *Message) Append(dst []byte) []byte {
	var a4, f4, a6, f6, d4, d6 []byte
	for _, p := range m.Added {
		ip := p.Addr.Addr().Unmap()
		if ip.Is4() {
			a4 = appendCompact(a4, ip, p.Addr.Port())
			f4 = append(f4, p.Flags)
		} else {
			a6 = appendCompact(a6, ip, p.Addr.Port())
			f6 = append(f6, p.Flags)
		}
	}
	for _, d := range m.Dropped {
		ip := d.Addr().Unmap()
		if ip.Is4() {
			d4 = appendCompact(d4, ip, d.Port())
		} else {
			d6 = appendCompact(d6, ip, d.Port())
		}
	}
	dst = append(dst, 'd')
	for _, kv := range [...]struct {
		k string
		v []byte
	}{{"added", a4}, {"added.f", f4}, {"added6", a6}, {"added6.f", f6}, {"dropped", d4}, {"dropped6", d6}} {
		dst = appendString(dst, kv.k)
		dst = appendString(dst, string(kv.v))
	}
	return append(dst, 'e')
}

func appendCompact(dst []byte, ip netip.Addr, port uint16) []byte {
	dst = append(dst, ip.AsSlice()...)
	return append(dst, byte(port>>8), byte(port))
}

func appendString(dst []byte, s string) []byte {
	dst = strconv.AppendInt(dst, int64(len(s)), 10)
	dst = append(dst, ':')
	return append(dst, s...)
}

// sortPeers orders peers by address, so messages are deterministic.
func sortPeers(ps []Peer) {
	slices.SortFunc(ps, func(a, b Peer) int { return a.Addr.Compare(b.Addr) })
}

func sortAddrs(as []netip.AddrPort) {
	slices.SortFunc(as, netip.AddrPort.Compare)
}
