package nodecmd

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/internal/httpguard"
)

// writeAuthFile makes an auth file for alice/s3cret through rpc-passwd at
// the lowest accepted cost, reading the password from a pipe.
func writeAuthFile(t *testing.T, path string) {
	t.Helper()
	old := passwdInput
	passwdInput = strings.NewReader("s3cret\n")
	defer func() { passwdInput = old }()
	var out, errb bytes.Buffer
	if code := Run([]string{"rpc-passwd", "-user", "alice", "-cost", "10", "-o", path}, &out, &errb); code != 0 {
		t.Fatalf("rpc-passwd: exit %d: %s", code, errb.String())
	}
}

// TestServiceStartupRefusals: each refused service configuration stops the
// node before it starts, with one clear line on stderr.
func TestServiceStartupRefusals(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "auth")
	writeAuthFile(t, good)
	loose := filepath.Join(dir, "auth-0644")
	b, _ := os.ReadFile(good)
	if err := os.WriteFile(loose, b, 0o644); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "auth-plain")
	if err := os.WriteFile(plain, []byte("alice:s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	base := []string{"-listen", "off", "-dht=false", "-status", "0", "-state", "off", "-data", filepath.Join(dir, "data")}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"any address without credentials", []string{"-rpc", "0.0.0.0:0", "-rpc-allow", "10.0.0.0/8"}, 2, "without -rpc-auth-file"},
		{"any address without an allow-list", []string{"-rpc", "0.0.0.0:0", "-rpc-auth-file", good}, 2, "without -rpc-allow"},
		{"IPv6 any address without either", []string{"-rpc", "[::]:0"}, 2, "(not loopback) without -rpc-auth-file"},
		{"empty host is every address", []string{"-rpc", ":0", "-rpc-auth-file", good}, 2, "every address (not loopback) without -rpc-allow"},
		{"auth file readable by others", []string{"-rpc-auth-file", loose, "-rpc", "127.0.0.1:0"}, 2, "mode 0644: group or others can access it"},
		{"auth file with a plaintext password", []string{"-rpc-auth-file", plain, "-rpc", "127.0.0.1:0"}, 2, "not a bcrypt hash"},
		{"missing auth file", []string{"-rpc-auth-file", filepath.Join(dir, "nope"), "-rpc", "127.0.0.1:0"}, 2, "no such file"},
		{"bad allow-list", []string{"-rpc", "127.0.0.1:0", "-rpc-allow", "10.0.0.0/8,lan"}, 2, `"lan" is not a CIDR`},
		{"missing root", []string{"-rpc", "127.0.0.1:0", "-rpc-roots", filepath.Join(dir, "nope")}, 2, "-rpc-roots"},
		{"host name", []string{"-rpc", "example.com:9091"}, 2, "IP address or localhost"},
		{"port in use", []string{"-rpc", busy.Addr().String()}, 1, "address already in use"},
		{"rpc-passwd without user", []string{"rpc-passwd", "-o", filepath.Join(dir, "x")}, 2, "usage: node rpc-passwd"},
		{"rpc-passwd bad user", []string{"rpc-passwd", "-user", "a:b", "-o", filepath.Join(dir, "x")}, 2, "without ':'"},
		{"rpc-passwd weak cost", []string{"rpc-passwd", "-user", "a", "-cost", "4", "-o", filepath.Join(dir, "x")}, 2, "below 10"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if args[0] != "rpc-passwd" {
				args = append(append([]string{}, base...), args...)
			}
			old := passwdInput
			passwdInput = strings.NewReader("pw\n")
			defer func() { passwdInput = old }()
			var out, errb bytes.Buffer
			code := Run(args, &out, &errb)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, c.code, errb.String())
			}
			lines := strings.Split(strings.TrimRight(errb.String(), "\n"), "\n")
			if !strings.Contains(errb.String(), c.want) || (c.code == 2 && args[0] != "rpc-passwd" && len(lines) != 1) {
				t.Fatalf("stderr %q: want one line mentioning %q", errb.String(), c.want)
			}
			if strings.Contains(out.String(), "rpc listening") {
				t.Fatalf("the service started: %q", out.String())
			}
		})
	}
}

var listeningRE = regexp.MustCompile(`rpc listening on (127\.0\.0\.1:\d+)`)

