package httpguard

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCheckListen(t *testing.T) {
	allow := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	cases := []struct {
		listen   string
		creds    bool
		allow    []netip.Prefix
		loopback bool
		kind     ErrorKind
	}{
		{"127.0.0.1:9091", false, nil, true, 0},
		{"127.0.0.2:0", false, nil, true, 0},
		{"[::1]:9091", false, nil, true, 0},
		{"localhost:9091", false, nil, true, 0},
		{"0.0.0.0:9091", false, nil, false, ErrNeedCredentials},
		{"0.0.0.0:9091", false, allow, false, ErrNeedCredentials},
		{"0.0.0.0:9091", true, nil, false, ErrNeedAllowList},
		{"0.0.0.0:9091", true, allow, false, 0},
		{"[::]:9091", true, nil, false, ErrNeedAllowList},
		{":9091", false, allow, false, ErrNeedCredentials},
		{"192.168.1.5:9091", true, nil, false, ErrNeedAllowList},
		{"192.168.1.5:9091", true, allow, false, 0},
		{"example.com:9091", true, allow, false, ErrBadListen},
		{"127.0.0.1", false, nil, false, ErrBadListen},
		{"127.0.0.1:99999", false, nil, false, ErrBadListen},
	}
	for _, c := range cases {
		loop, err := CheckListen(c.listen, c.creds, c.allow)
		if c.kind == 0 {
			if err != nil || loop != c.loopback {
				t.Errorf("%s creds=%v allow=%v: loopback %v err %v", c.listen, c.creds, c.allow, loop, err)
			}
			continue
		}
		if !errors.Is(err, c.kind) {
			t.Errorf("%s creds=%v allow=%v: err %v, want %v", c.listen, c.creds, c.allow, err, c.kind)
			continue
		}
		if strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "-rpc") {
			t.Errorf("%s: %q is not one line about a flag", c.listen, err)
		}
	}
}

func TestParseAllowList(t *testing.T) {
	cases := []struct {
		in   string
		want string // prefixes joined by space; "" for an error
	}{
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.1.2.3/8, 192.168.1.7", "10.0.0.0/8 192.168.1.7/32"},
		{"2001:db8::/32,::1", "2001:db8::/32 ::1/128"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"", ""},
		{"10.0.0.0/33", ""},
		{"example.com", ""},
		{"10.0.0.0/8,nope", ""},
	}
	for _, c := range cases {
		ps, err := ParseAllowList(c.in)
		if c.want == "" {
			if !errors.Is(err, ErrBadAllowList) {
				t.Errorf("%q: err %v, want ErrBadAllowList", c.in, err)
			}
			continue
		}
		var got []string
		for _, p := range ps {
			got = append(got, p.String())
		}
		if err != nil || strings.Join(got, " ") != c.want {
			t.Errorf("%q: %v %v, want %s", c.in, got, err, c.want)
		}
	}
}

// fakeClock is a settable clock for the limiter.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

type call struct {
	from       string // RemoteAddr
	host       string // Host header ("" keeps httptest's example.com)
	user, pass string // basic auth when user != ""
	status     int
}

func serve(t *testing.T, g *Guard, c call) *httptest.ResponseRecorder {
	t.Helper()
	reached := false
	h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true }))
	r := httptest.NewRequest("POST", "/transmission/rpc", nil)
	r.RemoteAddr = c.from
	r.Host = c.host
	if c.host == "" {
		r.Host = "127.0.0.1:9091"
	}
	if c.user != "" {
		r.SetBasicAuth(c.user, c.pass)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != c.status {
		t.Fatalf("%+v: status %d (%q), want %d", c, w.Code, w.Body.String(), c.status)
	}
	if reached != (c.status == 200) {
		t.Fatalf("%+v: handler reached %v with status %d", c, reached, w.Code)
	}
	return w
}

