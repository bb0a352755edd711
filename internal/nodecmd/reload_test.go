package nodecmd

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/choker"
	"github.com/shardtorrent/shardtorrent/rpc"
)

// TestSIGHUPRereadsWatchDirectory: with the periodic rescan pushed out
// to an hour, a torrent dropped into the watch directory is added only
// when SIGHUP arrives, and the node says it re-read the directory. The
// signal is fed to the node's reload channel as the OS would deliver it.
func TestSIGHUPRereadsWatchDirectory(t *testing.T) {
	dir := t.TempDir()
	data, list := makeTinyTorrents(t, dir, 1)
	watch := filepath.Join(dir, "watch")
	if err := os.MkdirAll(watch, 0o755); err != nil {
		t.Fatal(err)
	}
	oldEvery, oldNotify := watchEvery, notifyReload
	t.Cleanup(func() { watchEvery, notifyReload = oldEvery, oldNotify })
	watchEvery = time.Hour
	hupC := make(chan chan<- os.Signal, 1)
	notifyReload = func(c chan<- os.Signal) func() {
		hupC <- c
		return func() {}
	}

	r := startNode(t, "-listen", "off", "-dht=false", "-status", "0", "-data", data, "-watch", watch)
	var hup chan<- os.Signal
	select {
	case hup = <-hupC: // the node is past its first scan and in its loop
	case <-r.exited:
		t.Fatalf("node exited; stderr:\n%s", r.err.String())
	}

	// Nothing new yet: SIGHUP re-reads and finds nothing.
	hup <- syscall.SIGHUP
	r.waitOut(t, "SIGHUP: re-read "+watch+": 0 new torrents", 10*time.Second)

	b, err := os.ReadFile(strings.TrimSpace(readFile(t, list)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(watch, "t00000.bin.torrent"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	hup <- syscall.SIGHUP
	r.waitOut(t, "SIGHUP: re-read "+watch+": 1 new torrents", 10*time.Second)
	if out := r.out.String(); !strings.Contains(out, "added t00000.bin") {
		t.Fatalf("torrent not added on SIGHUP; stdout:\n%s", out)
	}
	r.signal(t, syscall.SIGTERM)
	if code, hung := r.wait(t, 30*time.Second); hung || code != 0 {
		t.Fatalf("exit %d (hung %v)", code, hung)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSIGHUPAppliesConfig: SIGHUP reads the -config file again and applies
// what can change while the node runs (rate limit, queue, seeding choker,
// unchoke slots); a key that needs a restart keeps its value and is named;
// a file with a bad value changes nothing.
func TestSIGHUPAppliesConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "node.toml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("up-limit = \"1M\"\nactive-seeds = \"5\"\nseed-choker = \"fastest-upload\"\n")
	oldNotify := notifyReload
	t.Cleanup(func() { notifyReload = oldNotify })
	hupC := make(chan chan<- os.Signal, 1)
	notifyReload = func(c chan<- os.Signal) func() {
		hupC <- c
		return func() {}
	}
	ready := make(chan rpc.Backend, 1)
	rpcReady = func(b rpc.Backend) { ready <- b }
	t.Cleanup(func() { rpcReady = nil })

	r := startNode(t, "-listen", "off", "-dht=false", "-status", "0", "-rpc", "off", "-data", dir, "-config", cfg)
	var sess *shardtorrent.Session
	select {
	case b := <-ready:
		sess = b.Session()
	case <-r.exited:
		t.Fatalf("node exited; stderr:\n%s", r.err.String())
	}
	var hup chan<- os.Signal
	select {
	case hup = <-hupC:
	case <-r.exited:
		t.Fatalf("node exited; stderr:\n%s", r.err.String())
	}
	before := sess.Settings()
	if before.UploadRateLimit != shardtorrent.LimitTo(1_000_000) || before.ActiveSeeds != shardtorrent.LimitTo(5) || before.Engine.SeedChoker != choker.FastestUpload {
		t.Fatalf("at start: up %v, seeds %v, choker %v", before.UploadRateLimit, before.ActiveSeeds, before.Engine.SeedChoker)
	}

	write("up-limit = \"2M\"\nactive-seeds = \"7\"\nseed-choker = \"anti-leech\"\nunchoke-slots = -1\nshards = 7\n")
	hup <- syscall.SIGHUP
	r.waitOut(t, "SIGHUP: applied "+cfg, 10*time.Second)
	r.waitOut(t, "need a restart and keep their values: Shards", 10*time.Second)
	after := sess.Settings()
	if after.UploadRateLimit != shardtorrent.LimitTo(2_000_000) || after.ActiveSeeds != shardtorrent.LimitTo(7) ||
		after.Engine.SeedChoker != choker.AntiLeech || after.Engine.UnchokeSlots != -1 || after.Shards != before.Shards {
		t.Fatalf("after SIGHUP: up %v, seeds %v, choker %v, slots %d, shards %d (was %d)", after.UploadRateLimit,
			after.ActiveSeeds, after.Engine.SeedChoker, after.Engine.UnchokeSlots, after.Shards, before.Shards)
	}

	write("up-limit = \"lots\"\n")
	hup <- syscall.SIGHUP
	r.waitOut(t, "nothing changed", 10*time.Second)
	if got := sess.Settings().UploadRateLimit; got != shardtorrent.LimitTo(2_000_000) {
		t.Fatalf("a bad file changed the upload limit to %v", got)
	}
	r.signal(t, syscall.SIGTERM)
	if code, hung := r.wait(t, 30*time.Second); hung || code != 0 {
		t.Fatalf("exit %d (hung %v)", code, hung)
	}
}
