package refpeer

import (
	"fmt"
	"os/exec"
	"strings"
	"sync"
)

// toolProbe runs a reference program once to learn whether it works and
// its version; every launcher's XAvailable/XVersion pair is one of these.
// Safe from any goroutine.
type toolProbe struct {
	once    sync.Once
	version string
	err     error
}

// check runs path with args once. parse gets the first line of the output
// and returns the version, or false when the line is not the expected
// program's; pkg is the Debian package to name in the error.
func (p *toolProbe) check(path, pkg string, args []string, parse func(first string) (string, bool)) error {
	p.once.Do(func() {
		out, err := exec.Command(path, args...).CombinedOutput()
		first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		v, ok := parse(strings.TrimSpace(first))
		if err != nil || !ok {
			p.err = fmt.Errorf("refpeer: %s %s: %v: %s; install %s (.ci/install-peers.sh)",
				path, strings.Join(args, " "), err, strings.TrimSpace(first), pkg)
			return
		}
		p.version = v
	})
	return p.err
}

// trimPrefix parses "PREFIX VERSION" lines; any first line is accepted.
func trimPrefix(prefix string) func(string) (string, bool) {
	return func(first string) (string, bool) {
		return strings.TrimSpace(strings.TrimPrefix(first, prefix)), true
	}
}
