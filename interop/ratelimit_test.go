//go:build interop

package interop

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/internal/refpeer"
)

// Rate limits against libtorrent 2.0.8 (issue 13): our node's -up-limit
// measured by a libtorrent leecher, -down-limit by a libtorrent seeder, a
// torrent's own limit (set over the RPC) under the session's, 8 and 100
// torrents sharing the session's limit, each over a 10 s window within
// 5 %, from 100 kB/s up. (1 GB/s is beyond libtorrent on this machine:
// cmd/bench's load generator measures it, see PERF.md.) The peers are on loopback, the local class,
// so the node runs with -limit-local.

// rateWindow is the measurement window; rateWarmup the time let pass
// after the first payload byte (waitFlowing) before it: the start of the
// transfer and the burst are not the rate.
const (
	rateWindow = 10 * time.Second
	rateWarmup = 2 * time.Second
)

// measureLT returns a libtorrent peer's payload rate in one direction over
// rateWindow: bytes between two of its status lines, divided by the time
// between them on the peer's own clock. The timers are the measurement's
// window, not a wait for an event.
func measureLT(t *testing.T, ctx context.Context, p *refpeer.LTPeer, upload bool) float64 {
	t.Helper()
	waitFlowing(t, ctx, p, upload)
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

// waitFlowing waits for a status line of p showing payload moving in
// the direction measured.
func waitFlowing(t *testing.T, ctx context.Context, p *refpeer.LTPeer, upload bool) {
	t.Helper()
	if _, err := p.WaitStatus(ctx, func(s refpeer.Status) bool {
		return upload && s.TotalUpload > 0 || !upload && s.TotalDownload > 0
	}, "payload flowing"); err != nil {
		t.Fatal(err)
	}
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
// -up-limit at 100 kB/s (the low end of the range), 1, 5 and 20 MB/s.
func TestNodeUploadLimit(t *testing.T) {
	ctx := setup(t, 5*time.Minute)
	requireNode(t)
	dir := t.TempDir()
	// 20 MB/s for warm-up and window needs 240 MB; 256 MiB leaves room.
	f := makeFixture(t, dir, "rl.bin", 256<<20, nil, 1<<20)
	for _, lim := range []string{"100k", "1M", "5M", "20M"} {
		t.Run(lim, func(t *testing.T) {
			ports := freePorts(t, 2)
			node := startNode(t, ctx, "node", "-listen", loopback(ports[0]), "-dht=false", "-state", "off", "-rpc", "off",
				"-data", f.SeedDir, "-up-limit", lim, "-limit-local", f.Torrent)
			waitNodeSeeding(t, ctx, node, ports[0])
			lt := ltLeech(t, ctx, f, t.TempDir(), ports[1], refpeer.LTOptions{Peers: []string{loopback(ports[0])}})
			checkRate(t, "node -up-limit "+lim+" to libtorrent", measureLT(t, ctx, lt, false), parseRate(t, lim))
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
// -down-limit at 100 kB/s and 5 MB/s. Two counters measure it over the
// same window: the node's own payload received (downloadedEver over its
// RPC, read on the test's clock), which is what the limit governs, and
// the seeder's payload sent. The seeder's counter moves when the kernel
// takes data into the socket, and on loopback (64 KiB MSS) the receiver
// opens its window in steps of about 240 KiB: a quarter of a 10 s window
// at 100 kB/s. So the seeder's counter is held to 5 % only where those
// steps are small against the window (5 MB/s), and logged at 100 kB/s.
func TestNodeDownloadLimit(t *testing.T) {
	ctx := setup(t, 4*time.Minute)
	requireNode(t)
	dir := t.TempDir()
	f := makeFixture(t, dir, "dl.bin", 128<<20, nil, 1<<20)
	for _, tc := range []struct {
		limit     string
		ltCounter bool // hold the seeder's counter to 5 % as well
	}{
		{"100k", false},
		{"5M", true},
	} {
		t.Run(tc.limit, func(t *testing.T) {
			ports := freePorts(t, 3)
			lt := ltSeed(t, ctx, f, ports[0], refpeer.LTOptions{})
			args := append([]string{"-dht=false", "-state", "off", "-rpc", loopback(ports[2]), "-down-limit", tc.limit, "-limit-local"},
				nodeLeechArgs(f, t.TempDir(), ports[1], lt.Addr())...)
			node := startNode(t, ctx, "node", args...)
			if _, err := node.WaitLine(ctx, "rpc listening on "+loopback(ports[2])); err != nil {
				t.Fatal(err)
			}
			client := &specClient{url: "http://" + loopback(ports[2]) + "/transmission/rpc"}
			down := func() (int64, time.Time) {
				var total int64
				for _, x := range client.torrents(t) {
					total += x.DownloadedEver
				}
				return total, time.Now()
			}
			waitFlowing(t, ctx, lt, true)
			<-time.NewTimer(rateWarmup).C
			la := lt.LastStatus()
			na, ta := down()
			<-time.NewTimer(rateWindow).C
			lb := lt.LastStatus()
			nb, tb := down()
			lim := parseRate(t, tc.limit)
			if nb <= na || lb.Elapsed <= la.Elapsed {
				t.Fatalf("no transfer in the window: node %d then %d bytes; seeder %+v then %+v", na, nb, la, lb)
			}
			checkRate(t, "node -down-limit "+tc.limit+" from libtorrent, node's counter", float64(nb-na)/tb.Sub(ta).Seconds(), lim)
			seeder := float64(lb.TotalUpload-la.TotalUpload) / (lb.Elapsed - la.Elapsed)
			if tc.ltCounter {
				checkRate(t, "node -down-limit "+tc.limit+" from libtorrent, seeder's counter", seeder, lim)
			} else {
				t.Logf("interop: node -down-limit %s from libtorrent, seeder's counter (not held to 5 %%): %.0f B/s (%+.2f%%)",
					tc.limit, seeder, (seeder-lim)/lim*100)
			}
		})
	}
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
	checkRate(t, "torrent limit 2000 kB/s under -up-limit 8M", measureLT(t, ctx, lt, false), 2e6)
}

// parseRate reads a rate flag as the node does.
func parseRate(t *testing.T, s string) float64 {
	t.Helper()
	l, err := shardtorrent.ParseLimit(s, true)
	v, ok := l.Value()
	if err != nil || !ok {
		t.Fatalf("rate %q: %v (%v)", s, l, err)
	}
	return float64(v)
}

// TestNodeUploadLimitShared: many torrents seeded by our node share its
// -up-limit. Their rates add up to the limit, and each gets a share (the
// shares are not equal: each loop hands its quota round its waiting
// peers, the loops draw from the budget as they ask).
//   - 8 torrents of 32 MiB, each fetched by its own libtorrent leecher,
//     share 2 MB/s;
//   - 100 torrents of 4 MiB, all fetched by one libtorrent session, share
//     5 MB/s (the "with 100").
//
// No torrent can finish inside the window even at four times its fair
// share. A torrent below starve times its fair share counts as starved:
// with 100 torrents a share is 30 blocks in the window, and the slowest
// torrent had 0.31-0.60 of it in ten runs (the loops hand out quota in
// turns, block by block, and a connection's turn can come late), so
// that case's bound is looser.
func TestNodeUploadLimitShared(t *testing.T) {
	ctx := setup(t, 6*time.Minute)
	requireNode(t)
	for _, tc := range []struct {
		name       string
		n          int
		size       int64
		limit      string
		oneSession bool    // one libtorrent session leeches all n (else one process each)
		starve     float64 // a torrent below starve x its fair share is starved
	}{
		{"8x32MiB-2M", 8, 32 << 20, "2M", false, 1.0 / 4},
		{"100x4MiB-5M", 100, 4 << 20, "5M", true, 1.0 / 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testUploadLimitShared(t, ctx, tc.n, tc.size, tc.limit, tc.oneSession, tc.starve)
		})
	}
}

func testUploadLimitShared(t *testing.T, ctx context.Context, n int, size int64, limit string, oneSession bool, starve float64) {
	dir := t.TempDir()
	torrents := makeManyTorrents(t, ctx, dir, n, size)
	seedDir := filepath.Join(dir, "seed")
	leechers := n
	if oneSession {
		leechers = 1
	}
	ports := freePorts(t, leechers+1)
	args := []string{"-listen", loopback(ports[0]), "-dht=false", "-state", "off", "-rpc", "off",
		"-data", seedDir, "-up-limit", limit, "-limit-local"}
	node := startNode(t, ctx, "node", append(args, torrents...)...)
	if _, err := node.WaitLine(ctx, "listening on "+loopback(ports[0])); err != nil {
		t.Fatal(err)
	}
	peers := []string{loopback(ports[0])}
	var lts []*refpeer.LTPeer
	if oneSession {
		lts = append(lts, ltLeechMany(t, ctx, torrents, t.TempDir(), ports[1], refpeer.LTOptions{Peers: peers}))
	} else {
		for i, tor := range torrents {
			lts = append(lts, ltLeechMany(t, ctx, []string{tor}, t.TempDir(), ports[i+1],
				refpeer.LTOptions{Peers: peers, Name: fmt.Sprintf("lt-leech-%d", i)}))
		}
	}
	// Every torrent connected and receiving before the warm-up starts:
	// libtorrent opens connections at a bounded rate (connection_speed).
	for _, p := range lts {
		if _, err := p.WaitStatus(ctx, func(s refpeer.Status) bool {
			if len(s.Torrents) == 0 {
				return s.NumPeers > 0 && s.TotalDownload > 0
			}
			for _, ts := range s.Torrents {
				if ts.NumPeers == 0 || ts.TotalDownload == 0 {
					return false
				}
			}
			return true
		}, "every torrent receiving"); err != nil {
			t.Fatal(err)
		}
	}
	<-time.NewTimer(rateWarmup).C
	a := perTorrent(lts)
	<-time.NewTimer(rateWindow).C
	b := perTorrent(lts)
	lim := parseRate(t, limit)
	rates := make([]float64, n)
	var sum float64
	for i := range rates {
		if b[i].Progress >= 1 || b[i].elapsed <= a[i].elapsed {
			t.Fatalf("torrent %d: not measurable (%+v, then %+v)", i, a[i], b[i])
		}
		rates[i] = float64(b[i].TotalDownload-a[i].TotalDownload) / (b[i].elapsed - a[i].elapsed)
		sum += rates[i]
		if rates[i] < lim/float64(n)*starve {
			t.Errorf("torrent %d starved: %.0f B/s of a %.0f B/s limit shared by %d", i, rates[i], lim, n)
		}
	}
	sorted := slices.Clone(rates)
	slices.Sort(sorted)
	t.Logf("interop: %d torrents under -up-limit %s: per torrent min %.0f, p10 %.0f, median %.0f, p90 %.0f, max %.0f B/s (fair share %.0f)",
		n, limit, sorted[0], sorted[n/10], sorted[n/2], sorted[n*9/10], sorted[n-1], lim/float64(n))
	checkRate(t, fmt.Sprintf("%d torrents sharing -up-limit %s", n, limit), sum, lim)
}

// torrentSnap is one torrent's counters at one status line, with the
// time of that line on its libtorrent process's clock.
type torrentSnap struct {
	refpeer.TorrentStatus
	elapsed float64
}

// perTorrent flattens the leechers' last status lines into one snapshot
// per torrent, in the order the torrents were given.
func perTorrent(lts []*refpeer.LTPeer) []torrentSnap {
	var out []torrentSnap
	for _, p := range lts {
		st := p.LastStatus()
		if len(st.Torrents) == 0 {
			out = append(out, torrentSnap{refpeer.TorrentStatus{Progress: st.Progress, TotalDownload: st.TotalDownload,
				TotalUpload: st.TotalUpload, NumPeers: st.NumPeers}, st.Elapsed})
			continue
		}
		for _, ts := range st.Torrents {
			out = append(out, torrentSnap{ts, st.Elapsed})
		}
	}
	return out
}

// makeManyTorrents writes n files of size bytes under dir/seed and a
// torrent of each (1 MiB pieces) made by libtorrent, and returns the
// .torrent paths.
func makeManyTorrents(t *testing.T, ctx context.Context, dir string, n int, size int64) []string {
	t.Helper()
	seedDir := filepath.Join(dir, "seed")
	files := make(map[string]int64, n)
	for i := range n {
		files[fmt.Sprintf("t%03d.bin", i)] = size
	}
	if err := refpeer.MakeData(seedDir, files, 1); err != nil {
		t.Fatal(err)
	}
	out := make([]string, n)
	for i := range n {
		name := fmt.Sprintf("t%03d.bin", i)
		out[i] = filepath.Join(dir, name+".torrent")
		if _, err := refpeer.MakeTorrent(ctx, filepath.Join(seedDir, name), out[i], 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("fixture: %d torrents of %d bytes", n, size)
	return out
}

// ltLeechMany starts one libtorrent session leeching every torrent.
func ltLeechMany(t *testing.T, ctx context.Context, torrents []string, dir string, port int, o refpeer.LTOptions) *refpeer.LTPeer {
	t.Helper()
	o.Mode, o.Torrent, o.MoreTorrents, o.SaveDir, o.ListenPort = "leech", torrents[0], torrents[1:], dir, port
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
