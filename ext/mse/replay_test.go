package mse

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"testing"
)

// A recorded conversation: the bytes libtorrent 2.0.8 (Debian's
// python3-libtorrent, in_enc_policy = out_enc_policy = pe_forced,
// allowed_enc_level = pe_rc4) sent when it dialled our session, which ran
// the Receiver with its random source fixed to replayRand (so that replaying
// regenerates the exact Yb, PadB and crypto_select libtorrent answered).
// testdata/libtorrent-2.0.8-initiator.bin is the torrent's info-hash (20
// bytes) followed by the first 699 bytes libtorrent sent: Ya, PadA, the
// synchronisation hash, the obfuscated SKEY hash, the encrypted provide/PadC/
// IA, then its RC4 BitTorrent handshake and first messages. Captured over
// loopback with a relay in front of a shardtorrent session; rerecording needs
// libtorrent and the same session settings.

func replayRand() *rand.ChaCha8 { return rand.NewChaCha8([32]byte{'l', 't', '2', '0', '8'}) }

func loadRecording(t *testing.T) (ih [20]byte, stream []byte) {
	t.Helper()
	b, err := os.ReadFile("testdata/libtorrent-2.0.8-initiator.bin")
	if err != nil {
		t.Fatal(err)
	}
	copy(ih[:], b)
	return ih, b[20:]
}

// TestReplayLibtorrentInitiator: our Receiver, replayed with the recorded
// randomness, completes libtorrent's handshake, selects RC4, and the
// payload that follows decrypts to libtorrent's BitTorrent handshake for
// the torrent and well-formed messages.
func TestReplayLibtorrentInitiator(t *testing.T) {
	ih, stream := loadRecording(t)
	rcv, err := NewReceiver(lookupOne(ih), MethodRC4, replayRand())
	if err != nil {
		t.Fatal(err)
	}
	n, err := rcv.Step(stream)
	if err != nil || !rcv.Done() {
		t.Fatalf("replay: consumed %d of %d, done %v, err %v", n, len(stream), rcv.Done(), err)
	}
	res := rcv.Result()
	if res.Method != MethodRC4 || res.Cipher == nil || res.InfoHash != ih {
		t.Fatalf("negotiated %v (cipher %v) for %x", res.Method, res.Cipher != nil, res.InfoHash)
	}
	rest := bytes.Clone(stream[n:])
	res.Cipher.Decrypt([][]byte{rest})
	payload := append(bytes.Clone(res.InitialPayload), rest...)
	if len(payload) < 68 || string(payload[:20]) != "\x13BitTorrent protocol" || !bytes.Equal(payload[28:48], ih[:]) {
		t.Fatalf("decrypted payload does not start with a handshake for the torrent: %q", payload[:min(len(payload), 68)])
	}
	if !bytes.HasPrefix(payload[48:], []byte("-LT20")) {
		t.Fatalf("peer id %q is not libtorrent 2.0's", payload[48:56])
	}
	// The messages after the handshake frame exactly up to a partial last one.
	msgs := 0
	for p := payload[68:]; len(p) >= 4; msgs++ {
		l := int(binary.BigEndian.Uint32(p))
		if l > 1<<20 {
			t.Fatalf("message %d: length %d after decryption", msgs, l)
		}
		if len(p) < 4+l {
			break
		}
		p = p[4+l:]
	}
	if msgs == 0 {
		t.Fatal("no message after the handshake")
	}
	t.Logf("IA %d bytes, %d messages after the handshake", len(res.InitialPayload), msgs)
}

