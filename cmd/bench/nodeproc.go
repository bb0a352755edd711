package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/shardtorrent/shardtorrent/internal/nodecmd"
	"github.com/shardtorrent/shardtorrent/internal/refpeer"
)

// nodeOpts describe one of our nodes run as a child process.
type nodeOpts struct {
	name        string
	listen      string // "" picks a free port on 127.0.0.1; "off" does not listen
	data        string
	torrents    []string
	torrentList string
	peers       []string
	exitDone    bool
	shards      int
	unchoke     int
	noopPlugins int  // -noop-plugins: no-op peer plugins on every connection
	noBuiltins  bool // -builtin-extensions=false
	forcedRC4   bool // -encryption forced -enc-level rc4
	cpuProfile  string
	reportDir   string   // where the -report file goes
	trackers    []string // -tracker
	state       string   // -state: resume data directory
	maxConns    int      // -max-conns (0: the node's default)
	maxPerT     int      // -max-conns-per-torrent (0: the node's default)
}

// nodeProc is a running node with a -report file.
type nodeProc struct {
	*refpeer.Process
	addr   string
	report string
	seq    int
}

// extraNodeFlags is -node-flags: appended to every node's flags.
var extraNodeFlags string

// startNode starts a node. Seeders (exitDone false) are waited for until
// their torrents are added ("ready:"); leechers return at once.
func startNode(ctx context.Context, self string, o nodeOpts) (*nodeProc, error) {
	if o.listen == "" {
		port, err := refpeer.FreePort()
		if err != nil {
			return nil, err
		}
		o.listen = "127.0.0.1:" + strconv.Itoa(port)
	}
	n := &nodeProc{report: filepath.Join(o.reportDir, o.name+".report.json")}
	if o.listen != "off" {
		n.addr = o.listen
	}
	args := []string{childNodeArg, "-listen", o.listen, "-data", o.data, "-status", "0", "-report", n.report, "-log", "warn"}
	if o.torrentList != "" {
		args = append(args, "-torrent-list", o.torrentList)
	}
	for _, p := range o.peers {
		args = append(args, "-peer", p)
	}
	for _, u := range o.trackers {
		args = append(args, "-tracker", u)
	}
	if o.state != "" {
		args = append(args, "-state", o.state)
	}
	if o.exitDone {
		args = append(args, "-exit-when-complete")
	}
	if o.shards > 0 {
		args = append(args, "-shards", strconv.Itoa(o.shards))
	}
	if o.noBuiltins {
		args = append(args, "-builtin-extensions=false")
	}
	if o.noopPlugins > 0 {
		args = append(args, "-noop-plugins", strconv.Itoa(o.noopPlugins))
	}
	if o.forcedRC4 {
		args = append(args, "-encryption", "forced", "-enc-level", "rc4")
	}
	if o.unchoke > 0 {
		args = append(args, "-unchoke-slots", strconv.Itoa(o.unchoke))
	}
	if o.maxConns > 0 {
		args = append(args, "-max-conns", strconv.Itoa(o.maxConns))
	}
	if o.maxPerT > 0 {
		args = append(args, "-max-conns-per-torrent", strconv.Itoa(o.maxPerT))
	}
	if o.cpuProfile != "" {
		args = append(args, "-cpuprofile", o.cpuProfile)
	}
	args = append(args, strings.Fields(extraNodeFlags)...)
	args = append(args, o.torrents...)
	p, err := refpeer.StartProcess(ctx, refpeer.ProcOptions{Name: o.name, Path: self, Args: args, KeepStdin: true})
	if err != nil {
		return nil, err
	}
	n.Process = p
	if !o.exitDone {
		if _, err := p.WaitLine(ctx, "ready: "); err != nil {
			_, _ = p.Stop()
			return nil, fmt.Errorf("%s: %w", o.name, err)
		}
	}
	return n, nil
}

// snapshot makes the node write its report now and returns it.
func (n *nodeProc) snapshot(ctx context.Context) (nodecmd.Report, error) {
	n.seq++
	if err := syscall.Kill(n.Pid(), syscall.SIGUSR1); err != nil {
		return nodecmd.Report{}, err
	}
	if _, err := n.WaitLine(ctx, fmt.Sprintf("report %d written", n.seq)); err != nil {
		return nodecmd.Report{}, err
	}
	return n.readReport()
}

func (n *nodeProc) readReport() (nodecmd.Report, error) {
	var r nodecmd.Report
	b, err := os.ReadFile(n.report)
	if err != nil {
		return r, err
	}
	err = json.Unmarshal(b, &r)
	return r, err
}

// stop ends the node and returns its usage and final report.
func (n *nodeProc) stop() (refpeer.Usage, nodecmd.Report, error) {
	u, err := n.Stop()
	r, rerr := n.readReport()
	if err == nil && (rerr != nil || !r.Final) {
		err = fmt.Errorf("%s: no final report (%v)", n.Name(), rerr)
	}
	return u, r, err
}

// wait waits for a node that exits by itself (a leecher) and returns its
// usage and final report.
func (n *nodeProc) wait(ctx context.Context) (refpeer.Usage, nodecmd.Report, error) {
	u, err := n.Wait(ctx)
	if err != nil {
		return u, nodecmd.Report{}, err
	}
	r, err := n.readReport()
	return u, r, err
}
