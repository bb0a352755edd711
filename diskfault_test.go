package shardtorrent

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/shard"
	"github.com/shardtorrent/shardtorrent/storage"
	"golang.org/x/sys/unix"
)

// makeSeed writes files under a new directory and returns it with their
// torrent (root name: the first path component of the files).
func makeSeed(t *testing.T, root string, files map[string]int, pieceLen int64) (string, *metainfo.MetaInfo) {
	t.Helper()
	src := t.TempDir()
	writeFiles(t, src, files)
	_, mi, err := metainfo.Create(filepath.Join(src, root), metainfo.CreateOptions{PieceLength: pieceLen})
	if err != nil {
		t.Fatal(err)
	}
	return src, mi
}

// alertWaiter collects a session's alerts until conditions hold.
type alertWaiter struct {
	t    *testing.T
	s    *Session
	seen []plugin.Alert
}

// until pops alerts until cond (over everything seen so far) holds.
func (w *alertWaiter) until(d time.Duration, what string, cond func([]plugin.Alert) bool) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for !cond(w.seen) {
		if err := w.s.WaitForAlert(ctx); err != nil {
			var names []string
			for _, a := range w.seen {
				names = append(names, a.Message())
			}
			w.t.Fatalf("%s: not seen within %v; saw %q", what, d, names)
		}
		w.seen = append(w.seen, w.s.PopAlerts()...)
	}
}

func finishedFor(ih metainfo.InfoHash) func([]plugin.Alert) bool {
	return func(as []plugin.Alert) bool {
		for _, a := range as {
			if f, ok := a.(*plugin.TorrentFinishedAlert); ok && f.InfoHash == ih {
				return true
			}
		}
		return false
	}
}

func fileErrorFor(ih metainfo.InfoHash) func([]plugin.Alert) bool {
	return func(as []plugin.Alert) bool {
		for _, a := range as {
			if f, ok := a.(*plugin.FileErrorAlert); ok && f.InfoHash == ih {
				return true
			}
		}
		return false
	}
}

