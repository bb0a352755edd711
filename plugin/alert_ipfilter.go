package plugin

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// TypePeerBlocked is libtorrent's id for peer_blocked_alert.
const TypePeerBlocked AlertType = 54

// ErrIPFiltered is the reason a connection was refused or closed because
// the session's IP filter blocks its address (IncomingRefusedAlert.Reason,
// PeerDisconnectedAlert's error).
var ErrIPFiltered = errors.New("plugin: blocked by the IP filter")

// BlockReason says why a peer was blocked (libtorrent's
// peer_blocked_alert::reason_t; only the IP filter exists here).
type BlockReason uint8

// Block reasons.
const (
	BlockIPFilter BlockReason = iota // the session's IP filter (Settings.IPFilter)
)

func (r BlockReason) String() string {
	if r == BlockIPFilter {
		return "ip_filter"
	}
	return fmt.Sprintf("block_reason(%d)", uint8(r))
}

// PeerBlockedAlert: a peer's address was blocked (libtorrent's
// peer_blocked_alert, category ip_block). Posted when an incoming
// connection is refused at accept (TorrentAlert is zero then: the torrent
// is not known before the handshake, and Incoming is true), when a torrent
// drops an address a tracker, the DHT, PEX or the API offered, or skips a
// candidate it was about to dial, and when a new filter closes an existing
// connection (Closed). The alerts are rate-limited per event loop
// (PeerBlockedAlertsPerSecond); Suppressed counts the blocks of that loop
// not alerted since the previous alert, so none go unaccounted.
type PeerBlockedAlert struct {
	TorrentAlert
	Addr       netip.AddrPort // the blocked address
	Reason     BlockReason    // what blocked it
	Incoming   bool
	Closed     bool
	Suppressed uint64
}

// PeerBlockedAlertsPerSecond bounds the PeerBlockedAlerts one event loop
// posts per second: a large blocklist against a busy swarm must not flood
// the alert queue.
const PeerBlockedAlertsPerSecond = 20

func (*PeerBlockedAlert) Type() AlertType    { return TypePeerBlocked }
func (*PeerBlockedAlert) Category() Category { return CategoryIPBlock }
func (*PeerBlockedAlert) Name() string       { return "peer_blocked" }
func (a *PeerBlockedAlert) Message() string {
	what := "blocked peer"
	switch {
	case a.Incoming:
		what = "blocked incoming connection from"
	case a.Closed:
		what = "closed connection to blocked peer"
	}
	msg := fmt.Sprintf("%s %s (%v)", what, a.Addr, a.Reason)
	if !a.InfoHash.IsZero() || a.Torrent != "" {
		msg = a.TorrentAlert.prefix() + ": " + msg
	}
	if a.Suppressed > 0 {
		msg += fmt.Sprintf(" [%d more not alerted]", a.Suppressed)
	}
	return msg
}

// BlockAlertBudget rate-limits PeerBlockedAlerts on one event loop: Allow
// admits PeerBlockedAlertsPerSecond per wall-clock second and counts the
// rest. The zero value is ready. Owned by one loop: not safe for
// concurrent use.
type BlockAlertBudget struct {
	sec        int64
	n          int
	suppressed uint64
}

// Allow reports whether an alert may be posted at now and, if so, how
// many were suppressed since the last one allowed. Loop only (the owner's).
func (b *BlockAlertBudget) Allow(now time.Time) (ok bool, suppressed uint64) {
	if s := now.Unix(); s != b.sec {
		b.sec, b.n = s, 0
	}
	if b.n >= PeerBlockedAlertsPerSecond {
		b.suppressed++
		return false, 0
	}
	b.n++
	suppressed, b.suppressed = b.suppressed, 0
	return true, suppressed
}

func init() {
	a := Alert((*PeerBlockedAlert)(nil))
	alertTypes[a.Type()] = alertTypeInfo{a.Category(), a.Name()}
}
