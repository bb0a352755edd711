package dht

import "strconv"

// Every error this package reports (in a DHTErrorAlert or from New) carries
// an ErrorKind; the kinds are errors.Is targets and *Error gives the
// details:
//
//	errors.Is(err, dht.ErrBadState)
//	var de *dht.Error
//	errors.As(err, &de) // de.Op, de.Err

// ErrorKind classifies a DHT error. It implements error so the values are
// errors.Is targets.
type ErrorKind uint8

// The error kinds; zero is unused.
const (
	// ErrSocket: the UDP socket could not be bound, read or written.
	ErrSocket ErrorKind = iota + 1
	// ErrBootstrap: a bootstrap found no node that answered, or none of
	// the bootstrap names resolved.
	ErrBootstrap
	// ErrBadState: saved state (Settings.ExtensionState's "dht.*" keys)
	// did not parse; the bad part was ignored.
	ErrBadState
	// ErrBadResponse: a plugin's DHTRequest.Response could not be
	// bencoded; the querier got a 202 "server error" instead.
	ErrBadResponse
	// ErrBadAddr: AddNode was given something that is not host:port.
	ErrBadAddr
)

var kindNames = [...]string{
	ErrSocket:      "socket",
	ErrBootstrap:   "bootstrap",
	ErrBadState:    "bad saved state",
	ErrBadResponse: "bad plugin response",
	ErrBadAddr:     "bad node address",
}

// String names the kind. Safe from any goroutine.
func (k ErrorKind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "error kind " + strconv.Itoa(int(k))
}

// Error makes a kind usable as an errors.Is target. Safe from any goroutine.
func (k ErrorKind) Error() string { return "dht: " + k.String() }

// Error is a DHT error: what failed (Op, e.g. "bootstrap", "listen",
// "load state", "plugin reply") and why.
type Error struct {
	Kind ErrorKind
	Op   string
	Err  error // the cause, may be nil
}

// Error implements error. Safe from any goroutine.
func (e *Error) Error() string {
	s := "dht: " + e.Op + ": " + e.Kind.String()
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is matches the error's kind. Safe from any goroutine.
func (e *Error) Is(target error) bool { k, ok := target.(ErrorKind); return ok && k == e.Kind }

// Unwrap returns the cause. Safe from any goroutine.
func (e *Error) Unwrap() error { return e.Err }
