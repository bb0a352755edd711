package shardtorrent

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Limit is a numeric setting (a rate in bytes per second, a count of
// torrents, a time in seconds) that tells apart the three things an
// operator can mean, which a plain int cannot (zero meant "default" for
// every limit before issue 13):
//
//   - unset: the zero Limit; the default applies (Or);
//   - unlimited: no limit at all (Unlimited);
//   - a value: LimitTo(v), v >= 0, where 0 is a real value (for example
//     "no active seeds"); a setting for which 0 means nothing says so and
//     refuses it.
//
// Limits are values: compare them with ==; they and their functions and
// methods are safe from any goroutine.
type Limit struct {
	kind limitKind
	v    int64
}

type limitKind uint8

const (
	limitUnset limitKind = iota
	limitUnlimited
	limitValue
)

// Unlimited is the Limit that imposes no limit.
func Unlimited() Limit { return Limit{kind: limitUnlimited} }

// LimitTo is the Limit v; it panics if v is negative (a programming
// error: parse user input with ParseLimit).
func LimitTo(v int64) Limit {
	if v < 0 {
		panic("shardtorrent: negative Limit")
	}
	return Limit{kind: limitValue, v: v}
}

// IsSet reports whether l is not the zero (unset) Limit.
func (l Limit) IsSet() bool { return l.kind != limitUnset }

// IsUnlimited reports whether l is Unlimited().
func (l Limit) IsUnlimited() bool { return l.kind == limitUnlimited }

// Value returns l's value and true, or 0 and false when l is unset or
// unlimited.
func (l Limit) Value() (int64, bool) { return l.v, l.kind == limitValue }

// Or returns l, or def when l is unset.
func (l Limit) Or(def Limit) Limit {
	if l.kind == limitUnset {
		return def
	}
	return l
}

// String is "unset", "unlimited" or the decimal value.
func (l Limit) String() string {
	switch l.kind {
	case limitUnlimited:
		return "unlimited"
	case limitValue:
		return strconv.FormatInt(l.v, 10)
	}
	return "unset"
}

// ErrBadLimit is wrapped by ParseLimit's errors.
var ErrBadLimit = errors.New("shardtorrent: bad limit")

// ParseLimit parses a limit as people write them: "" is unset;
// "unlimited", "none", "inf" or "-1" is Unlimited; otherwise a
// non-negative decimal number with an optional decimal SI suffix k, M,
// G or T (powers of 1000, case-insensitive, an optional trailing "B" or
// "B/s" ignored: "50M", "1.5G", "100kB/s"). zeroUnlimited makes "0" mean
// Unlimited, as it does for the node's rate flags; otherwise 0 is the
// value 0.
func ParseLimit(s string, zeroUnlimited bool) (Limit, error) {
	t := strings.TrimSpace(s)
	switch strings.ToLower(t) {
	case "":
		return Limit{}, nil
	case "unlimited", "none", "inf", "-1":
		return Unlimited(), nil
	}
	num := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(t, "/s"), "B"), "b")
	mult := 1.0
	if n := len(num); n > 0 {
		switch num[n-1] {
		case 'k', 'K':
			mult = 1e3
		case 'm', 'M':
			mult = 1e6
		case 'g', 'G':
			mult = 1e9
		case 't', 'T':
			mult = 1e12
		}
		if mult != 1 {
			num = num[:n-1]
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || f*mult > 1<<62 || f != f {
		return Limit{}, fmt.Errorf("%w %q: want a number >= 0 with an optional k, M, G or T suffix, or \"unlimited\"", ErrBadLimit, s)
	}
	v := int64(f * mult)
	if v == 0 && zeroUnlimited {
		return Unlimited(), nil
	}
	return LimitTo(v), nil
}
