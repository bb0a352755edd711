package dht

import (
	"net/netip"
	"time"
)

// blocker limits the queries each source may send, as libtorrent's
// dos_blocker does: it remembers the last blockerSlots sources; a source
// that sends rate*10 queries within 10 s is ignored until it has been
// blocked for the block timeout. A source not in the table takes the slot
// with the fewest queries (oldest window on a tie), so the table never
// grows and a flood of spoofed sources costs one scan of blockerSlots
// entries per packet.
//
// Sources are keyed by address and port, not by address alone as in
// libtorrent: distinct nodes behind one NAT address (and every node of a
// loopback test) are limited separately. Socket-free; time is an argument.
// Owned by the goroutine that reads the socket.
type blocker struct {
	rate    int           // queries per second allowed on average (dht_block_ratelimit)
	timeout time.Duration // how long a source that exceeded it is ignored (dht_block_timeout)
	slots   [blockerSlots]blockSlot
}

// blockerSlots is how many sources the blocker remembers (libtorrent: 20).
const blockerSlots = 32

// blockWindow is the window the rate is counted over (libtorrent: 10 s).
const blockWindow = 10 * time.Second

type blockSlot struct {
	src   netip.AddrPort
	count int
	limit time.Time // end of the counting window, or of the block
}

// allow counts one query from src at now and reports whether to handle it.
// A rate of zero or less allows everything.
func (b *blocker) allow(src netip.AddrPort, now time.Time) bool {
	if b.rate <= 0 {
		return true
	}
	max := b.rate * int(blockWindow/time.Second)
	var match *blockSlot
	min := &b.slots[0]
	for i := range b.slots {
		s := &b.slots[i]
		if s.src == src && s.count > 0 {
			match = s
			break
		}
		if s.count < min.count || (s.count == min.count && s.limit.Before(min.limit)) {
			min = s
		}
	}
	if match == nil {
		*min = blockSlot{src: src, count: 1, limit: now.Add(blockWindow)}
		return true
	}
	match.count++
	if match.count < max {
		return true
	}
	if now.Before(match.limit) {
		if match.count == max {
			// Too many within the window: ignore it until the block
			// timeout has passed.
			match.limit = now.Add(b.timeout)
		}
		return false
	}
	// The window (or the block) is over: start counting again.
	match.count = 1
	match.limit = now.Add(blockWindow)
	return true
}
