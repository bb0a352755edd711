package main

import (
	"math"
	"strings"
	"testing"
)

// TestGuardVerdict guards the CI guard's arithmetic: it fails beyond the
// margin, passes within it, and never passes a broken measurement.
func TestGuardVerdict(t *testing.T) {
	fig := func(seed, leech float64) map[string]float64 {
		return map[string]float64{"seeder_cpu_per_gib": seed, "leecher_cpu_per_gib": leech}
	}
	lt := fig(1.2, 2.5)
	for _, tc := range []struct {
		name       string
		rows       map[string]map[string]float64
		seedOK     bool
		leechOK    bool
		seedReason string // a substring of the failed seeder check's reason
	}{
		{name: "both better", rows: map[string]map[string]float64{"lt-lt": lt, "st-lt": fig(0.8, 3.0), "lt-st": fig(1.3, 2.0)},
			seedOK: true, leechOK: true},
		{name: "worse within the margin", rows: map[string]map[string]float64{"lt-lt": lt, "st-lt": fig(1.75, 3.0), "lt-st": fig(1.3, 3.7)},
			seedOK: true, leechOK: true},
		{name: "seeder beyond the margin", rows: map[string]map[string]float64{"lt-lt": lt, "st-lt": fig(1.81, 3.0), "lt-st": fig(1.3, 2.0)},
			seedOK: false, leechOK: true},
		{name: "leecher beyond the margin", rows: map[string]map[string]float64{"lt-lt": lt, "st-lt": fig(0.8, 3.0), "lt-st": fig(1.3, 3.8)},
			seedOK: true, leechOK: false},
		{name: "our seeder measured zero", rows: map[string]map[string]float64{"lt-lt": lt, "st-lt": fig(0, 3.0), "lt-st": fig(1.3, 2.0)},
			seedOK: false, leechOK: true, seedReason: "not positive"},
		{name: "libtorrent's seeder negative", rows: map[string]map[string]float64{"lt-lt": fig(-0.1, 2.5), "st-lt": fig(0.8, 3.0), "lt-st": fig(1.3, 2.0)},
			seedOK: false, leechOK: true, seedReason: "not positive"},
		{name: "NaN", rows: map[string]map[string]float64{"lt-lt": lt, "st-lt": fig(math.NaN(), 3.0), "lt-st": fig(1.3, 2.0)},
			seedOK: false, leechOK: true, seedReason: "not positive"},
		{name: "pair missing", rows: map[string]map[string]float64{"lt-lt": lt, "lt-st": fig(1.3, 2.0)},
			seedOK: false, leechOK: true, seedReason: "missing"},
		{name: "libtorrent missing", rows: map[string]map[string]float64{"st-lt": fig(0.8, 3.0), "lt-st": fig(1.3, 2.0)},
			seedOK: false, leechOK: false, seedReason: "missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := guardVerdict(tc.rows, 0.5)
			if len(cs) != 2 || cs[0].what != "seeder" || cs[1].what != "leecher" {
				t.Fatalf("checks = %v, want seeder then leecher", cs)
			}
			if cs[0].ok != tc.seedOK || cs[1].ok != tc.leechOK {
				t.Fatalf("ok = %v/%v, want %v/%v: %v; %v", cs[0].ok, cs[1].ok, tc.seedOK, tc.leechOK, cs[0], cs[1])
			}
			if tc.seedReason != "" && !strings.Contains(cs[0].reason, tc.seedReason) {
				t.Fatalf("seeder reason %q, want it to contain %q", cs[0].reason, tc.seedReason)
			}
			for _, c := range cs {
				s := c.String()
				if want := map[bool]string{true: ": ok", false: "FAIL"}[c.ok]; !strings.Contains(s, want) {
					t.Fatalf("%q does not say %q", s, want)
				}
			}
		})
	}
}

// TestGuardVerdictNamesFigures: a failure message carries both figures and
// the limit, so the CI log alone says what lost and by how much.
func TestGuardVerdictNamesFigures(t *testing.T) {
	cs := guardVerdict(map[string]map[string]float64{
		"lt-lt": {"seeder_cpu_per_gib": 1.00, "leecher_cpu_per_gib": 2.00},
		"st-lt": {"seeder_cpu_per_gib": 2.00, "leecher_cpu_per_gib": 3.00},
		"lt-st": {"seeder_cpu_per_gib": 1.00, "leecher_cpu_per_gib": 1.00},
	}, 0.5)
	got := cs[0].String()
	for _, want := range []string{"our seeder 2.00 CPU-s/GiB", "libtorrent's seeder 1.00", "2.00x", "limit 1.50x", "FAIL"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
}
