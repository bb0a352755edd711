package shard

// Engine counters, modelled on libtorrent 2.0.8's session stats
// (performance_counters.hpp, session_stats.cpp): a flat array of numbers
// indexed by a Metric, so bumping one is an indexed add and summing the
// shards is a loop. Each shard owns its own Metrics, written only on its
// loop with plain adds (no lock, no atomic, no allocation: the per-block
// sites are one add each); Session.Stats copies every shard's array with
// one round trip per shard (Shard.Snapshot) and sums them.
//
// Two kinds of entries: counters (cumulative since the shard started, never
// decreasing) and gauges (the state now, recomputed by Snapshot from the
// shard's peers, so no bookkeeping on state changes can drift).

// Metric indexes Metrics.
type Metric int

// The engine's metrics. Names (MetricName) are Prometheus-style with the
// unit in the name; libtorrent's counterpart is in each comment.
const (
	// Bytes. Payload is piece data; protocol is every other byte of the
	// peer protocol we sent or parsed (handshakes, MSE handshakes,
	// message headers, control and extension messages).
	MetricPayloadSentBytes       Metric = iota // net.sent_payload_bytes
	MetricPayloadReceivedBytes                 // net.recv_payload_bytes
	MetricProtocolSentBytes                    // net.sent_bytes - net.sent_payload_bytes
	MetricProtocolReceivedBytes                // net.recv_bytes - net.recv_payload_bytes
	MetricRedundantReceivedBytes               // net.recv_redundant_bytes: piece payload we already had or did not keep

	// Blocks and pieces.
	MetricBlocksSent       // ses.num_outgoing_piece
	MetricBlocksReceived   // ses.num_incoming_piece (blocks kept for a piece)
	MetricBlocksReadCache  // blocks served from the page cache on the loop (RWF_NOWAIT)
	MetricBlocksReadDisk   // blocks served through a disk worker read
	MetricRequestsReceived // ses.num_incoming_request
	MetricRequestsSent     // ses.num_outgoing_request
	MetricRequestsRejected // ses.num_outgoing_reject: requests we refused
	MetricPiecesPassed     // ses.num_piece_passed
	MetricPiecesFailed     // ses.num_piece_failed

	// Connections.
	MetricConnectionAttempts    // peer.connection_attempts: outgoing dials started
	MetricConnectionsIncoming   // peer.incoming_connections: incoming conns adopted by a torrent
	MetricRefusedConnLimit      // incoming refused: session or torrent connection limit
	MetricRefusedUnknownTorrent // incoming refused: the torrent was removed meanwhile
	MetricRefusedBanned         // incoming refused: the address is banned

	// Handshake failures on a peer connection (after the accept loop
	// routed it, or outgoing).
	MetricHandshakeBadProtocol // not a BitTorrent handshake
	MetricHandshakeInfoHash    // the peer named another torrent
	MetricHandshakeTimeout     // no handshake within HandshakeTimeout
	MetricHandshakeMSE         // the outgoing MSE handshake failed
	MetricHandshakeSelf        // we connected to ourselves

	// MSE handshakes that completed, by direction and negotiated method.
	MetricMSEOutgoingRC4
	MetricMSEOutgoingPlaintext
	MetricMSEIncomingRC4
	MetricMSEIncomingPlaintext

	// Bans.
	MetricBansHashFailure // banned as the sole sender of a failed piece (peer.banned_for_hash_failure)
	MetricBansPlugin      // banned by a plugin (TorrentHandle.BanPeer: smart_ban and others)

	// The session's IP filter (ipfilter.go; incoming refusals are counted
	// by the listening loop).
	MetricIPFilterDialSkipped // addresses offered or picked for a dial that the filter blocks
	MetricIPFilterClosed      // connections closed because a new filter blocks them

	// Gauges, recomputed by Snapshot.
	MetricTorrents            // torrents on the shard
	MetricPeersConnected      // peer.num_peers_connected: past the handshake
	MetricPeersConnecting     // peer.num_peers_half_open: outgoing, not connected yet
	MetricPeersHandshaking    // connected, handshake not finished
	MetricPeersUpInterested   // peer.num_peers_up_interested: interested in our pieces
	MetricPeersUpUnchoked     // peer.num_peers_up_unchoked: we unchoke them
	MetricPeersDownInterested // peer.num_peers_down_interested: we are interested in theirs
	MetricPeersDownUnchoked   // peer.num_peers_down_unchoked: they unchoke us
	MetricPeersSeeds          // connected peers that have every piece
	MetricPeersEncrypted      // connected peers on an MSE connection
	MetricUploadRate          // payload bytes/s, summed over torrents
	MetricDownloadRate        // payload bytes/s, summed over torrents

	// NumMetrics is the length of Metrics.
	NumMetrics
)

