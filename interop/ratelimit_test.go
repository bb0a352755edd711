//go:build interop

package interop

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/internal/refpeer"
)

// Rate limits against libtorrent 2.0.8 (issue 13): our node's -up-limit
// measured by a libtorrent leecher, -down-limit by a libtorrent seeder, a
// torrent's own limit (set over the RPC) under the session's, each over
// a 10 s window within 5 %. The peers are on loopback, the local class,
// so the node runs with -limit-local.

// rateWindow is the measurement window; rateWarmup the time let pass
// before it (the start of the transfer and the burst are not the rate).
const (
	rateWindow = 10 * time.Second
	rateWarmup = 2 * time.Second
)

// measureLT returns a libtorrent peer's payload rate in one direction over
// rateWindow: bytes between two of its status lines, divided by the time
// between them on the peer's own clock. The timers are the measurement's
// window, not a wait for an event.
func measureLT(t *testing.T, p *refpeer.LTPeer, upload bool) float64 {
	t.Helper()
	<-time.NewTimer(rateWarmup).C
	a := p.LastStatus()
	<-time.NewTimer(rateWindow).C
	b := p.LastStatus()
	if b.Progress >= 1 && !upload {
		t.Fatalf("%s finished inside the window: the rate is not measured", p.Name())
	}
	bytes := b.TotalDownload - a.TotalDownload
	if upload {
		bytes = b.TotalUpload - a.TotalUpload
	}
	if b.Elapsed <= a.Elapsed || bytes <= 0 {
		t.Fatalf("%s: no transfer in the window (%+v, then %+v)", p.Name(), a, b)
	}
	return float64(bytes) / (b.Elapsed - a.Elapsed)
}

func checkRate(t *testing.T, what string, got, limit float64) {
	t.Helper()
	dev := (got - limit) / limit * 100
	t.Logf("interop: %s: limit %.0f B/s, measured %.0f B/s over %v (%+.2f%%)", what, limit, got, rateWindow, dev)
	if math.Abs(dev) > 5 {
		t.Errorf("%s: measured %.0f B/s, limit %.0f: off by %.2f%% (> 5%%)", what, got, limit, dev)
	}
}

// TestNodeUploadLimit: a libtorrent leecher downloads from our node with
// -up-limit at 1, 5 and 20 MB/s.
func TestNodeUploadLimit(t *testing.T) {
	ctx := setup(t, 5*time.Minute)
	requireNode(t)
	dir := t.TempDir()
	// 20 MB/s for warm-up and window needs 240 MB; 256 MiB leaves room.
	f := makeFixture(t, dir, "rl.bin", 256<<20, nil, 1<<20)
	for _, lim := range []string{"1M", "5M", "20M"} {
		t.Run(lim, func(t *testing.T) {
			ports := freePorts(t, 2)
			node := startNode(t, ctx, "node", "-listen", loopback(ports[0]), "-dht=false", "-state", "off", "-rpc", "off",
				"-data", f.SeedDir, "-up-limit", lim, "-limit-local", f.Torrent)
			waitNodeSeeding(t, ctx, node, ports[0])
			lt := ltLeech(t, ctx, f, t.TempDir(), ports[1], refpeer.LTOptions{Peers: []string{loopback(ports[0])}})
			checkRate(t, "node -up-limit "+lim+" to libtorrent", measureLT(t, lt, false), parseRate(t, lim))
		})
	}
}

// TestNodeUploadLimitLocalExempt: without -limit-local the loopback
// leecher is in the local class and ignores -up-limit.
func TestNodeUploadLimitLocalExempt(t *testing.T) {
	ctx := setup(t, 3*time.Minute)
	requireNode(t)
	f := makeFixture(t, t.TempDir(), "ex.bin", 64<<20, nil, 1<<20)
	ports := freePorts(t, 2)
	node := startNode(t, ctx, "node", "-listen", loopback(ports[0]), "-dht=false", "-state", "off", "-rpc", "off",
		"-data", f.SeedDir, "-up-limit", "1M", f.Torrent)
	waitNodeSeeding(t, ctx, node, ports[0])
	t0 := time.Now()
	lt := ltLeech(t, ctx, f, t.TempDir(), ports[1], refpeer.LTOptions{Peers: []string{loopback(ports[0])}})
	waitLT(t, ctx, lt)
	// 64 MiB at 1 MB/s would take 67 s.
	if el := time.Since(t0); el > 20*time.Second {
		t.Errorf("exempt local leecher took %v for 64 MiB under a 1 MB/s limit", el)
	}
	t.Logf("interop: local class exempt: 64 MiB in %v with -up-limit 1M", time.Since(t0))
}

