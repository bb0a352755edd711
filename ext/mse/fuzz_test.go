package mse

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzReceiver seeds")

// FuzzReceiver feeds arbitrary bytes to a Receiver, in two reads split at a
// fuzzed point. It must never panic, never consume more than
// MaxReceiverRead, consume everything while unfinished, and be finished or
// failed once MaxReceiverRead bytes were offered. The seeds are a valid
// initiator stream for the receiver's seed (so mutations reach the
// encrypted fields) and its variants.
func FuzzReceiver(f *testing.F) {
	for _, s := range receiverSeeds(f) {
		f.Add(uint16(len(s)/3), s)
	}
	f.Fuzz(func(t *testing.T, split uint16, data []byte) {
		rcv, err := NewReceiver(lookupOne(testInfoHash), MethodBoth, seeded(2))
		if err != nil {
			t.Fatal(err)
		}
		total := feedSplit(t, rcv, split, data)
		if total > MaxReceiverRead {
			t.Fatalf("consumed %d > MaxReceiverRead", total)
		}
		if len(data) >= MaxReceiverRead && rcv.Err() == nil && !rcv.Done() {
			t.Fatalf("%d bytes offered, neither finished nor failed", len(data))
		}
	})
}

func receiverSeeds(tb testing.TB) [][]byte {
	full, _ := transcript(tb, []byte("\x13BitTorrent protocol"))
	short, _ := transcript(tb, nil)
	return [][]byte{full, short, full[:pubKeyLen], full[:len(full)-1], make([]byte, pubKeyLen+MaxPad+hashLen+1)}
}

// TestFuzzCorpus keeps testdata/fuzz/FuzzReceiver in step with
// receiverSeeds; run with -update-corpus to rewrite it.
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzReceiver")
	for i, s := range receiverSeeds(t) {
		body := fmt.Sprintf("go test fuzz v1\nuint16(%d)\n[]byte(%q)\n", len(s)/3, s)
		path := filepath.Join(dir, fmt.Sprintf("seed%d", i))
		if *updateCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != body {
			t.Fatalf("%s is stale or missing (go test -run TestFuzzCorpus -update-corpus): %v", path, err)
		}
	}
}

// feedSplit gives s (an Initiator or a Receiver) data in two parts cut at split, as a socket might
// deliver it, checks Step's contract on each part (it consumes within the
// part, and all of it while unfinished) and returns the bytes consumed.
func feedSplit(t *testing.T, s stepper, split uint16, data []byte) int {
	t.Helper()
	cut := min(int(split), len(data))
	total := 0
	for _, part := range [][]byte{data[:cut], data[cut:]} {
		n, err := s.Step(part)
		total += n
		if n < 0 || n > len(part) {
			t.Fatalf("Step consumed %d of %d", n, len(part))
		}
		if err == nil && !s.Done() && n != len(part) {
			t.Fatalf("unfinished handshake left %d bytes", len(part)-n)
		}
		if err != nil || s.Done() {
			break
		}
	}
	return total
}