// checkHavePieces proves that no piece the torrent marks present fails a
// re-hash of what is on disk, and returns how many it has.
func checkHavePieces(t *testing.T, h *Torrent, mi *metainfo.MetaInfo) int {
	t.Helper()
	var have []int
	err := h.do(context.Background(), func(x *shard.Torrent) {
		for i := range mi.Info.NumPieces() {
			if x.Handle().HavePiece(i) {
				have = append(have, i)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := h.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s, err := storage.Open(st.SavePath, storage.Layout{PieceLength: mi.Info.PieceLength, TotalLength: mi.Info.TotalLength,
		Files: layoutFiles(&mi.Info)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, i := range have {
		buf := make([]byte, mi.Info.PieceSize(i))
		if _, err := s.ReadAt(buf, i, 0); err != nil {
			t.Fatalf("piece %d marked present: %v", i, err)
		}
		if sha1.Sum(buf) != mi.Info.Pieces[i] {
			t.Fatalf("piece %d marked present fails its hash", i)
		}
	}
	return len(have)
}

func layoutFiles(info *metainfo.Info) []storage.FileSpec {
	var fs []storage.FileSpec
	for _, f := range info.Files {
		fs = append(fs, storage.FileSpec{Path: filepath.Join(f.Path...), Length: f.Length, Pad: strings.Contains(f.Attr, "p")})
	}
	return fs
}

func sameTree(t *testing.T, want, got string, root string) {
	t.Helper()
	w, g := hashTree(t, filepath.Join(want, root)), hashTree(t, filepath.Join(got, root))
	if len(w) != len(g) {
		t.Fatalf("%d files, want %d", len(g), len(w))
	}
	for k, v := range w {
		if g[k] != v {
			t.Fatalf("%s differs", k)
		}
	}
}

// TestDiskFullMidDownload: a download whose disk fills (ENOSPC from the
// fault layer, after a third of its writes) stops in its error state with
// a file error naming the file, keeps every piece it marks present
// verifiable, and leaves the other torrent of the same session
// downloading to the end. Once the fault is cleared, Resume finishes it
// from where it stopped, with identical bytes.
func TestDiskFullMidDownload(t *testing.T) {
	srcA, miA := makeSeed(t, "full", map[string]int{"full/a.bin": 3 << 20, "full/b.bin": 1<<20 + 777}, 64<<10)
	srcB, miB := makeSeed(t, "other.bin", map[string]int{"other.bin": 2<<20 + 5}, 64<<10)
	seeder := newTestSession(t, bufpool.New(), 2)
	leecher := newTestSession(t, bufpool.New(), 2)
	ctx := context.Background()
	defer func() {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = leecher.Close(cctx)
		_ = seeder.Close(cctx)
	}()
	for _, p := range []AddTorrentParams{{MetaInfo: miA, SavePath: srcA}, {MetaInfo: miB, SavePath: srcB}} {
		if _, err := seeder.AddTorrent(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	sw := &alertWaiter{t: t, s: seeder}
	sw.until(30*time.Second, "both seeding", func(as []plugin.Alert) bool {
		n := 0
		for _, a := range as {
			if sc, ok := a.(*plugin.StateChangedAlert); ok && sc.To == plugin.StateSeeding {
				n++
			}
		}
		return n == 2
	})

	dst := t.TempDir()
	peers := []netip.AddrPort{seeder.ListenAddr()}
	hA, err := leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: miA, SavePath: dst, Peers: peers, Paused: true})
	if err != nil {
		t.Fatal(err)
	}
	plan := storage.NewFaultPlan(storage.FaultRule{Op: storage.FaultWrite, After: miA.Info.NumPieces() / 3, Err: unix.ENOSPC})
	if err := hA.do(ctx, func(x *shard.Torrent) { x.Storage().(*storage.FileStorage).SetFaults(plan) }); err != nil {
		t.Fatal(err)
	}
	hB, err := leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: miB, SavePath: dst, Peers: peers})
	if err != nil {
		t.Fatal(err)
	}
	if err := hA.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	lw := &alertWaiter{t: t, s: leecher}
	lw.until(60*time.Second, "A's file error and B finished", func(as []plugin.Alert) bool {
		return fileErrorFor(miA.InfoHash)(as) && finishedFor(miB.InfoHash)(as)
	})
	for _, a := range lw.seen {
		if fe, ok := a.(*plugin.FileErrorAlert); ok && fe.InfoHash == miA.InfoHash {
			if fe.Op != "write" || !errors.Is(fe.Err, unix.ENOSPC) || !strings.HasPrefix(fe.File, "full/") {
				t.Fatalf("file error %+v", fe)
			}
		}
		if te, ok := a.(*plugin.TorrentErrorAlert); ok && te.InfoHash == miB.InfoHash {
			t.Fatalf("the other torrent failed: %v", te.Err)
		}
	}
	st, err := hA.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(st.Err, unix.ENOSPC) || !strings.Contains(st.Err.Error(), "no space left on device") ||
		!strings.HasPrefix(st.ErrorFile, "full/") || st.State != plugin.StateDownloading || !st.Paused || st.NumPeers != 0 || st.Progress >= 1 {
		t.Fatalf("A in its error state: %+v", st)
	}
	had := checkHavePieces(t, hA, miA)
	if had == 0 || had >= miA.Info.NumPieces() {
		t.Fatalf("A has %d of %d pieces at its error", had, miA.Info.NumPieces())
	}
	stB, err := hB.Status(ctx)
	if err != nil || stB.Err != nil || stB.Progress != 1 {
		t.Fatalf("B: %+v, %v", stB, err)
	}
	sameTree(t, srcB, dst, "other.bin")

	// The disk has room again: Resume continues (no check: the pieces
	// written are still there) and finishes.
	hA.do(ctx, func(x *shard.Torrent) { x.Storage().(*storage.FileStorage).SetFaults(nil) })
	if err := hA.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := hA.Status(ctx); st.Err != nil || st.ErrorFile != "" || st.State == plugin.StateCheckingFiles || st.Pieces < had {
		t.Fatalf("after Resume: %+v (had %d)", st, had)
	}
	lw.until(60*time.Second, "A finished after Resume", finishedFor(miA.InfoHash))
	if n := checkHavePieces(t, hA, miA); n != miA.Info.NumPieces() {
		t.Fatalf("A has %d of %d pieces", n, miA.Info.NumPieces())
	}
	sameTree(t, srcA, dst, "full")
}

// TestSeedModeCorruptFileNeverServed: a seeder in seed mode over a file
// with a corrupted piece, and a leecher that also reaches an honest
// seeder: the leecher finishes with identical bytes and never receives a
// corrupted block (no piece of it fails its hash), and the seed-mode
// seeder reports the file (FileErrorAlert, Op "hash").
func TestSeedModeCorruptFileNeverServed(t *testing.T) {
	files := map[string]int{"sm/a.bin": 1 << 20, "sm/b.bin": 1<<20 + 3}
	good, mi := makeSeed(t, "sm", files, 32<<10)
	bad := t.TempDir()
	for name := range files {
		b, err := os.ReadFile(filepath.Join(good, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(bad, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bad, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Corrupt every piece of b.bin in the seed-mode copy: whichever piece
	// the leecher asks it for first, it is a bad one.
	path := filepath.Join(bad, "sm", "b.bin")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(b); i += 4096 {
		b[i] ^= 0x5a
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	smSeeder := newTestSession(t, bufpool.New(), 1)
	honest := newTestSession(t, bufpool.New(), 1)
	leecher := newTestSession(t, bufpool.New(), 1)
	defer func() {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		for _, s := range []*Session{leecher, honest, smSeeder} {
			_ = s.Close(cctx)
		}
	}()
	if _, err := smSeeder.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: bad, SeedMode: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := honest.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: good}); err != nil {
		t.Fatal(err)
	}
	(&alertWaiter{t: t, s: honest}).until(20*time.Second, "the honest seeder checked", func(as []plugin.Alert) bool {
		for _, a := range as {
			if sc, ok := a.(*plugin.StateChangedAlert); ok && sc.To == plugin.StateSeeding {
				return true
			}
		}
		return false
	})
	dst := t.TempDir()
	// The seed-mode seeder first, alone, so that it is asked for pieces of
	// the corrupted file; the honest one once it has reported one.
	h, err := leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: dst, Peers: []netip.AddrPort{smSeeder.ListenAddr()}})
	if err != nil {
		t.Fatal(err)
	}
	sw := &alertWaiter{t: t, s: smSeeder}
	sw.until(30*time.Second, "the seed-mode seeder's file error", fileErrorFor(mi.InfoHash))
	for _, a := range sw.seen {
		if fe, ok := a.(*plugin.FileErrorAlert); ok {
			if fe.Op != "hash" || fe.File != filepath.Join("sm", "b.bin") || !errors.Is(fe.Err, shard.ErrCorruptPiece) {
				t.Fatalf("seed-mode file error %+v", fe)
			}
		}
	}
	if err := h.ConnectPeer(ctx, honest.ListenAddr()); err != nil {
		t.Fatal(err)
	}
	lw := &alertWaiter{t: t, s: leecher}
	lw.until(60*time.Second, "the leecher finished", finishedFor(mi.InfoHash))
	for _, a := range lw.seen {
		if hf, ok := a.(*plugin.HashFailedAlert); ok {
			t.Fatalf("the leecher received a corrupted block: piece %d failed its hash", hf.Piece)
		}
	}
	sameTree(t, good, dst, "sm")
	// What the seed-mode seeder served of b.bin was verified: its upload
	// never included a bad piece (the leecher's zero hash failures), and
	// the a.bin pieces it served passed their lazy hash.
	sw.seen = append(sw.seen, smSeeder.PopAlerts()...)
	var bb bytes.Buffer
	for _, a := range sw.seen {
		if _, ok := a.(*plugin.TorrentErrorAlert); ok {
			bb.WriteString(a.Message())
		}
	}
	if bb.Len() > 0 {
		t.Fatalf("the seed-mode seeder went into an error state: %s", bb.String())
	}
}

// TestTmpfsFullThenFreed is the scenario on a real filesystem: a
// download into a small tmpfs stops with "no space left on device" in its
// error state; once space is freed (a file deleted), Resume finishes it
// in the same process, with identical bytes. Mounting needs root (CI runs
// as root); elsewhere the fault-layer test above covers the same path.
func TestTmpfsFullThenFreed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs (CI runs as root); TestDiskFullMidDownload covers ENOSPC without it")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=4m"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v); TestDiskFullMidDownload covers ENOSPC without it", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	src, mi := makeSeed(t, "big.bin", map[string]int{"big.bin": 3 << 20}, 64<<10)
	ctx := context.Background()
	seeder := newTestSession(t, bufpool.New(), 1)
	leecher := newTestSession(t, bufpool.New(), 1)
	defer func() {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = leecher.Close(cctx)
		_ = seeder.Close(cctx)
	}()
	if _, err := seeder.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src}); err != nil {
		t.Fatal(err)
	}
	(&alertWaiter{t: t, s: seeder}).until(20*time.Second, "seeding", func(as []plugin.Alert) bool {
		for _, a := range as {
			if sc, ok := a.(*plugin.StateChangedAlert); ok && sc.To == plugin.StateSeeding {
				return true
			}
		}
		return false
	})
	h, err := leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: dir, Peers: []netip.AddrPort{seeder.ListenAddr()}})
	if err != nil {
		t.Fatal(err)
	}
	lw := &alertWaiter{t: t, s: leecher}
	lw.until(60*time.Second, "the disk-full error", fileErrorFor(mi.InfoHash))
	st, err := h.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(st.Err, unix.ENOSPC) || !strings.Contains(st.Err.Error(), "no space left on device") || st.ErrorFile != "big.bin" ||
		st.State != plugin.StateDownloading || st.Progress >= 1 {
		t.Fatalf("status on a full tmpfs: %+v", st)
	}
	had := checkHavePieces(t, h, mi)
	t.Logf("stopped at %d of %d pieces: %v", had, mi.Info.NumPieces(), st.Err)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := h.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	lw.until(60*time.Second, "finished after space was freed", finishedFor(mi.InfoHash))
	if n := checkHavePieces(t, h, mi); n != mi.Info.NumPieces() {
		t.Fatalf("%d of %d pieces", n, mi.Info.NumPieces())
	}
	sameTree(t, src, dir, "big.bin")
}
