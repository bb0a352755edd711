//go:build interop

package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/internal/refpeer"
)

// Debian's transmission-remote 3.00 (package transmission-cli) against a
// running node: every command the issue lists, its output parsed and
// checked against the node's own state, read over the RPC by a small
// client written here against Transmission's rpc-spec (not the rpc
// package's types). Run twice: a node without an auth file, and one with
// an auth file, driven with -n user:pass (and refused without it).

const transmissionRemote = "/usr/bin/transmission-remote"

func requireTransmissionRemote(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(transmissionRemote); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and %s is missing (apt-get install transmission-cli): %v", transmissionRemote, err)
		}
		t.Skipf("%s missing (apt-get install transmission-cli): %v", transmissionRemote, err)
	}
}

// trRemote runs transmission-remote against one node.
type trRemote struct {
	t    *testing.T
	ctx  context.Context
	addr string // 127.0.0.1:PORT
	auth string // user:pass for -n, "" for none
}

// run runs transmission-remote with args and returns its combined output
// and whether it exited 0.
func (r trRemote) run(args ...string) (string, bool) {
	r.t.Helper()
	full := []string{r.addr}
	if r.auth != "" {
		full = append(full, "-n", r.auth)
	}
	full = append(full, args...)
	cmd := exec.CommandContext(r.ctx, transmissionRemote, full...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if r.ctx.Err() != nil {
		r.t.Fatalf("transmission-remote %q: %v", args, r.ctx.Err())
	}
	r.t.Logf("$ transmission-remote %s\n%s", strings.Join(args, " "), out.String())
	return out.String(), err == nil
}

// ok runs a command that must succeed and answer "success".
func (r trRemote) ok(args ...string) string {
	r.t.Helper()
	out, ok := r.run(args...)
	if !ok {
		r.t.Fatalf("transmission-remote %q failed:\n%s", args, out)
	}
	return out
}

// success runs a command whose answer is just `responded: "success"`.
func (r trRemote) success(args ...string) {
	r.t.Helper()
	if out := r.ok(args...); !strings.Contains(out, `responded: "success"`) {
		r.t.Fatalf("transmission-remote %q: no success:\n%s", args, out)
	}
}

// fails runs a command that must fail with a message containing want.
func (r trRemote) fails(want string, args ...string) {
	r.t.Helper()
	out, ok := r.run(args...)
	if ok || !strings.Contains(out, want) {
		r.t.Fatalf("transmission-remote %q: exit ok=%v, output %q; want a failure saying %q", args, ok, out, want)
	}
}

// specClient speaks Transmission's RPC as its spec describes it: POST a
// JSON {method, arguments}, answer the 409 handshake with the session id
// it hands out, basic auth when given.
type specClient struct {
	url, user, pass string
	sid             string
}

type specResponse struct {
	Result    string          `json:"result"`
	Arguments json.RawMessage `json:"arguments"`
}

func (c *specClient) call(t *testing.T, method string, args any, out any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"method": method, "arguments": args})
	for attempt := 0; attempt < 2; attempt++ {
		req, _ := http.NewRequest("POST", c.url, bytes.NewReader(body))
		req.Header.Set("X-Transmission-Session-Id", c.sid)
		if c.user != "" {
			req.SetBasicAuth(c.user, c.pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var r specResponse
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if resp.StatusCode == http.StatusConflict {
			c.sid = resp.Header.Get("X-Transmission-Session-Id")
			continue
		}
		if err != nil || resp.StatusCode != 200 || r.Result != "success" {
			t.Fatalf("%s: HTTP %d, result %q, err %v", method, resp.StatusCode, r.Result, err)
		}
		if out != nil {
			if err := json.Unmarshal(r.Arguments, out); err != nil {
				t.Fatalf("%s arguments: %v", method, err)
			}
		}
		return
	}
	t.Fatalf("%s: 409 twice", method)
}

// specTorrent holds the torrent-get fields the checks compare.
type specTorrent struct {
	ID             int     `json:"id"`
	Name           string  `json:"name"`
	HashString     string  `json:"hashString"`
	Status         int     `json:"status"`
	PercentDone    float64 `json:"percentDone"`
	TotalSize      int64   `json:"totalSize"`
	SizeWhenDone   int64   `json:"sizeWhenDone"`
	LeftUntilDone  int64   `json:"leftUntilDone"`
	UploadedEver   int64   `json:"uploadedEver"`
	DownloadedEver int64   `json:"downloadedEver"`
	RateUpload     int64   `json:"rateUpload"`
	RateDownload   int64   `json:"rateDownload"`
	PeersGetting   int     `json:"peersGettingFromUs"`
	PeersSending   int     `json:"peersSendingToUs"`
	DownloadDir    string  `json:"downloadDir"`
	PieceCount     int     `json:"pieceCount"`
	PieceSize      int64   `json:"pieceSize"`
	IsPrivate      bool    `json:"isPrivate"`
	Error          int     `json:"error"`
}

var specTorrentFields = []string{"id", "name", "hashString", "status", "percentDone", "totalSize", "sizeWhenDone",
	"leftUntilDone", "uploadedEver", "downloadedEver", "rateUpload", "rateDownload", "peersGettingFromUs", "peersSendingToUs", "downloadDir", "pieceCount",
	"pieceSize", "isPrivate", "error"}

func (c *specClient) torrents(t *testing.T) map[int]specTorrent {
	t.Helper()
	var got struct {
		Torrents []specTorrent `json:"torrents"`
	}
	c.call(t, "torrent-get", map[string]any{"fields": specTorrentFields}, &got)
	m := map[int]specTorrent{}
	for _, x := range got.Torrents {
		m[x.ID] = x
	}
	return m
}

// byHash returns the torrent with info-hash h, if any.
func (c *specClient) byHash(t *testing.T, h string) (specTorrent, bool) {
	t.Helper()
	for _, x := range c.torrents(t) {
		if strings.EqualFold(x.HashString, h) {
			return x, true
		}
	}
	return specTorrent{}, false
}

// waitTorrent polls the node's state (what the node itself does, poll.go)
// until cond holds for torrent h; bounded by ctx.
func (c *specClient) waitTorrent(t *testing.T, ctx context.Context, h, what string, cond func(specTorrent) bool) specTorrent {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		x, ok := c.byHash(t, h)
		if ok && cond(x) {
			return x
		}
		select {
		case <-ctx.Done():
			t.Fatalf("torrent %s never %s: last %+v", h, what, x)
		case <-tick.C:
		}
	}
}

