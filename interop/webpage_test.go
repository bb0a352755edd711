//go:build interop

package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"

	"github.com/shardtorrent/shardtorrent/internal/refpeer"
)

// The status page (package web) in a real browser: Debian's chromium,
// headless, driven by chromedp, against a running node with four torrents
// of real data, three seeded and one downloading from a rate-limited
// libtorrent seed. The page's numbers are checked against the node's RPC
// read by this test over HTTP (specClient, written against the spec).
//
// SHARDTORRENT_SCREENSHOT=docs writes the screenshot to
// docs/status-page.png (how the committed one was made); otherwise it goes
// to the test's temporary directory.

// chromiumPath finds Debian's chromium; "" when there is none.
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func requireChromium(t *testing.T) string {
	t.Helper()
	p := chromiumPath()
	if p == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and no chromium binary on PATH (apt-get install chromium; .ci/install-peers.sh does)")
		}
		t.Skip("no chromium binary on PATH (apt-get install chromium): the status page's browser test needs it")
	}
	return p
}

// pageTorrent is one torrent row as the page holds it: each cell's raw
// value (data-value) by field, and the cells' text.
type pageTorrent struct {
	Values map[string]string `json:"values"`
	Text   map[string]string `json:"text"`
}

const readRowsJS = `[...document.querySelectorAll('[data-testid="%s"]')].map(tr => {
	const v = {}, t = {};
	for (const td of tr.querySelectorAll('[data-field]')) { v[td.dataset.field] = td.dataset.value; t[td.dataset.field] = td.textContent; }
	return {values: v, text: t};
})`

// webTorrent is what the test reads of each torrent over the RPC: the
// fields the page shows.
type webTorrent struct {
	ID             int     `json:"id"`
	Name           string  `json:"name"`
	Status         int     `json:"status"`
	PercentDone    float64 `json:"percentDone"`
	RateDownload   int64   `json:"rateDownload"`
	RateUpload     int64   `json:"rateUpload"`
	PeersConnected int     `json:"peersConnected"`
	SizeWhenDone   int64   `json:"sizeWhenDone"`
	Error          int     `json:"error"`
	UploadRatio    float64 `json:"uploadRatio"`
}

func rpcTorrents(t *testing.T, c *specClient) map[int]webTorrent {
	t.Helper()
	var got struct {
		Torrents []webTorrent `json:"torrents"`
	}
	c.call(t, "torrent-get", map[string]any{"fields": []string{"id", "name", "status", "percentDone", "rateDownload",
		"rateUpload", "peersConnected", "sizeWhenDone", "error", "uploadRatio"}}, &got)
	m := map[int]webTorrent{}
	for _, x := range got.Torrents {
		m[x.ID] = x
	}
	return m
}

func num(t *testing.T, row pageTorrent, field string) float64 {
	t.Helper()
	s, ok := row.Values[field]
	if !ok {
		t.Fatalf("row %v has no %s cell", row.Values, field)
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("row %v: %s = %q is not a number", row.Values, field, s)
	}
	return x
}