// TestServiceGuardsEveryPath: a running node with an auth file answers
// 401 without or with wrong credentials (and posts an rpc_refused alert,
// logged at debug), lets the right ones through, and stops the service
// with the node.
func TestServiceGuardsEveryPath(t *testing.T) {
	dir := t.TempDir()
	auth := filepath.Join(dir, "auth")
	writeAuthFile(t, auth)
	r := startNode(t, "-listen", "off", "-dht=false", "-status", "0", "-state", "off", "-log", "debug",
		"-data", filepath.Join(dir, "data"), "-rpc", "127.0.0.1:0", "-rpc-auth-file", auth)
	r.waitOut(t, "rpc listening on", 30*time.Second)
	m := listeningRE.FindStringSubmatch(r.out.String())
	if m == nil {
		t.Fatalf("no address in %q", r.out.String())
	}
	base := "http://" + m[1]
	cases := []struct {
		path, user, pass string
		refused          int // 0: let through
	}{
		{"/transmission/rpc", "", "", http.StatusUnauthorized},
		{"/transmission/rpc", "alice", "wrong", http.StatusUnauthorized},
		{"/metrics", "mallory", "s3cret", http.StatusUnauthorized},
		{"/", "", "", http.StatusUnauthorized},
		{"/transmission/rpc", "alice", "s3cret", 0},
		{"/metrics", "alice", "s3cret", 0},
		{"/", "alice", "s3cret", 0},
	}
	for _, c := range cases {
		req, _ := http.NewRequest("GET", base+c.path, nil)
		if c.user != "" {
			req.SetBasicAuth(c.user, c.pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch {
		case c.refused != 0 && resp.StatusCode != c.refused:
			t.Errorf("%s as %q: %d, want %d", c.path, c.user, resp.StatusCode, c.refused)
		case c.refused == 0 && (resp.StatusCode == 401 || resp.StatusCode == 403 || resp.StatusCode == 429):
			t.Errorf("%s as %q: refused with %d", c.path, c.user, resp.StatusCode)
		}
	}
	// The refusals above are counted in /metrics, by reason.
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.SetBasicAuth("alice", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`shardtorrent_rpc_refused_total{reason="no_credentials"} 2`,
		`shardtorrent_rpc_refused_total{reason="bad_credentials"} 2`,
		`shardtorrent_rpc_refused_total{reason="forbidden"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	r.err.waitFor("alert=rpc_refused", 10*time.Second, r.exited)
	if !strings.Contains(r.err.String(), `user \"alice\"`) && !strings.Contains(r.err.String(), `user "alice"`) {
		t.Errorf("no rpc_refused alert for alice's wrong password; stderr:\n%s", tail(r.err.String(), 10))
	}
	r.signal(t, syscall.SIGTERM)
	if code, hung := r.wait(t, 30*time.Second); hung || code != 0 {
		t.Fatalf("exit %d hung %v", code, hung)
	}
	if _, err := net.DialTimeout("tcp", m[1], time.Second); err == nil {
		t.Fatal("the service still accepts after the node stopped")
	}
}

// TestServiceDefaultPortInUse: at the default address a port in use is a
// warning (several nodes on one machine); the node runs without the
// service.
func TestServiceDefaultPortInUse(t *testing.T) {
	if ln, err := net.Listen("tcp", defaultRPC); err == nil {
		defer ln.Close()
	} // else another process holds it: the same for the node
	dir := t.TempDir()
	data, list := makeTinyTorrents(t, dir, 1)
	var out, errb bytes.Buffer
	code := Run([]string{"-listen", "off", "-dht=false", "-status", "0", "-state", "off", "-data", data, "-torrent-list", list, "-exit-when-complete"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "running without the RPC service") || strings.Contains(out.String(), "rpc listening") {
		t.Fatalf("stdout %q stderr %q", out.String(), errb.String())
	}
}

func TestRPCPasswdWritesHashOnly(t *testing.T) {
	p := filepath.Join(t.TempDir(), "auth")
	writeAuthFile(t, p)
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%v %v", fi, err)
	}
	b, _ := os.ReadFile(p)
	if strings.Contains(string(b), "s3cret") || !strings.HasPrefix(string(b), "alice:$2") {
		t.Fatalf("auth file %q", b)
	}
	u, err := httpguard.LoadUsers(p)
	if err != nil || !u.Verify("alice", "s3cret") {
		t.Fatalf("%v", err)
	}
	for _, in := range []string{"", "\n", strings.Repeat("x", 80) + "\n"} {
		old := passwdInput
		passwdInput = strings.NewReader(in)
		var out, errb bytes.Buffer
		code := Run([]string{"rpc-passwd", "-user", "bob", "-o", p}, &out, &errb)
		passwdInput = old
		if code == 0 {
			t.Errorf("password %q accepted", in)
		}
	}
}

// TestServiceRefusesRebindingHost: a node without an auth file answers
// only requests addressed to an IP or localhost, so a page that rebinds
// its own name to 127.0.0.1 cannot read it (421, as Transmission).
func TestServiceRefusesRebindingHost(t *testing.T) {
	dir := t.TempDir()
	r := startNode(t, "-listen", "off", "-dht=false", "-status", "0", "-state", "off",
		"-data", filepath.Join(dir, "data"), "-rpc", "127.0.0.1:0")
	r.waitOut(t, "rpc listening on", 30*time.Second)
	m := listeningRE.FindStringSubmatch(r.out.String())
	if m == nil {
		t.Fatalf("no address in %q", r.out.String())
	}
	_, port, _ := net.SplitHostPort(m[1])
	for _, c := range []struct {
		host    string
		refused bool
	}{
		{m[1], false},
		{"localhost:" + port, false},
		{"attacker.example:" + port, true},
		{"127.0.0.1.nip.io:" + port, true},
	} {
		req, _ := http.NewRequest("POST", "http://"+m[1]+"/transmission/rpc", strings.NewReader(`{"method":"session-get"}`))
		req.Host = c.host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.StatusCode == http.StatusMisdirectedRequest; got != c.refused {
			t.Errorf("Host %s: status %d", c.host, resp.StatusCode)
		}
		if !c.refused && resp.StatusCode != http.StatusConflict { // through to the RPC: its handshake
			t.Errorf("Host %s: status %d, want the RPC's 409", c.host, resp.StatusCode)
		}
	}
	r.signal(t, syscall.SIGTERM)
	if code, hung := r.wait(t, 30*time.Second); hung || code != 0 {
		t.Fatalf("exit %d hung %v", code, hung)
	}
}
