package rpc

import (
	"errors"
	"fmt"
)

// Errors a request can fail with. Each becomes the response's "result"
// string (its Error text); callers of the package match them with
// errors.Is and errors.As.
var (
	// ErrUnknownMethod: the method is not one this server speaks.
	ErrUnknownMethod = errors.New("rpc: method name not recognized")
	// ErrBadRequest is the kind of every *ArgError and of a body that is
	// not a JSON request object.
	ErrBadRequest = errors.New("rpc: bad request")
	// ErrUnsupported is the kind of every *UnsupportedError.
	ErrUnsupported = errors.New("rpc: not supported")
	// ErrOutsideRoots is the kind of a path Config.Confine refused.
	ErrOutsideRoots = errors.New("rpc: path outside the allowed roots")
)

// ArgError is a request argument with a bad value: a wrong type, an id
// that is no id, a path that does not parse.
type ArgError struct {
	Arg    string
	Reason string
}

func (e *ArgError) Error() string { return fmt.Sprintf("invalid argument %q: %s", e.Arg, e.Reason) }

// Is makes errors.Is(err, ErrBadRequest) true.
func (e *ArgError) Is(target error) bool { return target == ErrBadRequest }

// UnsupportedError is an argument the engine cannot honour (yet): refused
// by name rather than silently ignored.
type UnsupportedError struct {
	Arg string
	// Why says what is missing, e.g. "moving a torrent's data is not
	// supported".
	Why string
}

func (e *UnsupportedError) Error() string {
	if e.Why == "" {
		return fmt.Sprintf("argument %q is not supported", e.Arg)
	}
	return fmt.Sprintf("argument %q is not supported: %s", e.Arg, e.Why)
}

// Is makes errors.Is(err, ErrUnsupported) true.
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// PathError is a path argument Config.Confine refused.
type PathError struct {
	Arg  string
	Path string
	Err  error // what Confine returned
}

func (e *PathError) Error() string {
	return fmt.Sprintf("%s %q refused: %v", e.Arg, e.Path, e.Err)
}

// Unwrap returns ErrOutsideRoots and Confine's error.
func (e *PathError) Unwrap() []error { return []error{ErrOutsideRoots, e.Err} }
