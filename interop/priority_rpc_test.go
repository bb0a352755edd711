//go:build interop

package interop

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/internal/refpeer"
)

// TestFileSelectionTransmissionRemote: Debian's transmission-remote 3.00
// adds a magnet (libtorrent 2.0.8 seeds it) to a node with "-G 1", so the
// skip is set before the metadata arrives; the node finishes with the
// other two files equal to the source and the skipped one absent, and
// "-if" shows it not wanted. "-g 1" then fetches it, equal to the source,
// and "-ph" shows in "-if".
func TestFileSelectionTransmissionRemote(t *testing.T) {
	ctx := setup(t, 3*time.Minute)
	requireNode(t)
	requireTransmissionRemote(t)
	dir := t.TempDir()
	f := makeFixture(t, mkdir(t, dir, "gamma"), "gamma", 0, prioFiles, 64<<10)
	ports := freePorts(t, 3)
	lt := ltSeed(t, ctx, f, ports[0], refpeer.LTOptions{})
	data := mkdir(t, dir, "data")
	node := startNode(t, ctx, "node", "-listen", loopback(ports[1]), "-dht=false", "-status", "0", "-state", "off",
		"-data", data, "-rpc", loopback(ports[2]))
	if _, err := node.WaitLine(ctx, "rpc listening on "+loopback(ports[2])); err != nil {
		t.Fatal(err)
	}
	client := &specClient{url: "http://" + loopback(ports[2]) + "/transmission/rpc"}
	tr := trRemote{t: t, ctx: ctx, addr: loopback(ports[2])}

	tr.success("-a", "magnet:?xt=urn:btih:"+f.Info.InfoHash+"&dn=gamma&x.pe="+lt.Addr(), "-G", "1")
	x := client.waitTorrent(t, ctx, f.Info.InfoHash, "the wanted files", func(x specTorrent) bool {
		return x.PieceCount > 0 && x.LeftUntilDone == 0 && x.Status == 6
	})
	if x.SizeWhenDone >= x.TotalSize || x.TotalSize != f.Info.TotalSize {
		t.Fatalf("with b.bin skipped: sizeWhenDone %d, totalSize %d (source %d)", x.SizeWhenDone, x.TotalSize, f.Info.TotalSize)
	}
	id := strconv.Itoa(x.ID)
	got, err := refpeer.HashFiles(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.bin", "c.bin"} {
		rel := filepath.Join("gamma", name)
		if got[rel] != f.Hashes[rel] {
			t.Errorf("%s differs from the source", rel)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "gamma", "b.bin")); !os.IsNotExist(err) {
		t.Fatalf("the skipped file exists (%v)", err)
	}
	// -if: "  1:  NN% Normal   No   700.0 kB  gamma/b.bin".
	row := regexp.MustCompile(`(?m)^\s*(\d+):\s+\S+%\s+(\S+)\s+(Yes|No)\s+.*gamma/(\S+)$`)
	files := func() map[string][2]string {
		m := map[string][2]string{}
		for _, r := range row.FindAllStringSubmatch(tr.ok("-t", id, "-if"), -1) {
			m[r[4]] = [2]string{r[2], r[3]}
		}
		return m
	}
	if m := files(); m["a.bin"][1] != "Yes" || m["b.bin"][1] != "No" || m["c.bin"][1] != "Yes" {
		t.Fatalf("-if with b.bin skipped: %v", m)
	}

	tr.success("-t", id, "-g", "1")
	client.waitTorrent(t, ctx, f.Info.InfoHash, "every file", func(x specTorrent) bool {
		return x.SizeWhenDone == x.TotalSize && x.LeftUntilDone == 0 && x.Status == 6
	})
	if got, err = refpeer.HashFiles(data); err != nil {
		t.Fatal(err)
	}
	if err := refpeer.DiffHashes(f.Hashes, got); err != nil {
		t.Fatalf("after -g 1: %v", err)
	}
	tr.success("-t", id, "-ph", "2")
	if m := files(); m["b.bin"][1] != "Yes" || m["c.bin"][0] != "High" || m["a.bin"][0] != "Normal" {
		t.Fatalf("-if after -g 1 and -ph 2: %v", m)
	}
}