// firstGauge is the first gauge; everything before it is a counter.
const firstGauge = MetricTorrents

// Metrics is one shard's engine counters and gauges, or their sum over
// shards. Owned by the shard's loop; copies are plain values.
type Metrics struct {
	V [NumMetrics]uint64
	// Disconnects counts closed connections by DisconnectReason
	// (peer.disconnected_peers split by cause).
	Disconnects [NumDisconnectReasons]uint64
}

// NumDisconnectReasons is the length of Metrics.Disconnects: every
// DisconnectReason is below it.
const NumDisconnectReasons = int(ReasonBanned) + 1

// Add adds o's entries to m (counters and gauges alike: a sum over shards).
func (m *Metrics) Add(o *Metrics) {
	for i := range m.V {
		m.V[i] += o.V[i]
	}
	for i := range m.Disconnects {
		m.Disconnects[i] += o.Disconnects[i]
	}
}

// IsGauge reports whether m is a gauge (a level now) rather than a counter.
func (m Metric) IsGauge() bool { return m >= firstGauge && m < NumMetrics }

var metricNames = [NumMetrics]struct{ name, help string }{
	MetricPayloadSentBytes:       {"payload_sent_bytes", "Piece data sent to peers."},
	MetricPayloadReceivedBytes:   {"payload_received_bytes", "Piece data received from peers."},
	MetricProtocolSentBytes:      {"protocol_sent_bytes", "Peer protocol bytes sent other than piece data (handshakes, headers, control messages)."},
	MetricProtocolReceivedBytes:  {"protocol_received_bytes", "Peer protocol bytes received other than piece data."},
	MetricRedundantReceivedBytes: {"redundant_received_bytes", "Piece data received that was not needed (already had, or not requested)."},
	MetricBlocksSent:             {"blocks_sent", "Blocks (piece messages) sent."},
	MetricBlocksReceived:         {"blocks_received", "Blocks received and kept for a piece."},
	MetricBlocksReadCache:        {"blocks_read_cache", "Blocks served from the page cache on the event loop."},
	MetricBlocksReadDisk:         {"blocks_read_disk", "Blocks served through a disk worker read."},
	MetricRequestsReceived:       {"requests_received", "Block requests received."},
	MetricRequestsSent:           {"requests_sent", "Block requests sent."},
	MetricRequestsRejected:       {"requests_rejected", "Block requests refused with a reject message."},
	MetricPiecesPassed:           {"pieces_passed", "Pieces that passed their hash check."},
	MetricPiecesFailed:           {"pieces_failed", "Pieces that failed their hash check."},
	MetricConnectionAttempts:     {"connection_attempts", "Outgoing connections started."},
	MetricConnectionsIncoming:    {"connections_incoming", "Incoming connections adopted by a torrent."},
	MetricRefusedConnLimit:       {"refused_conn_limit", "Incoming connections refused by a connection limit."},
	MetricRefusedUnknownTorrent:  {"refused_unknown_torrent", "Incoming connections refused because the torrent went away."},
	MetricRefusedBanned:          {"refused_banned", "Incoming connections refused because the address is banned."},
	MetricHandshakeBadProtocol:   {"handshake_bad_protocol", "Peer handshakes that were not BitTorrent handshakes."},
	MetricHandshakeInfoHash:      {"handshake_info_hash", "Peer handshakes for another info-hash."},
	MetricHandshakeTimeout:       {"handshake_timeout", "Peer handshakes not finished in time."},
	MetricHandshakeMSE:           {"handshake_mse", "Outgoing MSE handshakes that failed."},
	MetricHandshakeSelf:          {"handshake_self", "Connections to ourselves."},
	MetricMSEOutgoingRC4:         {"mse_outgoing_rc4", "Outgoing MSE handshakes that negotiated RC4."},
	MetricMSEOutgoingPlaintext:   {"mse_outgoing_plaintext", "Outgoing MSE handshakes that negotiated plaintext."},
	MetricMSEIncomingRC4:         {"mse_incoming_rc4", "Incoming MSE handshakes that negotiated RC4."},
	MetricMSEIncomingPlaintext:   {"mse_incoming_plaintext", "Incoming MSE handshakes that negotiated plaintext."},
	MetricBansHashFailure:        {"bans_hash_failure", "Addresses banned as the sole sender of a piece that failed."},
	MetricBansPlugin:             {"bans_plugin", "Addresses banned by a plugin (smart_ban and others)."},
	MetricIPFilterDialSkipped:    {"ip_filter_dial_skipped", "Peer addresses not dialled because the IP filter blocks them (offered by a tracker, the DHT, PEX or the API, or picked for a dial)."},
	MetricIPFilterClosed:         {"ip_filter_closed", "Connections closed because a newly set IP filter blocks their address."},
	MetricTorrents:               {"torrents", "Torrents."},
	MetricPeersConnected:         {"peers_connected", "Peer connections past the handshake."},
	MetricPeersConnecting:        {"peers_connecting", "Outgoing connections not connected yet."},
	MetricPeersHandshaking:       {"peers_handshaking", "Connections in the BitTorrent or MSE handshake."},
	MetricPeersUpInterested:      {"peers_up_interested", "Peers interested in our pieces."},
	MetricPeersUpUnchoked:        {"peers_up_unchoked", "Peers we unchoke."},
	MetricPeersDownInterested:    {"peers_down_interested", "Peers whose pieces we are interested in."},
	MetricPeersDownUnchoked:      {"peers_down_unchoked", "Peers that unchoke us."},
	MetricPeersSeeds:             {"peers_seeds", "Connected peers that have every piece."},
	MetricPeersEncrypted:         {"peers_encrypted", "Connected peers on an MSE connection."},
	MetricUploadRate:             {"upload_rate_bytes_per_second", "Payload upload rate."},
	MetricDownloadRate:           {"download_rate_bytes_per_second", "Payload download rate."},
}