func TestGuardRefusals(t *testing.T) {
	users, err := ParseUsers([]byte("alice:" + string(testHash(t)) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	allow, err := ParseAllowList("10.0.0.0/8,2001:db8::/32,fe80::/10")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		cfg   Config
		calls []call
	}{
		{"loopback without credentials", Config{Listen: "127.0.0.1:9091"}, []call{
			{from: "127.0.0.1:5000", status: 200},
			{from: "127.0.0.1:5000", host: "localhost:9091", status: 200},
			{from: "[::1]:5000", host: "[::1]:9091", status: 200},
			{from: "127.0.0.1:5000", host: "attacker.example:9091", status: http.StatusMisdirectedRequest},
			{from: "10.0.0.1:5000", status: http.StatusForbidden},
		}},
		{"loopback with an allow-list", Config{Listen: "127.0.0.1:9091", Allow: allow}, []call{
			{from: "127.0.0.1:5000", status: 200},
			{from: "10.9.9.9:5000", status: 200},
			{from: "192.168.0.1:5000", status: http.StatusForbidden},
		}},
		{"everywhere with credentials and allow-list", Config{Listen: "0.0.0.0:9091", Users: users, Allow: allow}, []call{
			{from: "10.1.2.3:5000", user: "alice", pass: "s3cret", status: 200},
			{from: "[::ffff:10.1.2.3]:5000", user: "alice", pass: "s3cret", status: 200},
			{from: "[2001:db8::7]:5000", user: "alice", pass: "s3cret", status: 200},
			{from: "[fe80::1%eth0]:5000", user: "alice", pass: "s3cret", status: 200}, // zone dropped, then fe80::/10
			{from: "10.1.2.3:5000", host: "anything.example", user: "alice", pass: "s3cret", status: 200},
			{from: "10.1.2.3:5000", status: http.StatusUnauthorized},
			{from: "10.1.2.3:5000", user: "alice", pass: "wrong", status: http.StatusUnauthorized},
			{from: "10.1.2.3:5000", user: "mallory", pass: "s3cret", status: http.StatusUnauthorized},
			{from: "192.168.0.1:5000", user: "alice", pass: "s3cret", status: http.StatusForbidden},
			{from: "127.0.0.1:5000", user: "alice", pass: "s3cret", status: http.StatusForbidden},
			{from: "[2001:db9::7]:5000", user: "alice", pass: "s3cret", status: http.StatusForbidden},
			{from: "garbage", user: "alice", pass: "s3cret", status: http.StatusForbidden},
		}},
		{"loopback with credentials", Config{Listen: "127.0.0.1:9091", Users: users}, []call{
			{from: "127.0.0.1:5000", status: http.StatusUnauthorized},
			{from: "127.0.0.1:5000", host: "rebound.example", user: "alice", pass: "s3cret", status: 200},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var refusals []Refusal
			c.cfg.OnRefuse = func(r Refusal) { refusals = append(refusals, r) }
			g, err := New(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			want := map[Reason]uint64{}
			for _, cl := range c.calls {
				before := len(refusals)
				w := serve(t, g, cl)
				if len(refusals)-before != map[bool]int{true: 0, false: 1}[cl.status == 200] {
					t.Fatalf("%+v: %d refusals reported", cl, len(refusals)-before)
				}
				if cl.status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
					t.Fatalf("%+v: 401 without WWW-Authenticate", cl)
				}
				if cl.status != 200 {
					last := refusals[len(refusals)-1]
					if last.Reason.Status() != cl.status {
						t.Fatalf("%+v: refusal %+v", cl, last)
					}
					want[last.Reason]++
					if last.User != "" && last.User != cl.user {
						t.Fatalf("refusal user %q", last.User)
					}
				}
			}
			for _, r := range Reasons() {
				if g.Refused(r) != want[r] {
					t.Errorf("Refused(%v) = %d, want %d", r, g.Refused(r), want[r])
				}
			}
		})
	}
}

// TestRateLimitHitAndRecovered: five wrong passwords, then even the right
// one gets 429 (not looked at), from that address only; a token comes back
// after DefaultEvery on the fake clock; an IPv6 /64 shares one bucket.
func TestRateLimitHitAndRecovered(t *testing.T) {
	users, err := ParseUsers([]byte("alice:" + string(testHash(t)) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	allow, _ := ParseAllowList("10.0.0.0/8,2001:db8::/32")
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	reported := 0
	g, err := New(Config{Listen: "0.0.0.0:9091", Users: users, Allow: allow, Now: clk.now, OnRefuse: func(Refusal) { reported++ }})
	if err != nil {
		t.Fatal(err)
	}
	bad := call{from: "10.0.0.5:1", user: "alice", pass: "nope", status: 401}
	good := call{from: "10.0.0.5:1", user: "alice", pass: "s3cret", status: 200}
	limited := func(c call) call { c.status = 429; return c }
	for i := 0; i < DefaultBurst; i++ {
		serve(t, g, bad)
	}
	w := serve(t, g, limited(good))
	if ra := w.Header().Get("Retry-After"); ra != "10" {
		t.Fatalf("Retry-After %q, want 10", ra)
	}
	serve(t, g, limited(call{from: "10.0.0.5:2"})) // no credentials: still 429
	serve(t, g, call{from: "10.0.0.6:1", user: "alice", pass: "s3cret", status: 200})
	clk.advance(DefaultEvery - time.Second)
	w = serve(t, g, limited(good))
	if ra := w.Header().Get("Retry-After"); ra != "1" {
		t.Fatalf("Retry-After %q, want 1", ra)
	}
	clk.advance(time.Second)
	serve(t, g, good) // recovered: one token
	serve(t, g, good) // success costs nothing
	serve(t, g, bad)  // spends it
	serve(t, g, limited(good))
	clk.advance(DefaultEvery * DefaultBurst)
	for i := 0; i < DefaultBurst; i++ { // a full bucket again
		serve(t, g, bad)
	}
	serve(t, g, limited(bad))

	// IPv6: two addresses of one /64 share a bucket; another /64 does not.
	v6 := call{from: "[2001:db8:1:2::a]:1", user: "alice", pass: "nope", status: 401}
	for i := 0; i < DefaultBurst; i++ {
		serve(t, g, v6)
	}
	serve(t, g, limited(call{from: "[2001:db8:1:2::b]:1", user: "alice", pass: "s3cret"}))
	serve(t, g, call{from: "[2001:db8:1:3::a]:1", user: "alice", pass: "s3cret", status: 200})
	if got := g.Refused(ReasonRateLimited); got != 6 {
		t.Fatalf("Refused(rate_limited) = %d, want 6", got)
	}
	if reported != int(g.Refused(ReasonBadCredentials)) {
		t.Fatalf("OnRefuse told of %d refusals, want only the %d bad credentials (429s are counted, not reported)", reported, g.Refused(ReasonBadCredentials))
	}
}

// TestLimiterMemoryBounded: at most max addresses are tracked; refilled
// buckets go first, then the one idle the longest.
func TestLimiterMemoryBounded(t *testing.T) {
	l := newLimiter(10*time.Second, 5, 3)
	t0 := time.Unix(0, 0)
	a := func(i byte) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, i}) }
	for i := byte(1); i <= 3; i++ {
		for j := 0; j < 5; j++ {
			l.fail(a(i), t0.Add(time.Duration(i)*time.Second))
		}
	}
	if n := l.tracked(); n != 3 {
		t.Fatalf("tracked %d", n)
	}
	l.fail(a(4), t0.Add(4*time.Second)) // full: evicts 10.0.0.1, the oldest
	if b, _ := l.blocked(a(1), t0.Add(4*time.Second)); b {
		t.Fatal("the oldest entry was not evicted")
	}
	for _, i := range []byte{2, 3} {
		if b, _ := l.blocked(a(i), t0.Add(4*time.Second)); !b {
			t.Fatalf("10.0.0.%d lost its record", i)
		}
	}
	// 60 s later 2, 3 and 4 have refilled: one new entry sweeps them all.
	l.fail(a(5), t0.Add(60*time.Second))
	if n := l.tracked(); n != 1 {
		t.Fatalf("tracked %d after a sweep, want 1", n)
	}
	for i := 0; i < 1000; i++ {
		l.fail(netip.AddrFrom4([4]byte{11, 0, byte(i >> 8), byte(i)}), t0.Add(61*time.Second))
	}
	if n := l.tracked(); n > 3 {
		t.Fatalf("tracked %d, bound 3", n)
	}
}

