//go:build interop

package interop

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/internal/refpeer"
)

// Environment:
//
//	CI=true                  a missing libtorrent/aria2 fails the suite instead of skipping it
//	SHARDTORRENT_NODE=PATH   use this node binary instead of building ./cmd/node
//	SHARDTORRENT_PERF=1      run TestPerfTransfer (see perf_test.go for its variables)

var (
	skipReason string // non-empty: libtorrent missing outside CI, skip everything
	aria2Err   error  // aria2 missing outside CI: skip aria2 tests
	nodeBin    string
	nodeErr    error // node binary build failed
)

// testTimeout bounds each (non-perf) test; processes are killed at the end.
const testTimeout = 90 * time.Second

func TestMain(m *testing.M) {
	ci := os.Getenv("CI") == "true"
	if err := refpeer.Available(); err != nil {
		if ci {
			fmt.Fprintf(os.Stderr, "FAIL: CI=true and the libtorrent reference peer is unavailable: %v\n", err)
			os.Exit(1)
		}
		skipReason = "interop suite skipped: libtorrent reference peer unavailable (set CI=true to make this fatal): " + err.Error()
		fmt.Fprintln(os.Stderr, skipReason)
	} else {
		fmt.Fprintf(os.Stderr, "interop: libtorrent %s via %s\n", refpeer.LTVersion(), refpeer.Python)
	}
	if aria2Err = refpeer.Aria2Available(); aria2Err != nil {
		if ci {
			fmt.Fprintf(os.Stderr, "FAIL: CI=true and aria2 is unavailable: %v\n", aria2Err)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "interop: aria2 tests will be skipped:", aria2Err)
	} else {
		fmt.Fprintf(os.Stderr, "interop: aria2 %s\n", refpeer.Aria2Version())
	}

	checkClients(ci) // Transmission, qBittorrent, opentracker (clients_test.go)

	tmp, err := os.MkdirTemp("", "shardtorrent-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if skipReason == "" {
		nodeBin, nodeErr = buildNode(tmp)
		if nodeErr != nil {
			fmt.Fprintf(os.Stderr, "interop: node binary build failed; node tests will fail: %v\n", nodeErr)
		}
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

func buildNode(tmp string) (string, error) {
	if p := os.Getenv("SHARDTORRENT_NODE"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("SHARDTORRENT_NODE: %w", err)
		}
		return p, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	out, err := exec.Command(goBin, "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("cannot find the module root (go env GOMOD = %q): %v", gomod, err)
	}
	bin := filepath.Join(tmp, "node")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/node")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/node: %v\n%s", err, strings.TrimSpace(string(out)))
	}
	return bin, nil
}