// TestNodeDownloadLimit: our node downloads from a libtorrent seeder with
// -down-limit 5M; the seeder's upload counter measures it.
func TestNodeDownloadLimit(t *testing.T) {
	ctx := setup(t, 3*time.Minute)
	requireNode(t)
	dir := t.TempDir()
	f := makeFixture(t, dir, "dl.bin", 128<<20, nil, 1<<20)
	ports := freePorts(t, 2)
	lt := ltSeed(t, ctx, f, ports[0], refpeer.LTOptions{})
	args := append([]string{"-dht=false", "-state", "off", "-rpc", "off", "-down-limit", "5M", "-limit-local"},
		nodeLeechArgs(f, t.TempDir(), ports[1], lt.Addr())...)
	startNode(t, ctx, "node", args...)
	checkRate(t, "node -down-limit 5M from libtorrent", measureLT(t, lt, true), 5e6)
}

// TestNodeTorrentLimitUnderSession: with -up-limit 8M, a torrent's own
// limit of 2000 kB/s set over the RPC (torrent-set uploadLimit) governs.
func TestNodeTorrentLimitUnderSession(t *testing.T) {
	ctx := setup(t, 3*time.Minute)
	requireNode(t)
	f := makeFixture(t, t.TempDir(), "pt.bin", 128<<20, nil, 1<<20)
	ports := freePorts(t, 3)
	node := startNode(t, ctx, "node", "-listen", loopback(ports[0]), "-dht=false", "-state", "off", "-rpc", loopback(ports[2]),
		"-data", f.SeedDir, "-up-limit", "8M", "-limit-local", f.Torrent)
	waitNodeSeeding(t, ctx, node, ports[0])
	if _, err := node.WaitLine(ctx, "rpc listening on "+loopback(ports[2])); err != nil {
		t.Fatal(err)
	}
	client := &specClient{url: "http://" + loopback(ports[2]) + "/transmission/rpc"}
	client.call(t, "torrent-set", map[string]any{"uploadLimit": 2000, "uploadLimited": true}, nil)
	lt := ltLeech(t, ctx, f, t.TempDir(), ports[1], refpeer.LTOptions{Peers: []string{loopback(ports[0])}})
	checkRate(t, "torrent limit 2000 kB/s under -up-limit 8M", measureLT(t, lt, false), 2e6)
}

func parseRate(t *testing.T, s string) float64 {
	var n float64
	var unit string
	if _, err := fmt.Sscanf(s, "%g%s", &n, &unit); err != nil || unit != "M" {
		t.Fatalf("rate %q", s)
	}
	return n * 1e6
}

// TestNodeUploadLimitEightTorrents: 8 torrents, each fetched by its own
// libtorrent leecher, share the node's -up-limit 2M: their rates add up
// to the limit, and each gets a share (the shares are not equal: each
// loop hands its quota round its waiting peers, the loops draw from the
// budget as they ask). At 2 MB/s no torrent of 32 MiB can finish inside
// the window even if it got the whole limit.
func TestNodeUploadLimitEightTorrents(t *testing.T) {
	ctx := setup(t, 5*time.Minute)
	requireNode(t)
	dir := t.TempDir()
	const n = 8
	var fs [n]fixture
	for i := range fs {
		fs[i] = makeFixture(t, dir, fmt.Sprintf("t%d.bin", i), 32<<20, nil, 1<<20)
	}
	ports := freePorts(t, n+1)
	args := []string{"-listen", loopback(ports[0]), "-dht=false", "-state", "off", "-rpc", "off",
		"-data", fs[0].SeedDir, "-up-limit", "2M", "-limit-local"}
	for _, f := range fs {
		args = append(args, f.Torrent)
	}
	node := startNode(t, ctx, "node", args...)
	if _, err := node.WaitLine(ctx, "listening on "+loopback(ports[0])); err != nil {
		t.Fatal(err)
	}
	var lts [n]*refpeer.LTPeer
	for i, f := range fs {
		lts[i] = ltLeech(t, ctx, f, t.TempDir(), ports[i+1], refpeer.LTOptions{Peers: []string{loopback(ports[0])}, Name: fmt.Sprintf("lt-leech-%d", i)})
	}
	<-time.NewTimer(rateWarmup).C
	var a [n]refpeer.Status
	for i, p := range lts {
		a[i] = p.LastStatus()
	}
	<-time.NewTimer(rateWindow).C
	var sum float64
	for i, p := range lts {
		b := p.LastStatus()
		if b.Progress >= 1 || b.Elapsed <= a[i].Elapsed {
			t.Fatalf("%s: not measurable (%+v, then %+v)", p.Name(), a[i], b)
		}
		r := float64(b.TotalDownload-a[i].TotalDownload) / (b.Elapsed - a[i].Elapsed)
		t.Logf("interop: torrent %d: %.0f B/s", i, r)
		if r < 2e6/n/4 {
			t.Errorf("torrent %d starved: %.0f B/s of a 2 MB/s limit shared by %d", i, r, n)
		}
		sum += r
	}
	checkRate(t, "8 torrents sharing -up-limit 2M", sum, 2e6)
}
