// Package httpguard is the security layer in front of the node's HTTP
// service (the Transmission RPC, /metrics and the status page): the start-up
// rules for where the service may listen, HTTP basic auth against bcrypt
// hashes, a client allow-list, a per-address limit on failed logins, a
// DNS-rebinding check on loopback, and the confinement of paths a client
// names (download-dir, added files, free-space) to configured roots.
//
// # The rules
//
// Loopback by default. A listener on any other address (0.0.0.0 and :: count
// as other addresses) needs both an auth file and an allow-list; CheckListen
// refuses anything less before anything is started.
//
// Every request passes Guard.ServeHTTP in this order, each step refusing
// before the next one does any work:
//
//  1. allow-list: a client outside it gets 403 (loopback clients are always
//     allowed on a loopback listener);
//  2. without credentials configured (loopback only), the Host header must be
//     an IP literal or localhost, so a web page that rebinds its own DNS name
//     to 127.0.0.1 cannot read the service (421, as Transmission answers);
//  3. with credentials configured: an address over its failed-login limit
//     gets 429 and its password is not looked at; a request without basic
//     auth gets 401; otherwise a token is taken before the password is
//     checked (so one address has at most its burst of bcrypt checks
//     running at once) and given back if the password was right; a wrong
//     user or password gets 401 and the token stays spent.
//
// Failed logins are counted per address (IPv6 per /64, which one host
// usually owns) in a token bucket: DefaultBurst attempts, then one every
// DefaultEvery. At most DefaultMaxTracked addresses are tracked; a full
// bucket is the same as no entry, so those go first, then the entry idle the
// longest.
//
// Bcrypt is deliberately slow (cost 12 is about a quarter of a second) and
// transmission-remote sends its credentials with every request, so the last
// password verified for each user is remembered as an HMAC under a key made
// at start: a request with the same password costs one HMAC. A changed
// password is checked against the hash again.
//
// # What it does not do
//
// The service speaks plain HTTP, as Transmission's does: basic auth
// crosses the network in the clear, so beyond a trusted LAN put a TLS
// reverse proxy in front. Client addresses are the TCP peer's; headers
// such as X-Forwarded-For are not trusted, so behind a proxy the
// allow-list and the failed-login limit see the proxy's address.
//
// # Threading
//
// A Guard, Users, and Roots are safe from any goroutine once built; the
// limiter and the per-user cache take short mutexes, never held across a
// bcrypt comparison. Refusals are counted in atomics (Guard.Refused) and
// reported through Config.OnRefuse, called on the request's goroutine.
//
// # Errors
//
// Configuration and path errors are *ConfigError and *PathError carrying an
// ErrorKind, matchable with errors.Is (the kinds are sentinels) and
// errors.As, in the style of wire/errors.go.
package httpguard