func TestStatusPage(t *testing.T) {
	chromium := requireChromium(t)
	ctx := setup(t, 3*time.Minute)
	requireNode(t)

	dir := t.TempDir()
	// Three torrents the node seeds (their data in dir/seed) and one it
	// downloads from a libtorrent seed limited to 512 KiB/s, so that it is
	// still transferring while the page is read.
	const pieceSize = 256 << 10
	seeded := []fixture{
		makeFixture(t, dir, "debian-12.9.0-amd64-netinst.iso", 6<<20, nil, pieceSize),
		makeFixture(t, dir, "field-recordings-2025", 0, map[string]int64{"rain.flac": 3 << 20, "wind.flac": 2 << 20, "notes.txt": 4 << 10}, pieceSize),
		makeFixture(t, dir, "openstreetmap-extract.osm.pbf", 5<<20, nil, pieceSize),
	}
	ltDir := mkdir(t, dir, "lt")
	moving := makeFixture(t, ltDir, "big-buck-bunny-1080p.mkv", 16<<20, nil, pieceSize)
	ports := freePorts(t, 3)
	ltPort, nodePort, rpcPort := ports[0], ports[1], ports[2]
	ltSeed(t, ctx, moving, ltPort, refpeer.LTOptions{UploadRateLimit: 512 << 10})

	args := []string{"-listen", loopback(nodePort), "-rpc", loopback(rpcPort), "-data", seeded[0].SeedDir,
		"-state", "off", "-dht=false", "-shards", "2", "-peer", loopback(ltPort)}
	for _, f := range seeded {
		args = append(args, f.Torrent)
	}
	node := startNode(t, ctx, "node", append(args, moving.Torrent)...)
	// The service listens before the torrents are added; the last one
	// given is added last.
	for _, line := range []string{"rpc listening on " + loopback(rpcPort), "added " + moving.Name} {
		if _, err := node.WaitLine(ctx, line); err != nil {
			t.Fatal(err)
		}
	}
	client := &specClient{url: "http://" + loopback(rpcPort) + "/transmission/rpc"}
	var movingID int
	for id, x := range rpcTorrents(t, client) {
		if x.Name == moving.Name {
			movingID = id
		}
	}
	if movingID == 0 {
		t.Fatalf("the node's RPC does not list %s", moving.Name)
	}

	b := startBrowser(t, ctx, chromium)
	do, eval, checkConsole := b.do, b.eval, b.checkConsole
	readRows := func(testid string) []pageTorrent {
		t.Helper()
		var rows []pageTorrent
		eval("read "+testid, fmt.Sprintf(readRowsJS, testid), &rows)
		return rows
	}
	refreshes := func() int {
		t.Helper()
		var s string
		eval("refresh count", `document.getElementById("state").dataset.refreshes`, &s)
		n, _ := strconv.Atoi(s)
		return n
	}
	// waitRefreshAfter waits for the page to finish a refresh that started
	// after n refreshes had finished.
	waitRefreshAfter := func(n int) {
		t.Helper()
		do("wait for a refresh", chromedp.Poll[chromedp.Void](fmt.Sprintf(
			`Number(document.getElementById("state").dataset.refreshes) >= %d`, n+2), chromedp.WithPollingTimeout(30*time.Second)))
	}

	page := "http://" + loopback(rpcPort) + "/"
	do("load the page", chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-testid="torrent-row"][data-id="%d"]`, movingID))))

	// The torrent that is downloading shows progress between 0 and 1 and
	// a download rate: wait for it (the page refreshes itself every 2 s).
	do("wait for the transfer on the page", chromedp.Poll[chromedp.Void](fmt.Sprintf(`(() => {
		const tr = document.querySelector('[data-testid="torrent-row"][data-id="%d"]');
		if (!tr) return false;
		const p = Number(tr.querySelector('[data-field="percentDone"]').dataset.value);
		const r = Number(tr.querySelector('[data-field="rateDownload"]').dataset.value);
		return p > 0 && p < 1 && r > 0;
	})()`, movingID), chromedp.WithPollingTimeout(60*time.Second)))

	// The rows against the RPC. The page's numbers come from a refresh
	// that started after `before` was read, and ended before `after`, so
	// what only grows (progress) lies between the two; the rest is equal.
	before := rpcTorrents(t, client)
	waitRefreshAfter(refreshes())
	rows := readRows("torrent-row")
	after := rpcTorrents(t, client)
	if len(rows) != len(after) || len(rows) != 4 {
		t.Fatalf("page shows %d torrent rows, the RPC lists %d (want 4)", len(rows), len(after))
	}
	for _, row := range rows {
		id := int(num(t, row, "id"))
		b, a := before[id], after[id]
		if a.ID == 0 {
			t.Fatalf("page row %v: no such torrent in the RPC", row.Values)
		}
		if row.Values["name"] != a.Name || row.Text["name"] != a.Name {
			t.Errorf("torrent %d: page name %q, RPC %q", id, row.Values["name"], a.Name)
		}
		if int64(num(t, row, "sizeWhenDone")) != a.SizeWhenDone {
			t.Errorf("torrent %d: page size %v, RPC %d", id, row.Values["sizeWhenDone"], a.SizeWhenDone)
		}
		if p := num(t, row, "percentDone"); p < b.PercentDone || p > a.PercentDone {
			t.Errorf("torrent %d: page progress %v outside the RPC's %v..%v", id, p, b.PercentDone, a.PercentDone)
		}
		wantText := fmt.Sprintf("%.1f %%", num(t, row, "percentDone")*100)
		if num(t, row, "percentDone") >= 1 {
			wantText = "100 %"
		}
		if row.Text["percentDone"] != wantText {
			t.Errorf("torrent %d: progress text %q, want %q", id, row.Text["percentDone"], wantText)
		}
		if id != movingID {
			// Seeded, complete, no peer: nothing moves.
			for _, c := range []struct {
				field string
				want  float64
			}{{"status", float64(a.Status)}, {"rateDownload", float64(a.RateDownload)}, {"rateUpload", float64(a.RateUpload)},
				{"peersConnected", float64(a.PeersConnected)}, {"uploadRatio", a.UploadRatio}, {"percentDone", 1}} {
				if got := num(t, row, c.field); math.Abs(got-c.want) > 1e-9 {
					t.Errorf("torrent %d (%s): page %s %v, RPC %v", id, a.Name, c.field, got, c.want)
				}
			}
			if row.Text["status"] != "seeding" {
				t.Errorf("torrent %d: status text %q, want seeding", id, row.Text["status"])
			}
			continue
		}
		if s := num(t, row, "status"); s != 4 || row.Text["status"] != "downloading" {
			t.Errorf("downloading torrent: page status %v %q, want 4 downloading", s, row.Text["status"])
		}
		if num(t, row, "peersConnected") != 1 || num(t, row, "rateDownload") <= 0 {
			t.Errorf("downloading torrent: page peers %v rate %v, want 1 peer and a rate", row.Values["peersConnected"], row.Values["rateDownload"])
		}
	}

	// Totals, shards and plugins sections are filled from session-stats.
	var totals map[string]string
	eval("totals", `Object.fromEntries([...document.querySelectorAll('#totals dd')].map(d => [d.dataset.field, d.dataset.value]))`, &totals)
	if totals["torrentCount"] != "4" {
		t.Errorf("totals: torrentCount %q, want 4 (%v)", totals["torrentCount"], totals)
	}
	shards := readRows("shard-row")
	var stats struct {
		Extra struct {
			Shards []struct {
				ID       int `json:"id"`
				Torrents int `json:"torrents"`
			} `json:"shards"`
		} `json:"shardtorrent"`
	}
	client.call(t, "session-stats", nil, &stats)
	if len(shards) != 2 || len(stats.Extra.Shards) != 2 {
		t.Fatalf("page shows %d shard rows, the RPC %d; want 2 (-shards 2)", len(shards), len(stats.Extra.Shards))
	}
	var onShards, iterations float64
	for i, s := range shards {
		onShards += num(t, s, "torrents")
		iterations += num(t, s, "iterationsPerSec")
		if rs := stats.Extra.Shards[i]; int(num(t, s, "id")) != rs.ID || int(num(t, s, "torrents")) != rs.Torrents {
			t.Errorf("shard row %v, RPC %+v", s.Values, rs)
		}
		if b := num(t, s, "busy"); b < 0 || b > 1 {
			t.Errorf("shard %v: busy %v outside 0..1", s.Values["id"], b)
		}
		if num(t, s, "iterationsPerSec") < 0 {
			t.Errorf("shard %v: iterations per second %v", s.Values["id"], s.Values["iterationsPerSec"])
		}
	}
	if onShards != 4 {
		t.Errorf("shards hold %v torrents between them, want 4", onShards)
	}
	if iterations <= 0 {
		t.Errorf("no shard shows a loop iteration per second, with a transfer running")
	}
	// Plugins: every hook the RPC reports is a row, and its calls (which
	// only grow) are at most what the RPC says after the page was read.
	plugins := readRows("plugin-row")
	var pstats struct {
		Extra struct {
			Plugins []struct {
				Plugin string  `json:"plugin"`
				Hook   string  `json:"hook"`
				Calls  float64 `json:"calls"`
			} `json:"plugins"`
		} `json:"shardtorrent"`
	}
	client.call(t, "session-stats", nil, &pstats)
	rpcCalls := map[string]float64{}
	for _, p := range pstats.Extra.Plugins {
		rpcCalls[p.Plugin+" "+p.Hook] = p.Calls
	}
	// The page lists the hooks that have run (and counts the others).
	called := 0
	for _, c := range rpcCalls {
		if c > 0 {
			called++
		}
	}
	if len(plugins) == 0 || len(plugins) > called {
		t.Fatalf("the page shows %d plugin hooks, the RPC %d that have run (of %d)", len(plugins), called, len(rpcCalls))
	}
	for _, p := range plugins {
		calls := num(t, p, "calls")
		if rc, ok := rpcCalls[p.Values["plugin"]+" "+p.Values["hook"]]; !ok || calls <= 0 || calls > rc || num(t, p, "seconds") < 0 {
			t.Errorf("plugin row %v; RPC calls %v (listed %v)", p.Values, rc, ok)
		}
	}

	// Sorting: by name, ascending then descending.
	for _, desc := range []bool{false, true} {
		do("sort by name", chromedp.Click(chromedp.CSS(`#torrents th[data-sort="name"]`)))
		var names []string
		eval("names", `[...document.querySelectorAll('[data-testid="torrent-row"] [data-field="name"]')].map(td => td.dataset.value)`, &names)
		want := append([]string(nil), names...)
		sort.Slice(want, func(i, j int) bool { return (strings.Compare(want[i], want[j]) < 0) != desc })
		if strings.Join(names, "|") != strings.Join(want, "|") {
			t.Errorf("sorted by name (descending %v): %q", desc, names)
		}
	}
	// Back to the id order for the screenshot.
	do("sort by id", chromedp.Click(chromedp.CSS(`#torrents th[data-sort="id"]`)))
	checkConsole()

	shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if !bytes.HasPrefix(shot, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot is not a PNG (%d bytes)", len(shot))
	}
	out := filepath.Join(t.TempDir(), "status-page.png")
	if os.Getenv("SHARDTORRENT_SCREENSHOT") == "docs" {
		out = filepath.Join("..", "docs", "status-page.png")
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(shot))

	// The node goes away: the page says so, visibly, and keeps the last
	// figures greyed out.
	if _, err := node.Stop(); err != nil {
		t.Logf("node stop: %v", err)
	}
	do("wait for the error banner", chromedp.WaitVisible(chromedp.CSS(`[data-testid="error"]`)))
	var banner string
	eval("banner", `document.querySelector('[data-testid="error"]').textContent + "|" + document.body.className`, &banner)
	if !strings.Contains(banner, "unreachable") || !strings.HasSuffix(banner, "|stale") {
		t.Fatalf("error banner %q: want the RPC unreachable, the page marked stale", banner)
	}
}