// setup skips when the reference peer is missing and returns a context
// bounded by timeout.
func setup(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

func requireNode(t *testing.T) {
	t.Helper()
	if nodeErr != nil {
		t.Fatalf("node binary build failed: %v", nodeErr)
	}
}

func requireAria2(t *testing.T) {
	t.Helper()
	if aria2Err != nil {
		t.Skip("aria2 unavailable: ", aria2Err)
	}
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	p, err := refpeer.FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func loopback(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func addrPort(port int) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
}

// fixture is a torrent plus its source data, ready to seed from SeedDir.
type fixture struct {
	Torrent string
	SeedDir string // save dir of the seeder: the torrent's content is SeedDir/Name
	Name    string
	Info    refpeer.TorrentInfo
	Hashes  map[string]string // HashFiles(SeedDir)
}

// makeFixture creates data under dir/seed and dir/NAME.torrent. With files
// nil it makes a single-file torrent of size bytes; otherwise a multi-file
// torrent whose root directory is name.
func makeFixture(t *testing.T, dir, name string, size int64, files map[string]int64, pieceSize int, trackers ...string) fixture {
	t.Helper()
	seedDir := filepath.Join(dir, "seed")
	var err error
	if files == nil {
		err = refpeer.MakeData(seedDir, map[string]int64{name: size}, 1)
	} else {
		err = refpeer.MakeData(filepath.Join(seedDir, name), files, 1)
	}
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{Torrent: filepath.Join(dir, name+".torrent"), SeedDir: seedDir, Name: name}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if f.Info, err = refpeer.MakeTorrent(ctx, filepath.Join(seedDir, name), f.Torrent, pieceSize, trackers...); err != nil {
		t.Fatal(err)
	}
	if f.Hashes, err = refpeer.HashFiles(seedDir); err != nil {
		t.Fatal(err)
	}
	t.Logf("fixture %s: %d files, %d bytes, %d pieces of %d", name, f.Info.NumFiles, f.Info.TotalSize, f.Info.NumPieces, f.Info.PieceSize)
	return f
}

// verify compares a leecher's save dir with the fixture's seed dir.
func (f fixture) verify(t *testing.T, who, dir string) {
	t.Helper()
	got, err := refpeer.HashFiles(dir)
	if err != nil {
		t.Fatalf("%s: %v", who, err)
	}
	if err := refpeer.DiffHashes(f.Hashes, got); err != nil {
		t.Fatalf("%s downloaded wrong data: %v", who, err)
	}
	t.Logf("%s: all %d files identical to the source", who, len(got))
}

func mkdir(t *testing.T, parts ...string) string {
	t.Helper()
	d := filepath.Join(parts...)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func ltSeed(t *testing.T, ctx context.Context, f fixture, port int, o refpeer.LTOptions) *refpeer.LTPeer {
	t.Helper()
	o.Mode, o.Torrent, o.SaveDir, o.ListenPort = "seed", f.Torrent, f.SeedDir, port
	if o.Log == nil {
		o.Log = t.Output()
	}
	p, err := refpeer.StartLT(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	if err := p.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return p
}

func ltLeech(t *testing.T, ctx context.Context, f fixture, dir string, port int, o refpeer.LTOptions) *refpeer.LTPeer {
	t.Helper()
	o.Mode, o.Torrent, o.SaveDir, o.ListenPort = "leech", f.Torrent, dir, port
	if o.Log == nil {
		o.Log = t.Output()
	}
	p, err := refpeer.StartLT(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	return p
}

// waitLT waits for a leecher to finish and exit cleanly.
func waitLT(t *testing.T, ctx context.Context, p *refpeer.LTPeer) refpeer.Usage {
	t.Helper()
	if err := p.WaitFinished(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := p.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// startNode runs the node binary with args; it is stopped at cleanup.
func startNode(t *testing.T, ctx context.Context, name string, args ...string) *refpeer.Process {
	t.Helper()
	requireNode(t)
	p, err := refpeer.StartProcess(ctx, refpeer.ProcOptions{Name: name, Path: nodeBin, Args: args, Log: t.Output()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	return p
}

// nodeSeedReadyTimeout bounds the wait for a seeding node's "seeding" line
// (after its listen line, which is mandatory).
var nodeSeedReadyTimeout = 30 * time.Second

// nodeSeed starts a seeding node on 127.0.0.1:port and waits until it
// listens and (softly) until it reports seeding.
func nodeSeed(t *testing.T, ctx context.Context, name string, f fixture, port int) *refpeer.Process {
	t.Helper()
	p := startNode(t, ctx, name, "-listen", loopback(port), "-data", f.SeedDir, f.Torrent)
	waitNodeSeeding(t, ctx, p, port)
	return p
}

func waitNodeSeeding(t *testing.T, ctx context.Context, p *refpeer.Process, port int) {
	t.Helper()
	if _, err := p.WaitLine(ctx, "listening on "+loopback(port)); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, nodeSeedReadyTimeout)
	defer cancel()
	if _, err := p.WaitLine(sctx, "seeding"); err != nil {
		if ctx.Err() != nil || isExited(p) {
			t.Fatal(err)
		}
		t.Logf("%s listens but printed no \"seeding\" line within %v; continuing (leechers retry)", p.Name(), nodeSeedReadyTimeout)
	}
}

func isExited(p *refpeer.Process) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}

// nodeLeechArgs returns the arguments of a node that downloads f into dir.
func nodeLeechArgs(f fixture, dir string, port int, peers ...string) []string {
	args := []string{"-listen", loopback(port), "-data", dir, "-exit-when-complete"}
	for _, p := range peers {
		args = append(args, "-peer", p)
	}
	return append(args, f.Torrent)
}

func waitNode(t *testing.T, ctx context.Context, p *refpeer.Process) refpeer.Usage {
	t.Helper()
	u, err := p.Wait(ctx)
	if err != nil {
		t.Fatalf("node leecher: %v", err)
	}
	return u
}
