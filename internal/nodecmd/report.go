package nodecmd

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Report is what -report writes: the node's own resource use and payload
// counters, for the benchmark harness. It is written on SIGUSR1 (a
// snapshot) and at exit, each time replacing the file.
type Report struct {
	Seq     int     `json:"seq"`   // 1, 2, ... in the order written
	Final   bool    `json:"final"` // written at exit
	Uptime  float64 `json:"uptime_s"`
	Shards  int     `json:"shards"`
	Torrent int     `json:"torrents"`
	Peers   int     `json:"peers"`
	// Payload bytes this session, summed over torrents.
	BytesUp   int64 `json:"bytes_up"`
	BytesDown int64 `json:"bytes_down"`
	// runtime.MemStats.
	Mallocs    uint64 `json:"mallocs"`
	Frees      uint64 `json:"frees"`
	TotalAlloc uint64 `json:"total_alloc"`
	HeapAlloc  uint64 `json:"heap_alloc"`
	HeapInuse  uint64 `json:"heap_inuse"`
	Sys        uint64 `json:"sys"`
	NumGC      uint32 `json:"num_gc"`
	Goroutines int    `json:"goroutines"`
	// getrusage(RUSAGE_SELF) and /proc/self/statm.
	UserSeconds float64 `json:"user_s"`
	SysSeconds  float64 `json:"sys_s"`
	MaxRSS      int64   `json:"max_rss"`
	RSS         int64   `json:"rss"`
	// Adding the torrents given at start-up (arguments and -torrent-list).
	AddSeconds    float64 `json:"add_s"`
	RSSBeforeAdd  int64   `json:"rss_before_add"`
	RSSAfterAdd   int64   `json:"rss_after_add"`
	HeapBeforeAdd uint64  `json:"heap_before_add"`
	HeapAfterAdd  uint64  `json:"heap_after_add"`
	// MallocsAfterAdd is Mallocs when the torrents were added: a leecher's
	// Mallocs minus this counts its download (and exit), not its start-up.
	MallocsAfterAdd uint64 `json:"mallocs_after_add"`
	// ReportMallocs counts the allocations the reporter itself made before
	// this report's Mallocs was read: every earlier report (the JSON, the
	// file, /proc reads) and this one's status queries. A harness that
	// snapshots the node around a window would otherwise charge its own
	// snapshots to the engine (about 150 allocations each, 0.002 per block
	// of a 1 GiB transfer). Allocations other goroutines make while a
	// report is being written are counted here too; at the engine's rate
	// (about one per 100 blocks) that is well under one per report.
	ReportMallocs uint64 `json:"report_mallocs"`
}

// EngineMallocs is Mallocs without the reporter's own allocations.
func (r Report) EngineMallocs() uint64 { return r.Mallocs - r.ReportMallocs }

// reporter writes reports for -report.
type reporter struct {
	path  string
	start time.Time
	seq   int
	base  Report // the start-up fields
	own   uint64 // allocations made by write so far (Report.ReportMallocs)
}

// currentRSS returns the resident set size from /proc/self/statm.
func currentRSS() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	var pages int64
	_, _ = fmt.Sscan(f[1], &pages)
	return pages * int64(os.Getpagesize())
}

func heapInuse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// mallocs is runtime.MemStats.Mallocs.
func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// write takes a snapshot and replaces the report file with it (through a
// rename, so a reader never sees half a file).
func (r *reporter) write(ctx context.Context, n *node, final bool) error {
	m0 := mallocs()
	defer func() { r.own += mallocs() - m0 }()
	r.seq++
	rep := r.base
	rep.Seq, rep.Final = r.seq, final
	rep.Uptime = time.Since(r.start).Seconds()
	rep.Shards = n.sess.NumShards()
	rep.Torrent = len(n.order)
	for _, ih := range n.order {
		st, err := n.byHash[ih].h.Status(ctx)
		if err != nil {
			continue
		}
		rep.Peers += st.NumPeers
		rep.BytesUp += st.TotalUpload
		rep.BytesDown += st.TotalDownload
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rep.Mallocs, rep.Frees, rep.TotalAlloc = ms.Mallocs, ms.Frees, ms.TotalAlloc
	rep.ReportMallocs = r.own + (ms.Mallocs - m0)
	rep.HeapAlloc, rep.HeapInuse, rep.Sys, rep.NumGC = ms.HeapAlloc, ms.HeapInuse, ms.Sys, ms.NumGC
	rep.Goroutines = runtime.NumGoroutine()
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		rep.UserSeconds = float64(ru.Utime.Sec) + float64(ru.Utime.Usec)/1e6
		rep.SysSeconds = float64(ru.Stime.Sec) + float64(ru.Stime.Usec)/1e6
		rep.MaxRSS = ru.Maxrss * 1024 // KiB on Linux
	}
	rep.RSS = currentRSS()
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	tmp := r.path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, r.path); err != nil {
		return err
	}
	fmt.Fprintf(n.out, "report %d written to %s\n", r.seq, r.path)
	return nil
}

// readTorrentList reads -torrent-list: one .torrent path per line; blank
// lines and lines starting with # are skipped, and relative paths are
// relative to the list's directory.
func readTorrentList(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if !filepath.IsAbs(l) {
			l = filepath.Join(filepath.Dir(path), l)
		}
		out = append(out, l)
	}
	return out, sc.Err()
}
