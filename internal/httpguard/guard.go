package httpguard

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// IsLoopbackHost reports whether host (an IP literal or a name) is a
// loopback address or "localhost". Safe from any goroutine.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && a.Unmap().IsLoopback()
}

// CheckListen applies the start-up rule: a listener on loopback is always
// allowed; any other address (an empty host, 0.0.0.0 and :: included)
// needs credentials and an allow-list. It returns whether listen is
// loopback. The error is a *ConfigError fit to print as the node's one line.
// Safe from any goroutine.
func CheckListen(listen string, haveCredentials bool, allow []netip.Prefix) (loopback bool, err error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return false, &ConfigError{Kind: ErrBadListen, Flag: "-rpc", Detail: strconv.Quote(listen) + ": want HOST:PORT or off", Err: err}
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return false, &ConfigError{Kind: ErrBadListen, Flag: "-rpc", Detail: strconv.Quote(listen) + ": bad port"}
	}
	if host != "" && !strings.EqualFold(host, "localhost") {
		if _, err := netip.ParseAddr(host); err != nil {
			return false, &ConfigError{Kind: ErrBadListen, Flag: "-rpc", Detail: strconv.Quote(listen) + ": the host must be an IP address or localhost"}
		}
	}
	if IsLoopbackHost(host) {
		return true, nil
	}
	what := host
	if what == "" {
		what = "every address"
	}
	if !haveCredentials {
		return false, &ConfigError{Kind: ErrNeedCredentials, Flag: "-rpc",
			Detail: "refusing to listen on " + what + " (not loopback) without -rpc-auth-file (make one with: node rpc-passwd -user NAME -o FILE) and -rpc-allow CIDR"}
	}
	if len(allow) == 0 {
		return false, &ConfigError{Kind: ErrNeedAllowList, Flag: "-rpc",
			Detail: "refusing to listen on " + what + " (not loopback) without -rpc-allow CIDR[,CIDR...] naming the clients"}
	}
	return false, nil
}

// ParseAllowList parses "CIDR[,CIDR...]", IPv4 and IPv6; a bare IP is a
// single address. The prefixes are masked and IPv4-mapped IPv6 prefixes
// turned into IPv4. Safe from any goroutine.
func ParseAllowList(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		var p netip.Prefix
		var err error
		if strings.Contains(f, "/") {
			p, err = netip.ParsePrefix(f)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(f); err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return nil, &ConfigError{Kind: ErrBadAllowList, Flag: "-rpc-allow", Detail: strconv.Quote(f) + " is not a CIDR or an IP address"}
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	if len(out) == 0 {
		return nil, &ConfigError{Kind: ErrBadAllowList, Flag: "-rpc-allow", Detail: "empty list"}
	}
	return out, nil
}

// Config configures a Guard.
type Config struct {
	// Listen is the listen address, as given to CheckListen.
	Listen string
	// Users, when not nil, are required on every request (HTTP basic auth).
	Users *Users
	// Allow lists the client prefixes let in; on a loopback listener,
	// loopback clients are let in as well.
	Allow []netip.Prefix
	// Burst, Every and MaxTracked set the failed-login limiter (zero:
	// DefaultBurst, DefaultEvery, DefaultMaxTracked).
	Burst      int
	Every      time.Duration
	MaxTracked int
	// Now is the clock (nil: time.Now); tests pass a fake one.
	Now func() time.Time
	// OnRefuse, when not nil, is told of every refused request except
	// ReasonRateLimited ones (a client hammering a limited address would
	// flood it; those are counted in Refused only), on the request's
	// goroutine; the node posts a RefusedAlert.
	OnRefuse func(Refusal)
	// Realm is the basic-auth realm (empty: "shardtorrent").
	Realm string
}

// Reason is why a request was refused.
type Reason uint8

// The reasons, each with its HTTP status.
const (
	// ReasonForbidden: the client is outside the allow-list (403).
	ReasonForbidden Reason = iota
	// ReasonBadHost: no credentials are configured and the Host header is
	// a name other than localhost: a DNS-rebinding page (421).
	ReasonBadHost
	// ReasonNoCredentials: credentials are configured and the request has
	// none (401).
	ReasonNoCredentials
	// ReasonBadCredentials: a wrong user or password (401); costs a token.
	ReasonBadCredentials
	// ReasonRateLimited: the address has no failed-login token left (429);
	// the password is not looked at.
	ReasonRateLimited
	numReasons
)

var reasonNames = [numReasons]string{"forbidden", "bad_host", "no_credentials", "bad_credentials", "rate_limited"}

// String returns the reason's snake_case name (a metrics label). Safe from
// any goroutine.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "reason " + strconv.Itoa(int(r))
}

// Status is the HTTP status a refusal for r answers with. Safe from any
// goroutine.
func (r Reason) Status() int {
	switch r {
	case ReasonForbidden:
		return http.StatusForbidden
	case ReasonBadHost:
		return http.StatusMisdirectedRequest
	case ReasonRateLimited:
		return http.StatusTooManyRequests
	default:
		return http.StatusUnauthorized
	}
}