// TestReplayTruncatedAndCorrupted: every strict prefix of libtorrent's
// handshake leaves the Receiver waiting without error, and flipped bits in
// the fields that authenticate it fail it with the matching error.
func TestReplayTruncatedAndCorrupted(t *testing.T) {
	ih, stream := loadRecording(t)
	full, err := NewReceiver(lookupOne(ih), MethodRC4, replayRand())
	if err != nil {
		t.Fatal(err)
	}
	end, _ := full.Step(stream)
	for cut := 0; cut < end; cut += 7 {
		rcv, _ := NewReceiver(lookupOne(ih), MethodRC4, replayRand())
		if n, err := rcv.Step(stream[:cut]); err != nil || rcv.Done() || n != cut {
			t.Fatalf("prefix %d: consumed %d, done %v, err %v", cut, n, rcv.Done(), err)
		}
	}
	// A flipped bit in Ya (another secret: no synchronisation hash), in the
	// obfuscated SKEY hash (no such torrent) or in VC fails the handshake.
	// (PadC's content is ignored by design, and a flip in crypto_provide
	// may leave the RC4 bit set.)
	vc := end - len(full.Result().InitialPayload) - 2 - full.padC - 2 - 4 - vcLen
	cases := map[string][]int{"Ya": {0, 17, 50, 95}, "SKEY hash": {vc - 20, vc - 9, vc - 1}, "VC": {vc, vc + 3, vc + 7}}
	want := map[string]error{"Ya": ErrSyncNotFound, "SKEY hash": ErrUnknownInfoHash, "VC": ErrBadVC}
	for what, idx := range cases {
		for _, i := range idx {
			bad := bytes.Clone(stream[:end])
			bad[i] ^= 0x80
			if what == "Ya" {
				// The sync search only gives up after its whole window.
				bad = append(bad, make([]byte, MaxPad+hashLen)...)
			}
			rcv, _ := NewReceiver(lookupOne(ih), MethodRC4, replayRand())
			if _, err := rcv.Step(bad); !errors.Is(err, want[what]) {
				t.Errorf("%s byte %d flipped: err %v, want %v", what, i, err, want[what])
			}
		}
	}
}

// The other direction: testdata/libtorrent-2.0.8-receiver.bin is the
// info-hash followed by the first 1024 bytes libtorrent 2.0.8 (forced, RC4
// only) sent when our session dialled it with its random source fixed to
// replayInitiatorRand: Yb, PadB, the encrypted VC, crypto_select, PadD, then
// its RC4 BitTorrent handshake and first messages.

func replayInitiatorRand() *rand.ChaCha8 { return rand.NewChaCha8([32]byte{'s', 't', 'i', 'n', 'i'}) }

// TestReplayLibtorrentReceiver: our Initiator, replayed with the recorded
// randomness (and an initial payload of the same length as the handshake it
// sent), completes libtorrent's side, gets RC4 selected, and what follows
// decrypts to libtorrent's handshake for the torrent.
func TestReplayLibtorrentReceiver(t *testing.T) {
	b, err := os.ReadFile("testdata/libtorrent-2.0.8-receiver.bin")
	if err != nil {
		t.Fatal(err)
	}
	var ih [20]byte
	copy(ih[:], b)
	stream := b[20:]
	ini, err := NewInitiator(ih, MethodRC4, replayInitiatorRand(), make([]byte, 68))
	if err != nil {
		t.Fatal(err)
	}
	n, err := ini.Step(stream)
	if err != nil || !ini.Done() {
		t.Fatalf("replay: consumed %d of %d, done %v, err %v", n, len(stream), ini.Done(), err)
	}
	res := ini.Result()
	if res.Method != MethodRC4 || res.Cipher == nil {
		t.Fatalf("negotiated %v", res.Method)
	}
	rest := bytes.Clone(stream[n:])
	res.Cipher.Decrypt([][]byte{rest})
	if len(rest) < 68 || string(rest[:20]) != "\x13BitTorrent protocol" || !bytes.Equal(rest[28:48], ih[:]) || !bytes.HasPrefix(rest[48:], []byte("-LT20")) {
		t.Fatalf("decrypted stream does not start with libtorrent's handshake: %q", rest[:min(len(rest), 68)])
	}
	for cut := 0; cut < n; cut += 5 {
		ini, _ := NewInitiator(ih, MethodRC4, replayInitiatorRand(), make([]byte, 68))
		if k, err := ini.Step(stream[:cut]); err != nil || ini.Done() || k != cut {
			t.Fatalf("prefix %d: consumed %d, done %v, err %v", cut, k, ini.Done(), err)
		}
	}
}
