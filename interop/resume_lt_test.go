//go:build interop

package interop

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/internal/refpeer"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/resume"
)

// Resume data round trips with libtorrent 2.0.8 (Debian's python3-libtorrent),
// driven by testdata/resume_lt.py. Set SHARDTORRENT_RESUME_FIXTURE=PATH to
// also copy the resume file libtorrent writes in
// TestResumeLibtorrentToOurs to PATH (how resume/testdata's fixture was made).

// resumeFiles is the torrent both tests use: three files, 16 KiB pieces, an
// odd last piece; pieces 0-3 lie in a.bin, 3-8 in b.bin, 8-10 in c/d.bin.
var resumeFiles = map[string]int64{"a.bin": 3*16384 + 100, "b.bin": 5*16384 + 7, "c/d.bin": 2*16384 + 5000}

// ltResumeReport is what resume_lt.py prints.
type ltResumeReport struct {
	Have     []int    `json:"have"`
	States   []string `json:"states"`
	Rejected string   `json:"rejected"`
	Errors   []string `json:"errors"`
}

func runResumeLT(t *testing.T, ctx context.Context, args ...string) ltResumeReport {
	t.Helper()
	cmd := exec.CommandContext(ctx, refpeer.Python, append([]string{"testdata/resume_lt.py"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("resume_lt.py %v: %v\nstdout: %s\nstderr: %s", args, err, out, stderr.String())
	}
	var r ltResumeReport
	if err := json.Unmarshal(bytes.TrimSpace(out), &r); err != nil {
		t.Fatalf("resume_lt.py %v: bad output %q: %v", args, out, err)
	}
	t.Logf("libtorrent (%v): have %v, states %v, rejected %q, errors %v", args[0], r.Have, r.States, r.Rejected, r.Errors)
	return r
}

// damagedCopy recreates the fixture's data under a new save directory and
// damages it: one byte of piece 1 (a.bin) and of piece 5 (b.bin) flipped,
// c/d.bin cut to 10,000 bytes. It returns the save directory.
func damagedCopy(t *testing.T, f fixture, mi *metainfo.MetaInfo) string {
	t.Helper()
	save := mkdir(t, t.TempDir(), "save")
	if err := refpeer.MakeData(filepath.Join(save, f.Name), resumeFiles, 1); err != nil {
		t.Fatal(err)
	}
	flip := func(piece int) {
		off := int64(piece)*mi.Info.PieceLength + 10
		for _, fl := range mi.Info.Files {
			if off >= fl.Offset && off < fl.Offset+fl.Length {
				p := filepath.Join(append([]string{save}, fl.Path...)...)
				fh, err := os.OpenFile(p, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				b := make([]byte, 1)
				if _, err := fh.ReadAt(b, off-fl.Offset); err != nil {
					t.Fatal(err)
				}
				b[0] ^= 0xff
				if _, err := fh.WriteAt(b, off-fl.Offset); err != nil {
					t.Fatal(err)
				}
				fh.Close()
				return
			}
		}
		t.Fatalf("piece %d not in any file", piece)
	}
	flip(1)
	flip(5)
	if err := os.Truncate(filepath.Join(save, f.Name, "c", "d.bin"), 10000); err != nil {
		t.Fatal(err)
	}
	return save
}

// piecesOnDisk hashes every piece of mi under save, our own oracle of which
// pieces are present, independent of both libtorrent and package resume.
func piecesOnDisk(t *testing.T, mi *metainfo.MetaInfo, save string) []bool {
	t.Helper()
	all := make([]byte, mi.Info.TotalLength)
	for _, fl := range mi.Info.Files {
		fh, err := os.Open(filepath.Join(append([]string{save}, fl.Path...)...))
		if err != nil {
			continue // missing: its pieces fail
		}
		_, err = io.ReadFull(fh, all[fl.Offset:fl.Offset+fl.Length])
		fh.Close()
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatal(err)
		}
	}
	have := make([]bool, mi.Info.NumPieces())
	for i := range have {
		off := int64(i) * mi.Info.PieceLength
		have[i] = sha1.Sum(all[off:off+mi.Info.PieceSize(i)]) == mi.Info.Pieces[i]
	}
	return have
}

func indexes(have []bool) []int {
	var out []int
	for i, h := range have {
		if h {
			out = append(out, i)
		}
	}
	return out
}

func resumeFixture(t *testing.T) (fixture, *metainfo.MetaInfo) {
	f := makeFixture(t, t.TempDir(), "resumedata", 0, resumeFiles, 16384)
	mi, err := metainfo.Load(f.Torrent)
	if err != nil {
		t.Fatal(err)
	}
	return f, mi
}

// TestResumeLibtorrentToOurs: libtorrent checks a partly present data
// directory and writes resume data (lt.write_resume_data_buf); our Decode
// reads it and reports exactly the pieces libtorrent has, which are the
// pieces that hash correctly on disk.
func TestResumeLibtorrentToOurs(t *testing.T) {
	ctx := setup(t, testTimeout)
	f, mi := resumeFixture(t)
	save := damagedCopy(t, f, mi)
	onDisk := indexes(piecesOnDisk(t, mi, save))
	if len(onDisk) == 0 || len(onDisk) == mi.Info.NumPieces() {
		t.Fatalf("damaged copy has pieces %v of %d: the test needs some present and some missing", onDisk, mi.Info.NumPieces())
	}
	for _, withInfo := range []bool{true, false} {
		out := filepath.Join(t.TempDir(), "lt.fastresume")
		args := []string{"write", "--torrent", f.Torrent, "--save", save, "--out", out}
		if !withInfo {
			args = append(args, "--no-info")
		}
		r := runResumeLT(t, ctx, args...)
		if !slices.Equal(r.Have, onDisk) {
			t.Fatalf("libtorrent has pieces %v, the disk %v", r.Have, onDisk)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		d, err := resume.Decode(b)
		if err != nil {
			t.Fatalf("Decode of libtorrent's resume data: %v", err)
		}
		var have []int
		for i := range mi.Info.NumPieces() {
			if d.Has(i) {
				have = append(have, i)
			}
		}
		if !slices.Equal(have, r.Have) {
			t.Fatalf("decoded pieces %v, libtorrent has %v", have, r.Have)
		}
		if d.InfoHash != mi.InfoHash || d.SavePath != save || len(d.Pieces) != mi.Info.NumPieces() {
			t.Fatalf("decoded info-hash %v, save path %q, %d pieces", d.InfoHash, d.SavePath, len(d.Pieces))
		}
		if withInfo != bytes.Equal(d.Info, mi.InfoBytes) {
			t.Fatalf("info present = %v, want %v", d.Info != nil, withInfo)
		}
		// Ours re-encodes to what libtorrent reads back the same way.
		if _, err := resume.Encode(d); err != nil {
			t.Fatalf("Encode of decoded libtorrent data: %v", err)
		}
		if p := os.Getenv("SHARDTORRENT_RESUME_FIXTURE"); p != "" && withInfo {
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s: pieces %v of %d", p, have, mi.Info.NumPieces())
		}
	}
}

// TestResumeOursToLibtorrent: resume data from our Encode loads in
// libtorrent (lt.read_resume_data) over the data it describes, and
// libtorrent takes the pieces from it without re-hashing: it reports
// exactly our pieces, including one we mark present whose bytes are
// corrupt, and excluding one we leave out whose bytes are good. A re-check
// would show the disk's pieces instead.
func TestResumeOursToLibtorrent(t *testing.T) {
	ctx := setup(t, testTimeout)
	f, mi := resumeFixture(t)
	save := damagedCopy(t, f, mi)
	onDisk := piecesOnDisk(t, mi, save)
	const lie, omit = 1, 2 // piece 1 is corrupt on disk; piece 2 is good
	if onDisk[lie] || !onDisk[omit] {
		t.Fatalf("fixture changed: on disk %v", indexes(onDisk))
	}
	d := &resume.Data{
		InfoHash:  mi.InfoHash,
		Name:      mi.Info.Name,
		SavePath:  save,
		Pieces:    make([]byte, mi.Info.NumPieces()),
		Info:      mi.InfoBytes,
		AddedTime: time.Now().Unix(),
		Trackers:  [][]string{},
		Files:     make([]resume.FileStat, len(mi.Info.Files)),
	}
	var want []int
	for i, ok := range onDisk {
		if (ok && i != omit) || i == lie {
			d.Pieces[i] = resume.PieceHave | resume.PieceVerified
			want = append(want, i)
		}
	}
	for i, fl := range mi.Info.Files {
		st, err := os.Stat(filepath.Join(append([]string{save}, fl.Path...)...))
		if err != nil {
			t.Fatal(err)
		}
		d.Files[i] = resume.FileStat{Size: st.Size(), MTime: st.ModTime().UnixNano()}
	}
	b, err := resume.Encode(d)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ours.fastresume")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r := runResumeLT(t, ctx, "read", "--resume", p)
	if r.Rejected != "" || len(r.Errors) != 0 {
		t.Fatalf("libtorrent rejected our resume data: %q %v", r.Rejected, r.Errors)
	}
	if slices.Contains(r.States, "checking_files") {
		t.Fatalf("libtorrent re-checked the files (states %v)", r.States)
	}
	if !slices.Equal(r.Have, want) {
		t.Fatalf("libtorrent has pieces %v, our resume data says %v (disk %v)", r.Have, want, indexes(onDisk))
	}
}

// TestResumeLibtorrentFileChecks records what libtorrent 2.0.8 checks of the
// files when it loads resume data, the cases our "shardtorrent-files"
// (size and mtime) exist for: a piece claimed inside a file cut short is
// trusted (no size check of a file that exists), while a missing file gets
// the resume data rejected ("mismatching file size") and a full re-check.
func TestResumeLibtorrentFileChecks(t *testing.T) {
	ctx := setup(t, testTimeout)
	f, mi := resumeFixture(t)
	save := damagedCopy(t, f, mi)
	// Piece 9 lies past the 10,000 bytes left of c/d.bin.
	if start := 9*mi.Info.PieceLength - mi.Info.Files[2].Offset; start < 10000 {
		t.Fatalf("fixture changed: piece 9 starts at byte %d of c/d.bin", start)
	}
	claimed := []int{0, 2, 3, 9}
	write := func() string {
		d := &resume.Data{InfoHash: mi.InfoHash, SavePath: save, Pieces: make([]byte, mi.Info.NumPieces()), Info: mi.InfoBytes}
		for _, i := range claimed {
			d.Pieces[i] = resume.PieceHave | resume.PieceVerified
		}
		b, err := resume.Encode(d)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "ours.fastresume")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	r := runResumeLT(t, ctx, "read", "--resume", write())
	if r.Rejected != "" || slices.Contains(r.States, "checking_files") || !slices.Equal(r.Have, claimed) {
		t.Fatalf("truncated file: libtorrent now checks sizes? have %v (claimed %v), states %v, rejected %q",
			r.Have, claimed, r.States, r.Rejected)
	}

	if err := os.Remove(filepath.Join(save, f.Name, "c", "d.bin")); err != nil {
		t.Fatal(err)
	}
	onDisk := indexes(piecesOnDisk(t, mi, save))
	r = runResumeLT(t, ctx, "read", "--resume", write())
	if r.Rejected == "" || !slices.Contains(r.States, "checking_files") || !slices.Equal(r.Have, onDisk) {
		t.Fatalf("missing file: want rejection and a full re-check finding %v; got have %v, states %v, rejected %q",
			onDisk, r.Have, r.States, r.Rejected)
	}
}

// TestResumeImportQBittorrent: qBittorrent 4.5.2 checks two torrents (one
// complete, one partly present), shuts down, and resume.ImportDir adopts
// its BT_backup directory: both torrents, their save paths, and for each
// exactly the pieces that hash correctly on disk.
func TestResumeImportQBittorrent(t *testing.T) {
	ctx := setup(t, testTimeout)
	dir := t.TempDir()
	qb := newQBittorrent(t, ctx, dir, false)

	partial, pmi := resumeFixture(t)
	psave := damagedCopy(t, partial, pmi)
	full := makeFixture(t, t.TempDir(), "qbcomplete", 3*16384+1, nil, 16384)
	fmi, err := metainfo.Load(full.Torrent)
	if err != nil {
		t.Fatal(err)
	}
	if err := qb.Seed(ctx, full.Torrent, full.SeedDir, full.Info.InfoHash); err != nil {
		t.Fatal(err)
	}
	if err := qb.Add(ctx, refpeer.QBAdd{Torrent: partial.Torrent, SavePath: psave}); err != nil {
		t.Fatal(err)
	}
	if _, err := qb.WaitTorrent(ctx, partial.Info.InfoHash, "check of the partial torrent", func(t refpeer.QBTorrent) bool {
		return t.State == "downloading" || t.State == "stalledDL"
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := qb.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	backup := filepath.Join(dir, "qbittorrent", "qBittorrent", "data", "BT_backup")
	got, errs := resume.ImportDir(backup)
	if len(errs) != 0 || len(got) != 2 {
		ents, _ := os.ReadDir(backup)
		t.Fatalf("imported %d, errors %v (directory %v)", len(got), errs, ents)
	}
	for _, c := range []struct {
		mi   *metainfo.MetaInfo
		save string
	}{{pmi, psave}, {fmi, full.SeedDir}} {
		i := slices.IndexFunc(got, func(im resume.Imported) bool { return im.Data.InfoHash == c.mi.InfoHash })
		if i < 0 {
			t.Fatalf("torrent %s not imported", c.mi.InfoHash)
		}
		im := got[i]
		// qBittorrent 4.5 moves "info" into a .torrent beside the resume file.
		if _, err := os.Stat(strings.TrimSuffix(im.Path, resume.Ext) + ".torrent"); err != nil {
			t.Fatalf("qBittorrent's layout changed: %v", err)
		}
		if filepath.Clean(im.Data.SavePath) != c.save || !bytes.Equal(im.MetaInfo.InfoBytes, c.mi.InfoBytes) ||
			!bytes.Equal(im.Data.Info, c.mi.InfoBytes) {
			t.Fatalf("%s: save path %q (want %q), info matches %v", c.mi.Info.Name, im.Data.SavePath, c.save,
				bytes.Equal(im.MetaInfo.InfoBytes, c.mi.InfoBytes))
		}
		var have []int
		for p := range c.mi.Info.NumPieces() {
			if im.Data.Has(p) {
				have = append(have, p)
			}
		}
		if want := indexes(piecesOnDisk(t, c.mi, c.save)); !slices.Equal(have, want) {
			t.Fatalf("%s: imported pieces %v, on disk %v", c.mi.Info.Name, have, want)
		}
		t.Logf("%s: imported from %s: pieces %v of %d, save path %s", c.mi.Info.Name, filepath.Base(im.Path), have, c.mi.Info.NumPieces(), im.Data.SavePath)
	}
}
