package httpguard

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Roots are the directories client paths are confined to (-rpc-roots).
// Safe from any goroutine.
type Roots struct {
	dirs []string // absolute, cleaned, links resolved
}

// NewRoots resolves each dir (absolute, links resolved) and checks that it
// is a directory. Safe from any goroutine.
func NewRoots(dirs []string) (*Roots, error) {
	if len(dirs) == 0 {
		return nil, &ConfigError{Kind: ErrBadRoot, Flag: "-rpc-roots", Detail: "no directory given"}
	}
	r := &Roots{}
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, &ConfigError{Kind: ErrBadRoot, Flag: "-rpc-roots", Detail: d, Err: err}
		}
		real, err := filepath.EvalSymlinks(abs)
		if err != nil {
			return nil, &ConfigError{Kind: ErrBadRoot, Flag: "-rpc-roots", Detail: d, Err: err}
		}
		fi, err := os.Stat(real)
		if err != nil {
			return nil, &ConfigError{Kind: ErrBadRoot, Flag: "-rpc-roots", Detail: d, Err: err}
		}
		if !fi.IsDir() {
			return nil, &ConfigError{Kind: ErrBadRoot, Flag: "-rpc-roots", Detail: d + " is not a directory"}
		}
		r.dirs = append(r.dirs, real)
	}
	return r, nil
}

// Dirs returns the resolved roots; the first is where a client that names
// no directory gets its downloads. Safe from any goroutine.
func (r *Roots) Dirs() []string { return append([]string(nil), r.dirs...) }

// Confine returns where p leads, if that is inside one of the roots: p must
// be absolute; it is cleaned (so ".." is applied to the text), then the
// longest prefix that exists is resolved with filepath.EvalSymlinks and the
// rest appended. The result is what the caller must use from then on.
// Refusals are *PathError: ErrNotAbsolute, ErrOutsideRoots (a ".." or a
// symbolic link leading out), ErrUnresolvable (a dangling or looping link,
// a permission error on the way).
//
// A link made after Confine returns is not seen: the node's storage opens
// data files beneath the save directory without following links
// (storage's RESOLVE_BENEATH), which Confine does not replace.
// Safe from any goroutine.
func (r *Roots) Confine(p string) (string, error) {
	if p == "" || !filepath.IsAbs(p) || strings.IndexByte(p, 0) >= 0 {
		return "", &PathError{Kind: ErrNotAbsolute, Path: p}
	}
	clean := filepath.Clean(p)
	// The longest existing prefix: walk up until Lstat finds something.
	prefix, rest := clean, ""
	for {
		_, err := os.Lstat(prefix)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return "", &PathError{Kind: ErrUnresolvable, Path: p, Err: err}
		}
		parent := filepath.Dir(prefix)
		if parent == prefix { // "/" missing: cannot happen on a live system
			return "", &PathError{Kind: ErrUnresolvable, Path: p, Err: err}
		}
		rest = filepath.Join(filepath.Base(prefix), rest)
		prefix = parent
	}
	real, err := filepath.EvalSymlinks(prefix)
	if err != nil {
		return "", &PathError{Kind: ErrUnresolvable, Path: p, Err: err}
	}
	resolved := filepath.Join(real, rest)
	for _, d := range r.dirs {
		if within(resolved, d) {
			return resolved, nil
		}
	}
	return "", &PathError{Kind: ErrOutsideRoots, Path: p, Resolved: resolved}
}

// within reports whether the cleaned absolute path p is dir or below it.
func within(p, dir string) bool {
	if p == dir || dir == "/" {
		return true
	}
	return strings.HasPrefix(p, dir+string(filepath.Separator))
}

// String lists the roots. Safe from any goroutine.
func (r *Roots) String() string { return fmt.Sprint(r.dirs) }
