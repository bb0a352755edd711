package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/shardtorrent/shardtorrent/internal/refpeer"
)

// cryptoCase is one row of the crypto scenario: a transfer pair, encrypted
// (every peer forced to MSE with RC4) or in plaintext.
type cryptoCase struct {
	pair string // seeder-leecher, as -pairs
	rc4  bool
}

// cryptoCases: the two encrypted seeders against the same libtorrent
// leecher (the comparison the encryption issue asks for), then our
// plaintext seeder to the same leecher, which prices the RC4 itself.
var cryptoCases = []cryptoCase{{"lt-lt", true}, {"st-lt", true}, {"st-lt", false}}

// lgConns is the load generator's connections in the crypto scenario: the
// default unchoke slots, so every connection is served.
const lgConns = 8

// crypto: encrypted seeding, ours against libtorrent's, in the same run on
// the same torrent: (a) seeder -> libtorrent leecher with every peer forced
// to RC4 (libtorrent: pe_forced both ways, allowed_enc_level pe_rc4; ours:
// -encryption forced -enc-level rc4), every download verified by SHA-256;
// (b) our seeder to the load generator in plaintext and in RC4.
func (e *env) crypto() (*table, error) {
	o := e.o
	t := &table{scenario: "crypto",
		title: fmt.Sprintf("crypto: %d MiB, piece %d KiB, seeder -> libtorrent leecher, MSE forced RC4 unless marked plaintext, medians of %d runs, loopback TCP",
			o.size>>20, o.piece>>10, o.runs),
		cols: []column{
			{"mb_per_s", "MB/s", "%.0f"}, {"ratio_vs_lt_lt", "vs lt->lt RC4", "%.2fx"},
			{"seeder_cpu_per_gib", "seeder CPU-s/GiB", "%.2f"},
			{"seeder_user_per_gib", "seeder user/GiB", "%.2f"}, {"seeder_sys_per_gib", "seeder sys/GiB", "%.2f"},
			{"leecher_cpu_per_gib", "leecher CPU-s/GiB", "%.2f"},
			{"seeder_allocs_per_block", "seeder allocs/block", "%.3f"},
		},
		chartSpecs: []chartSpec{
			{file: "crypto_mbps.png", title: "ENCRYPTED SEEDING MB/S (HIGHER IS BETTER)", keys: []string{"mb_per_s"}},
			{file: "crypto_cpu.png", title: "SEEDER CPU-S PER GIB (LOWER IS BETTER)", keys: []string{"seeder_cpu_per_gib"}},
		},
	}
	ltErr := refpeer.Available()
	if ltErr != nil {
		fmt.Printf("libtorrent is not available (%v): running our side alone, against the load generator (bash .ci/install-peers.sh installs it)\n", ltErr)
		t.notes = append(t.notes, "libtorrent not installed: only the load-generator rows ran")
	}
	dir, ds, cleanup, err := e.payload("crypto")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	want, err := refpeer.HashFiles(ds.src)
	if err != nil {
		return nil, err
	}
	defer func() { e.forcedRC4 = false }()
	var base float64
	for _, c := range cryptoCases {
		if ltErr != nil {
			break // every pair has a libtorrent leecher
		}
		sk, lk, _ := strings.Cut(c.pair, "-")
		e.forcedRC4 = c.rc4
		label := pairLabel(c.pair) + map[bool]string{true: " (RC4)", false: " (plaintext)"}[c.rc4]
		var samples []map[string]float64
		for r := 0; r < o.runs; r++ {
			dst := filepath.Join(dir, fmt.Sprintf("dl-%s-%v-%d", c.pair, c.rc4, r))
			rctx, cancel := context.WithTimeout(e.ctx, o.timeout)
			s, err := e.transferOnce(rctx, sk, lk, ds.torrents[0], ds.src, dst, dir, o.size, want, "")
			cancel()
			if err != nil {
				return t, fmt.Errorf("%s run %d: %w", label, r+1, err)
			}
			fmt.Printf("  %s run %d: %.0f MB/s, seeder %.2f CPU-s/GiB\n", label, r+1, s["mb_per_s"], s["seeder_cpu_per_gib"])
			samples = append(samples, s)
			_ = removeAll(dst)
		}
		rw := t.add(label, samples, "")
		if c.pair == "lt-lt" && c.rc4 {
			base = rw.Values["mb_per_s"]
		}
	}
	// (b) our seeder to the load generator (lgConns connections), plaintext
	// then RC4 on every connection: the price of the cipher alone, without
	// a libtorrent leecher in the loop.
	for _, rc4 := range []bool{false, true} {
		e.forcedRC4 = rc4
		label := fmt.Sprintf("shardtorrent -> loadgen x%d (%s)", lgConns, map[bool]string{true: "RC4", false: "plaintext"}[rc4])
		var samples []map[string]float64
		for r := 0; r < o.runs; r++ {
			s, err := e.seedOnce(ds, dir, fmt.Sprintf("crypto-lg-%v-run%d", rc4, r+1), lgConns, 0, o.unchoke)
			if err != nil {
				return t, fmt.Errorf("%s run %d: %w", label, r+1, err)
			}
			s["leecher_cpu_per_gib"] = s["loadgen_cpu_per_gib"]
			fmt.Printf("  %s run %d: %.0f MB/s, seeder %.2f CPU-s/GiB\n", label, r+1, s["mb_per_s"], s["seeder_cpu_per_gib"])
			samples = append(samples, s)
		}
		t.add(label, samples, "")
	}
	for i := range t.rows {
		if strings.Contains(t.rows[i].Case, "loadgen") {
			continue // another load: no ratio against libtorrent
		}
		if base > 0 {
			t.rows[i].Values["ratio_vs_lt_lt"] = t.rows[i].Values["mb_per_s"] / base
		}
	}
	for _, r := range t.rows {
		r.Case = strings.NewReplacer("libtorrent", "LT", "shardtorrent", "ST", "plaintext", "PLAIN").Replace(r.Case)
		t.chartRows = append(t.chartRows, r)
	}
	t.notes = append(t.notes,
		"RC4 rows: every peer forced to MSE with RC4 (a plaintext or MSE-plaintext connection is refused), so the whole stream is encrypted",
		"CPU in CPU-s per GiB of payload; allocations per 16 KiB block over the transfer (our seeder only)",
		fmt.Sprintf("loadgen rows: seed-scenario load (%d connections, %s window, seed mode), leecher column = load generator CPU", lgConns, o.duration))
	return t, nil
}

// ltEnc applies the crypto scenario's libtorrent settings to o.
func (e *env) ltEnc(o refpeer.LTOptions) refpeer.LTOptions {
	if e.forcedRC4 {
		o.Encryption, o.EncLevel = "forced", "rc4"
	}
	return o
}
