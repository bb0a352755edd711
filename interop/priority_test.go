//go:build interop

package interop

import (
	"context"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/internal/refpeer"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// prioFiles are three files whose boundaries fall inside pieces of 64 KiB,
// so the skipped middle file shares its first and last piece with the
// files around it.
var prioFiles = map[string]int64{"a.bin": 1_000_003, "b.bin": 700_001, "c.bin": 1_300_007}

// TestFilePrioritiesFromLibtorrent: a session that skips the middle file of
// a three-file torrent downloads the other two from a libtorrent 2.0.8
// seeder, equal to the source, finishes (StateFinished, not seeding), and
// the skipped file does not exist afterwards, not even half-written: the
// bytes of the pieces it shares with its neighbours went to the storage's
// part file.
func TestFilePrioritiesFromLibtorrent(t *testing.T) {
	ctx := setup(t, testTimeout)
	dir := t.TempDir()
	f := makeFixture(t, dir, "data", 0, prioFiles, 64<<10)
	ports := freePorts(t, 1)
	seed := ltSeed(t, ctx, f, ports[0], refpeer.LTOptions{})
	seedAddr, err := netip.ParseAddrPort(seed.Addr())
	if err != nil {
		t.Fatal(err)
	}

	s, err := shardtorrent.NewSession(ctx, shardtorrent.Settings{ListenAddr: "127.0.0.1:0", Shards: 1, AlertMask: plugin.CategoryAll})
	if err != nil {
		t.Fatal(err)
	}
	leechDir := mkdir(t, dir, "leech")
	start := time.Now()
	h, err := s.AddTorrent(ctx, shardtorrent.AddTorrentParams{
		TorrentFile: f.Torrent, SavePath: leechDir, Peers: []netip.AddrPort{seedAddr},
		FilePriorities: []shardtorrent.Priority{shardtorrent.PriorityDefault, shardtorrent.PriorityDontDownload, shardtorrent.PriorityDefault},
	})
	if err != nil {
		t.Fatal(err)
	}
	for finished := false; !finished; {
		if err := s.WaitForAlert(ctx); err != nil {
			st, _ := h.Status(context.Background())
			t.Fatalf("no TorrentFinishedAlert: %v; status %+v", err, st)
		}
		for _, a := range s.PopAlerts() {
			if _, ok := a.(*plugin.TorrentFinishedAlert); ok {
				finished = true
			}
		}
	}
	t.Logf("finished with b.bin skipped in %v", time.Since(start).Round(time.Millisecond))
	st, err := h.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != plugin.StateFinished || st.TotalWantedDone != st.TotalWanted || st.TotalDone >= st.TotalSize {
		t.Fatalf("status after the finish: %+v", st)
	}
	files, err := h.Files(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, fl := range files {
		skipped := strings.HasSuffix(fl.Path, "b.bin")
		if skipped != (fl.Priority == shardtorrent.PriorityDontDownload) || !skipped && fl.Completed != fl.Size {
			t.Fatalf("file %+v", fl)
		}
	}
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(cctx); err != nil {
		t.Fatal(err)
	}

	got, err := refpeer.HashFiles(leechDir)
	if err != nil {
		t.Fatal(err)
	}
	for name := range prioFiles {
		rel := filepath.Join("data", name)
		switch {
		case name == "b.bin":
			if _, err := os.Stat(filepath.Join(leechDir, rel)); !os.IsNotExist(err) {
				t.Errorf("the skipped file exists (%v)", err)
			}
		case got[rel] != f.Hashes[rel]:
			t.Errorf("%s differs from the source", rel)
		}
	}
	var parts []string
	_ = filepath.WalkDir(leechDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(d.Name(), ".parts") {
			parts = append(parts, p)
		}
		return nil
	})
	if len(parts) == 0 {
		t.Errorf("no part file under %s: where did the straddling pieces' bytes of b.bin go?", leechDir)
	}
	t.Logf("part files: %v", parts)
}