// Reasons lists every reason, for exporting Guard.Refused as a metric.
func Reasons() []Reason {
	r := make([]Reason, numReasons)
	for i := range r {
		r[i] = Reason(i)
	}
	return r
}

// Refusal describes one refused request.
type Refusal struct {
	Addr   netip.Addr
	Reason Reason
	Method string
	Path   string
	// User is the basic-auth user name sent, if any (never the password).
	User string
}

// Guard wraps the HTTP service's handlers. Safe from any goroutine.
type Guard struct {
	loopback bool
	users    *Users
	allow    []netip.Prefix
	lim      *limiter
	now      func() time.Time
	onRefuse func(Refusal)
	realm    string
	refused  [numReasons]atomic.Uint64
}

// New checks cfg (CheckListen) and returns its Guard. Safe from any
// goroutine.
func New(cfg Config) (*Guard, error) {
	loop, err := CheckListen(cfg.Listen, cfg.Users != nil, cfg.Allow)
	if err != nil {
		return nil, err
	}
	g := &Guard{loopback: loop, users: cfg.Users, allow: cfg.Allow, now: cfg.Now, onRefuse: cfg.OnRefuse, realm: cfg.Realm}
	if g.now == nil {
		g.now = time.Now
	}
	if g.realm == "" {
		g.realm = "shardtorrent"
	}
	burst, every, max := cfg.Burst, cfg.Every, cfg.MaxTracked
	if burst <= 0 {
		burst = DefaultBurst
	}
	if every <= 0 {
		every = DefaultEvery
	}
	if max <= 0 {
		max = DefaultMaxTracked
	}
	g.lim = newLimiter(every, burst, max)
	return g, nil
}

// Refused returns how many requests were refused for r. Safe from any
// goroutine.
func (g *Guard) Refused(r Reason) uint64 {
	if r >= numReasons {
		return 0
	}
	return g.refused[r].Load()
}

// Wrap returns h behind the guard. Safe from any goroutine.
func (g *Guard) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.admit(w, r) {
			h.ServeHTTP(w, r)
		}
	})
}

// admit applies the rules in order (see the package comment) and answers
// a refused request itself.
func (g *Guard) admit(w http.ResponseWriter, r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	// A link-local client's zone (fe80::1%eth0) would keep it out of every
	// prefix: netip.Prefix.Contains never matches a zoned address.
	addr := ap.Addr().Unmap().WithZone("")
	if err != nil || !g.allowed(addr) {
		g.refuse(w, r, addr, ReasonForbidden, "", "client address not allowed\n")
		return false
	}
	if g.users == nil {
		if !hostAllowed(r.Host) {
			g.refuse(w, r, addr, ReasonBadHost, "",
				"Host "+strconv.Quote(r.Host)+" refused: use an IP address or localhost, or set -rpc-auth-file (this guards against DNS rebinding)\n")
			return false
		}
		return true
	}
	key := clientKey(addr)
	if blocked, wait := g.lim.blocked(key, g.now()); blocked {
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		g.refuse(w, r, addr, ReasonRateLimited, "", "too many failed logins from this address: retry in "+strconv.Itoa(secs)+" s\n")
		return false
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+g.realm+`", charset="UTF-8"`)
		g.refuse(w, r, addr, ReasonNoCredentials, "", "authentication required\n")
		return false
	}
	at := g.now()
	res, ok, wait := g.lim.attempt(key, at)
	if !ok { // concurrent attempts spent the last token
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		g.refuse(w, r, addr, ReasonRateLimited, "", "too many failed logins from this address: retry in "+strconv.Itoa(secs)+" s\n")
		return false
	}
	if !g.users.Verify(user, pass) {
		g.lim.failed(key, g.now())
		w.Header().Set("WWW-Authenticate", `Basic realm="`+g.realm+`", charset="UTF-8"`)
		g.refuse(w, r, addr, ReasonBadCredentials, user, "wrong user or password\n")
		return false
	}
	g.lim.refund(res, at)
	return true
}

func (g *Guard) allowed(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	if g.loopback && a.IsLoopback() {
		return true
	}
	for _, p := range g.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// hostAllowed: an empty Host (HTTP/1.0), an IP literal, or localhost, with
// or without a port. A name could be rebound to 127.0.0.1 by its owner.
func hostAllowed(host string) bool {
	if host == "" {
		return true
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	_, err := netip.ParseAddr(h)
	return err == nil
}

func (g *Guard) refuse(w http.ResponseWriter, r *http.Request, addr netip.Addr, why Reason, user, body string) {
	g.refused[why].Add(1)
	if g.onRefuse != nil && why != ReasonRateLimited {
		g.onRefuse(Refusal{Addr: addr, Reason: why, Method: r.Method, Path: r.URL.Path, User: user})
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(why.Status())
	_, _ = w.Write([]byte(body))
}
