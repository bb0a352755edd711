package nodecmd

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// watchEvery is how often the node rescans its -watch directory by
// itself. Tests lengthen it to see that SIGHUP alone triggers a scan.
var watchEvery = 2 * time.Second

// notifyReload delivers SIGHUP to c until the returned stop is called.
// Tests replace it to feed c themselves rather than signal the test
// process (as notifySignals in exit.go).
var notifyReload = func(c chan<- os.Signal) (stop func()) {
	signal.Notify(c, syscall.SIGHUP)
	return func() { signal.Stop(c) }
}

// reload is the node's answer to SIGHUP: it re-reads the watch directory
// now rather than at the next periodic scan, adding what is new, and says
// so. Without -watch there is nothing to re-read; that is logged too.
// It also reloads the -ip-filter file (ipfilter.go). Called on Run's
// goroutine only.
func (n *node) reload(ctx context.Context, watchDir string) {
	n.reloadIPFilter(ctx)
	if watchDir == "" {
		n.log.Info("SIGHUP: no -watch directory to re-read")
		return
	}
	before := len(n.order)
	n.scanWatch(ctx, watchDir)
	fmt.Fprintf(n.out, "SIGHUP: re-read %s: %d new torrents\n", watchDir, len(n.order)-before)
	n.log.Info("SIGHUP: re-read watch directory", "dir", watchDir, "new", len(n.order)-before)
}
