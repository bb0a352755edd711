// Package crashpoint kills the process at named points, for crash tests.
//
// A test starts the node with SHARDTORRENT_CRASHPOINT=NAME[:N]; the Nth time
// (default the first) the code passes Hit(NAME), the process sends itself
// SIGKILL: no deferred function, no flush, exactly what a power cut or the
// OOM killer leaves behind. With the variable unset Hit costs one atomic
// load. Names in use are listed where Hit is called (grep "crashpoint.Hit").
package crashpoint

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// Env is the environment variable read once at start-up.
const Env = "SHARDTORRENT_CRASHPOINT"

var (
	armed bool
	name  string
	left  atomic.Int64
)

func init() {
	v := os.Getenv(Env)
	if v == "" {
		return
	}
	name = v
	n := int64(1)
	if i := strings.LastIndexByte(v, ':'); i >= 0 {
		if k, err := strconv.ParseInt(v[i+1:], 10, 64); err == nil && k > 0 {
			name, n = v[:i], k
		}
	}
	left.Store(n)
	armed = true
}

// Hit kills the process with SIGKILL if the armed crash point is point and
// this is its Nth hit. Safe from any goroutine.
func Hit(point string) {
	if !armed || point != name {
		return
	}
	if left.Add(-1) == 0 {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way; never return into the code
	}
}

// Armed reports whether a crash point is set (tests log it).
func Armed() string {
	if !armed {
		return ""
	}
	return name
}
