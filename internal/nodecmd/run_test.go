package nodecmd

import (
	"context"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/metainfo"
)

// testNode makes what Run makes before its run loop, from args: the
// flags, a session started with settingsFrom's settings (no listener, no
// DHT, no state) and the node over it, closed when the test ends.
func testNode(t *testing.T, args ...string) (*node, *nodeFlags, *syncBuffer) {
	t.Helper()
	fs, f := newFlagSet(io.Discard)
	if err := fs.Parse(append([]string{"-listen", "off", "-dht=false", "-state", "off", "-status", "0", "-data", t.TempDir()}, args...)); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	set, err := settingsFrom(f, out, out)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := shardtorrent.NewSession(context.Background(), set)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = sess.Close(ctx)
	})
	n := &node{sess: sess, out: out, log: set.Logger, data: *f.dataDir,
		byHash: map[metainfo.InfoHash]*tracked{}, watched: map[string]bool{}, retryFirst: *f.errRetry}
	n.rpc = newRPCNode(n, rpcSettings(sess, *f.dataDir, "", false, true))
	t.Cleanup(n.rpc.stopServing)
	return n, f, out
}

// TestRunLoop drives node.run, the run loop, without Run: it adds the
// torrents it is given and, with -exit-when-complete, returns 0 once
// they are complete; cancelled by a signal, it says "stopping" and
// returns the signal's exit code (128+N under -exit-when-complete, 0
// without).
func TestRunLoop(t *testing.T) {
	t.Run("exit_when_complete", func(t *testing.T) {
		dir := t.TempDir()
		data, list := makeTinyTorrents(t, dir, 3)
		n, f, out := testNode(t, "-exit-when-complete", "-data", data)
		var metas []*metainfo.MetaInfo
		b, err := os.ReadFile(list)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range strings.Fields(string(b)) {
			mi, err := metainfo.Load(p)
			if err != nil {
				t.Fatal(err)
			}
			metas = append(metas, mi)
		}
		code := n.run(context.Background(), runArgs{flags: f, gotSignal: func() os.Signal { return nil }, stderr: out, metas: metas})
		if code != 0 || len(n.order) != 3 || !strings.Contains(out.String(), "all torrents complete") {
			t.Fatalf("exit %d with %d torrents; output:\n%s", code, len(n.order), out.String())
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"signal_while_seeding", nil, 0},
		{"signal_before_complete", []string{"-exit-when-complete"}, 128 + int(syscall.SIGTERM)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, f, out := testNode(t, tc.args...)
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // as signalContext does on SIGTERM
			code := n.run(ctx, runArgs{flags: f, gotSignal: func() os.Signal { return syscall.SIGTERM }, stderr: out})
			if code != tc.want || !strings.Contains(out.String(), "stopping\n") {
				t.Fatalf("exit %d, want %d; output:\n%s", code, tc.want, out.String())
			}
		})
	}
}
