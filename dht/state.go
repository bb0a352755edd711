package dht

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"

	"github.com/anacrolix/dht/v2/krpc"
)

// Saved state, in the session's plugin-state map (Session.SaveState):
//
//	"dht.id"    our node id, 40 hex digits
//	"dht.nodes"  IPv4 routing-table nodes: base64 (std) of 26-byte compact
//	             node infos (id, address, port)
//	"dht.nodes6" IPv6 ones: base64 of 38-byte compact node infos
//
// At most maxSavedNodes nodes are saved and loaded: a table of 160 buckets
// of 8 holds more, but a restart needs only enough to find the rest.

const (
	keyID         = "dht.id"
	keyNodes      = "dht.nodes"
	keyNodes6     = "dht.nodes6"
	maxSavedNodes = 200
)

type savedState struct {
	id    krpc.ID
	nodes []krpc.NodeInfo
}

// parseState reads the keys above; what does not parse is ignored and
// reported with an ErrBadState error, the rest is used.
func parseState(m map[string]string) (savedState, error) {
	var st savedState
	var errs []error
	if v, ok := m[keyID]; ok {
		b, err := hex.DecodeString(v)
		if err != nil || len(b) != 20 {
			errs = append(errs, errors.New("dht.id is not 40 hex digits"))
		} else {
			copy(st.id[:], b)
		}
	}
	for _, k := range []struct {
		key  string
		size int
	}{{keyNodes, 26}, {keyNodes6, 38}} {
		v, ok := m[k.key]
		if !ok {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(b)%k.size != 0 {
			errs = append(errs, errors.New(k.key+" is not base64 of compact node infos"))
			continue
		}
		for ; len(b) > 0 && len(st.nodes) < maxSavedNodes; b = b[k.size:] {
			var ni krpc.NodeInfo
			copy(ni.ID[:], b[:20])
			ip, _ := netip.AddrFromSlice(b[20 : k.size-2])
			port := int(b[k.size-2])<<8 | int(b[k.size-1])
			if port == 0 || ip.IsUnspecified() {
				continue
			}
			ni.Addr = krpc.NodeAddr{IP: net.IP(ip.AsSlice()), Port: port}
			st.nodes = append(st.nodes, ni)
		}
	}
	if len(errs) > 0 {
		return st, &Error{Kind: ErrBadState, Op: "load state", Err: errors.Join(errs...)}
	}
	return st, nil
}

// SaveState adds the node's state (our id and up to maxSavedNodes routing
// table nodes) to m under the "dht." keys. Safe from any goroutine.
func (n *Node) SaveState(m map[string]string) { writeState(m, n.id, n.srv.Nodes()) }

func writeState(m map[string]string, id krpc.ID, nodes []krpc.NodeInfo) {
	m[keyID] = hex.EncodeToString(id[:])
	var v4, v6 []byte
	for i, ni := range nodes {
		if i == maxSavedNodes {
			break
		}
		ap, ok := addrPortOf(ni.Addr)
		if !ok {
			continue
		}
		if ap.Addr().Is4() {
			v4 = append(append(v4, ni.ID[:]...), compactAddr(ap)...)
		} else {
			v6 = append(append(v6, ni.ID[:]...), compactAddr(ap)...)
		}
	}
	if len(v4) > 0 {
		m[keyNodes] = base64.StdEncoding.EncodeToString(v4)
	}
	if len(v6) > 0 {
		m[keyNodes6] = base64.StdEncoding.EncodeToString(v6)
	}
}
