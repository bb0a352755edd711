package httpguard

import (
	"fmt"
	"strconv"
)

// ErrorKind classifies a configuration or path error. The values implement
// error so they serve as errors.Is targets; the errors returned are
// *ConfigError and *PathError, whose Is methods match their Kind.
type ErrorKind uint8

// The error kinds. Zero is unused so a zero error is recognisably not one.
const (
	// ErrNeedCredentials: a non-loopback listen address without an auth file.
	ErrNeedCredentials ErrorKind = iota + 1
	// ErrNeedAllowList: a non-loopback listen address without an allow-list.
	ErrNeedAllowList
	// ErrBadListen: a listen address that is not HOST:PORT with an IP
	// literal or localhost as HOST.
	ErrBadListen
	// ErrAuthFileMode: an auth file readable or writable by group or others.
	ErrAuthFileMode
	// ErrAuthFileMalformed: an auth file that is not "user:bcrypt-hash"
	// lines (a plaintext password, a weak cost, a duplicate user, nothing).
	ErrAuthFileMalformed
	// ErrBadAllowList: an -rpc-allow entry that is not a CIDR or an IP.
	ErrBadAllowList
	// ErrBadRoot: a root that does not exist or is not a directory.
	ErrBadRoot
	// ErrNotAbsolute: a client path that is empty, relative or holds a NUL.
	ErrNotAbsolute
	// ErrOutsideRoots: a client path that, cleaned and with its symbolic
	// links resolved, is in none of the roots (a ".." or a link escape).
	ErrOutsideRoots
	// ErrUnresolvable: a client path whose existing part cannot be resolved
	// (a dangling or looping link, no permission); refused, since where it
	// leads is unknown.
	ErrUnresolvable
)

var kindNames = [...]string{
	ErrNeedCredentials:   "a non-loopback address needs credentials",
	ErrNeedAllowList:     "a non-loopback address needs an allow-list",
	ErrBadListen:         "bad listen address",
	ErrAuthFileMode:      "auth file readable by group or others",
	ErrAuthFileMalformed: "malformed auth file",
	ErrBadAllowList:      "bad allow-list",
	ErrBadRoot:           "bad root",
	ErrNotAbsolute:       "path not absolute",
	ErrOutsideRoots:      "path outside the allowed roots",
	ErrUnresolvable:      "path cannot be resolved",
}

// String returns a short lower-case description. Safe from any goroutine.
func (k ErrorKind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "error kind " + strconv.Itoa(int(k))
}

// Error makes a kind usable as an errors.Is target. Safe from any goroutine.
func (k ErrorKind) Error() string { return "httpguard: " + k.String() }

// ConfigError is a refused configuration: which flag, and why. Its Error is
// the one line the node prints before exiting 2.
type ConfigError struct {
	Kind ErrorKind
	// Flag is the flag at fault, such as "-rpc-auth-file".
	Flag string
	// Detail says what is wrong and how to fix it.
	Detail string
	// Err is the underlying error, if any.
	Err error
}

// Error implements error. Safe from any goroutine.
func (e *ConfigError) Error() string {
	s := e.Flag + ": " + e.Detail
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is matches the error's Kind. Safe from any goroutine.
func (e *ConfigError) Is(target error) bool { k, ok := target.(ErrorKind); return ok && k == e.Kind }

// Unwrap returns the underlying error. Safe from any goroutine.
func (e *ConfigError) Unwrap() error { return e.Err }

// PathError is a client path refused by Roots.Confine.
type PathError struct {
	Kind ErrorKind
	// Path is the path as the client gave it.
	Path string
	// Resolved is where it leads (cleaned, links resolved), when known.
	Resolved string
	// Err is the underlying error (ErrUnresolvable), if any.
	Err error
}

// Error implements error; it names the path, which the client sent, so it
// is fit to return to that client. Safe from any goroutine.
func (e *PathError) Error() string {
	switch {
	case e.Err != nil:
		return fmt.Sprintf("%s: %q: %v", e.Kind, e.Path, e.Err)
	case e.Resolved != "" && e.Resolved != e.Path:
		return fmt.Sprintf("%s: %q (resolves to %q)", e.Kind, e.Path, e.Resolved)
	default:
		return fmt.Sprintf("%s: %q", e.Kind, e.Path)
	}
}

// Is matches the error's Kind. Safe from any goroutine.
func (e *PathError) Is(target error) bool { k, ok := target.(ErrorKind); return ok && k == e.Kind }

// Unwrap returns the underlying error. Safe from any goroutine.
func (e *PathError) Unwrap() error { return e.Err }
