package nodecmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
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
// It also reloads the -ip-filter file (ipfilter.go) and the -config file
// (reloadConfig). Called on Run's goroutine only.
func (n *node) reload(ctx context.Context, watchDir string) {
	n.reloadIPFilter(ctx)
	n.reloadConfig(ctx)
	if watchDir == "" {
		n.log.Info("SIGHUP: no -watch directory to re-read")
		return
	}
	before := len(n.order)
	n.scanWatch(ctx, watchDir)
	fmt.Fprintf(n.out, "SIGHUP: re-read %s: %d new torrents\n", watchDir, len(n.order)-before)
	n.log.Info("SIGHUP: re-read watch directory", "dir", watchDir, "new", len(n.order)-before)
}

// reloadConfig reads the -config file again, under the same command line
// (whose flags still win), and applies what changed that can change while
// the node runs: rate limits, the queue, seed limits and the seeding
// choker, unchoke slots, encryption for new connections, ... (the session's
// ApplyRuntimeSettings). A key the running node cannot take (the listen
// address, shards, the state directory, ...) keeps its value, and the node
// says it needs a restart. A file that does not parse, or a bad value,
// changes nothing. Without -config, nothing to do. Called on Run's
// goroutine only.
func (n *node) reloadConfig(ctx context.Context) {
	if n.configFile == "" {
		return
	}
	fs, f := newFlagSet(io.Discard)
	if err := fs.Parse(n.args); err != nil { // it parsed at start
		n.log.Warn("SIGHUP: command line", "err", err)
		return
	}
	if err := applyConfig(fs, n.configFile); err != nil {
		fmt.Fprintf(n.out, "SIGHUP: %v; nothing changed\n", err)
		n.log.Warn("SIGHUP: config file not applied", "err", err)
		return
	}
	*f.ipFilterFile = "" // reloadIPFilter reloads it, from the file named at start
	set, err := settingsFrom(f, io.Discard, io.Discard)
	if err != nil {
		fmt.Fprintf(n.out, "SIGHUP: %s: %v; nothing changed\n", n.configFile, err)
		n.log.Warn("SIGHUP: config file not applied", "file", n.configFile, "err", err)
		return
	}
	// What settingsFrom makes anew each time and what the session found
	// at start are not changes: the logger, the no-op plugins, the
	// listen port, and the IP filter (reloadIPFilter's, from its file).
	cur := n.sess.Settings()
	set.Logger, set.Engine.ListenPort, set.IPFilter = cur.Logger, cur.Engine.ListenPort, cur.IPFilter
	if len(set.Extensions) == len(cur.Extensions) {
		set.Extensions = cur.Extensions
	}
	kept, err := n.sess.ApplyRuntimeSettings(ctx, set)
	if err != nil {
		fmt.Fprintf(n.out, "SIGHUP: %s: %v; nothing changed\n", n.configFile, err)
		n.log.Warn("SIGHUP: config file not applied", "file", n.configFile, "err", err)
		return
	}
	fmt.Fprintf(n.out, "SIGHUP: applied %s\n", n.configFile)
	n.log.Info("SIGHUP: config file applied", "file", n.configFile)
	if len(kept) > 0 {
		fmt.Fprintf(n.out, "SIGHUP: %s: these need a restart and keep their values: %s\n", n.configFile, strings.Join(kept, ", "))
		n.log.Warn("SIGHUP: settings that need a restart kept their values", "settings", strings.Join(kept, ","))
	}
}