// browser is a headless chromium tab for one test.
type browser struct {
	t   *testing.T
	ctx context.Context // the tab's chromedp context

	mu       sync.Mutex
	problems []string // exceptions, console errors, CSP refusals
}

// startBrowser starts chromium headless (--no-sandbox: the tests run as
// root) with one tab, closed at the end of the test or when ctx ends.
// Every uncaught exception, console error and CSP refusal the page logs
// is collected for checkConsole (network entries are not: they are the
// RPC's own 409 handshake, a refused login, a stopped node).
func startBrowser(t *testing.T, ctx context.Context, chromium string) *browser {
	t.Helper()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.WindowSize(1280, 900))...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	stopAtDeadline := context.AfterFunc(ctx, cancelBrowser) // the test's bound applies to the browser too
	t.Cleanup(func() { stopAtDeadline(); cancelBrowser(); cancelAlloc() })
	b := &browser{t: t, ctx: bctx}
	messages := chromedp.Console(bctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || (m.Type == chromedp.ConsoleError && m.Source != "network") {
				b.mu.Lock()
				b.problems = append(b.problems, m.String())
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *browser) checkConsole() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.problems) > 0 {
		b.t.Fatalf("the page logged errors: %q", b.problems)
	}
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// eval evaluates js in the page and decodes its JSON value into out.
func (b *browser) eval(what, js string, out any) {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]byte](js))
	if err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
	if err := json.Unmarshal(v, out); err != nil {
		b.t.Fatalf("browser: %s: %v (%s)", what, err, v)
	}
}

