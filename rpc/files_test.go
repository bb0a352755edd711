package rpc_test

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shardtorrent/shardtorrent/metainfo"
)

// TestFileSelection: torrent-add's and torrent-set's files-wanted,
// files-unwanted and priority-* change the engine's file priorities, and
// torrent-get's wanted, priorities, fileStats, sizeWhenDone,
// leftUntilDone, percentDone and percentComplete follow.
func TestFileSelection(t *testing.T) {
	f := newFixture(t, "off")
	// a [0, 20000) and b [20000, 50000), 16 KiB pieces: piece 1 straddles.
	// Piece 3 ([49152, 50000), in b) is corrupt on disk: missing.
	raw := f.multiFileTorrent(29500)
	meta := base64.StdEncoding.EncodeToString(raw)
	res := f.c.call("torrent-add", map[string]any{"metainfo": meta, "files-unwanted": []int{2}}, nil)
	if !strings.Contains(res, "out of range") {
		t.Fatalf("torrent-add with file index 2 of 2: %q", res)
	}
	var a specAdded
	f.c.mustCall("torrent-add", map[string]any{"metainfo": meta, "files-unwanted": []int{1}, "paused": true}, &a)
	id := a.Added.ID
	f.waitFor("checked", func() bool {
		c := f.keysOf(id, []string{"haveValid"})[0]
		return string(c["haveValid"]) == "49152"
	})

	type view struct {
		wanted, prios []int
		statsWanted   []bool
		size, left    int64
		done, compl   float64
	}
	look := func() view {
		t.Helper()
		g := f.get(id, "wanted", "priorities", "fileStats", "sizeWhenDone", "leftUntilDone", "percentDone")[0]
		var v view
		v.wanted, v.prios = g.Wanted, g.Priorities
		for _, s := range g.FileStats {
			v.statsWanted = append(v.statsWanted, s.Wanted)
		}
		v.size, v.left, v.done = *g.SizeWhenDone, *g.LeftUntilDone, *g.PercentDone
		if err := json.Unmarshal(f.keysOf(id, []string{"percentComplete"})[0]["percentComplete"], &v.compl); err != nil {
			t.Fatal(err)
		}
		return v
	}
	set := func(args map[string]any) string {
		args["ids"] = id
		return f.c.call("torrent-set", args, nil)
	}
	v := look()
	// b skipped: pieces 0 and 1 wanted, both had.
	if !slices.Equal(v.wanted, []int{1, 0}) || !slices.Equal(v.prios, []int{0, 0}) || !slices.Equal(v.statsWanted, []bool{true, false}) ||
		v.size != 32768 || v.left != 0 || v.done != 1 || v.compl != 49152.0/50000 {
		t.Fatalf("after torrent-add with b unwanted: %+v", v)
	}
	if res := set(map[string]any{"priority-high": []int{}}); res != "success" {
		t.Fatalf("priority-high: %q", res)
	}
	if v = look(); !slices.Equal(v.prios, []int{1, 0}) || !slices.Equal(v.wanted, []int{1, 0}) {
		t.Fatalf("after priority-high on every file (b skipped, so unchanged): %+v", v)
	}
	if res := set(map[string]any{"files-wanted": []int{1}}); res != "success" {
		t.Fatalf("files-wanted: %q", res)
	}
	if v = look(); !slices.Equal(v.wanted, []int{1, 1}) || !slices.Equal(v.prios, []int{1, 0}) || v.size != 50000 || v.left != 848 {
		t.Fatalf("after files-wanted b: %+v", v)
	}
	if res := set(map[string]any{"priority-low": []int{1}, "priority-normal": []int{0}}); res != "success" {
		t.Fatalf("priority-low: %q", res)
	}
	if v = look(); !slices.Equal(v.prios, []int{0, -1}) {
		t.Fatalf("after priority-low b, normal a: %+v", v)
	}
	for arg, val := range map[string]any{"files-wanted": []int{2}, "files-unwanted": "x", "priority-high": []int{-1}} {
		if res := set(map[string]any{arg: val}); !strings.Contains(res, `argument "`+arg+`"`) {
			t.Errorf("torrent-set %s %v: %q", arg, val, res)
		}
	}
	if v = look(); !slices.Equal(v.wanted, []int{1, 1}) || !slices.Equal(v.prios, []int{0, -1}) {
		t.Fatalf("a refused torrent-set changed the files: %+v", v)
	}
	// A magnet's files are unknown: "every file" cannot be named.
	mag := "magnet:?xt=urn:btih:" + strings.Repeat("ab", 20)
	if res := f.c.call("torrent-add", map[string]any{"filename": mag, "files-unwanted": []int{}, "paused": true}, nil); !strings.Contains(res, "not known yet") {
		t.Fatalf("torrent-add of a magnet with every file unwanted: %q", res)
	}
	f.c.mustCall("torrent-add", map[string]any{"filename": mag, "files-unwanted": []int{3}, "paused": true}, &a)
}

// multiFileTorrent writes the directory "multi" under f.root with files a
// (20,000 bytes) and b (30,000), makes its metainfo with 16 KiB pieces
// (piece 1 straddles a and b), then corrupts b at offset corruptAt, and
// returns the raw .torrent.
func (f *fixture) multiFileTorrent(corruptAt int64) []byte {
	t := f.t
	t.Helper()
	dir := filepath.Join(f.root, "multi")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, size := range map[string]int{"a": 20000, "b": 30000} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i + size)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, _, err := metainfo.Create(dir, metainfo.CreateOptions{PieceLength: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	fh, err := os.OpenFile(filepath.Join(dir, "b"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteAt([]byte("corrupt"), corruptAt); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	return raw
}
