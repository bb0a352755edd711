package shard

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/picker"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// snap returns the shard's counters with gauges, taken on the loop.
func (h *harness) snap() Metrics {
	var m Metrics
	h.do(func() { m = h.s.Snapshot() })
	return m
}

// wantMetrics checks every listed metric and that all the others of the
// list's kind stay as in base.
func wantMetrics(t *testing.T, what string, got Metrics, want map[Metric]uint64) {
	t.Helper()
	for m, v := range want {
		if got.V[m] != v {
			t.Errorf("%s: %s = %d, want %d", what, m.Name(), got.V[m], v)
		}
	}
}

// TestCountersServe: a seed serves blocks to a peer; the send-side
// counters and the peer gauges move by exactly what happened.
func TestCountersServe(t *testing.T) {
	h := newHarness(t, Settings{})
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	var tp *tpeer
	const n = 5
	h.do(func() {
		tp = h.handshaken(tor, 1, simple(wire.HaveNone), simple(wire.Interested))
		for i := range n {
			h.feed(tp, wire.AppendRequest(nil, uint32(i%4), 0, wire.BlockSize))
		}
	})
	h.waitFor("every block", func() bool { return len(only(tp.fc.take(), wire.Piece)) > 0 && h.s.met.V[MetricBlocksSent] == n })
	m := h.snap()
	wantMetrics(t, "after serving", m, map[Metric]uint64{
		MetricBlocksSent:          n,
		MetricPayloadSentBytes:    n * wire.BlockSize,
		MetricRequestsReceived:    n,
		MetricRequestsRejected:    0,
		MetricTorrents:            1,
		MetricPeersConnected:      1,
		MetricPeersUpInterested:   1,
		MetricPeersUpUnchoked:     1,
		MetricPeersDownInterested: 0,
		MetricPeersHandshaking:    0,
		MetricPeersSeeds:          0,
	})
	if r := m.V[MetricBlocksReadCache] + m.V[MetricBlocksReadDisk]; r != n {
		t.Errorf("%d blocks read from cache or disk, want %d", r, n)
	}
	// Received: the 68-byte handshake, have-none (5), interested (5) and
	// n requests (17 each). Sent: at least our handshake and n headers.
	if got, want := m.V[MetricProtocolReceivedBytes], uint64(wire.HandshakeLen+5+5+17*n); got != want {
		t.Errorf("protocol bytes received %d, want %d", got, want)
	}
	if got := m.V[MetricProtocolSentBytes]; got < uint64(wire.HandshakeLen+13*n) {
		t.Errorf("protocol bytes sent %d, want at least %d", got, wire.HandshakeLen+13*n)
	}
}

// TestCountersHandshakeFailures: each way a handshake fails is counted
// once, with the disconnect reason it ends with.
func TestCountersHandshakeFailures(t *testing.T) {
	other := [20]byte{1, 2, 3}
	cases := []struct {
		name   string
		bytes  func(tor *Torrent) []byte
		tick   bool // let the handshake time out instead
		metric Metric
		reason DisconnectReason
	}{
		{name: "bad protocol", bytes: func(*Torrent) []byte { return bytes.Repeat([]byte{'x'}, wire.HandshakeLen) },
			metric: MetricHandshakeBadProtocol, reason: ReasonProtocol},
		{name: "other info-hash", bytes: func(*Torrent) []byte {
			hs := wire.Handshake{InfoHash: other, PeerID: peerID(1)}
			return wire.AppendHandshake(nil, &hs)
		}, metric: MetricHandshakeInfoHash, reason: ReasonProtocol},
		{name: "ourselves", bytes: func(tor *Torrent) []byte { return handshake(tor, selfID, true, true) },
			metric: MetricHandshakeSelf, reason: ReasonSelf},
		{name: "timeout", tick: true, metric: MetricHandshakeTimeout, reason: ReasonTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Settings{})
			tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
			var tp *tpeer
			h.do(func() {
				tp = h.connect(tor, false)
				if tc.bytes != nil {
					h.feed(tp, tc.bytes(tor))
				}
			})
			if tc.tick {
				if m := h.snap(); m.V[MetricPeersHandshaking] != 1 {
					t.Fatalf("handshaking gauge %d before the timeout, want 1", m.V[MetricPeersHandshaking])
				}
				h.tick(h.s.set.HandshakeTimeout + time.Second)
			}
			m := h.snap()
			if !tp.fc.closed {
				t.Fatal("the connection is still open")
			}
			for _, c := range cases {
				want := uint64(0)
				if c.metric == tc.metric {
					want = 1
				}
				if m.V[c.metric] != want {
					t.Errorf("%s = %d, want %d", c.metric.Name(), m.V[c.metric], want)
				}
			}
			var total uint64
			for _, n := range m.Disconnects {
				total += n
			}
			if m.Disconnects[tc.reason] != 1 || total != 1 {
				t.Errorf("disconnects %v, want one %s", m.Disconnects, tc.reason.ReasonName())
			}
			if m.V[MetricPeersConnected]+m.V[MetricPeersHandshaking] != 0 {
				t.Errorf("peer gauges still count the closed connection: %v", m.V)
			}
		})
	}
}