func TestRefusedAlertMessage(t *testing.T) {
	a := &RefusedAlert{Refusal{Addr: netip.MustParseAddr("10.0.0.1"), Reason: ReasonBadCredentials, Method: "POST", Path: "/x\nforged", User: "eve"}}
	m := a.Message()
	if strings.Contains(m, "\n") || !strings.Contains(m, "bad_credentials") || !strings.Contains(m, `"eve"`) {
		t.Fatalf("message %q", m)
	}
}

// TestConcurrentGuessesBoundedByBurst: many wrong passwords at once from
// one address reach the (slow) password check at most DefaultBurst times;
// the rest get 429 without a check.
func TestConcurrentGuessesBoundedByBurst(t *testing.T) {
	users, err := ParseUsers([]byte("alice:" + string(testHash(t)) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	allow, _ := ParseAllowList("10.0.0.0/8")
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	g, err := New(Config{Listen: "0.0.0.0:9091", Users: users, Allow: allow, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	h := g.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("a wrong password got through") }))
	const n = 20
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := httptest.NewRequest("POST", "/transmission/rpc", nil)
			r.RemoteAddr = "10.0.0.9:1"
			r.SetBasicAuth("alice", "guess")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			codes <- w.Code
		}()
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[401] != DefaultBurst || count[429] != n-DefaultBurst {
		t.Fatalf("statuses %v: want %d checked (401) and %d refused unchecked (429)", count, DefaultBurst, n-DefaultBurst)
	}
}

// tickingClock advances by step at every reading, as a real clock does
// across a bcrypt check.
type tickingClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *tickingClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

// TestSuccessfulLoginsCostNothing: a client that logs in right, again and
// again while time passes, keeps its whole failed-login allowance.
func TestSuccessfulLoginsCostNothing(t *testing.T) {
	users, err := ParseUsers([]byte("alice:" + string(testHash(t)) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	allow, _ := ParseAllowList("10.0.0.0/8")
	clk := &tickingClock{t: time.Unix(1_000_000, 0), step: time.Millisecond}
	g, err := New(Config{Listen: "0.0.0.0:9091", Users: users, Allow: allow, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		serve(t, g, call{from: "10.0.0.1:1", user: "alice", pass: "s3cret", status: 200})
	}
	for i := 0; i < DefaultBurst; i++ {
		serve(t, g, call{from: "10.0.0.1:1", user: "alice", pass: "wrong", status: 401})
	}
	serve(t, g, call{from: "10.0.0.1:1", user: "alice", pass: "s3cret", status: 429})
}
