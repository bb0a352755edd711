package dht

import (
	"bytes"
	"net"
	"net/netip"
	"slices"

	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/torrent/bencode"

	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire/bencheck"
)

// filterConn is the socket the anacrolix server reads: every packet passes
// through intercept first, on the server's reading goroutine, and only the
// ones intercept leaves reach the server.
type filterConn struct {
	*net.UDPConn
	n     *Node
	ready chan struct{} // closed once n.srv is set
	blk   blocker       // owned by the reading goroutine
}

// ReadFrom implements net.PacketConn for the server. Server goroutine only.
func (c *filterConn) ReadFrom(b []byte) (int, net.Addr, error) {
	<-c.ready
	for {
		k, src, err := c.UDPConn.ReadFromUDPAddrPort(b)
		if err != nil {
			return k, nil, err
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		if c.intercept(b[:k], src) {
			continue
		}
		return k, net.UDPAddrFromAddrPort(src), nil
	}
}

// maxDepth bounds the nesting of a packet we decode (a KRPC message nests
// 3 deep; BEP 44 values a few more).
const maxDepth = 32

// queryHead is the part of a KRPC message intercept decodes.
type queryHead struct {
	T  string `bencode:"t"`
	Y  string `bencode:"y"`
	Q  string `bencode:"q"`
	RO int    `bencode:"ro"`
	A  struct {
		ID       string `bencode:"id"`
		Target   string `bencode:"target"`
		InfoHash string `bencode:"info_hash"`
	} `bencode:"a"`
}

// builtin are the queries the anacrolix server answers.
var builtin = []string{"ping", "find_node", "get_peers", "announce_peer", "get", "put"}

// intercept decides what happens to one packet and reports whether it was
// consumed (dropped or answered here):
//   - not bencode, or nested too deep: dropped (counted as Malformed);
//   - a reply or an error: left to the server (its transactions);
//   - a query over its source's rate: dropped (QueriesDropped);
//   - a query with an "a" dict and a 20-byte "id": offered to the plugins
//     (OnDHTRequest) first; one that answers has its Response sent with
//     the query's "t" and the server never sees the query;
//   - a query the server does not know: answered as libtorrent 2.0.8
//     does: like find_node when its arguments carry a 20-byte "target" or
//     "info_hash" (forward compatibility), else error 203 "unknown
//     message";
//   - the rest: left to the server.
func (c *filterConn) intercept(p []byte, src netip.AddrPort) bool {
	n := c.n
	if len(p) < 2 || p[0] != 'd' || bencheck.Check(p, maxDepth) != nil {
		n.malformed.Add(1)
		return true
	}
	var m queryHead
	if err := bencode.Unmarshal(p, &m); err != nil {
		if _, trailing := err.(bencode.ErrUnusedTrailingBytes); !trailing {
			n.malformed.Add(1)
			return true
		}
	}
	if m.Y != "q" {
		return false
	}
	if !c.blk.allow(src, n.cfg.Now()) {
		n.queriesDropped.Add(1)
		return true
	}
	n.queriesIn.Add(1)
	if len(m.A.ID) != 20 {
		return false // the server answers with its protocol error
	}
	if n.cfg.OnRequest != nil {
		r := &plugin.DHTRequest{Query: m.Q, Source: src, Message: p, Response: n.baseReply(src)}
		if n.cfg.OnRequest(r) {
			n.pluginReplies.Add(1)
			n.sendReply(src, m.T, r.Response, "plugin reply")
			if m.RO == 0 {
				var id krpc.ID
				copy(id[:], m.A.ID)
				_ = n.srv.AddNode(krpc.NodeInfo{ID: id, Addr: nodeAddrOf(src)})
			}
			return true
		}
	}
	if slices.Contains(builtin, m.Q) {
		return false
	}
	n.unknownQueries.Add(1)
	target := m.A.Target
	if len(target) != 20 {
		target = m.A.InfoHash
	}
	if len(target) != 20 {
		n.sendError(src, m.T, 203, "unknown message")
		return true
	}
	r := n.baseReply(src)
	r["nodes"] = n.closestCompact(target)
	n.sendReply(src, m.T, r, "unknown query reply")
	return true
}

// baseReply is the start of every reply's "r": our id and the querier's
// port as we see it (libtorrent's "p").
func (n *Node) baseReply(src netip.AddrPort) map[string]any {
	return map[string]any{"id": string(n.id[:]), "p": int64(src.Port())}
}

// sendReply bencodes a "r" message with "t" and BEP 42's "ip" and sends
// it, within SendRate. A response that does not bencode gets a 202 error
// and a DHTErrorAlert instead.
func (n *Node) sendReply(to netip.AddrPort, t string, r map[string]any, op string) {
	b, err := bencode.Marshal(map[string]any{"t": t, "y": "r", "r": r, "ip": compactAddr(to)})
	if err != nil {
		n.cfg.Alert(&plugin.DHTErrorAlert{Op: op, Err: &Error{Kind: ErrBadResponse, Op: op, Err: err}})
		n.sendError(to, t, 202, "server error")
		return
	}
	n.send(to, b)
}

// sendError sends a KRPC error shaped as libtorrent's: "e" [code, msg],
// with "ip" and an "r" holding our id and "p".
func (n *Node) sendError(to netip.AddrPort, t string, code int, msg string) {
	b, err := bencode.Marshal(map[string]any{
		"t": t, "y": "e", "e": []any{code, msg}, "ip": compactAddr(to), "r": n.baseReply(to),
	})
	if err != nil {
		return // only plain values: cannot fail
	}
	n.send(to, b)
}

func (n *Node) send(to netip.AddrPort, b []byte) {
	if !n.limiter.Allow() {
		n.repliesDropped.Add(1)
		return
	}
	if _, err := n.cfg.Conn.WriteToUDPAddrPort(b, to); err != nil {
		n.log.Debug("dht reply not sent", "to", to, "err", err)
	}
}

// compactAddr is an address in BEP 5's compact form (4 or 16 bytes of
// address, 2 of port).
func compactAddr(a netip.AddrPort) string {
	b := a.Addr().AsSlice()
	b = append(b, byte(a.Port()>>8), byte(a.Port()))
	return string(b)
}

// closestCompact returns the 8 routing-table nodes closest to target of
// our address family, as compact node info (BEP 5 "nodes": 26 bytes each
// for IPv4; BEP 32 "nodes6" is not sent).
func (n *Node) closestCompact(target string) string {
	nodes := n.srv.Nodes()
	var t [20]byte
	copy(t[:], target)
	slices.SortFunc(nodes, func(a, b krpc.NodeInfo) int {
		da, db := xor(a.ID, t), xor(b.ID, t)
		return bytes.Compare(da[:], db[:])
	})
	var out []byte
	k := 0
	for _, ni := range nodes {
		ap, ok := addrPortOf(ni.Addr)
		if !ok || !ap.Addr().Is4() {
			continue
		}
		out = append(out, ni.ID[:]...)
		out = append(out, compactAddr(ap)...)
		if k++; k == 8 {
			break
		}
	}
	return string(out)
}

func xor(a [20]byte, b [20]byte) (d [20]byte) {
	for i := range d {
		d[i] = a[i] ^ b[i]
	}
	return d
}
