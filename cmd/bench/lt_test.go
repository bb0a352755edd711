package main

import (
	"math"
	"reflect"
	"testing"

	"github.com/shardtorrent/shardtorrent/internal/refpeer"
)

func TestParseLTProfiles(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []ltProfile
		err  bool
	}{
		{"hps", []ltProfile{ltHPS}, false},
		{"high_performance_seed", []ltProfile{ltHPS}, false},
		{"default", []ltProfile{ltDefault}, false},
		{" defaults ", []ltProfile{ltDefault}, false},
		{"both", []ltProfile{ltHPS, ltDefault}, false},
		{"", nil, true},
		{"fast", nil, true},
		{"hps,default", nil, true},
	} {
		got, err := parseLTProfiles(tc.in)
		if (err != nil) != tc.err || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseLTProfiles(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestTransferCases(t *testing.T) {
	both := []ltProfile{ltHPS, ltDefault}
	for _, tc := range []struct {
		name     string
		pairs    []string
		profiles []ltProfile
		want     []string // label/runName
		err      bool
	}{
		{"one profile", []string{"lt-lt", "st-lt"}, []ltProfile{ltHPS},
			[]string{"libtorrent hps -> libtorrent/lt_hps-lt", "shardtorrent -> libtorrent/st-lt"}, false},
		{"both profiles expand libtorrent seeders only", []string{"lt-lt", " lt-st", "st-lt", "st-st"}, both,
			[]string{
				"libtorrent hps -> libtorrent/lt_hps-lt", "libtorrent default -> libtorrent/lt_default-lt",
				"libtorrent hps -> shardtorrent/lt_hps-st", "libtorrent default -> shardtorrent/lt_default-st",
				"shardtorrent -> libtorrent/st-lt", "shardtorrent -> shardtorrent/st-st",
			}, false},
		{"default", []string{"lt-st"}, []ltProfile{ltDefault}, []string{"libtorrent default -> shardtorrent/lt_default-st"}, false},
		{"bad kind", []string{"lt-xx"}, both, nil, true},
		{"no dash", []string{"ltlt"}, both, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := transferCases(tc.pairs, tc.profiles)
			if (err != nil) != tc.err {
				t.Fatalf("error %v, want error %v", err, tc.err)
			}
			var got []string
			for _, c := range cs {
				got = append(got, c.label+"/"+c.runName())
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestLTPeerOpts(t *testing.T) {
	defer func(p []ltProfile) { ltSeedProfiles = p }(ltSeedProfiles)
	for _, tc := range []struct {
		profiles  []ltProfile
		caseProf  ltProfile
		mode      string
		rc4       bool
		wantPerf  bool
		wantForce bool
	}{
		{[]ltProfile{ltHPS}, "", "seed", false, true, false},
		{[]ltProfile{ltHPS}, "", "leech", false, false, false},
		{[]ltProfile{ltDefault}, "", "seed", false, false, false},
		{[]ltProfile{ltHPS, ltDefault}, ltDefault, "seed", false, false, false},
		{[]ltProfile{ltDefault}, ltHPS, "seed", true, true, true},
		{[]ltProfile{ltHPS}, "", "leech", true, false, true},
	} {
		ltSeedProfiles = tc.profiles
		e := &env{ltSeed: tc.caseProf, forcedRC4: tc.rc4}
		o := e.ltPeerOpts(refpeer.LTOptions{Mode: tc.mode, Perf: !tc.wantPerf})
		if o.Perf != tc.wantPerf || (o.Encryption == "forced") != tc.wantForce {
			t.Errorf("%+v: Perf %v Encryption %q; want Perf %v forced %v", tc, o.Perf, o.Encryption, tc.wantPerf, tc.wantForce)
		}
	}
}

func TestTransferRatios(t *testing.T) {
	both := []ltProfile{ltHPS, ltDefault}
	cases, err := transferCases([]string{"lt-lt", "lt-st", "st-lt", "st-st"}, both)
	if err != nil {
		t.Fatal(err)
	}
	fig := func(mbps, seed, leech float64) row {
		return row{Values: map[string]float64{"mb_per_s": mbps, "seeder_cpu_per_gib": seed, "leecher_cpu_per_gib": leech}}
	}
	// In case order: lt hps->lt, lt default->lt, lt hps->st, lt default->st, st->lt, st->st.
	rows := []row{
		fig(300, 1.0, 2.0), fig(200, 2.0, 4.0),
		fig(450, 1.2, 1.0), fig(400, 2.4, 1.0),
		fig(600, 0.5, 2.5), fig(900, 0.3, 1.5),
	}
	transferRatios(rows, cases, both)
	for _, tc := range []struct {
		row  int
		key  string
		want float64 // NaN: absent
	}{
		// Our seeder against each libtorrent seeder, same leecher kind.
		{4, "seeder_mbps_vs_lt_hps", 2.0},
		{4, "seeder_cpu_vs_lt_hps", 0.5},
		{4, "seeder_mbps_vs_lt_default", 3.0},
		{4, "seeder_cpu_vs_lt_default", 0.25},
		{5, "seeder_mbps_vs_lt_hps", 2.0},
		{5, "seeder_cpu_vs_lt_default", 0.125},
		// libtorrent's profiles against each other, never a row against itself.
		{1, "seeder_cpu_vs_lt_hps", 2.0},
		{0, "seeder_cpu_vs_lt_default", 0.5},
		{0, "seeder_cpu_vs_lt_hps", math.NaN()},
		{3, "seeder_mbps_vs_lt_default", math.NaN()},
		// Our leecher against libtorrent's, same seeder case.
		{2, "leecher_mbps_vs_lt", 1.5},
		{2, "leecher_cpu_vs_lt", 0.5},
		{3, "leecher_cpu_vs_lt", 0.25},
		{5, "leecher_mbps_vs_lt", 1.5},
		{5, "leecher_cpu_vs_lt", 0.6},
		{0, "leecher_cpu_vs_lt", math.NaN()},
		{4, "leecher_cpu_vs_lt", math.NaN()},
	} {
		got, ok := rows[tc.row].Values[tc.key]
		switch {
		case math.IsNaN(tc.want) && ok:
			t.Errorf("row %d (%s) %s = %v, want absent", tc.row, cases[tc.row].label, tc.key, got)
		case !math.IsNaN(tc.want) && (!ok || math.Abs(got-tc.want) > 1e-9):
			t.Errorf("row %d (%s) %s = %v (present %v), want %v", tc.row, cases[tc.row].label, tc.key, got, ok, tc.want)
		}
	}
}

func TestTransferRatiosMissingBase(t *testing.T) {
	// One profile, no lt-lt pair: our seeder has no libtorrent seeder to
	// compare with, and a zero baseline gives no ratio.
	cases, err := transferCases([]string{"st-lt", "lt-st"}, []ltProfile{ltHPS})
	if err != nil {
		t.Fatal(err)
	}
	rows := []row{
		{Values: map[string]float64{"mb_per_s": 100, "seeder_cpu_per_gib": 1}},
		{Values: map[string]float64{"mb_per_s": 100, "seeder_cpu_per_gib": 0, "leecher_cpu_per_gib": 1}},
	}
	transferRatios(rows, cases, []ltProfile{ltHPS})
	if _, ok := rows[0].Values["seeder_cpu_vs_lt_hps"]; ok {
		t.Errorf("st-lt has a seeder CPU ratio without lt-lt: %v", rows[0].Values)
	}
	if _, ok := rows[1].Values["leecher_cpu_vs_lt"]; ok {
		t.Errorf("lt-st has a leecher ratio without lt-lt: %v", rows[1].Values)
	}
}