// Name is the metric's snake_case name with its unit (Prometheus style,
// without a prefix or the _total suffix of counters).
func (m Metric) Name() string { return metricNames[m].name }

// Help is a one-line description of the metric.
func (m Metric) Help() string { return metricNames[m].help }

// ReasonName is a short snake_case label for a disconnect reason, "" for
// the unused zero value.
func (r DisconnectReason) ReasonName() string {
	if int(r) < len(reasonLabels) {
		return reasonLabels[r]
	}
	return ""
}

var reasonLabels = [NumDisconnectReasons]string{
	ReasonProtocol:     "protocol",
	ReasonClosedByPeer: "closed_by_peer",
	ReasonTimeout:      "timeout",
	ReasonRedundant:    "redundant",
	ReasonSelf:         "self",
	ReasonDuplicate:    "duplicate",
	ReasonLimit:        "limit",
	ReasonTorrentStop:  "torrent_stop",
	ReasonShutdown:     "shutdown",
	ReasonIO:           "io",
	ReasonPlugin:       "plugin",
	ReasonBanned:       "banned",
}

// count bumps one of the shard's counters. Loop only.
func (s *Shard) count(m Metric, n uint64) { s.met.V[m] += n }

// Snapshot returns the shard's counters with its gauges filled from its
// torrents and peers now. It walks every torrent and peer once and
// allocates nothing. Loop only.
func (s *Shard) Snapshot() Metrics {
	out := s.met
	g := &out.V
	g[MetricTorrents] = uint64(len(s.torrents))
	for _, t := range s.torrents {
		g[MetricUploadRate] += uint64(max(t.upRate, 0))
		g[MetricDownloadRate] += uint64(max(t.downRate, 0))
		for _, p := range t.peers {
			switch {
			case p.closed || p.closing:
				continue
			case !p.opened:
				g[MetricPeersConnecting]++
				continue
			case p.stage == stHandshake:
				g[MetricPeersHandshaking]++
				continue
			}
			g[MetricPeersConnected]++
			if p.peerInterested {
				g[MetricPeersUpInterested]++
			}
			if !p.amChoking {
				g[MetricPeersUpUnchoked]++
			}
			if p.amInterested {
				g[MetricPeersDownInterested]++
			}
			if !p.peerChoking {
				g[MetricPeersDownUnchoked]++
			}
			if p.peerSeed() {
				g[MetricPeersSeeds]++
			}
			if p.encrypted || p.mseRC4 {
				g[MetricPeersEncrypted]++
			}
		}
	}
	return out
}
