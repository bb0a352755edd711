package nodecmd

import (
	"errors"
	"flag"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/BurntSushi/toml"
)

// The node's config file (-config FILE) is TOML whose top-level keys are
// the node's flag names, one to one:
//
//	listen = "0.0.0.0:6881"
//	status = "1s"
//	dht = false
//	peer = ["10.0.0.5:6881", "10.0.0.6:6881"]   # a repeatable flag: a list (or one string)
//
// It is applied over the FlagSet itself, with FlagSet.Set, so every
// flag is a key the moment it exists and needs no code here. A flag given
// on the command line wins: the file's value for it is ignored (for a
// repeatable flag, the whole list). An unknown key, a value of the wrong
// TOML type or one the flag refuses stops the node with one line naming
// the key (a *ConfigError).

// ErrConfig is matched by every *ConfigError (errors.Is).
var ErrConfig = errors.New("nodecmd: bad config file")

// ConfigError is a config file the node refuses: Key names the offending
// key ("" for a file that cannot be read or does not parse), Err says why.
// A value, immutable once made: safe from any goroutine.
type ConfigError struct {
	File string
	Key  string
	Err  error
}

// Error is the one line the node prints (after "node: ").
func (e *ConfigError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("-config %s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("-config %s: key %q: %v", e.File, e.Key, e.Err)
}

// Unwrap returns why: a toml.ParseError, an fs error, or the flag's own
// parse error.
func (e *ConfigError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrConfig) true for every ConfigError.
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

// configFlag is the flag that names the config file; the file cannot set
// it.
const configFlag = "config"

// applyConfig sets every flag of fs that the file at path gives a value
// and the command line did not (call it after fs.Parse).
func applyConfig(fs *flag.FlagSet, path string) error {
	var raw map[string]toml.Primitive
	md, err := toml.DecodeFile(path, &raw)
	if err != nil {
		return &ConfigError{File: path, Err: err}
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	// md.Keys is in file order, so the first bad key is the first one
	// reported. Only top-level keys are flags; a table is a top-level key
	// too (of TOML type Hash), so a table's own keys need no check: the
	// table is refused first, as unknown or as a non-string. (The file is
	// decoded into a map, which marks every top-level key decoded, so
	// MetaData.Undecoded cannot tell unknown keys; fs.Lookup does.)
	for _, k := range md.Keys() {
		if len(k) != 1 {
			continue
		}
		name := k[0]
		f := fs.Lookup(name)
		if f == nil {
			return &ConfigError{File: path, Key: name, Err: errors.New("unknown key (keys are the node's flag names; see node -h)")}
		}
		if name == configFlag {
			return &ConfigError{File: path, Key: name, Err: errors.New("a config file cannot name another")}
		}
		vals, err := configValues(&md, raw[name], f)
		if err != nil {
			return &ConfigError{File: path, Key: name, Err: err}
		}
		if onCommandLine[name] {
			continue
		}
		for _, v := range vals {
			// fs.Set, not f.Value.Set: a flag set from the file counts as
			// given (fs.Visit sees it), like one on the command line.
			if err := fs.Set(name, v); err != nil {
				return &ConfigError{File: path, Key: name, Err: fmt.Errorf("invalid value %q: %w", v, err)}
			}
		}
	}
	return nil
}

// configValues turns the TOML value p for flag f into the strings to give
// f.Value.Set, checking the TOML type against the flag's kind: booleans
// for bool flags, integers for integer flags, numbers for float flags, a
// string or a list of strings for a repeatable flag, and a string for
// everything else (durations, addresses, names).
func configValues(md *toml.MetaData, p toml.Primitive, f *flag.Flag) ([]string, error) {
	switch kind := flagKind(f.Value); kind {
	case "bool":
		var b bool
		if err := md.PrimitiveDecode(p, &b); err != nil {
			return nil, errors.New("want true or false")
		}
		return []string{strconv.FormatBool(b)}, nil
	case "int":
		var n int64
		if err := md.PrimitiveDecode(p, &n); err != nil {
			return nil, errors.New("want an integer")
		}
		return []string{strconv.FormatInt(n, 10)}, nil
	case "float":
		var x float64
		if err := md.PrimitiveDecode(p, &x); err != nil {
			return nil, errors.New("want a number")
		}
		return []string{strconv.FormatFloat(x, 'g', -1, 64)}, nil
	case "list":
		var s string
		if err := md.PrimitiveDecode(p, &s); err == nil {
			return []string{s}, nil
		}
		var l []string
		if err := md.PrimitiveDecode(p, &l); err != nil {
			return nil, errors.New("want a string or a list of strings")
		}
		return l, nil
	default:
		var s string
		if err := md.PrimitiveDecode(p, &s); err != nil {
			if kind == "duration" {
				return nil, errors.New(`want a duration as a string, e.g. "1s"`)
			}
			return nil, errors.New("want a string")
		}
		return []string{s}, nil
	}
}

// flagKind classifies a flag's value: "bool", "int", "float", "duration",
// "list" (a repeatable flag: its value is a slice each Set appends to) or
// "string" (anything else Set parses from text).
func flagKind(v flag.Value) string {
	if b, ok := v.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return "bool"
	}
	if g, ok := v.(flag.Getter); ok {
		switch g.Get().(type) {
		case int, int64, uint, uint64:
			return "int"
		case float64:
			return "float"
		case time.Duration:
			return "duration"
		}
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.Elem().Kind() == reflect.Slice {
		return "list"
	}
	return "string"
}