// TestStatusPageAuth: on a node with an auth file, the browser's basic
// auth for the page carries over to the page's RPC calls (the page works
// after one login), and when the credentials stop being valid (the node
// restarted with a new password) the page says 401 and keeps its last
// figures, greyed out.
func TestStatusPageAuth(t *testing.T) {
	chromium := requireChromium(t)
	ctx := setup(t, 3*time.Minute)
	requireNode(t)
	dir := t.TempDir()
	f := makeFixture(t, dir, "linux-6.12.tar.xz", 1<<20, nil, 64<<10)
	passwd := func(file, pass string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, nodeBin, "rpc-passwd", "-user", "alice", "-o", file)
		cmd.Stdin = strings.NewReader(pass + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("node rpc-passwd: %v\n%s", err, out)
		}
	}
	oldUsers, newUsers := filepath.Join(dir, "users-old"), filepath.Join(dir, "users-new")
	passwd(oldUsers, "first secret")
	passwd(newUsers, "second secret")
	ports := freePorts(t, 2)
	nodeArgs := func(users string) []string {
		return []string{"-listen", loopback(ports[0]), "-rpc", loopback(ports[1]), "-rpc-auth-file", users,
			"-data", f.SeedDir, "-state", "off", "-dht=false", f.Torrent}
	}
	node := startNode(t, ctx, "node", nodeArgs(oldUsers)...)
	for _, line := range []string{"rpc listening on " + loopback(ports[1]), "added " + f.Name} {
		if _, err := node.WaitLine(ctx, line); err != nil {
			t.Fatal(err)
		}
	}

	// The browser answers login prompts as a user would: with alice's
	// first password, and once that is no longer good, by cancelling.
	b := startBrowser(t, ctx, chromium)
	var mu sync.Mutex
	provide, prompts := true, 0
	paused := chromedp.Events(b.ctx, fetch.RequestPaused)
	authReq := chromedp.Events(b.ctx, fetch.AuthRequired)
	b.do("intercept logins", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{HandleAuthRequests: ptrTo(true)})
		return err
	}))
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(b.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
	}()
	go func() {
		for ev, err := range authReq {
			if err != nil {
				return
			}
			mu.Lock()
			prompts++
			resp := &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseCancelAuth}
			if provide {
				resp = &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseProvideCredentials,
					Username: "alice", Password: "first secret"}
			}
			mu.Unlock()
			_, _ = chromedp.Call(b.ctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: ev.RequestID, AuthChallengeResponse: resp})
		}
	}()

	b.do("load the page with a login", chromedp.Navigate("http://"+loopback(ports[1])+"/"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="torrent-row"]`)),
		chromedp.Poll[chromedp.Void](`Number(document.getElementById("state").dataset.refreshes) >= 2`, chromedp.WithPollingTimeout(30*time.Second)))
	mu.Lock()
	if prompts < 1 {
		t.Errorf("the page loaded without a login prompt on a node with an auth file")
	}
	provide = false
	mu.Unlock()
	var name string
	b.eval("row", `document.querySelector('[data-testid="torrent-row"] [data-field="name"]').dataset.value`, &name)
	if name != f.Name {
		t.Fatalf("page shows %q, want %q", name, f.Name)
	}
	b.checkConsole()

	// A new password: the browser's credentials are refused.
	if _, err := node.Stop(); err != nil {
		t.Logf("node stop: %v", err)
	}
	node = startNode(t, ctx, "node-2", nodeArgs(newUsers)...)
	if _, err := node.WaitLine(ctx, "rpc listening on "+loopback(ports[1])); err != nil {
		t.Fatal(err)
	}
	b.do("wait for the 401 banner", chromedp.Poll[chromedp.Void](`(() => {
		const e = document.querySelector('[data-testid="error"]');
		return !e.hidden && e.dataset.status === "401" && e.textContent.startsWith("401 Unauthorized") &&
			document.body.classList.contains("stale");
	})()`, chromedp.WithPollingTimeout(60*time.Second)))
	// The last figures stay on the page, greyed out.
	b.eval("row", `document.querySelector('[data-testid="torrent-row"] [data-field="name"]').dataset.value`, &name)
	if name != f.Name {
		t.Fatalf("after the 401 the page shows %q, want the last figures (%q)", name, f.Name)
	}
}

func ptrTo[T any](v T) *T { return &v }
