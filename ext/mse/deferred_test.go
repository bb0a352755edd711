package mse

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// recorder keeps every byte a stepper's Output handed out.
type recorder struct {
	stepper
	sent []byte
}

func (r *recorder) Output() []byte {
	out := r.stepper.Output()
	r.sent = append(r.sent, out...)
	return out
}

// deferred drives a deferred Receiver the way the engine does: when Step
// stops for the Diffie-Hellman work, the job is computed on another
// goroutine, handed back, and Step goes on with the bytes after Ya.
type deferred struct {
	t *testing.T
	*Receiver
	jobs int
}

func (d *deferred) Step(in []byte) (int, error) {
	n, err := d.Receiver.Step(in)
	for err == nil && d.WaitingDH() {
		if m, serr := d.Receiver.Step(in[n:]); m != 0 || serr != nil {
			d.t.Fatalf("Step consumed %d bytes (err %v) while waiting for the DH job", m, serr)
		}
		j := d.Job()
		done := make(chan struct{})
		go func() { j.Compute(); close(done) }()
		<-done
		d.jobs++
		if err = d.ResumeDH(j); err != nil || d.WaitingDH() {
			continue
		}
		var m int
		m, err = d.Receiver.Step(in[n:])
		n += m
	}
	return n, err
}

// TestDeferredReceiverMatchesReceiver: with the same random source, a
// deferred Receiver sends exactly what a Receiver sends and negotiates the
// same result, over random chunkings, and computes one job per handshake.
func TestDeferredReceiverMatchesReceiver(t *testing.T) {
	ia := []byte("\x13BitTorrent protocol and the rest of a handshake")
	for seed := range uint64(20) {
		var sent [2][]byte
		var got [2][2][]byte
		for i, def := range []bool{false, true} {
			ini, err := NewInitiator(testInfoHash, MethodBoth, seeded(byte(2*seed)), ia)
			if err != nil {
				t.Fatal(err)
			}
			var rcv stepper
			var d *deferred
			if def {
				r, err := NewDeferredReceiver(lookupOne(testInfoHash), MethodBoth, seeded(byte(2*seed+1)))
				if err != nil {
					t.Fatal(err)
				}
				d = &deferred{t: t, Receiver: r}
				rcv = d
			} else {
				r, err := NewReceiver(lookupOne(testInfoHash), MethodBoth, seeded(byte(2*seed+1)))
				if err != nil {
					t.Fatal(err)
				}
				rcv = r
			}
			rec := &recorder{stepper: rcv}
			pa := bytes.Repeat([]byte("a"), int(seed)*50)
			pb := bytes.Repeat([]byte("b"), int(seed)*70)
			gotA, gotB, err := converse(t, rand.New(rand.NewPCG(seed, 7)), ini, rec, pa, pb)
			if err != nil {
				t.Fatalf("seed %d deferred %v: %v", seed, def, err)
			}
			if !bytes.Equal(gotA, pa) || !bytes.Equal(gotB, pb) {
				t.Fatalf("seed %d deferred %v: payloads differ", seed, def)
			}
			if !bytes.Equal(rec.Result().InitialPayload, ia) {
				t.Fatalf("seed %d deferred %v: IA %q", seed, def, rec.Result().InitialPayload)
			}
			if def && d.jobs != 1 {
				t.Fatalf("seed %d: %d DH jobs, want 1", seed, d.jobs)
			}
			sent[i], got[i] = rec.sent, [2][]byte{gotA, gotB}
		}
		if !bytes.Equal(sent[0], sent[1]) {
			t.Fatalf("seed %d: the deferred receiver sent other bytes (%d vs %d)", seed, len(sent[1]), len(sent[0]))
		}
	}
}

// TestDeferredReceiverRedrawsZeroSecret: on rtorrent's recorded Ya whose
// secret with the seed's first key starts with a zero byte, the deferred
// Receiver draws another key (a second job) and answers exactly as the
// Receiver does.
func TestDeferredReceiverRedrawsZeroSecret(t *testing.T) {
	ih, stream := loadRTorrent(t, "rtorrent-0.9.8-initiator-zero-secret.bin")
	sync, err := NewReceiver(lookupOne(ih), MethodBoth, rtorrentRand("rz-30"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sync.Step(stream); err != nil {
		t.Fatal(err)
	}
	r, err := NewDeferredReceiver(lookupOne(ih), MethodBoth, rtorrentRand("rz-30"))
	if err != nil {
		t.Fatal(err)
	}
	d := &deferred{t: t, Receiver: r}
	if n, err := d.Step(stream); err != nil || n != len(stream) {
		t.Fatalf("consumed %d of %d, err %v", n, len(stream), err)
	}
	if d.jobs != 2 {
		t.Fatalf("%d DH jobs, want 2 (the first key's secret starts with a zero byte)", d.jobs)
	}
	if !bytes.Equal(r.Output(), sync.Output()) || r.secret != sync.secret {
		t.Fatal("the deferred receiver answered differently")
	}
}

// TestDeferredReceiverBadPublicKey: a Ya outside (1, P-1) fails in the job
// and kills the handshake at ResumeDH, with nothing sent.
func TestDeferredReceiverBadPublicKey(t *testing.T) {
	r, err := NewDeferredReceiver(lookupOne(testInfoHash), MethodBoth, seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	ya := make([]byte, pubKeyLen) // 0
	if n, err := r.Step(ya); err != nil || n != pubKeyLen || !r.WaitingDH() {
		t.Fatalf("Step: %d, %v, waiting %v", n, err, r.WaitingDH())
	}
	j := r.Job()
	j.Compute()
	if err := r.ResumeDH(j); !errors.Is(err, ErrBadPublicKey) {
		t.Fatalf("ResumeDH: %v, want ErrBadPublicKey", err)
	}
	if r.WaitingDH() || len(r.Output()) != 0 {
		t.Fatal("a dead handshake still waits or sends")
	}
	if _, err := r.Step([]byte{1}); !errors.Is(err, ErrBadPublicKey) {
		t.Fatalf("Step after the failure: %v", err)
	}
}

// TestInitiatorKeyReused: two handshakes with one Key both succeed and
// send the same Ya.
func TestInitiatorKeyReused(t *testing.T) {
	key, err := GenerateKey(seeded(9))
	if err != nil {
		t.Fatal(err)
	}
	var yas [][]byte
	for seed := range uint64(2) {
		ini, err := NewInitiatorKey(testInfoHash, MethodRC4, key, seeded(byte(10+seed)), []byte("ia"))
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{stepper: ini}
		rcv, err := NewReceiver(lookupOne(testInfoHash), MethodBoth, seeded(byte(20+seed)))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := converse(t, rand.New(rand.NewPCG(seed, 3)), rec, rcv, []byte("x"), []byte("y")); err != nil {
			t.Fatal(err)
		}
		yas = append(yas, rec.sent[:pubKeyLen])
	}
	if !bytes.Equal(yas[0], yas[1]) {
		t.Fatal("a reused key sent different public keys")
	}
}
