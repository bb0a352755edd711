package nodecmd

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// TestPollReadsOnlyOnChange: the node reads every torrent's state when
// StateSeq moved (an add, a pause, a resume) and not otherwise, and the
// status line names the first torrents of the last read with the counts
// of Totals.
func TestPollReadsOnlyOnChange(t *testing.T) {
	ctx := context.Background()
	sess, err := shardtorrent.NewSession(ctx, shardtorrent.Settings{ListenAddr: "off", Shards: 2, DisableDHT: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close(ctx)
	data, list := makeTinyTorrents(t, t.TempDir(), 5)
	var out bytes.Buffer
	n := &node{sess: sess, out: &out, log: slog.New(slog.NewTextHandler(io.Discard, nil)), data: data, seedMode: true,
		byHash: map[metainfo.InfoHash]*tracked{}, watched: map[string]bool{}}
	n.ps.statusOn = true
	b, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range strings.Fields(string(b)) {
		mi, err := metainfo.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.add(ctx, mi, ""); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	if _, done := n.poll(ctx, now, false); done || n.ps.reads != 1 {
		t.Fatalf("first poll: done %v, reads %d", done, n.ps.reads)
	}
	if got := strings.Count(out.String(), "seeding t0000"); got != 5 {
		t.Fatalf("%d torrents reported seeding, want 5:\n%s", got, out.String())
	}
	for range 5 {
		n.poll(ctx, now, false)
	}
	if n.ps.reads != 1 {
		t.Fatalf("%d reads with nothing changed, want 1", n.ps.reads)
	}
	out.Reset()
	n.status()
	want := "status: torrents=5 peers=0 down=0.0MB/s up=0.0MB/s [t00000.bin seeding 100.0%; t00001.bin seeding 100.0%; t00002.bin seeding 100.0%; +2 more]\n"
	if out.String() != want {
		t.Fatalf("status line %q, want %q", out.String(), want)
	}

	// A pause moves StateSeq: the next poll reads, and the one after
	// does not. -exit-when-complete still sees every torrent complete.
	h := n.byHash[n.order[1]].h
	if err := h.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if code, done := n.poll(ctx, now, true); !done || code != 0 || n.ps.reads != 2 {
		t.Fatalf("after a pause: code %d done %v reads %d", code, done, n.ps.reads)
	}
	n.poll(ctx, now, false)
	if n.ps.reads != 2 {
		t.Fatalf("%d reads, want 2", n.ps.reads)
	}
	out.Reset()
	n.status()
	if tot := sess.Totals(); tot.Paused != 1 || tot.Seeding != 4 || !strings.Contains(out.String(), "torrents=5 ") {
		t.Fatalf("status line after a pause %q", out.String())
	}
}

// TestStatusHeadOrder: errors first, then by name; only the first three
// are named.
func TestStatusHeadOrder(t *testing.T) {
	n := &node{byHash: map[metainfo.InfoHash]*tracked{}}
	var sts []shardtorrent.Status
	for i, name := range []string{"e", "b", "d", "a", "c", "f"} {
		var ih metainfo.InfoHash
		ih.V1[0] = byte(i + 1)
		st := shardtorrent.Status{Name: name, InfoHash: ih, State: plugin.StateSeeding, Progress: 1}
		if name == "f" {
			st.Err = io.ErrUnexpectedEOF
		}
		sts = append(sts, st)
		n.byHash[ih] = &tracked{}
	}
	sts = append(sts, shardtorrent.Status{Name: "untracked"})
	if got, want := n.statusHead(sts), "f error: unexpected EOF; a seeding 100.0%; b seeding 100.0%; +3 more"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
	if got := n.statusHead(sts[:2]); got != "b seeding 100.0%; e seeding 100.0%" {
		t.Fatalf("two torrents: %q", got)
	}
}
