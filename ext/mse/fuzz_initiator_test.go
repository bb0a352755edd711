package mse

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// FuzzInitiator feeds arbitrary bytes to an Initiator, as FuzzReceiver does
// to a Receiver: never a panic, never more than MaxInitiatorRead consumed,
// everything consumed while unfinished, finished or failed once
// MaxInitiatorRead bytes were offered, and a finished RC4 handshake always
// carries a cipher. The seeds are a valid receiver stream for the
// initiator's seed and its variants.
func FuzzInitiator(f *testing.F) {
	for _, s := range initiatorSeeds(f) {
		f.Add(uint16(len(s)/3), s)
	}
	f.Fuzz(func(t *testing.T, split uint16, data []byte) {
		ini, err := NewInitiator(testInfoHash, MethodBoth, seeded(1), []byte("\x13BitTorrent protocol"))
		if err != nil {
			t.Fatal(err)
		}
		ini.Output()
		total := feedSplit(t, ini, split, data)
		if total > MaxInitiatorRead {
			t.Fatalf("consumed %d > MaxInitiatorRead", total)
		}
		if len(data) >= MaxInitiatorRead && ini.Err() == nil && !ini.Done() {
			t.Fatalf("%d bytes offered, neither finished nor failed", len(data))
		}
		if ini.Done() {
			res := ini.Result()
			if (res.Method == MethodRC4) != (res.Cipher != nil) || res.InfoHash != testInfoHash {
				t.Fatalf("finished with method %v, cipher %v", res.Method, res.Cipher != nil)
			}
		}
	})
}

func initiatorSeeds(tb testing.TB) [][]byte {
	_, full := transcript(tb, []byte("\x13BitTorrent protocol"))
	return [][]byte{full, full[:pubKeyLen], full[:len(full)-1], make([]byte, pubKeyLen+MaxPad+vcLen+1)}
}

// TestFuzzInitiatorCorpus keeps testdata/fuzz/FuzzInitiator in step with
// initiatorSeeds; run with -update-corpus to rewrite it.
func TestFuzzInitiatorCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzInitiator")
	for i, s := range initiatorSeeds(t) {
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
			t.Fatalf("%s is stale or missing (go test -run TestFuzzInitiatorCorpus -update-corpus): %v", path, err)
		}
	}
}
