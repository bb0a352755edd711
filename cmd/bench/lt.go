package main

import (
	"fmt"
	"strings"

	"github.com/shardtorrent/shardtorrent/internal/refpeer"
)

// libtorrent's configuration in the bench.
//
// Every libtorrent peer runs with the settings of internal/refpeer/lt_peer.py
// (TCP only on 127.0.0.1; DHT, LSD, UPnP, NAT-PMP and uTP off; no rate
// limits; sparse storage). On top of those, a libtorrent seeder runs with
// the profile that is best for that role and a libtorrent leecher with
// libtorrent's defaults:
//
//   - ltHPS: lt.high_performance_seed(), libtorrent 2.0.8's preset for a
//     seed box (src/session.cpp): unchoke everyone, a 3 MiB send-buffer
//     watermark at 150 % with a 1 MiB low watermark, a 512 KiB
//     TCP_NOTSENT_LOWAT, request queues of 1500 out and 2000 in, a 5 MiB
//     receive buffer, 7 MiB of queued disk bytes, 8 aio threads, 2048
//     blocks of checking memory, suggest_read_cache, no allowed-fast set,
//     500 open files, 8000 connections and short timeouts;
//   - ltDefault: libtorrent's defaults.
//
// -lt-profile picks the seeders' profile: hps (the default), default, or
// both, where the transfer scenario runs every pair with a libtorrent
// seeder once per profile, interleaved in the same run, and reports our
// side against each. The guard and the crypto scenario use the first
// profile (hps unless -lt-profile default).

// ltProfile is a libtorrent seeder configuration.
type ltProfile string

const (
	ltHPS     ltProfile = "hps"
	ltDefault ltProfile = "default"
)

// ltSeedProfiles are the seeder profiles of -lt-profile, the first one the
// one every scenario but transfer uses. Set once by flag parsing.
var ltSeedProfiles = []ltProfile{ltHPS}

// parseLTProfiles parses -lt-profile: "hps", "default" or "both".
func parseLTProfiles(s string) ([]ltProfile, error) {
	switch strings.TrimSpace(s) {
	case "hps", "high_performance_seed":
		return []ltProfile{ltHPS}, nil
	case "default", "defaults":
		return []ltProfile{ltDefault}, nil
	case "both":
		return []ltProfile{ltHPS, ltDefault}, nil
	}
	return nil, fmt.Errorf("bad -lt-profile %q (want hps, default or both)", s)
}

// ltSeedProfile is the profile libtorrent seeders of e use now: the one the
// transfer scenario set for the case it runs, else the first of
// -lt-profile.
func (e *env) ltSeedProfile() ltProfile {
	if e.ltSeed != "" {
		return e.ltSeed
	}
	return ltSeedProfiles[0]
}

// ltPeerOpts sets o's role-dependent configuration: a seeder's profile
// (e.ltSeedProfile), a leecher's defaults, and the crypto scenario's
// encryption settings.
func (e *env) ltPeerOpts(o refpeer.LTOptions) refpeer.LTOptions {
	o.Perf = o.Mode == "seed" && e.ltSeedProfile() == ltHPS
	return e.ltEnc(o)
}

// transferCase is one row of the transfer scenario: a pair, and for a
// libtorrent seeder the profile it runs with.
type transferCase struct {
	pair    string    // seeder-leecher as in -pairs, e.g. "lt-st"
	sk, lk  string    // seeder and leecher kind: "lt" or "st"
	profile ltProfile // of a libtorrent seeder; "" for ours
	label   string    // the table's case name
}

// transferCases expands -pairs: a pair with a libtorrent seeder becomes one
// case per profile, in the order given.
func transferCases(pairs []string, profiles []ltProfile) ([]transferCase, error) {
	var cs []transferCase
	for _, p := range pairs {
		p = strings.TrimSpace(p)
		sk, lk, ok := strings.Cut(p, "-")
		if !ok || (sk != "lt" && sk != "st") || (lk != "lt" && lk != "st") {
			return nil, fmt.Errorf("bad pair %q (want e.g. lt-st)", p)
		}
		if sk == "st" {
			cs = append(cs, transferCase{pair: p, sk: sk, lk: lk, label: pairLabel(p)})
			continue
		}
		for _, prof := range profiles {
			cs = append(cs, transferCase{pair: p, sk: sk, lk: lk, profile: prof,
				label: "libtorrent " + string(prof) + " -> " + kindName(lk)})
		}
	}
	return cs, nil
}

func kindName(k string) string {
	if k == "lt" {
		return "libtorrent"
	}
	return "shardtorrent"
}

// runName is the case's name in per-run lines and temporary paths.
func (c transferCase) runName() string {
	if c.profile == "" {
		return c.pair
	}
	return c.sk + "_" + string(c.profile) + "-" + c.lk
}

// Ratio keys the transfer scenario adds to its rows, computed from the
// medians of the same run:
//
//   - seeder_mbps_vs_lt_P, seeder_cpu_vs_lt_P: this row's MB/s and seeder
//     CPU-s/GiB over those of libtorrent's seeder in profile P serving the
//     same kind of leecher (ours against libtorrent's seeder, and a
//     libtorrent seeder in another profile against P);
//   - leecher_mbps_vs_lt, leecher_cpu_vs_lt: an shardtorrent leecher's
//     MB/s and CPU-s/GiB over those of libtorrent's leecher fed by the same
//     seeder case.
//
// A row is not compared with itself.
func ratioKeys(p ltProfile) (mbps, cpu string) {
	return "seeder_mbps_vs_lt_" + string(p), "seeder_cpu_vs_lt_" + string(p)
}

// transferRatios adds the ratio keys to rows (one per case, in order).
func transferRatios(rows []row, cases []transferCase, profiles []ltProfile) {
	find := func(sk string, prof ltProfile, lk string) (map[string]float64, int) {
		for i, c := range cases {
			if c.sk == sk && c.profile == prof && c.lk == lk && i < len(rows) {
				return rows[i].Values, i
			}
		}
		return nil, -1
	}
	ratio := func(v map[string]float64, dst string, ours, theirs map[string]float64, key string) {
		a, ok1 := ours[key]
		b, ok2 := theirs[key]
		if ok1 && ok2 && b > 0 {
			v[dst] = a / b
		}
	}
	for i, c := range cases {
		if i >= len(rows) {
			break
		}
		v := rows[i].Values
		for _, p := range profiles {
			base, j := find("lt", p, c.lk)
			if base == nil || j == i {
				continue
			}
			km, kc := ratioKeys(p)
			ratio(v, km, v, base, "mb_per_s")
			ratio(v, kc, v, base, "seeder_cpu_per_gib")
		}
		if c.lk == "st" {
			if base, _ := find(c.sk, c.profile, "lt"); base != nil {
				ratio(v, "leecher_mbps_vs_lt", v, base, "mb_per_s")
				ratio(v, "leecher_cpu_vs_lt", v, base, "leecher_cpu_per_gib")
			}
		}
	}
}

// ratioColumns are the table columns of transferRatios' keys.
func ratioColumns(profiles []ltProfile) []column {
	var cols []column
	for _, p := range profiles {
		km, kc := ratioKeys(p)
		cols = append(cols,
			column{km, "MB/s vs lt " + string(p) + " seeder", "%.2fx"},
			column{kc, "seeder CPU vs lt " + string(p) + " seeder", "%.2fx"})
	}
	return append(cols,
		column{"leecher_mbps_vs_lt", "MB/s vs lt leecher", "%.2fx"},
		column{"leecher_cpu_vs_lt", "leecher CPU vs lt leecher", "%.2fx"})
}
