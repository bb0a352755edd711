//go:build interop

package interop

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestTransmissionRemoteQueue: against a node with -active-seeds 1,
// transmission-remote 3.00's -s queues a torrent (auto-managed:
// "Queued" in -l while the other seed holds the slot), the queue starts it
// once the slot frees (-S of the other), and torrent-start-now runs a
// torrent outside the queue.
func TestTransmissionRemoteQueue(t *testing.T) {
	ctx := setup(t, 2*time.Minute)
	requireNode(t)
	requireTransmissionRemote(t)
	dir := t.TempDir()
	alpha := makeFixture(t, dir, "qa.bin", 1<<20+3, nil, 64<<10)
	beta := makeFixture(t, dir, "qb.bin", 1<<20+5, nil, 64<<10)
	ports := freePorts(t, 2)
	node := startNode(t, ctx, "node", "-listen", loopback(ports[0]), "-dht=false", "-status", "0",
		"-state", filepath.Join(dir, "state"), "-data", alpha.SeedDir, "-rpc", loopback(ports[1]), "-active-seeds", "1")
	if _, err := node.WaitLine(ctx, "rpc listening on "+loopback(ports[1])); err != nil {
		t.Fatal(err)
	}
	client := &specClient{url: "http://" + loopback(ports[1]) + "/transmission/rpc"}
	tr := trRemote{t: t, ctx: ctx, addr: loopback(ports[1])}
	tr.success("-a", alpha.Torrent)
	a := client.waitTorrent(t, ctx, alpha.Info.InfoHash, "seeding", func(x specTorrent) bool { return x.Status == 6 })
	tr.success("--start-paused", "-a", beta.Torrent)
	b := client.waitTorrent(t, ctx, beta.Info.InfoHash, "checked, stopped", func(x specTorrent) bool { return x.PercentDone == 1 && x.Status == 0 })
	ida, idb := strconv.Itoa(a.ID), strconv.Itoa(b.ID)

	// -s under the limit: queued, the slot being alpha's.
	tr.success("-t", idb, "-s")
	b = client.waitTorrent(t, ctx, beta.Info.InfoHash, "queued", func(x specTorrent) bool { return x.Status == 5 })
	if row := findRow(t, parseList(t, tr.ok("-l")), b.ID); row.Status != "Queued" || row.Status != listStatus(b) {
		t.Fatalf("-l after -s with the slot taken: %+v", row)
	}
	// -S of alpha frees the slot: the queue starts beta.
	tr.success("-t", ida, "-S")
	client.waitTorrent(t, ctx, beta.Info.InfoHash, "started by the queue", func(x specTorrent) bool { return x.Status == 6 })
	// torrent-start-now: alpha runs beside beta, outside the queue.
	client.call(t, "torrent-start-now", map[string]any{"ids": []int{a.ID}}, nil)
	client.waitTorrent(t, ctx, alpha.Info.InfoHash, "started now", func(x specTorrent) bool { return x.Status == 6 })
	if x, _ := client.byHash(t, beta.Info.InfoHash); x.Status != 6 {
		t.Fatalf("beta status %d after alpha's start-now, want 6 (still running)", x.Status)
	}
}
