package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/internal/nodecmd"
)

// TestMain lets the test binary be the bench's children too: the
// scenarios re-execute their own binary as "__node" and "__loadgen".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case childNodeArg:
			os.Exit(nodecmd.Run(os.Args[2:], os.Stdout, os.Stderr))
		case childLoadgenArg:
			os.Exit(loadgenMain(os.Args[2:], os.Stdout, os.Stderr))
		}
	}
	os.Exit(m.Run())
}

// TestHotScenario runs the hot scenario small: 250 connections (more than
// the node's default 200 per torrent, so the scenario's
// -max-conns-per-torrent must reach the seeder) on a 4 MiB torrent for a
// one-second window. Every connection must handshake, bytes must flow to
// the unchoked ones, and the figures must be consistent with that.
func TestHotScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and a load generator")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const conns = 250
	e := &env{ctx: ctx, self: self, o: options{size: 4 << 20, piece: 256 << 10, runs: 1, conns: conns,
		hotWindow: time.Second, shards: 1, pipeline: 32, order: "random", verify: true, timeout: time.Minute}}
	tb, err := e.hot()
	if err != nil {
		t.Fatal(err)
	}
	if len(tb.rows) != 1 {
		t.Fatalf("%d rows, want 1", len(tb.rows))
	}
	v := tb.rows[0].Values
	t.Logf("%v", v)
	if v["bytes"] <= 0 || v["mb_per_s"] <= 0 {
		t.Fatalf("no bytes flowed: %v", v)
	}
	if v["conns_connected"] != conns || v["conns_failed"] != 0 {
		t.Errorf("%v of %d conns up, %v failed", v["conns_connected"], conns, v["conns_failed"])
	}
	// The default choker: 8 regular slots and 1 optimistic.
	if v["conns_served"] < 1 || v["conns_served"] > 9 || v["conns_unchoked"] < v["conns_served"] {
		t.Errorf("%v conns served, %v unchoked; want 1 to 9 served, at least as many unchoked", v["conns_served"], v["conns_unchoked"])
	}
	if j := v["jain_unchoked"]; j <= 0 || j > 1 {
		t.Errorf("Jain over the unchoked conns %v, want in (0, 1]", j)
	}
	// Over all 250, at most the served share of them can be fair.
	if j := v["jain_all"]; j <= 0 || j > v["conns_served"]/conns+1e-9 {
		t.Errorf("Jain over all conns %v, want in (0, %v]", j, v["conns_served"]/conns)
	}
	if v["latency_p99_ms"] <= 0 || v["latency_p99_ms"] < v["latency_p50_ms"] {
		t.Errorf("latency p50 %v p99 %v ms", v["latency_p50_ms"], v["latency_p99_ms"])
	}
	if v["seeder_cpu_per_gib"] <= 0 || v["loadgen_cpu_per_gib"] <= 0 {
		t.Errorf("CPU per GiB: seeder %v, loadgen %v", v["seeder_cpu_per_gib"], v["loadgen_cpu_per_gib"])
	}
}
