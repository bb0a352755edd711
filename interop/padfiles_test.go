//go:build interop

package interop

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/internal/refpeer"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// padFiles are three files none of which is a whole number of 64 KiB
// pieces, so libtorrent pads after each one (the last one too).
var padFiles = map[string]int64{"a.bin": 1_000_003, "b.bin": 700_001, "c.bin": 300_007}

// padTorrentScript makes a v1 torrent of argv[1] into argv[2] with pieces of
// argv[3] bytes, its files aligned with BEP 47 pad files: libtorrent's
// v1_only|canonical_files, the layout a hybrid torrent has.
const padTorrentScript = `
import os, sys, libtorrent as lt
path, out, piece = os.path.abspath(sys.argv[1]), sys.argv[2], int(sys.argv[3])
fs = lt.file_storage()
lt.add_files(fs, path)
ct = lt.create_torrent(fs, piece, flags=lt.create_torrent.v1_only | lt.create_torrent.canonical_files)
lt.set_piece_hashes(ct, os.path.dirname(path))
open(out, "wb").write(lt.bencode(ct.generate()))
`

// TestPadFileNumberingFromLibtorrent: in a torrent libtorrent 2.0.8 made
// with pad files (a.bin, pad, b.bin, pad, c.bin, pad), the public API's
// file numbers skip the pads: Files lists three files, SetFilePriority(1)
// skips b.bin (never created), File.NewReader and NewFileReader(i) read
// a.bin and the second half of c.bin from a libtorrent seeder equal to
// the source.
func TestPadFileNumberingFromLibtorrent(t *testing.T) {
	ctx := setup(t, testTimeout)
	dir := t.TempDir()
	seedDir := filepath.Join(dir, "seed")
	if err := refpeer.MakeData(filepath.Join(seedDir, "data"), padFiles, 1); err != nil {
		t.Fatal(err)
	}
	f := fixture{Torrent: filepath.Join(dir, "data.torrent"), SeedDir: seedDir, Name: "data"}
	out, err := exec.CommandContext(ctx, refpeer.Python, "-c", padTorrentScript,
		filepath.Join(seedDir, "data"), f.Torrent, strconv.Itoa(64<<10)).CombinedOutput()
	if err != nil {
		t.Fatalf("making the torrent: %v: %s", err, out)
	}
	mi, err := metainfo.Load(f.Torrent)
	if err != nil {
		t.Fatal(err)
	}
	var pads int
	for _, fi := range mi.Info.Files {
		if fi.IsPad() {
			pads++
		}
	}
	if len(mi.Info.Files) != 6 || pads != 3 || !mi.Info.Files[1].IsPad() {
		t.Fatalf("libtorrent's torrent has files %+v; want a.bin, pad, b.bin, pad, c.bin, pad", mi.Info.Files)
	}
	src := make([][]byte, 3)
	for i, name := range []string{"a.bin", "b.bin", "c.bin"} {
		if src[i], err = os.ReadFile(filepath.Join(seedDir, "data", name)); err != nil {
			t.Fatal(err)
		}
	}
	port := freePorts(t, 1)[0]
	ltSeed(t, ctx, f, port, refpeer.LTOptions{})

	s, err := shardtorrent.NewSession(ctx, shardtorrent.Settings{ListenAddr: "127.0.0.1:0", Shards: 1, AlertMask: plugin.CategoryAll})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(cctx); err != nil {
			t.Error(err)
		}
	}()
	leechDir := mkdir(t, dir, "leech")
	h, err := s.AddTorrent(ctx, shardtorrent.AddTorrentParams{MetaInfo: mi, SavePath: leechDir, Paused: true,
		Peers: []netip.AddrPort{addrPort(port)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.SetFilePriority(ctx, 1, shardtorrent.PriorityDontDownload); err != nil {
		t.Fatal(err)
	}
	files, err := h.Files(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Fatalf("Files lists %d files, want 3: %+v", len(files), files)
	}
	for i, name := range []string{"a.bin", "b.bin", "c.bin"} {
		want := shardtorrent.PriorityDefault
		if i == 1 {
			want = shardtorrent.PriorityDontDownload
		}
		if fl := files[i]; fl.Index != i || fl.Path != filepath.Join("data", name) || fl.Size != int64(len(src[i])) || fl.Priority != want {
			t.Fatalf("Files()[%d] = %+v, want data/%s of %d bytes at priority %d", i, fl, name, len(src[i]), want)
		}
	}
	if err := h.Resume(ctx); err != nil {
		t.Fatal(err)
	}

	// c.bin from its middle, through NewFileReader(2); a.bin through its File.
	r := h.NewFileReader(2)
	defer r.Close()
	mid := int64(len(src[2]) / 2)
	if _, err := r.Seek(mid, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, src[2][mid:]) {
		t.Fatalf("read %d bytes of c.bin from its middle; they differ from the source's %d", len(got), len(src[2][mid:]))
	}
	ra := files[0].NewReader()
	defer ra.Close()
	if got, err = io.ReadAll(ra); err != nil || !bytes.Equal(got, src[0]) {
		t.Fatalf("a.bin through File.NewReader: %d bytes (%v), want the source's %d", len(got), err, len(src[0]))
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
	if _, err := os.Stat(filepath.Join(leechDir, "data", "b.bin")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the skipped b.bin: %v, want it never created", err)
	}
	for _, i := range []int{0, 2} {
		name := filepath.Join(leechDir, files[i].Path)
		if b, err := os.ReadFile(name); err != nil || !bytes.Equal(b, src[i]) {
			t.Errorf("%s: %d bytes (%v), want the source's %d", name, len(b), err, len(src[i]))
		}
	}
}
