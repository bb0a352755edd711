package shard

import (
	"encoding/hex"
	"testing"

	"github.com/shardtorrent/shardtorrent/wire"
)

// rtorrent 0.9.8's handshake and extension handshake, decrypted from the
// recording in ext/mse/testdata/rtorrent-0.9.8-initiator.bin (its MSE
// initial payload and first message): reserved bits with only the extension
// protocol (no fast extension), peer id "-lt0D80-" and 12 random bytes.
const (
	rtReservedHex = "0000000000100000"
	rtPeerIDHex   = "2d6c74304438302d1be34594abb0c0064324e626"
	rtExtHSHex    = "00000052140064313a6d6431313a75745f6d65746164617461693265363a75745f70657869306565313a7069343030313065343a72657171693230343865313a7631373a6c6962546f7272656e7420302e31332e3865"
)

// rtorrentMetaRead models how rtorrent 0.9.8's metadata connection
// (libtorrent 0.13.8, PeerConnectionMetadata::event_read) parses bytes it
// already holds: the unread tail of its handshake buffer, which is all we
// sent when its MSE sync read took our whole second flight. It reads
// messages until a bitfield, which it skips only at its next read event, so
// the messages it has handled before that event are those before the first
// bitfield. It reports whether an extension handshake (ext id 0) is among
// them: only then does it send its ut_metadata request at once.
func rtorrentMetaRead(msgs []wire.Message) (sawExtHandshake bool) {
	for _, m := range msgs {
		switch {
		case m.ID == wire.Bitfield:
			return false
		case m.ID == wire.Extended && m.ExtID == 0:
			return true
		}
	}
	return false
}

// TestExtHandshakeFirstForRTorrentMetadata guards the 61 s stall of
// rtorrent fetching a magnet from us over MSE (3 runs in 16): with our
// bitfield sent before the extension handshake, rtorrent, holding both
// already, stopped at the bitfield and sent its ut_metadata request only
// after our 60 s keep-alive. Replayed with rtorrent's recorded handshake,
// the extension handshake must come before any bitfield.
func TestExtHandshakeFirstForRTorrentMetadata(t *testing.T) {
	h := newHarness(t, Settings{})
	seed := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	partial := h.leech(makeTorrent(t, seedSize+1, seedPieceLen))
	reserved, _ := hex.DecodeString(rtReservedHex)
	id, _ := hex.DecodeString(rtPeerIDHex)
	extHS, _ := hex.DecodeString(rtExtHSHex)
	for _, tc := range []struct {
		name string
		tor  *Torrent
	}{{"seed", seed}, {"empty", partial}} {
		t.Run(tc.name, func(t *testing.T) {
			var out []wire.Message
			h.do(func() {
				tp := h.connect(tc.tor, false)
				hs := wire.Handshake{InfoHash: tc.tor.wireIH}
				copy(hs.Reserved[:], reserved)
				copy(hs.PeerID[:], id)
				b := append(wire.AppendHandshake(nil, &hs), extHS...)
				if n := h.feed(tp, b); n != len(b) {
					fatalf("consumed %d of %d", n, len(b))
				}
				if !tp.active() {
					fatalf("rtorrent's handshake was refused")
				}
				out = tp.fc.take()
			})
			if len(out) == 0 || out[0].ID != wire.Extended || out[0].ExtID != 0 {
				t.Fatalf("first message after the handshake is %v, want the extension handshake", ids(out))
			}
			if !rtorrentMetaRead(out) {
				t.Fatalf("rtorrent's metadata connection would wait for its next read event: we sent %v", ids(out))
			}
			if tc.tor == seed && len(only(out, wire.Bitfield)) != 1 {
				t.Fatalf("a seed sent %v to a peer without the fast extension, want one bitfield", ids(out))
			}
		})
	}
}
