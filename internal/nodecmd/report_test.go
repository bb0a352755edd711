package nodecmd

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent"
)

// TestReportAndTorrentList runs a node over a -torrent-list with -report
// until complete and checks the report written at exit.
func TestReportAndTorrentList(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	var list []string
	for _, name := range []string{"a.bin", "b.bin"} {
		if err := os.WriteFile(filepath.Join(data, name), bytes.Repeat([]byte(name), 20_000), 0o644); err != nil {
			t.Fatal(err)
		}
		tor := filepath.Join(dir, name+".torrent")
		var out, errb bytes.Buffer
		if code := Run([]string{"make", "-o", tor, filepath.Join(data, name)}, &out, &errb); code != 0 {
			t.Fatalf("make: %s", errb.String())
		}
		list = append(list, filepath.Base(tor)) // relative to the list file
	}
	listFile := filepath.Join(dir, "list.txt")
	if err := os.WriteFile(listFile, []byte("# torrents\n"+strings.Join(list, "\n")+"\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "report.json")
	var out, errb bytes.Buffer
	code := Run([]string{"-listen", "off", "-data", data, "-status", "0", "-exit-when-complete", "-unchoke-slots", "4",
		"-torrent-list", listFile, "-report", report}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errb.String())
	}
	for _, want := range []string{"ready: 2 torrents added in ", "all torrents complete", "report 1 written to " + report} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if !r.Final || r.Seq != 1 || r.Torrent != 2 || r.Mallocs == 0 || r.MaxRSS == 0 || r.RSS == 0 || r.UserSeconds+r.SysSeconds <= 0 {
		t.Errorf("report %+v", r)
	}
}

// TestReportMallocsExcludesReports: the allocations of writing reports
// are counted in ReportMallocs, so EngineMallocs between two reports of an
// idle node stays near zero while Mallocs moves by a whole report's worth.
func TestReportMallocsExcludesReports(t *testing.T) {
	ctx := context.Background()
	sess, err := shardtorrent.NewSession(ctx, shardtorrent.Settings{ListenAddr: "off", Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close(ctx)
	n := &node{sess: sess, out: io.Discard}
	r := &reporter{path: filepath.Join(t.TempDir(), "report.json"), start: time.Now()}
	read := func() Report {
		t.Helper()
		if err := r.write(ctx, n, false); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(r.path)
		if err != nil {
			t.Fatal(err)
		}
		var rep Report
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	first := read()
	// Only writes in between: reading a report back allocates too, and
	// that is the test's, not the reporter's (about 10 once, in first).
	for range 10 {
		if err := r.write(ctx, n, false); err != nil {
			t.Fatal(err)
		}
	}
	last := read()
	all, engine := last.Mallocs-first.Mallocs, last.EngineMallocs()-first.EngineMallocs()
	t.Logf("11 reports: %d allocations, %d of them not the reporter's", all, engine)
	if all < 11*20 {
		t.Fatalf("11 reports made only %d allocations: the test measures nothing", all)
	}
	if engine > all/10 {
		t.Fatalf("EngineMallocs moved by %d of %d over 11 reports of an idle node: the reports' own allocations are not excluded", engine, all)
	}
}
