package nodecmd

import (
	"context"
	"fmt"

	"github.com/shardtorrent/shardtorrent/ipfilter"
)

// loadIPFilter reads the -ip-filter blocklist (package ipfilter: P2P, DAT
// and CIDR lines, gzip or not). Bad lines are skipped and counted, as
// qBittorrent does; a file that cannot be read or holds no usable line
// fails. The summary line names the file and the figures.
func loadIPFilter(path string) (*ipfilter.Filter, string, error) {
	f, st, err := ipfilter.LoadFile(path)
	if err != nil {
		return nil, "", err
	}
	msg := fmt.Sprintf("ip filter %s: %d ranges loaded from %d rules", path, st.Ranges, st.Rules)
	if st.BadLines > 0 {
		msg += fmt.Sprintf(", %d bad lines skipped (first: %v)", st.BadLines, st.Errors[0])
	}
	return f, msg, nil
}

// reloadIPFilter re-reads -ip-filter on SIGHUP and installs it; a file
// that no longer loads leaves the current filter in place, and says so.
// Called on Run's goroutine only.
func (n *node) reloadIPFilter(ctx context.Context) {
	if n.ipFilter == "" {
		return
	}
	f, msg, err := loadIPFilter(n.ipFilter)
	if err != nil {
		fmt.Fprintf(n.out, "SIGHUP: -ip-filter %s: %v (the previous filter stays)\n", n.ipFilter, err)
		n.log.Warn("SIGHUP: ip filter not reloaded", "file", n.ipFilter, "err", err)
		return
	}
	if err := n.sess.SetIPFilter(ctx, f); err != nil {
		fmt.Fprintf(n.out, "SIGHUP: -ip-filter: %v\n", err)
		return
	}
	fmt.Fprintf(n.out, "SIGHUP: %s\n", msg)
	n.log.Info("SIGHUP: ip filter reloaded", "file", n.ipFilter, "ranges", f.Len())
}
