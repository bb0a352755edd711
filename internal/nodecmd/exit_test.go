package nodecmd

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// syncBuffer is a bytes.Buffer safe to read while the node writes it;
// waitFor blocks until it holds a string.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	return s.b.Write(p)
}

// waitFor blocks until the output contains sub (true), or d passes or the
// node exits first (false).
func (s *syncBuffer) waitFor(sub string, d time.Duration, exited <-chan struct{}) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if strings.Contains(s.b.String(), sub) {
			s.mu.Unlock()
			return true
		}
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-exited:
			return strings.Contains(s.String(), sub)
		case <-timer.C:
			return false
		}
	}
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// nodeRun is a node running in the test process, with its signals faked.
type nodeRun struct {
	out, err syncBuffer
	sig      chan chan<- os.Signal // the node's signal channel, once Run registered it
	done     chan int
	exited   chan struct{} // closed when Run returned
}

// startNode runs the node with args; signals go to it only through
// signal (notifySignals is replaced for the run).
func startNode(t *testing.T, args ...string) *nodeRun {
	t.Helper()
	r := &nodeRun{sig: make(chan chan<- os.Signal, 1), done: make(chan int, 1), exited: make(chan struct{})}
	old := notifySignals
	notifySignals = func(c chan<- os.Signal) func() {
		r.sig <- c
		return func() {}
	}
	t.Cleanup(func() { notifySignals = old })
	go func() {
		code := Run(args, &r.out, &r.err)
		close(r.exited)
		r.done <- code
	}()
	return r
}

// signal delivers sig to the node as the OS would.
func (r *nodeRun) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	select {
	case c := <-r.sig:
		c <- sig
	case <-r.exited:
	}
}

// waitOut waits until the node printed sub on stdout.
func (r *nodeRun) waitOut(t *testing.T, sub string, d time.Duration) {
	t.Helper()
	if !r.out.waitFor(sub, d, r.exited) {
		t.Fatalf("node did not print %q within %v; stdout:\n%s\nstderr tail:\n%s", sub, d, tail(r.out.String(), 10), tail(r.err.String(), 10))
	}
}

// wait returns the node's exit code, or hung=true if it has not exited
// within d; then it is stopped with SIGTERM (and waited for) so the test
// does not leak it.
func (r *nodeRun) wait(t *testing.T, d time.Duration) (code int, hung bool) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case code = <-r.done:
		return code, false
	case <-timer.C:
	}
	r.signal(t, syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("node ignores SIGTERM; output:\n%s", r.out.String())
	}
	return 0, true
}

// makeTinyTorrents writes n tiny files under data and a .torrent of each,
// and returns a -torrent-list file naming them.
func makeTinyTorrents(t *testing.T, dir string, n int) (data, list string) {
	t.Helper()
	data = filepath.Join(dir, "data")
	tors := filepath.Join(dir, "torrents")
	for _, d := range []string{data, tors} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var paths []string
	for i := range n {
		name := fmt.Sprintf("t%05d.bin", i)
		if err := os.WriteFile(filepath.Join(data, name), []byte(fmt.Sprintf("tiny torrent %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		tor := filepath.Join(tors, name+".torrent")
		var out, errb bytes.Buffer
		if code := Run([]string{"make", "-o", tor, "-piece-size", "16384", filepath.Join(data, name)}, &out, &errb); code != 0 {
			t.Fatalf("make: %s", errb.String())
		}
		paths = append(paths, tor)
	}
	list = filepath.Join(dir, "list")
	if err := os.WriteFile(list, []byte(strings.Join(paths, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return data, list
}

// TestExitWhenCompleteManyTorrents is the report: 2,000 complete
// torrents with -exit-when-complete hung (5 of 5 runs) because their
// start-up alerts overflowed the 2,000-entry queue and the "seeding"
// state changes the node waited for were dropped. The node must exit 0
// once every torrent is complete, from torrent state, however many alerts
// were lost. The bound is a hang detector, not a wait.
func TestExitWhenCompleteManyTorrents(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 torrents")
	}
	data, list := makeTinyTorrents(t, t.TempDir(), 2000)
	r := startNode(t, "-listen", "127.0.0.1:0", "-dht=false", "-status", "0", "-shards", "2",
		"-data", data, "-torrent-list", list, "-exit-when-complete")
	code, hung := r.wait(t, 60*time.Second)
	if hung {
		t.Fatalf("node did not exit within 60 s with 2,000 complete torrents; output tail:\n%s", tail(r.out.String(), 5))
	}
	if code != 0 || !strings.Contains(r.out.String(), "all torrents complete") {
		t.Fatalf("exit %d; output tail:\n%s\nstderr tail:\n%s", code, tail(r.out.String(), 5), tail(r.err.String(), 5))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestSignalExitCode: a node told to exit when complete that is stopped
// by a signal before completing exits 128+N (143 for SIGTERM, 130 for
// SIGINT); a plain seeding node stopped by a signal exits 0.
func TestSignalExitCode(t *testing.T) {
	dir := t.TempDir()
	data, list := makeTinyTorrents(t, dir, 1)
	if err := os.Remove(filepath.Join(data, "t00000.bin")); err != nil { // nothing to seed, no peer: never completes
		t.Fatal(err)
	}
	cases := []struct {
		name string
		exit bool
		sig  os.Signal
		code int
	}{
		{"SIGTERM before completion", true, syscall.SIGTERM, 143},
		{"SIGINT before completion", true, os.Interrupt, 130},
		{"SIGTERM while serving", false, syscall.SIGTERM, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// A state directory per case: otherwise the next case resumes
			// the torrent from the last one's state and prints no "added".
			args := []string{"-listen", "off", "-dht=false", "-status", "0", "-data", data, "-torrent-list", list, "-state", t.TempDir()}
			if c.exit {
				args = append(args, "-exit-when-complete")
			}
			r := startNode(t, args...)
			r.waitOut(t, "added t00000.bin", 30*time.Second)
			r.signal(t, c.sig)
			code, hung := r.wait(t, 30*time.Second)
			if hung || code != c.code {
				t.Fatalf("exit %d (hung %v), want %d; stdout:\n%s", code, hung, c.code, r.out.String())
			}
		})
	}
}

// TestDroppedAlertsCountedAndLogged: alerts a full queue dropped are
// counted (status line) and logged, and ask for a state poll, since what
// was dropped may have been a completion or an error.
func TestDroppedAlertsCountedAndLogged(t *testing.T) {
	ctx := context.Background()
	sess, err := shardtorrent.NewSession(ctx, shardtorrent.Settings{ListenAddr: "off", Shards: 1, DisableDHT: true, AlertQueueSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close(ctx)
	sess.PopAlerts()
	for i := range 10 {
		sess.PostAlert(&plugin.HashFailedAlert{Piece: i}) // normal priority, in the default mask
	}
	var out, logb bytes.Buffer
	n := &node{sess: sess, out: &out, log: slog.New(slog.NewTextHandler(&logb, nil)), byHash: map[metainfo.InfoHash]*tracked{}}
	if !n.handleAlerts() {
		t.Fatal("a drop report does not ask for a state poll")
	}
	if n.dropped != 7 || !strings.Contains(logb.String(), "alerts dropped") || !strings.Contains(logb.String(), "dropped_total=7") {
		t.Fatalf("dropped %d; log %q", n.dropped, logb.String())
	}
	n.status()
	if !strings.Contains(out.String(), "alerts-dropped=7") {
		t.Fatalf("status line %q", out.String())
	}
}