// listRow is one torrent line of transmission-remote -l (remote.c's
// printTorrentList: "%6d%c  %4s  %9s  %-8s  %6.1f  %6.1f  %5s  %-11s  %s").
type listRow struct {
	ID           int
	Done, Have   string
	Status, Name string
}

var listRowRE = regexp.MustCompile(`^\s*(\d+)\*?\s+(\S+)\s+(None|\S+ \S+)\s+.*?\s+[\d.]+\s+[\d.]+\s+\S+\s+(Stopped|Idle|Seeding|Downloading|Up & Down|Verifying|Queued|Will Verify|Will Download|Will Seed)\s+(.+)$`)

func parseList(t *testing.T, out string) []listRow {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) < 2 || !strings.Contains(lines[0], "ID   Done") || !strings.HasPrefix(lines[len(lines)-1], "Sum:") {
		t.Fatalf("not a -l listing:\n%s", out)
	}
	var rows []listRow
	for _, l := range lines[1 : len(lines)-1] {
		m := listRowRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("-l row %q does not parse", l)
		}
		id, _ := strconv.Atoi(m[1])
		rows = append(rows, listRow{ID: id, Done: m[2], Have: m[3], Status: m[4], Name: m[5]})
	}
	return rows
}

// fields parses "  Key: value" lines of -i, -si, -st into a map, keys
// prefixed with their section ("TRANSFER/State").
func fields(out string) map[string]string {
	m := map[string]string{}
	section := ""
	for _, l := range strings.Split(out, "\n") {
		if l != "" && l == strings.ToUpper(l) && !strings.HasPrefix(l, " ") {
			section = strings.TrimSpace(l)
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if ok && strings.HasPrefix(l, "  ") {
			m[section+"/"+k] = strings.TrimSpace(v)
		}
	}
	return m
}

// parseSize reads transmission-remote's sizes ("3.00 MB", "512.0 kB",
// "None") into bytes and the unit's size, for a comparison within its
// rounding.
func parseSize(t *testing.T, s string) (bytes, unit float64) {
	t.Helper()
	if s == "None" {
		return 0, 1
	}
	s, _, _ = strings.Cut(s, " (") // "3.00 MB (3.00 MB verified)"
	num, u, ok := strings.Cut(s, " ")
	v, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil {
		t.Fatalf("size %q does not parse", s)
	}
	mult := map[string]float64{"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[u]
	if mult == 0 {
		t.Fatalf("size %q: unknown unit", s)
	}
	return v * mult, mult
}

// sameSize checks a printed size against a byte count: equal within the
// printed precision (two decimals below 100 of the unit).
func sameSize(t *testing.T, what, printed string, want int64) {
	t.Helper()
	got, unit := parseSize(t, printed)
	if want == 0 {
		if printed != "None" && got != 0 {
			t.Errorf("%s: printed %q, node says 0", what, printed)
		}
		return
	}
	if math.Abs(got-float64(want)) > unit*0.01 {
		t.Errorf("%s: printed %q, node says %d bytes", what, printed, want)
	}
}

// listStatus is what -l prints for a torrent in state x (remote.c's
// getStatusString: a downloading or seeding torrent is told apart by the
// peers it exchanges data with).
func listStatus(x specTorrent) string {
	switch x.Status {
	case 0:
		return "Stopped"
	case 1:
		return "Will Verify"
	case 2:
		return "Verifying"
	case 3, 5:
		return "Queued" // transmission-remote 3.00's word for both waits
	}
	switch {
	case x.PeersGetting > 0 && x.PeersSending > 0:
		return "Up & Down"
	case x.PeersGetting > 0:
		return "Seeding"
	case x.PeersSending > 0:
		return "Downloading"
	}
	return "Idle"
}

func TestTransmissionRemote(t *testing.T) {
	for _, withAuth := range []bool{false, true} {
		name := "no_auth"
		if withAuth {
			name = "auth_file"
		}
		t.Run(name, func(t *testing.T) { runTransmissionRemote(t, withAuth) })
	}
}

func runTransmissionRemote(t *testing.T, withAuth bool) {
	ctx := setup(t, 3*time.Minute)
	requireNode(t)
	requireTransmissionRemote(t)
	dir := t.TempDir()
	// alpha: its data in the node's data directory, added with -a FILE;
	// beta: seeded by libtorrent, fetched with -a MAGNET (metadata and data).
	alpha := makeFixture(t, mkdir(t, dir, "alpha"), "alpha.bin", 3<<20+12345, nil, 256<<10)
	beta := makeFixture(t, mkdir(t, dir, "beta"), "beta", 0, map[string]int64{"x.bin": 1<<20 + 7, "sub/y.bin": 2 << 20}, 64<<10)
	data := alpha.SeedDir
	ports := freePorts(t, 4)
	lt := ltSeed(t, ctx, beta, ports[0], refpeer.LTOptions{})
	args := []string{"-listen", loopback(ports[1]), "-dht=false", "-status", "0", "-state", filepath.Join(dir, "state"),
		"-data", data, "-rpc", loopback(ports[2]), "-log", "debug"} // debug: alerts are logged (torrent_deleted)
	client := &specClient{url: "http://" + loopback(ports[2]) + "/transmission/rpc"}
	tr := trRemote{t: t, ctx: ctx, addr: loopback(ports[2])}
	if withAuth {
		auth := filepath.Join(dir, "rpc-auth")
		cmd := exec.CommandContext(ctx, nodeBin, "rpc-passwd", "-user", "alice", "-cost", "10", "-o", auth)
		cmd.Stdin = strings.NewReader("s3cret\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("rpc-passwd: %v: %s", err, out)
		}
		args = append(args, "-rpc-auth-file", auth)
		client.user, client.pass = "alice", "s3cret"
		tr.auth = "alice:s3cret"
	}
	node := startNode(t, ctx, "node", args...)
	if _, err := node.WaitLine(ctx, "rpc listening on "+loopback(ports[2])); err != nil {
		t.Fatal(err)
	}

	if withAuth {
		// Refused without -n and with a wrong password, by the guard's
		// own words (transmission-remote prints the body of a non-200).
		bad := tr
		bad.auth = ""
		bad.fails("Unexpected response: authentication required", "-l")
		bad.auth = "alice:wrong"
		bad.fails("Unexpected response: wrong user or password", "-l")
		bad.auth = "mallory:s3cret"
		bad.fails("Unexpected response: wrong user or password", "-si")
	}

	// -l on an empty node.
	if rows := parseList(t, tr.ok("-l")); len(rows) != 0 || len(client.torrents(t)) != 0 {
		t.Fatalf("rows %v on an empty node", rows)
	}

	// -a FILE (transmission-remote sends the file as metainfo): the data
	// is there, so the torrent checks complete.
	tr.success("-a", alpha.Torrent)
	a := client.waitTorrent(t, ctx, alpha.Info.InfoHash, "complete", func(x specTorrent) bool { return x.PercentDone == 1 && x.Status >= 4 })
	// -a MAGNET with the libtorrent seed as x.pe: metadata, then data.
	tr.success("-a", "magnet:?xt=urn:btih:"+beta.Info.InfoHash+"&dn=beta&x.pe="+lt.Addr())
	b := client.waitTorrent(t, ctx, beta.Info.InfoHash, "downloaded", func(x specTorrent) bool { return x.PercentDone == 1 && x.Status >= 4 })
	got, err := refpeer.HashFiles(data)
	if err != nil {
		t.Fatal(err)
	}
	delete(got, alpha.Name) // alpha's data shares the directory
	if err := refpeer.DiffHashes(beta.Hashes, got); err != nil {
		t.Fatalf("beta fetched with -a MAGNET: %v", err)
	}
	if b.DownloadedEver < beta.Info.TotalSize {
		t.Fatalf("beta downloadedEver %d < %d", b.DownloadedEver, beta.Info.TotalSize)
	}
	// A libtorrent leecher takes alpha from the node: upload counters move.
	leech := ltLeech(t, ctx, alpha, mkdir(t, dir, "lt-leech"), ports[3], refpeer.LTOptions{Peers: []string{loopback(ports[1])}})
	waitLT(t, ctx, leech)
	a = client.waitTorrent(t, ctx, alpha.Info.InfoHash, "uploaded", func(x specTorrent) bool { return x.UploadedEver >= alpha.Info.TotalSize })

	// -l: one row per torrent, as the node's state says.
	state := client.torrents(t)
	rows := parseList(t, tr.ok("-l"))
	if len(rows) != 2 || len(state) != 2 {
		t.Fatalf("-l rows %+v, node has %d torrents", rows, len(state))
	}
	for _, row := range rows {
		x, ok := state[row.ID]
		if !ok {
			t.Fatalf("-l id %d: the node has no such id", row.ID)
		}
		if row.Name != x.Name || row.Done != fmt.Sprintf("%d%%", int(x.PercentDone*100)) || row.Status != listStatus(x) {
			t.Errorf("-l row %+v, node %+v", row, x)
		}
		sameSize(t, "-l Have of "+x.Name, row.Have, x.SizeWhenDone-x.LeftUntilDone)
	}

	// -t N -i for both: identity, location, sizes, counters.
	for _, x := range []specTorrent{state[a.ID], state[b.ID]} {
		f := fields(tr.ok("-t", strconv.Itoa(x.ID), "-i"))
		want := map[string]string{
			"NAME/Id":                strconv.Itoa(x.ID),
			"NAME/Name":              x.Name,
			"NAME/Hash":              x.HashString,
			"TRANSFER/Location":      x.DownloadDir,
			"TRANSFER/Percent Done":  fmt.Sprintf("%g%%", math.Floor(x.PercentDone*1000)/10),
			"ORIGINS/Piece Count":    strconv.Itoa(x.PieceCount),
			"ORIGINS/Public torrent": map[bool]string{false: "Yes", true: "No"}[x.IsPrivate],
		}
		for k, v := range want {
			if f[k] != v {
				t.Errorf("-t %d -i %s: %q, node says %q", x.ID, k, f[k], v)
			}
		}
		if !strings.EqualFold(x.HashString, map[int]string{a.ID: alpha.Info.InfoHash, b.ID: beta.Info.InfoHash}[x.ID]) {
			t.Errorf("id %d hash %s", x.ID, x.HashString)
		}
		sameSize(t, "-i Total size", f["TRANSFER/Total size"], x.TotalSize)
		sameSize(t, "-i Downloaded", f["TRANSFER/Downloaded"], x.DownloadedEver)
		sameSize(t, "-i Uploaded", f["TRANSFER/Uploaded"], x.UploadedEver)
		if strings.TrimSuffix(f["NAME/Magnet"], "") == "" || !strings.Contains(strings.ToLower(f["NAME/Magnet"]), strings.ToLower(x.HashString)) {
			t.Errorf("-i Magnet %q", f["NAME/Magnet"])
		}
	}

	// -t N -S stops, -t N -s starts, as the node's state shows.
	tr.success("-t", strconv.Itoa(a.ID), "-S")
	if x := client.torrents(t)[a.ID]; x.Status != 0 {
		t.Fatalf("after -S: status %d", x.Status)
	}
	if row := findRow(t, parseList(t, tr.ok("-l")), a.ID); row.Status != "Stopped" {
		t.Fatalf("-l after -S: %+v", row)
	}
	tr.success("-t", strconv.Itoa(a.ID), "-s")
	a = client.waitTorrent(t, ctx, alpha.Info.InfoHash, "restarted", func(x specTorrent) bool { return x.Status != 0 })
	if row := findRow(t, parseList(t, tr.ok("-l")), a.ID); row.Status == "Stopped" {
		t.Fatalf("-l after -s: %+v", row)
	}

	// -si: the session as session-get reports it.
	var sess struct {
		RPCVersion  int    `json:"rpc-version"`
		DownloadDir string `json:"download-dir"`
		PeerPort    int    `json:"peer-port"`
		Encryption  string `json:"encryption"`
		PEX         bool   `json:"pex-enabled"`
		DHT         bool   `json:"dht-enabled"`
		Version     string `json:"version"`
	}
	client.call(t, "session-get", map[string]any{}, &sess)
	si := fields(tr.ok("-si"))
	yes := map[bool]string{true: "Yes", false: "No"}
	for k, v := range map[string]string{
		"VERSION/RPC version":                   strconv.Itoa(sess.RPCVersion),
		"VERSION/Daemon version":                sess.Version,
		"CONFIG/Download directory":             sess.DownloadDir,
		"CONFIG/Listenport":                     strconv.Itoa(sess.PeerPort),
		"CONFIG/Encryption":                     sess.Encryption,
		"CONFIG/Peer exchange allowed":          yes[sess.PEX],
		"CONFIG/Distributed hash table enabled": yes[sess.DHT],
	} {
		if si[k] != v {
			t.Errorf("-si %s: %q, node says %q", k, si[k], v)
		}
	}
	if sess.RPCVersion != 17 || sess.PeerPort != ports[1] || sess.DHT {
		t.Errorf("session-get %+v", sess)
	}

	// -st: the session's byte counters as session-stats reports them.
	var stats struct {
		Current struct {
			Up   int64 `json:"uploadedBytes"`
			Down int64 `json:"downloadedBytes"`
		} `json:"current-stats"`
		Cumulative struct {
			Up   int64 `json:"uploadedBytes"`
			Down int64 `json:"downloadedBytes"`
		} `json:"cumulative-stats"`
	}
	// current-stats come from the loops' published totals, which lag the
	// torrents by up to a tick (a second): wait for them to hold the
	// transfers, then compare with what -st prints.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		client.call(t, "session-stats", map[string]any{}, &stats)
		if stats.Current.Up >= alpha.Info.TotalSize && stats.Current.Down >= beta.Info.TotalSize {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("session-stats current-stats never held the transfers: %+v", stats)
		case <-tick.C:
		}
	}
	st := fields(tr.ok("-st"))
	sameSize(t, "-st current Uploaded", st["CURRENT SESSION/Uploaded"], stats.Current.Up)
	sameSize(t, "-st current Downloaded", st["CURRENT SESSION/Downloaded"], stats.Current.Down)
	sameSize(t, "-st total Uploaded", st["TOTAL/Uploaded"], stats.Cumulative.Up)
	sameSize(t, "-st total Downloaded", st["TOTAL/Downloaded"], stats.Cumulative.Down)
	if stats.Cumulative.Up < stats.Current.Up || stats.Cumulative.Down < stats.Current.Down {
		t.Errorf("session-stats %+v: cumulative below current", stats)
	}

	// --uplimit N (kB/s of 1000 bytes): the session's limit, then the
	// torrent's, as session-get and torrent-get report them. (-si prints
	// no LIMITS section: it wants seedRatioLimit and the other issue-13
	// keys too.)
	tr.success("--uplimit", "100")
	var lim struct {
		Up   int64 `json:"speed-limit-up"`
		UpOn bool  `json:"speed-limit-up-enabled"`
	}
	client.call(t, "session-get", map[string]any{"fields": []string{"speed-limit-up", "speed-limit-up-enabled"}}, &lim)
	if lim.Up != 100 || !lim.UpOn {
		t.Errorf("session-get after --uplimit 100: %+v", lim)
	}
	tr.success("--no-uplimit")
	tr.success("-t", strconv.Itoa(a.ID), "--uplimit", "50")
	var tl struct {
		Torrents []struct {
			Up   int64 `json:"uploadLimit"`
			UpOn bool  `json:"uploadLimited"`
		} `json:"torrents"`
	}
	client.call(t, "torrent-get", map[string]any{"ids": a.ID, "fields": []string{"uploadLimit", "uploadLimited"}}, &tl)
	if len(tl.Torrents) != 1 || tl.Torrents[0].Up != 50 || !tl.Torrents[0].UpOn {
		t.Errorf("torrent-get after -t %d --uplimit 50: %+v", a.ID, tl)
	}
	tr.success("-t", strconv.Itoa(a.ID), "--no-uplimit")

	// A path outside the roots (a .torrent not on this machine is sent as
	// a filename) is refused.
	tr.fails("outside", "-a", "/nonexistent-dir/outside.torrent")

	// Seed ratios (issue 13): the session's limit, then one torrent's own
	// limit and none, each read back over the RPC.
	ratios := func() (session float64, limit float64, mode int) {
		var ss struct {
			Limit   float64 `json:"seedRatioLimit"`
			Limited bool    `json:"seedRatioLimited"`
		}
		client.call(t, "session-get", map[string]any{"fields": []string{"seedRatioLimit", "seedRatioLimited"}}, &ss)
		var tg struct {
			Torrents []struct {
				Limit float64 `json:"seedRatioLimit"`
				Mode  int     `json:"seedRatioMode"`
			} `json:"torrents"`
		}
		client.call(t, "torrent-get", map[string]any{"ids": []int{a.ID}, "fields": []string{"seedRatioLimit", "seedRatioMode"}}, &tg)
		if len(tg.Torrents) != 1 || ss.Limited != (ss.Limit > 0) {
			t.Fatalf("seed ratios: session %+v, torrent %+v", ss, tg.Torrents)
		}
		return ss.Limit, tg.Torrents[0].Limit, tg.Torrents[0].Mode
	}
	tr.success("--global-seedratio", "3")
	if s, l, m := ratios(); s != 3 || l != 3 || m != 0 {
		t.Fatalf("--global-seedratio 3: session %v, torrent %v mode %d", s, l, m)
	}
	tr.success("-t", strconv.Itoa(a.ID), "--seedratio", "5.5")
	if s, l, m := ratios(); s != 3 || l != 5.5 || m != 1 {
		t.Fatalf("-t --seedratio 5.5: session %v, torrent %v mode %d", s, l, m)
	}
	tr.success("-t", strconv.Itoa(a.ID), "-SR")
	if _, _, m := ratios(); m != 2 {
		t.Fatalf("-t -SR: torrent mode %d, want 2", m)
	}
	tr.success("-t", strconv.Itoa(a.ID), "--seedratio-default")
	tr.success("--no-global-seedratio")
	if s, l, m := ratios(); s != 0 || l != 0 || m != 0 {
		t.Fatalf("--seedratio-default, --no-global-seedratio: session %v, torrent %v mode %d", s, l, m)
	}

	// -t N -r removes the torrent and keeps its data; --remove-and-delete
	// removes both.
	tr.success("-t", strconv.Itoa(a.ID), "-r")
	if _, ok := client.torrents(t)[a.ID]; ok {
		t.Fatal("-r: the torrent is still there")
	}
	if _, err := os.Stat(filepath.Join(data, alpha.Name)); err != nil {
		t.Fatalf("-r deleted the data: %v", err)
	}
	tr.success("-t", strconv.Itoa(b.ID), "--remove-and-delete")
	if _, ok := client.torrents(t)[b.ID]; ok {
		t.Fatal("--remove-and-delete: the torrent is still there")
	}
	// The files go once the torrent's storage is closed, after the reply,
	// as in Transmission: the node's torrent_deleted alert says when.
	if _, err := node.WaitLine(ctx, "alert=torrent_deleted"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(data, beta.Name)); !os.IsNotExist(err) {
		t.Fatalf("--remove-and-delete left the data: %v", err)
	}
	if rows := parseList(t, tr.ok("-l")); len(rows) != 0 {
		t.Fatalf("-l after the removals: %+v", rows)
	}
	if isExited(node) {
		t.Fatalf("the node exited:\n%s", node.Tail(20))
	}
	// --exit (session-close): the node stops cleanly, exit code 0.
	tr.success("--exit")
	if _, err := node.Wait(ctx); err != nil {
		t.Fatalf("node after --exit: %v\n%s", err, node.Tail(10))
	}
}

func findRow(t *testing.T, rows []listRow, id int) listRow {
	t.Helper()
	for _, r := range rows {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("-l has no row %d: %+v", id, rows)
	return listRow{}
}
