package nodecmd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/storage"
	"golang.org/x/sys/unix"
)

// TestBackoffDoublesToTheCap drives one torrent's retry schedule with a
// fake clock: 30 s, 60 s, 120 s ... capped at 30 min while errors keep
// coming; a torrent that ran well for a while starts at 30 s again; and
// with retries off nothing is ever scheduled.
func TestBackoffDoublesToTheCap(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := backoff{first: 30 * time.Second}
	now := t0
	var delays []time.Duration
	for range 9 {
		due := b.failed(now)
		if b.ready(due.Add(-time.Nanosecond)) || !b.ready(due) {
			t.Fatalf("ready before or not at its due time %v", due)
		}
		if again := b.failed(now.Add(time.Second)); again != due {
			t.Fatalf("a second failure report moved the retry from %v to %v", due, again)
		}
		delays = append(delays, due.Sub(now))
		now = due
		b.retried(now)
		now = now.Add(time.Second) // the retry fails again at once
	}
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute,
		16 * time.Minute, 30 * time.Minute, 30 * time.Minute, 30 * time.Minute}
	for i := range want {
		if delays[i] != want[i] {
			t.Fatalf("delays %v, want %v", delays, want)
		}
	}

	cases := []struct {
		name  string
		after time.Duration // since the last retry, before the next error
		delay time.Duration
	}{
		{"error soon after a retry keeps doubling", time.Minute, 2 * time.Minute},
		{"error after a long healthy run starts over", time.Hour, 30 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := backoff{first: 30 * time.Second}
			b.retried(b.failed(t0))                  // attempt 1 after 30 s
			b.retried(b.failed(t0.Add(time.Minute))) // attempt 2 after 60 s
			last := b.lastTry
			if got := b.failed(last.Add(c.after)).Sub(last.Add(c.after)); got != c.delay {
				t.Fatalf("delay %v, want %v", got, c.delay)
			}
		})
	}

	b = backoff{first: 30 * time.Second}
	b.retried(b.failed(t0))
	b.recovered()
	if got := b.failed(t0.Add(time.Minute)).Sub(t0.Add(time.Minute)); got != 30*time.Second {
		t.Fatalf("after completing, first delay %v", got)
	}
	off := backoff{}
	if !off.failed(t0).IsZero() || off.ready(t0.Add(time.Hour)) {
		t.Fatal("retries off still schedules one")
	}
}

// TestStatusLineShowsErrors: a torrent in an error state shows its error,
// not its last progress.
func TestStatusLineShowsErrors(t *testing.T) {
	cases := []struct {
		name string
		st   shardtorrent.Status
		want string
	}{
		{"downloading", shardtorrent.Status{Name: "a", State: plugin.StateDownloading, Progress: 0.5}, "a downloading 50.0%"},
		{"disk full", shardtorrent.Status{Name: "a", State: plugin.StateDownloading, Progress: 0.5,
			Err: &storage.FileError{Op: "write", Path: "a/x.bin", Err: unix.ENOSPC}, ErrorFile: "a/x.bin"},
			"a error: no space left on device (write a/x.bin)"},
		{"other error", shardtorrent.Status{Name: "a", State: plugin.StateSeeding, Err: errors.New("boom")}, "a error: boom"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := statusPart(&c.st); got != c.want {
				t.Fatalf("%q, want %q", got, c.want)
			}
		})
	}
}

// TestNodeRetriesFullDisk is the new-user scenario on a real
// filesystem: the node downloads into a small tmpfs, stops with "no space
// left on device" (printed, and on the status line instead of its
// progress), and once space is freed resumes by itself after its back-off,
// logging the retry, and exits 0 when complete. With retries off
// (-error-retry 0), -exit-when-complete exits 1 at the error instead.
// Mounting needs root (CI runs as root).
func TestNodeRetriesFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs (CI runs as root); TestBackoffDoublesToTheCap covers the schedule without it")
	}
	for _, c := range []struct {
		name  string
		retry string
		code  int
	}{{"retries", "100ms", 0}, {"retries off", "0", 1}} {
		t.Run(c.name, func(t *testing.T) { nodeOnFullDisk(t, c.retry, c.code) })
	}
}

func nodeOnFullDisk(t *testing.T, retry string, wantCode int) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", data, "tmpfs", 0, "size=4m"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v)", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(data, unix.MNT_DETACH) })
	filler := filepath.Join(data, "filler")
	if err := os.WriteFile(filler, make([]byte, 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 3<<20)
	for i := range payload {
		payload[i] = byte(i * 7 / 5)
	}
	if err := os.WriteFile(filepath.Join(src, "big.bin"), payload, 0o644); err != nil {
		t.Fatal(err)
	}
	tor := filepath.Join(dir, "big.torrent")
	var out, errb bytes.Buffer
	if code := Run([]string{"make", "-o", tor, "-piece-size", "65536", filepath.Join(src, "big.bin")}, &out, &errb); code != 0 {
		t.Fatalf("make: %s", errb.String())
	}
	mi, err := metainfo.Load(tor)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	seeder, err := shardtorrent.NewSession(ctx, shardtorrent.Settings{ListenAddr: "127.0.0.1:0", Shards: 1, DisableDHT: true})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close(ctx)
	_, err = seeder.AddTorrent(ctx, shardtorrent.AddTorrentParams{MetaInfo: mi, SavePath: src, SeedMode: true})
	if err != nil {
		t.Fatal(err)
	}

	r := startNode(t, "-listen", "127.0.0.1:0", "-dht=false", "-status", "50ms", "-error-retry", retry,
		"-data", data, "-peer", seeder.ListenAddr().String(), "-exit-when-complete", tor)
	r.waitOut(t, "error big.bin: storage: write big.bin: no space left on device", 60*time.Second)
	if wantCode != 0 {
		code, hung := r.wait(t, 30*time.Second)
		if hung || code != wantCode {
			t.Fatalf("exit %d (hung %v), want %d; stdout tail:\n%s", code, hung, wantCode, tail(r.out.String(), 10))
		}
		return
	}
	r.waitOut(t, "big.bin error: no space left on device (write big.bin)", 10*time.Second) // the status line
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	r.waitOut(t, "retry big.bin (attempt", 30*time.Second)
	code, hung := r.wait(t, 60*time.Second)
	if hung || code != 0 || !strings.Contains(r.out.String(), "all torrents complete") {
		t.Fatalf("exit %d (hung %v); stdout tail:\n%s", code, hung, tail(r.out.String(), 10))
	}
	if !strings.Contains(r.err.String(), "retrying torrent after its error") {
		t.Fatalf("the retry is not in the log:\n%s", tail(r.err.String(), 10))
	}
	got, err := os.ReadFile(filepath.Join(data, "big.bin"))
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("downloaded file differs (%v)", err)
	}
}
