package mse

import (
	"bytes"
	crand "crypto/rand"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

var testInfoHash = [20]byte{0: 0xaa, 19: 0x55}

// seeded is a deterministic rand for a handshake side.
func seeded(seed byte) io.Reader { return rand.NewChaCha8([32]byte{seed}) }

// lookupOne serves one torrent.
func lookupOne(ih [20]byte) func([20]byte) ([20]byte, bool) {
	want := SKeyHash(ih)
	return func(h [20]byte) ([20]byte, bool) { return ih, h == want }
}

// stepper is an Initiator or a Receiver, as the tests drive them.
type stepper interface {
	Step([]byte) (int, error)
	Output() []byte
	Done() bool
	Result() Result
}

// side is one end of an in-memory conversation: its machine, the bytes in
// flight towards it, and what it received after its handshake.
type side struct {
	m       stepper
	inbound []byte // bytes the peer sent, not yet delivered
	post    []byte // bytes delivered after our handshake finished (raw)
	sent    bool   // our payload was queued
	err     error
}

// deliver hands the next chunk of inbound bytes to s; false if none.
func (s *side) deliver(t *testing.T, r *rand.Rand) bool {
	if len(s.inbound) == 0 {
		return false
	}
	k := 1 + r.IntN(min(len(s.inbound), 16))
	if r.IntN(3) == 0 {
		k = 1 + r.IntN(len(s.inbound))
	}
	chunk := s.inbound[:k]
	s.inbound = s.inbound[k:]
	if s.m.Done() {
		s.post = append(s.post, chunk...)
		return true
	}
	n, err := s.m.Step(chunk)
	if err != nil {
		s.err = err
		return true
	}
	if !s.m.Done() && n != len(chunk) {
		t.Fatalf("unfinished handshake consumed %d of %d bytes", n, len(chunk))
	}
	s.post = append(s.post, chunk[n:]...)
	return true
}

// converse runs a conversation with random chunking. Each side sends its
// payload (through its negotiated cipher) as soon as it is done, so the
// payload shares reads with the end of the handshake. It returns the
// payloads each side decrypted, or the first error.
func converse(t *testing.T, r *rand.Rand, a, b stepper, payloadA, payloadB []byte) (gotA, gotB []byte, err error) {
	sa, sb := &side{m: a}, &side{m: b}
	queue := func(from, to *side, payload []byte) {
		to.inbound = append(to.inbound, from.m.Output()...)
		if from.m.Done() && !from.sent {
			from.sent = true
			p := bytes.Clone(payload)
			if c := from.m.Result().Cipher; c != nil {
				c.Encrypt([][]byte{p})
			}
			to.inbound = append(to.inbound, p...)
		}
	}
	for {
		queue(sa, sb, payloadA)
		queue(sb, sa, payloadB)
		pa, pb := sb.deliver(t, r), sa.deliver(t, r)
		if sa.err != nil || sb.err != nil {
			return nil, nil, errors.Join(sa.err, sb.err)
		}
		if !pa && !pb { // nothing delivered, so nothing new to send either
			break
		}
	}
	if !a.Done() || !b.Done() {
		t.Fatalf("stalled: initiator done %v, receiver done %v", a.Done(), b.Done())
	}
	for _, s := range []*side{sa, sb} {
		if c := s.m.Result().Cipher; c != nil {
			c.Decrypt([][]byte{s.post})
		}
	}
	return sb.post, sa.post, nil
}

func TestHandshake(t *testing.T) {
	tests := []struct {
		name             string
		provide, allowed CryptoMethod
		want             CryptoMethod
		wantErr          error
		plainFirst       bool // SetPreferRC4(false)
	}{
		{"rc4 both", MethodBoth, MethodBoth, MethodRC4, nil, false},
		{"rc4 only", MethodRC4, MethodBoth, MethodRC4, nil, false},
		{"rc4 forced", MethodBoth, MethodRC4, MethodRC4, nil, false},
		{"plaintext offered", MethodPlaintext, MethodBoth, MethodPlaintext, nil, false},
		{"plaintext allowed", MethodBoth, MethodPlaintext, MethodPlaintext, nil, false},
		{"disjoint", MethodPlaintext, MethodRC4, 0, ErrNoCommonMethod, false},
		{"disjoint rc4", MethodRC4, MethodPlaintext, 0, ErrNoCommonMethod, false},
		{"both, plaintext preferred", MethodBoth, MethodBoth, MethodPlaintext, nil, true},
		{"rc4 only, plaintext preferred", MethodRC4, MethodBoth, MethodRC4, nil, true},
	}
	for _, tt := range tests {
		for _, ia := range [][]byte{nil, []byte("\x13BitTorrent protocol and the rest of a handshake")} {
			for seed := range uint64(15) {
				r := rand.New(rand.NewPCG(seed, 99))
				ini, err := NewInitiator(testInfoHash, tt.provide, seeded(byte(2*seed)), ia)
				if err != nil {
					t.Fatal(err)
				}
				rcv, err := NewReceiver(lookupOne(testInfoHash), tt.allowed, seeded(byte(2*seed+1)))
				if err != nil {
					t.Fatal(err)
				}
				rcv.SetPreferRC4(!tt.plainFirst)
				payloadA := bytes.Repeat([]byte("from the initiator "), int(seed)*30)
				payloadB := bytes.Repeat([]byte("from the receiver "), int(seed)*40)
				gotA, gotB, err := converse(t, r, ini, rcv, payloadA, payloadB)
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("%s: err %v, want %v", tt.name, err, tt.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s seed %d: %v", tt.name, seed, err)
				}
				ri, rr := ini.Result(), rcv.Result()
				if ri.Method != tt.want || rr.Method != tt.want {
					t.Fatalf("%s: methods %v/%v, want %v", tt.name, ri.Method, rr.Method, tt.want)
				}
				if (ri.Cipher == nil) != (tt.want == MethodPlaintext) || (rr.Cipher == nil) != (tt.want == MethodPlaintext) {
					t.Fatalf("%s: cipher presence wrong for %v", tt.name, tt.want)
				}
				if rr.InfoHash != testInfoHash || ri.InfoHash != testInfoHash {
					t.Fatalf("%s: info-hash %x/%x", tt.name, ri.InfoHash, rr.InfoHash)
				}
				if !bytes.Equal(rr.InitialPayload, ia) {
					t.Fatalf("%s: IA %q, want %q", tt.name, rr.InitialPayload, ia)
				}
				if !bytes.Equal(gotA, payloadA) || !bytes.Equal(gotB, payloadB) {
					t.Fatalf("%s seed %d: payload after the handshake garbled", tt.name, seed)
				}
			}
		}
	}
}

// TestHandshakeCryptoRand runs the production random source once.
func TestHandshakeCryptoRand(t *testing.T) {
	ini, err := NewInitiator(testInfoHash, MethodRC4, crand.Reader, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := NewReceiver(lookupOne(testInfoHash), MethodBoth, crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := converse(t, rand.New(rand.NewPCG(1, 1)), ini, rcv, []byte("ping"), []byte("pong")); err != nil {
		t.Fatal(err)
	}
}

// transcript runs a deterministic handshake in one shot and returns each
// side's whole output.
func transcript(t testing.TB, ia []byte) (fromA, fromB []byte) {
	ini, err := NewInitiator(testInfoHash, MethodBoth, seeded(1), ia)
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := NewReceiver(lookupOne(testInfoHash), MethodBoth, seeded(2))
	if err != nil {
		t.Fatal(err)
	}
	fromA = ini.Output()
	if _, err := rcv.Step(fromA); err != nil {
		t.Fatal(err)
	}
	fromB = rcv.Output()
	if _, err := ini.Step(fromB); err != nil {
		t.Fatal(err)
	}
	more := ini.Output()
	fromA = append(fromA, more...)
	if _, err := rcv.Step(more); err != nil {
		t.Fatal(err)
	}
	fromB = append(fromB, rcv.Output()...)
	if !rcv.Done() {
		t.Fatal("transcript: receiver unfinished")
	}
	return fromA, fromB
}

// replay feeds a fresh side (same seed as in transcript) the first p bytes.
func replayReceiver(t *testing.T, stream []byte) (*Receiver, int, error) {
	rcv, err := NewReceiver(lookupOne(testInfoHash), MethodBoth, seeded(2))
	if err != nil {
		t.Fatal(err)
	}
	n, err := rcv.Step(stream)
	return rcv, n, err
}

func replayInitiator(t *testing.T, stream, ia []byte) (*Initiator, int, error) {
	ini, err := NewInitiator(testInfoHash, MethodBoth, seeded(1), ia)
	if err != nil {
		t.Fatal(err)
	}
	n, err := ini.Step(stream)
	return ini, n, err
}

// TestTruncatedNeverSucceeds requires every strict prefix of a valid
// conversation to leave each side unfinished, without error, and the whole
// conversation plus trailing payload to finish consuming exactly the
// handshake.
func TestTruncatedNeverSucceeds(t *testing.T) {
	ia := []byte("initial payload")
	fromA, fromB := transcript(t, ia)
	trailer := []byte("payload stream bytes")
	rcv, n, err := replayReceiver(t, append(bytes.Clone(fromA), trailer...))
	if err != nil || !rcv.Done() || n != len(fromA) {
		t.Fatalf("full receiver replay: done %v, n %d of %d, err %v", rcv.Done(), n, len(fromA), err)
	}
	ini, n, err := replayInitiator(t, append(bytes.Clone(fromB), trailer...), ia)
	if err != nil || !ini.Done() || n != len(fromB) {
		t.Fatalf("full initiator replay: done %v, n %d of %d, err %v", ini.Done(), n, len(fromB), err)
	}
	for p := range len(fromA) {
		rcv, n, err := replayReceiver(t, fromA[:p])
		if err != nil || rcv.Done() || n != p {
			t.Fatalf("receiver prefix %d: done %v, n %d, err %v", p, rcv.Done(), n, err)
		}
	}
	for p := range len(fromB) {
		ini, n, err := replayInitiator(t, fromB[:p], ia)
		if err != nil || ini.Done() || n != p {
			t.Fatalf("initiator prefix %d: done %v, n %d, err %v", p, ini.Done(), n, err)
		}
	}
}

func TestWrongInfoHash(t *testing.T) {
	fromA, _ := transcript(t, nil)
	rcv, err := NewReceiver(lookupOne([20]byte{1}), MethodBoth, seeded(2))
	if err != nil {
		t.Fatal(err)
	}
	n, err := rcv.Step(fromA)
	if !errors.Is(err, ErrUnknownInfoHash) {
		t.Fatalf("err %v, want ErrUnknownInfoHash", err)
	}
	if n > pubKeyLen+MaxPad+2*hashLen {
		t.Fatalf("consumed %d bytes before refusing the hash", n)
	}
	if _, err2 := rcv.Step([]byte{1}); err2 != err {
		t.Fatal("a failed handshake must stay failed")
	}
}

// TestLookupLies: a lookup returning another torrent gives other keys, so
// the verification constant does not decrypt to zeros.
func TestLookupLies(t *testing.T) {
	fromA, _ := transcript(t, nil)
	rcv, err := NewReceiver(func([20]byte) ([20]byte, bool) { return [20]byte{9}, true }, MethodBoth, seeded(2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rcv.Step(fromA); !errors.Is(err, ErrBadVC) {
		t.Fatalf("err %v, want ErrBadVC", err)
	}
}

// TestGarbageBounded: random bytes fail with ErrSyncNotFound after exactly
// the public key and the largest padding plus pattern, fed in any chunks.
func TestGarbageBounded(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(r.Uint32())
	}
	garbage[0] = 0x7f // a valid public key: below P
	for _, tc := range []struct {
		name  string
		mk    func() stepper
		limit int
	}{
		{"receiver", func() stepper {
			h, _ := NewReceiver(lookupOne(testInfoHash), MethodBoth, seeded(3))
			return h
		}, pubKeyLen + MaxPad + hashLen},
		{"initiator", func() stepper {
			h, _ := NewInitiator(testInfoHash, MethodBoth, seeded(3), nil)
			return h
		}, pubKeyLen + MaxPad + vcLen},
	} {
		for _, chunk := range []int{1, 7, 100, 4096} {
			h := tc.mk()
			total := 0
			var err error
			for rest := garbage; len(rest) > 0 && err == nil; {
				k := min(chunk, len(rest))
				var n int
				n, err = h.Step(rest[:k])
				total += n
				rest = rest[k:]
			}
			if !errors.Is(err, ErrSyncNotFound) || total != tc.limit {
				t.Fatalf("%s chunk %d: err %v after %d bytes, want ErrSyncNotFound after %d", tc.name, chunk, err, total, tc.limit)
			}
		}
	}
}

func TestBadPublicKey(t *testing.T) {
	for _, y := range [][]byte{make([]byte, pubKeyLen), dhPMin1.FillBytes(make([]byte, pubKeyLen)), bytes.Repeat([]byte{0xff}, pubKeyLen)} {
		rcv, _ := NewReceiver(lookupOne(testInfoHash), MethodBoth, seeded(3))
		if _, err := rcv.Step(y); !errors.Is(err, ErrBadPublicKey) {
			t.Fatalf("receiver: err %v, want ErrBadPublicKey", err)
		}
		ini, _ := NewInitiator(testInfoHash, MethodBoth, seeded(3), nil)
		if _, err := ini.Step(y); !errors.Is(err, ErrBadPublicKey) {
			t.Fatalf("initiator: err %v, want ErrBadPublicKey", err)
		}
	}
}

// TestPadTooLong makes each side announce a 513-byte PadC or PadD.
func TestPadTooLong(t *testing.T) {
	tooLong := func(int) (int, error) { return MaxPad + 1, nil }

	ini, _ := NewInitiator(testInfoHash, MethodBoth, seeded(1), nil)
	ini.padLen = tooLong // PadA is out already: this is PadC
	rcv, _ := NewReceiver(lookupOne(testInfoHash), MethodBoth, seeded(2))
	if _, err := rcv.Step(ini.Output()); err != nil {
		t.Fatal(err)
	}
	if _, err := ini.Step(rcv.Output()); err != nil {
		t.Fatal(err)
	}
	if _, err := rcv.Step(ini.Output()); !errors.Is(err, ErrPadTooLong) {
		t.Fatalf("receiver: err %v, want ErrPadTooLong", err)
	}

	ini, _ = NewInitiator(testInfoHash, MethodBoth, seeded(1), nil)
	rcv, _ = NewReceiver(lookupOne(testInfoHash), MethodBoth, seeded(2))
	if _, err := rcv.Step(ini.Output()); err != nil {
		t.Fatal(err)
	}
	rcv.padLen = tooLong // PadB is out already: this is PadD
	if _, err := ini.Step(rcv.Output()); err != nil {
		t.Fatal(err)
	}
	if _, err := rcv.Step(ini.Output()); err != nil {
		t.Fatal(err)
	}
	if _, err := ini.Step(rcv.Output()); !errors.Is(err, ErrPadTooLong) {
		t.Fatalf("initiator: err %v, want ErrPadTooLong", err)
	}
}

func TestConstructorErrors(t *testing.T) {
	if _, err := NewInitiator(testInfoHash, MethodBoth, seeded(1), make([]byte, MaxInitialPayload+1)); !errors.Is(err, ErrPayloadTooLong) {
		t.Fatalf("err %v, want ErrPayloadTooLong", err)
	}
	if _, err := NewInitiator(testInfoHash, 0, seeded(1), nil); !errors.Is(err, ErrNoCommonMethod) {
		t.Fatalf("err %v, want ErrNoCommonMethod", err)
	}
	if _, err := NewReceiver(lookupOne(testInfoHash), 4, seeded(1)); !errors.Is(err, ErrNoCommonMethod) {
		t.Fatalf("err %v, want ErrNoCommonMethod", err)
	}
	if _, err := NewInitiator(testInfoHash, MethodBoth, bytes.NewReader(nil), nil); err == nil {
		t.Fatal("an exhausted rand must fail")
	}
}

// TestMaxInitialPayload sends the longest IA.
func TestMaxInitialPayload(t *testing.T) {
	ia := bytes.Repeat([]byte{0xab}, MaxInitialPayload)
	ini, _ := NewInitiator(testInfoHash, MethodRC4, seeded(1), ia)
	rcv, _ := NewReceiver(lookupOne(testInfoHash), MethodBoth, seeded(2))
	if _, _, err := converse(t, rand.New(rand.NewPCG(1, 2)), ini, rcv, nil, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rcv.Result().InitialPayload, ia) {
		t.Fatal("IA garbled")
	}
}
