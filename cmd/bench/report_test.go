package main

import (
	"bytes"
	"testing"
	"time"
)

func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "go run ./cmd/bench"},
		{[]string{"-scenario", "transfer", "-size", "1GiB"}, "go run ./cmd/bench -scenario transfer -size 1GiB"},
		{[]string{"-node-flags", "-max-out-requests 64"}, "go run ./cmd/bench -node-flags '-max-out-requests 64'"},
		{[]string{"-x", "it's"}, `go run ./cmd/bench -x 'it'\''s'`},
		{[]string{""}, "go run ./cmd/bench ''"},
		{[]string{"-md", "/tmp/a.md", "-runs", "3", "-json", "/tmp/a.json"}, "go run ./cmd/bench -runs 3"},
		{[]string{"-md=/tmp/a.md", "--json=x", "-chart", "docs/perf"}, "go run ./cmd/bench -chart docs/perf"},
		{[]string{"-scenario", "md"}, "go run ./cmd/bench -scenario md"},
	} {
		if got := commandLine(tc.args); got != tc.want {
			t.Errorf("commandLine(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

func TestPerRunCell(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    map[string]float64
		want string
	}{
		{"transfer", map[string]float64{"mb_per_s": 315.4, "seeder_cpu_per_gib": 1.054, "leecher_cpu_per_gib": 1.736}, "315 (1.05 / 1.74)"},
		{"seed: user+sys", map[string]float64{"mb_per_s": 2171, "seeder_user_per_gib": 0.1, "seeder_sys_per_gib": 0.4}, "2171 (0.50)"},
		{"leecher only", map[string]float64{"mb_per_s": 10, "leecher_cpu_per_gib": 2}, "10 (2.00)"},
		{"throughput only", map[string]float64{"mb_per_s": 99.5}, "100"},
		{"no throughput", map[string]float64{"rss_mib": 3}, "-"},
	} {
		if got := perRunCell(tc.s); got != tc.want {
			t.Errorf("%s: perRunCell = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestPerRunLegend(t *testing.T) {
	for _, tc := range []struct {
		name    string
		samples []map[string]float64
		want    string
		ok      bool
	}{
		{"both", []map[string]float64{{"mb_per_s": 1, "seeder_cpu_per_gib": 1}, {"mb_per_s": 1, "leecher_cpu_per_gib": 1}}, "MB/s (seeder / leecher CPU-s per GiB)", true},
		{"seeder", []map[string]float64{{"mb_per_s": 1, "seeder_user_per_gib": 1}}, "MB/s (seeder CPU-s per GiB)", true},
		{"leecher", []map[string]float64{{"mb_per_s": 1, "leecher_cpu_per_gib": 1}}, "MB/s (leecher CPU-s per GiB)", true},
		{"throughput", []map[string]float64{{"mb_per_s": 1}}, "MB/s", true},
		{"none", []map[string]float64{{"rss_mib": 1}}, "", false},
		{"no samples", nil, "", false},
	} {
		got, ok := perRunLegend([]row{{Samples: tc.samples}})
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: perRunLegend = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRenderMarkdown(t *testing.T) {
	tb := &table{scenario: "transfer", title: "transfer: 256 MiB",
		cols:  []column{{"mb_per_s", "MB/s", "%.0f"}, {"seeder_cpu_vs_lt_hps", "seeder CPU vs lt hps seeder", "%.2fx"}},
		notes: []string{"CPU in CPU-s per GiB"},
	}
	tb.add("libtorrent hps -> libtorrent", []map[string]float64{
		{"mb_per_s": 300, "seeder_cpu_per_gib": 1.2, "leecher_cpu_per_gib": 2},
		{"mb_per_s": 320, "seeder_cpu_per_gib": 1.0, "leecher_cpu_per_gib": 1.8},
		{"mb_per_s": 310, "seeder_cpu_per_gib": 1.1, "leecher_cpu_per_gib": 1.9},
	}, "")
	r := tb.add("shardtorrent -> libtorrent", []map[string]float64{
		{"mb_per_s": 400, "seeder_cpu_per_gib": 0.5, "leecher_cpu_per_gib": 2},
		{"mb_per_s": 410, "seeder_cpu_per_gib": 0.6, "leecher_cpu_per_gib": 2.1},
	}, "")
	r.Values["seeder_cpu_vs_lt_hps"] = 0.55 / 1.1
	meta := reportMeta{command: "go run ./cmd/bench -scenario transfer", start: time.Date(2026, 12, 6, 22, 30, 0, 0, time.UTC),
		elapsed: 95 * time.Second, load0: "1.00 2.00 3.00", load1: "", cpus: 2, cpu: "Intel(R) Xeon(R) Processor", libtorrent: "2.0.8.0"}
	var b bytes.Buffer
	renderMarkdown(&b, meta, []*table{tb})
	want := "    go run ./cmd/bench -scenario transfer\n\n" +
		"Run 2026-12-06 22:30 UTC, 95 s; load average (1/5/15 min) 1.00 2.00 3.00 at the start, unknown at the end; 2 x Intel(R) Xeon(R) Processor; libtorrent 2.0.8.0.\n" +
		"\ntransfer: 256 MiB:\n\n" +
		"| case | MB/s | seeder CPU vs lt hps seeder |\n|---|---|---|\n" +
		"| libtorrent hps -> libtorrent | 310 | - |\n" +
		"| shardtorrent -> libtorrent | 405 | 0.50x |\n" +
		"\n- CPU in CPU-s per GiB\n" +
		"\nPer run, MB/s (seeder / leecher CPU-s per GiB):\n\n" +
		"| case | run 1 | run 2 | run 3 |\n|---|---|---|---|\n" +
		"| libtorrent hps -> libtorrent | 300 (1.20 / 2.00) | 320 (1.00 / 1.80) | 310 (1.10 / 1.90) |\n" +
		"| shardtorrent -> libtorrent | 400 (0.50 / 2.00) | 410 (0.60 / 2.10) | - |\n"
	if got := b.String(); got != want {
		t.Errorf("renderMarkdown:\n%s\nwant:\n%s", got, want)
	}
}
