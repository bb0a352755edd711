package tracker

// Every error this package returns about a tracker is a *Error carrying an
// ErrorKind; the kinds double as errors.Is targets (as in wire/errors.go):
//
//	errors.Is(err, tracker.ErrFailureReason) // match by kind
//	var te *tracker.Error
//	errors.As(err, &te)                      // the URL, reason, HTTP status
//
// The kinds are what the back-off, the alerts and the status report act on.

import (
	"fmt"
	"strconv"
)

// ErrorKind classifies a tracker error. Safe from any goroutine.
type ErrorKind uint8

// The error kinds; zero is unused.
const (
	// ErrFailureReason: the tracker answered with a "failure reason" (HTTP)
	// or an error action (UDP); Error.Reason holds its text.
	ErrFailureReason ErrorKind = iota + 1
	// ErrBadResponse: the body is not a bencoded dictionary of the expected
	// shape, nests too deep, or a UDP packet is malformed.
	ErrBadResponse
	// ErrBodyTooLarge: an HTTP body above Settings.MaxResponseSize; the
	// rest is not read.
	ErrBodyTooLarge
	// ErrHTTPStatus: an HTTP status other than 200; Error.Status holds it.
	ErrHTTPStatus
	// ErrTooManyRedirects: more than maxRedirects redirects.
	ErrTooManyRedirects
	// ErrTimeout: no answer within the request's deadline.
	ErrTimeout
	// ErrNetwork: the request could not be sent or the connection broke.
	ErrNetwork
	// ErrUnsupportedURL: a scheme other than http, https or udp, or a URL
	// that does not parse; such a tracker is never retried sooner than the
	// longest back-off.
	ErrUnsupportedURL
	// ErrNoScrape: the tracker's announce URL has no scrape convention
	// (its last path segment does not start with "announce").
	ErrNoScrape
)

var kindNames = [...]string{
	ErrFailureReason:    "tracker failure reason",
	ErrBadResponse:      "bad tracker response",
	ErrBodyTooLarge:     "tracker response too large",
	ErrHTTPStatus:       "tracker HTTP status",
	ErrTooManyRedirects: "too many tracker redirects",
	ErrTimeout:          "tracker timed out",
	ErrNetwork:          "tracker network error",
	ErrUnsupportedURL:   "unsupported tracker URL",
	ErrNoScrape:         "tracker does not support scrape",
}

// String returns a short lower-case description. Safe from any goroutine.
func (k ErrorKind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "error kind " + strconv.Itoa(int(k))
}

// Error makes a kind usable as an errors.Is target. Safe from any goroutine.
func (k ErrorKind) Error() string { return "tracker: " + k.String() }

// Error is a failed announce or scrape. Safe from any goroutine (immutable).
type Error struct {
	Kind ErrorKind
	// URL is the tracker's announce URL.
	URL string
	// Reason is the tracker's "failure reason" (ErrFailureReason) or a
	// short detail of what was wrong.
	Reason string
	// Status is the HTTP status code (ErrHTTPStatus).
	Status int
	// Err is the underlying error, if any (a net error, a bencode error).
	Err error
}

func (e *Error) Error() string {
	s := "tracker: " + e.Kind.String()
	if e.URL != "" {
		s = "tracker " + e.URL + ": " + e.Kind.String()
	}
	if e.Status != 0 {
		s += " " + strconv.Itoa(e.Status)
	}
	if e.Reason != "" {
		s += fmt.Sprintf(": %q", e.Reason)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is matches the error's kind.
func (e *Error) Is(target error) bool { k, ok := target.(ErrorKind); return ok && k == e.Kind }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }
