package mse

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"testing"
)

// Recorded conversations with rtorrent 0.9.8 (Debian's, on libtorrent
// 0.13.8, protocol.encryption = require,require_RC4) fetching a magnet from
// a shardtorrent node (-encryption forced, -enc-level both) over 127.0.0.1,
// captured with tshark on lo. The node's MSE randomness was fixed to
// rtorrentRand(seed), so replaying regenerates the Yb and PadB rtorrent
// answered. Each file is the torrent's info-hash (20 bytes) followed by
// every byte rtorrent sent on the connection. Rerecording needs rtorrent
// and a node built with that fixed source (a test-only hook, not shipped).

// rtorrentRand is the node's MSE source of a recording: ChaCha8 keyed with
// the seed string, zero-padded.
func rtorrentRand(seed string) *rand.ChaCha8 {
	var k [32]byte
	copy(k[:], seed)
	return rand.NewChaCha8(k)
}

func loadRTorrent(t *testing.T, name string) (ih [20]byte, stream []byte) {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	copy(ih[:], b)
	return ih, b[20:]
}

// rtorrent-0.9.8-initiator.bin (seed "e-2") is a run that stalled 61 s:
// rtorrent sent Ya+PadA (484 bytes), then after our Yb+PadB (96+180) its
// HASH('req1', S), the obfuscated SKEY hash and ENCRYPT(VC, provide = RC4,
// len(PadC) = 0, len(IA) = 68, IA = its handshake): 124 bytes, through
// offset 608. At 608 come its extension handshake (86 bytes) and two
// keep-alives; its ut_metadata request (offset 702) came only 60 s later,
// after our keep-alive. Our side was not at fault in the handshake (this
// replay completes): rtorrent's MSE sync read had taken all 320 bytes of
// our second flight (PadB + 320 <= 512 + 8), so our bitfield and extension
// handshake were handed to its metadata connection as unread bytes, which
// stops at a bitfield until its next read event (see shard's
// TestExtHandshakeFirstForRTorrentMetadata for our side of the fix).

// TestReplayRTorrentInitiator: our Receiver, replayed with the recorded
// randomness, completes rtorrent's handshake with RC4, and the stream after
// it decrypts to rtorrent's BitTorrent handshake for the torrent, its
// extension handshake (ut_metadata), two keep-alives and its ut_metadata
// request for piece 0.
func TestReplayRTorrentInitiator(t *testing.T) {
	ih, stream := loadRTorrent(t, "rtorrent-0.9.8-initiator.bin")
	rcv, err := NewReceiver(lookupOne(ih), MethodBoth, rtorrentRand("e-2"))
	if err != nil {
		t.Fatal(err)
	}
	rcv.SetPreferRC4(false) // the node's default
	n, err := rcv.Step(stream)
	if err != nil || !rcv.Done() {
		t.Fatalf("replay: consumed %d of %d, done %v, err %v", n, len(stream), rcv.Done(), err)
	}
	if n != 608 {
		t.Fatalf("handshake ends at %d, want 608 (484 + 124)", n)
	}
	res := rcv.Result()
	if res.Method != MethodRC4 || res.Cipher == nil || res.InfoHash != ih {
		t.Fatalf("negotiated %v (cipher %v) for %x", res.Method, res.Cipher != nil, res.InfoHash)
	}
	hs := res.InitialPayload
	if len(hs) != 68 || string(hs[:20]) != "\x13BitTorrent protocol" || !bytes.Equal(hs[28:48], ih[:]) || !bytes.HasPrefix(hs[48:], []byte("-lt0D80-")) {
		t.Fatalf("IA is not rtorrent 0.9.8's handshake for the torrent: %q", hs)
	}
	if hs[25]&0x10 == 0 {
		t.Fatalf("rtorrent's reserved bits %x lack the extension protocol", hs[20:28])
	}
	rest := bytes.Clone(stream[n:])
	res.Cipher.Decrypt([][]byte{rest})
	type msg struct {
		id      int // -1: keep-alive
		payload string
	}
	var got []msg
	for p := rest; len(p) >= 4; {
		l := int(binary.BigEndian.Uint32(p))
		if l > len(p)-4 {
			t.Fatalf("message %d: length %d, %d bytes left", len(got), l, len(p)-4)
		}
		m := msg{id: -1}
		if l > 0 {
			m = msg{int(p[4]), string(p[5 : 4+l])}
		}
		got = append(got, m)
		p = p[4+l:]
	}
	if len(got) != 4 || got[0].id != 20 || got[1].id != -1 || got[2].id != -1 || got[3].id != 20 {
		t.Fatalf("messages after the handshake: %+v", got)
	}
	if !bytes.Contains([]byte(got[0].payload), []byte("11:ut_metadatai2e")) {
		t.Fatalf("extension handshake %q has no ut_metadata", got[0].payload)
	}
	if got[3].payload != "\x02d8:msg_typei0e5:piecei0ee" {
		t.Fatalf("last message %q is not a ut_metadata request for piece 0", got[3].payload)
	}
}

