package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// -md FILE: the run as markdown, for PERF.md (scripts/perf-regen.sh pastes
// several of these together): the command, when and under what load it
// ran, each scenario's table of medians with its notes, and every run's
// figures.

// benchStart and loadAtStart are read when the process starts, so the
// report says what load the run began under.
var (
	benchStart  = time.Now()
	loadAtStart = loadavg()
)

// reportMeta is what the report says about the run itself.
type reportMeta struct {
	command    string
	start      time.Time
	elapsed    time.Duration
	load0      string // /proc/loadavg's 1, 5 and 15 minute figures at start
	load1      string // and at the end
	cpu        string
	cpus       int
	libtorrent string
}

// loadavg is the 1, 5 and 15 minute load averages, "" where unknown.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// commandLine is this run's command as a user would type it, without the
// flags that only name output files (-md, -json).
func commandLine(args []string) string {
	parts := []string{"go run ./cmd/bench"}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch strings.TrimLeft(a, "-") {
		case "md", "json":
			if strings.HasPrefix(a, "-") {
				i++ // and its value
				continue
			}
		}
		if strings.HasPrefix(a, "-md=") || strings.HasPrefix(a, "--md=") || strings.HasPrefix(a, "-json=") || strings.HasPrefix(a, "--json=") {
			continue
		}
		if a == "" || strings.ContainsAny(a, " \t\"'$") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// writeMarkdown writes the report of tables to path.
func writeMarkdown(path string, tables []*table) error {
	m := machine()
	meta := reportMeta{command: commandLine(os.Args[1:]), start: benchStart, elapsed: time.Since(benchStart),
		load0: loadAtStart, load1: loadavg(), cpus: runtime.NumCPU()}
	meta.cpu, _ = m["cpu"].(string)
	meta.libtorrent, _ = m["libtorrent"].(string)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	renderMarkdown(f, meta, tables)
	return f.Close()
}

// renderMarkdown writes the report to w.
func renderMarkdown(w io.Writer, meta reportMeta, tables []*table) {
	fmt.Fprintf(w, "    %s\n\n", meta.command)
	fmt.Fprintf(w, "Run %s UTC, %.0f s; load average (1/5/15 min) %s at the start, %s at the end; %d x %s",
		meta.start.UTC().Format("2006-01-02 15:04"), meta.elapsed.Seconds(), orUnknown(meta.load0), orUnknown(meta.load1),
		meta.cpus, orUnknown(meta.cpu))
	if meta.libtorrent != "" {
		fmt.Fprintf(w, "; libtorrent %s", meta.libtorrent)
	}
	fmt.Fprint(w, ".\n")
	for _, t := range tables {
		fmt.Fprintf(w, "\n%s:\n\n%s", t.title, t.markdown())
		if len(t.notes) > 0 {
			fmt.Fprintln(w)
			for _, n := range t.notes {
				fmt.Fprintf(w, "- %s\n", n)
			}
		}
		if legend, ok := perRunLegend(t.rows); ok {
			fmt.Fprintf(w, "\nPer run, %s:\n\n%s", legend, perRunTable(t.rows))
		}
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// perRunCPU is a run's seeder and leecher CPU-s/GiB, where it has them.
func perRunCPU(s map[string]float64) (seeder, leecher float64, hasSeeder, hasLeecher bool) {
	if v, ok := s["seeder_cpu_per_gib"]; ok {
		seeder, hasSeeder = v, true
	} else if u, ok := s["seeder_user_per_gib"]; ok {
		seeder, hasSeeder = u+s["seeder_sys_per_gib"], true
	}
	leecher, hasLeecher = s["leecher_cpu_per_gib"]
	return
}

// perRunLegend says what perRunCell shows for rows; false when the rows
// have no per-run throughput to show.
func perRunLegend(rows []row) (string, bool) {
	var hasS, hasL, any bool
	for _, r := range rows {
		for _, s := range r.Samples {
			if _, ok := s["mb_per_s"]; !ok {
				continue
			}
			any = true
			_, _, a, b := perRunCPU(s)
			hasS, hasL = hasS || a, hasL || b
		}
	}
	switch {
	case !any:
		return "", false
	case hasS && hasL:
		return "MB/s (seeder / leecher CPU-s per GiB)", true
	case hasS:
		return "MB/s (seeder CPU-s per GiB)", true
	case hasL:
		return "MB/s (leecher CPU-s per GiB)", true
	}
	return "MB/s", true
}

// perRunCell is one run in the per-run table.
func perRunCell(s map[string]float64) string {
	mbps, ok := s["mb_per_s"]
	if !ok {
		return "-"
	}
	seeder, leecher, hasS, hasL := perRunCPU(s)
	switch {
	case hasS && hasL:
		return fmt.Sprintf("%.0f (%.2f / %.2f)", mbps, seeder, leecher)
	case hasS:
		return fmt.Sprintf("%.0f (%.2f)", mbps, seeder)
	case hasL:
		return fmt.Sprintf("%.0f (%.2f)", mbps, leecher)
	}
	return fmt.Sprintf("%.0f", mbps)
}

// perRunTable is one line per row, one column per run.
func perRunTable(rows []row) string {
	runs := 0
	for _, r := range rows {
		runs = max(runs, len(r.Samples))
	}
	var b strings.Builder
	b.WriteString("| case |")
	for i := 1; i <= runs; i++ {
		fmt.Fprintf(&b, " run %d |", i)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", runs) + "\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s |", r.Case)
		for i := 0; i < runs; i++ {
			cell := "-"
			if i < len(r.Samples) {
				cell = perRunCell(r.Samples[i])
			}
			fmt.Fprintf(&b, " %s |", cell)
		}
		b.WriteString("\n")
	}
	return b.String()
}