// TestCountersRejectAndDial: a choked peer's request is rejected and
// counted; a dial counts as an attempt and shows as connecting until it
// opens, then as handshaking.
func TestCountersRejectAndDial(t *testing.T) {
	h := newHarness(t, Settings{})
	tor := h.seed(makeTorrent(t, dlSize, dlPieceLen))
	h.do(func() {
		tp := h.handshaken(tor, 1, simple(wire.HaveNone))
		// Not interested, so choked; a piece outside its allowed-fast set.
		piece := uint32(0)
		for tp.allowedOutHas(piece) {
			piece++
		}
		h.feed(tp, wire.AppendRequest(nil, piece, 0, wire.BlockSize))
		tor.AddPeer(netip.MustParseAddrPort("10.200.0.1:6881"))
	})
	h.tick(time.Second) // connectMore dials it
	m := h.snap()
	wantMetrics(t, "after a choked request and a dial", m, map[Metric]uint64{
		MetricRequestsReceived:   1,
		MetricRequestsRejected:   1,
		MetricBlocksSent:         0,
		MetricConnectionAttempts: 1,
		MetricPeersConnecting:    1,
		MetricPeersConnected:     1,
		MetricPeersUpUnchoked:    0,
	})
	if len(h.dials) != 1 {
		t.Fatalf("%d dials, want 1", len(h.dials))
	}
	h.do(func() { h.openDial(h.dials[0]) })
	wantMetrics(t, "after the dial opened", h.snap(), map[Metric]uint64{
		MetricPeersConnecting: 0, MetricPeersHandshaking: 1, MetricPeersConnected: 1,
	})
}

// TestCountersDownload: one peer sends every block of a small torrent,
// one of them corrupt or one twice: pieces passed and failed, the
// sole-sender ban, blocks and payload received and the redundant bytes
// are counted.
func TestCountersDownload(t *testing.T) {
	for _, corrupt := range []bool{false, true} {
		name := map[bool]string{false: "clean", true: "one corrupt block"}[corrupt]
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, Settings{})
			const pieceLen = 2 * wire.BlockSize
			tf := makeTorrent(t, 4*pieceLen, pieceLen)
			tor := h.leech(tf)
			var src *tpeer
			var reqs []picker.Block
			h.do(func() {
				src = h.handshaken(tor, 1)
				h.feed(src, simple(wire.HaveAll))
				src.fc.take() // interested
				h.feed(src, simple(wire.Unchoke))
				reqs = requestsOf(src.fc.take())
			})
			if len(reqs) != 8 {
				t.Fatalf("%d requests, want every block (8)", len(reqs))
			}
			h.do(func() {
				var b []byte
				for i, r := range reqs {
					data := tf.block(r.Piece, r.Begin, r.Length)
					if corrupt && i == 0 {
						data = bytes.Clone(data)
						data[0] ^= 1
					}
					b = wire.AppendPiece(b, r.Piece, r.Begin, data)
					if !corrupt && i == 0 {
						// The same block again while its piece is
						// incomplete: redundant.
						b = wire.AppendPiece(b, r.Piece, r.Begin, data)
					}
				}
				h.feed(src, b)
			})
			wantPassed := uint64(4)
			if corrupt {
				wantPassed = 3
			}
			h.waitFor("the pieces' hash checks", func() bool {
				return h.s.met.V[MetricPiecesPassed]+h.s.met.V[MetricPiecesFailed] == 4
			})
			m := h.snap()
			want := map[Metric]uint64{
				MetricPiecesPassed:           wantPassed,
				MetricPiecesFailed:           4 - wantPassed,
				MetricBlocksReceived:         8,
				MetricPayloadReceivedBytes:   9 * wire.BlockSize,
				MetricRedundantReceivedBytes: wire.BlockSize,
				MetricRequestsSent:           8,
				MetricBansHashFailure:        0,
			}
			if corrupt {
				want[MetricBansHashFailure] = 1
				want[MetricPayloadReceivedBytes] = 8 * wire.BlockSize
				want[MetricRedundantReceivedBytes] = 0
			}
			wantMetrics(t, "after the download", m, want)
			if corrupt {
				if m.Disconnects[ReasonBanned] != 1 {
					t.Errorf("disconnects %v, want the banned sender", m.Disconnects)
				}
				return
			}
			var st plugin.TorrentState
			h.do(func() { st = tor.state })
			if st != plugin.StateSeeding {
				t.Fatalf("state %v after every piece passed", st)
			}
		})
	}
}

// TestCountersBanPlugin: bans through the handle count once per address.
func TestCountersBanPlugin(t *testing.T) {
	h := newHarness(t, Settings{})
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	a := netip.MustParseAddr("10.9.0.1")
	h.do(func() {
		tor.Handle().BanPeer(a)
		tor.Handle().BanPeer(netip.AddrFrom16(a.As16())) // the same address, mapped
		tor.Handle().BanPeer(netip.MustParseAddr("10.9.0.2"))
	})
	wantMetrics(t, "after three bans of two addresses", h.snap(), map[Metric]uint64{MetricBansPlugin: 2, MetricBansHashFailure: 0})
}

// TestMetricNames: every metric has a unique name and help, and every
// disconnect reason a label.
func TestMetricNames(t *testing.T) {
	seen := map[string]bool{}
	for m := range NumMetrics {
		if m.Name() == "" || m.Help() == "" || seen[m.Name()] {
			t.Errorf("metric %d: name %q help %q (duplicate %v)", m, m.Name(), m.Help(), seen[m.Name()])
		}
		seen[m.Name()] = true
	}
	for r := DisconnectReason(1); int(r) < NumDisconnectReasons; r++ {
		if r.ReasonName() == "" {
			t.Errorf("reason %v has no label", r)
		}
	}
}