// rtorrent-0.9.8-initiator-zero-secret.bin (seed "rz-30") is a handshake
// our session refused after 10 s ("encryption handshake timed out")
// although all 506 bytes of rtorrent's had arrived: Ya+PadA (382), then 124
// bytes. The secret S that the seed's first key gives with that Ya starts
// with a zero byte. rtorrent computed HASH('req1', S) and HASH('req3', S)
// over S without its leading zeros (OpenSSL's DH_compute_key output; the
// spec hashes all 96 bytes), so the Receiver's sync search could never
// match. (Its RC4 keys were over the 95 bytes plus one stray byte.) The
// recording was made by making the node's first key give such an S.

// TestReplayRTorrentZeroSecret checks the recording shows that defect, and
// that the Receiver no longer answers with a key whose S has a leading zero
// byte: before the fix it sent that key's Yb and waited for a sync that
// rtorrent never sends.
func TestReplayRTorrentZeroSecret(t *testing.T) {
	ih, stream := loadRTorrent(t, "rtorrent-0.9.8-initiator-zero-secret.bin")
	ya := stream[:pubKeyLen]
	first, err := newDHKey(rtorrentRand("rz-30"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := first.secret(ya)
	if err != nil {
		t.Fatal(err)
	}
	if s[0] != 0 || s[1] == 0 {
		t.Fatalf("recording's premise: S starts %x, want one zero byte", s[:2])
	}
	const padA = 382 - pubKeyLen
	full, stripped := hash([]byte("req1"), s[:]), hash([]byte("req1"), s[1:])
	if bytes.Contains(stream, full[:]) || !bytes.Equal(stream[pubKeyLen+padA:][:hashLen], stripped[:]) {
		t.Fatal("recording's premise: rtorrent's req1 hash is not over S without its leading zero")
	}
	req3 := hash([]byte("req3"), s[1:])
	skey := SKeyHash(ih)
	for i := range hashLen {
		if stream[pubKeyLen+padA+hashLen+i]^req3[i] != skey[i] {
			t.Fatal("recording's premise: rtorrent's req3 hash is not over S without its leading zero")
		}
	}

	rcv, err := NewReceiver(lookupOne(ih), MethodBoth, rtorrentRand("rz-30"))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := rcv.Step(stream); err != nil || n != len(stream) {
		t.Fatalf("consumed %d of %d, err %v", n, len(stream), err)
	}
	out := rcv.Output()
	if len(out) < pubKeyLen || bytes.Equal(out[:pubKeyLen], first.pub[:]) {
		t.Fatal("the Receiver answered with the key whose secret has a leading zero byte")
	}
	if rcv.secret[0] == 0 {
		t.Fatalf("the Receiver's secret starts with a zero byte: %x", rcv.secret[:2])
	}
	if got, _ := rcv.key.secret(ya); got != rcv.secret {
		t.Fatal("the secret is not the one of the key sent")
	}
}

// repeatReader yields the same bytes over and over.
type repeatReader struct {
	b []byte
	n int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.b[r.n%len(r.b)]
		r.n++
	}
	return len(p), nil
}

// TestReceiverKeyRedrawsBounded: a source that keeps giving the key whose
// secret has a leading zero byte makes the Receiver answer with it after
// maxKeyDraws draws (such a secret is valid) instead of looping forever.
func TestReceiverKeyRedrawsBounded(t *testing.T) {
	_, stream := loadRTorrent(t, "rtorrent-0.9.8-initiator-zero-secret.bin")
	var priv [privKeyLen]byte
	if _, err := io.ReadFull(rtorrentRand("rz-30"), priv[:]); err != nil {
		t.Fatal(err)
	}
	key, err := newDHKey(bytes.NewReader(priv[:]))
	if err != nil {
		t.Fatal(err)
	}
	src := &repeatReader{b: priv[:]}
	rcv, err := NewReceiver(func([20]byte) ([20]byte, bool) { return [20]byte{}, false }, MethodRC4, src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rcv.Step(stream[:pubKeyLen]); err != nil {
		t.Fatal(err)
	}
	if out := rcv.Output(); len(out) < pubKeyLen || !bytes.Equal(out[:pubKeyLen], key.pub[:]) || rcv.secret[0] != 0 {
		t.Fatalf("answered %d bytes, secret %x", len(out), rcv.secret[:2])
	}
	if want := privKeyLen * maxKeyDraws; src.n < want {
		t.Fatalf("read %d bytes of randomness, want at least %d", src.n, want)
	}
}
