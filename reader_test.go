package shardtorrent

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// streamFixture is a three-file torrent over generated data.
type streamFixture struct {
	src   string // the seeder's save path
	mi    *metainfo.MetaInfo
	files [][]byte // each file's bytes, in the torrent's order
	all   []byte   // the files end to end
}

func newStreamFixture(t *testing.T) streamFixture {
	t.Helper()
	src := t.TempDir()
	names := []string{"s/a.bin", "s/b.bin", "s/c.bin"}
	writeFiles(t, src, map[string]int{names[0]: 300_001, names[1]: 1_000_003, names[2]: 200_000})
	_, mi, err := metainfo.Create(filepath.Join(src, "s"), metainfo.CreateOptions{PieceLength: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	f := streamFixture{src: src, mi: mi}
	for _, fi := range mi.Info.Files {
		b, err := os.ReadFile(filepath.Join(append([]string{src}, fi.Path...)...))
		if err != nil {
			t.Fatal(err)
		}
		f.files = append(f.files, b)
		f.all = append(f.all, b...)
	}
	return f
}

func closeSession(t *testing.T, s *Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Error(err)
	}
}

// streamSeedSession starts a session seeding f (in seed mode: no check).
func streamSeedSession(t *testing.T, f streamFixture) *Session {
	t.Helper()
	s := newTestSession(t, bufpool.New(), 1)
	t.Cleanup(func() { closeSession(t, s) })
	if _, err := s.AddTorrent(context.Background(), AddTorrentParams{MetaInfo: f.mi, SavePath: f.src, SeedMode: true}); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestReaderBetweenSessions streams over 127.0.0.1 from one session to
// another: a file reader seeks into the middle of the middle file and reads
// to its end while a second reader reads the whole torrent; io.SeekEnd,
// seeking past the end and before the start, and Close.
func TestReaderBetweenSessions(t *testing.T) {
	f := newStreamFixture(t)
	seeder := streamSeedSession(t, f)
	leecher := newTestSession(t, bufpool.New(), 2)
	t.Cleanup(func() { closeSession(t, leecher) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: f.mi, SavePath: t.TempDir(), Peers: []netip.AddrPort{seeder.ListenAddr()}})
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	var whole []byte
	var wholeErr error
	wg.Add(1)
	go func() { // a second reader at the same time, over the whole torrent
		defer wg.Done()
		r := h.NewReader()
		defer r.Close()
		whole, wholeErr = io.ReadAll(r)
	}()

	r := h.NewFileReader(1)
	mid := int64(len(f.files[1]) / 2)
	if pos, err := r.Seek(mid, io.SeekStart); err != nil || pos != mid {
		t.Fatalf("Seek(mid): %d, %v", pos, err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, f.files[1][mid:]) {
		t.Fatalf("read %d bytes from the middle of the file; they differ from the source's %d", len(got), len(f.files[1][mid:]))
	}
	end := int64(len(f.files[1]))
	if pos, err := r.Seek(-10, io.SeekEnd); err != nil || pos != end-10 {
		t.Fatalf("Seek(-10, End): %d, %v", pos, err)
	}
	if tail, err := io.ReadAll(r); err != nil || !bytes.Equal(tail, f.files[1][end-10:]) {
		t.Fatalf("the last 10 bytes: %v, %v", tail, err)
	}
	if pos, err := r.Seek(-20, io.SeekCurrent); err != nil || pos != end-20 {
		t.Fatalf("Seek(-20, Current): %d, %v", pos, err)
	}
	if pos, err := r.Seek(5, io.SeekEnd); err != nil || pos != end+5 {
		t.Fatalf("Seek past the end: %d, %v", pos, err)
	}
	if n, err := r.Read(make([]byte, 4)); n != 0 || err != io.EOF {
		t.Fatalf("Read past the end: %d, %v; want io.EOF", n, err)
	}
	if _, err := r.Seek(-1, io.SeekStart); !errors.Is(err, ErrNegativeOffset) {
		t.Fatalf("Seek(-1): %v, want ErrNegativeOffset", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, ErrReaderClosed) {
		t.Fatalf("Read after Close: %v, want ErrReaderClosed", err)
	}
	if _, err := r.Seek(0, io.SeekStart); !errors.Is(err, ErrReaderClosed) {
		t.Fatalf("Seek after Close: %v, want ErrReaderClosed", err)
	}

	wg.Wait()
	if wholeErr != nil || !bytes.Equal(whole, f.all) {
		t.Fatalf("the whole-torrent reader read %d bytes (%v); they differ from the %d of the source", len(whole), wholeErr, len(f.all))
	}
	if _, err := h.NewFileReader(3).Read(make([]byte, 1)); !errors.Is(err, ErrNoSuchFile) {
		t.Fatalf("reader of file 3: %v, want ErrNoSuchFile", err)
	}
	if err := h.SetPieceDeadline(ctx, f.mi.Info.NumPieces(), 0); !errors.Is(err, ErrNoSuchPiece) {
		t.Fatalf("SetPieceDeadline out of range: %v, want ErrNoSuchPiece", err)
	}
}

// TestReaderContextCloseAndSessionClose: with no peer, a read waits; a
// cancelled context ends it and leaves the reader usable, Close ends it with
// ErrReaderClosed, and closing the session ends it with ErrClosed.
func TestReaderContextCloseAndSessionClose(t *testing.T) {
	f := newStreamFixture(t)
	leecher := newTestSession(t, bufpool.New(), 1)
	ctx := context.Background()
	h, err := leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: f.mi, SavePath: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	waitAlert(t, leecher, 20*time.Second, func(a plugin.Alert) bool {
		_, ok := a.(*plugin.TorrentCheckedAlert)
		return ok
	})

	r := h.NewFileReader(2)
	cctx, cancel := context.WithCancel(ctx)
	go cancel()
	if _, err := r.ReadContext(cctx, make([]byte, 10)); !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadContext with a cancelled context: %v", err)
	}
	// Still usable: a deadline-bound read ends the same way.
	dctx, dcancel := context.WithDeadline(ctx, time.Now())
	defer dcancel()
	if _, err := r.ReadContext(dctx, make([]byte, 10)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadContext past its deadline: %v", err)
	}

	errc := make(chan error, 1)
	go func() {
		_, err := r.Read(make([]byte, 10))
		errc <- err
	}()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrReaderClosed) {
		t.Fatalf("Read ended by Close: %v, want ErrReaderClosed", err)
	}

	r2 := h.NewReader()
	go func() {
		_, err := r2.Read(make([]byte, 10))
		errc <- err
	}()
	closeSession(t, leecher)
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("Read ended by the session's Close: %v, want ErrClosed", err)
	}
	if err := r2.Close(); err != nil {
		t.Fatalf("Close after the session closed: %v", err)
	}
}

// padTorrent writes three files under dir/p and returns a torrent of them
// whose files are aligned to pieces with BEP 47 pad files (a.bin, pad,
// b.bin, pad, c.bin), as libtorrent makes them, and each file's bytes.
// metainfo.Create makes no pad files, so the info dictionary is built here.
func padTorrent(t *testing.T, dir string) (*metainfo.MetaInfo, [][]byte) {
	t.Helper()
	const pieceLen = 16 << 10
	sizes := []int{40_000, 50_000, 30_000}
	names := []string{"a.bin", "b.bin", "c.bin"}
	writeFiles(t, dir, map[string]int{"p/a.bin": sizes[0], "p/b.bin": sizes[1], "p/c.bin": sizes[2]})
	var files []any
	var all []byte
	var data [][]byte
	for i, name := range names {
		b, err := os.ReadFile(filepath.Join(dir, "p", name))
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, b)
		all = append(all, b...)
		files = append(files, map[string]any{"length": len(b), "path": []string{name}})
		if pad := (pieceLen - len(b)%pieceLen) % pieceLen; i < len(names)-1 && pad > 0 {
			all = append(all, make([]byte, pad)...)
			files = append(files, map[string]any{"attr": "p", "length": pad, "path": []string{".pad", strconv.Itoa(pad)}})
		}
	}
	var pieces []byte
	for off := 0; off < len(all); off += pieceLen {
		h := sha1.Sum(all[off:min(off+pieceLen, len(all))])
		pieces = append(pieces, h[:]...)
	}
	b, err := bencode.Marshal(map[string]any{"info": map[string]any{
		"files": files, "name": "p", "piece length": pieceLen, "pieces": string(pieces),
	}})
	if err != nil {
		t.Fatal(err)
	}
	mi, err := metainfo.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(mi.Info.Files) != 5 || !mi.Info.Files[1].IsPad() || !mi.Info.Files[3].IsPad() {
		t.Fatalf("the torrent's files are %+v, want a.bin, pad, b.bin, pad, c.bin", mi.Info.Files)
	}
	return mi, data
}

// TestFileNumberingWithPadFiles guards the one file numbering of the public
// API: in a torrent with pad files, Files()[i], SetFilePriority(i),
// FilePriorities()[i], NewFileReader(i) and Files()[i].NewReader() all mean
// the same file (pads not counted), over a transfer on 127.0.0.1 in which
// file 2 is skipped: it is never created, and the others read back equal.
func TestFileNumberingWithPadFiles(t *testing.T) {
	src := t.TempDir()
	mi, data := padTorrent(t, src)
	seeder := newTestSession(t, bufpool.New(), 1)
	t.Cleanup(func() { closeSession(t, seeder) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := seeder.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src, SeedMode: true}); err != nil {
		t.Fatal(err)
	}
	leecher := newTestSession(t, bufpool.New(), 1)
	t.Cleanup(func() { closeSession(t, leecher) })
	dst := t.TempDir()
	h, err := leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: dst, Paused: true,
		Peers: []netip.AddrPort{seeder.ListenAddr()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.SetFilePriority(ctx, 2, PriorityDontDownload); err != nil {
		t.Fatal(err)
	}
	if err := h.SetFilePriority(ctx, 3, PriorityDontDownload); !errors.Is(err, ErrPriorityArg) {
		t.Fatalf("SetFilePriority(3) of 3 files: %v, want ErrPriorityArg", err)
	}
	files, err := h.Files(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Fatalf("Files lists %d files, want 3 (pads left out): %+v", len(files), files)
	}
	prios, err := h.FilePriorities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []Priority{PriorityDefault, PriorityDefault, PriorityDontDownload}
	for i, f := range files {
		name := filepath.Join("p", []string{"a.bin", "b.bin", "c.bin"}[i])
		if f.Index != i || f.Path != name || f.Size != int64(len(data[i])) || f.Priority != want[i] || prios[i] != want[i] {
			t.Errorf("Files()[%d] = %+v, FilePriorities()[%d] = %d; want %s of %d bytes, priority %d",
				i, f, i, prios[i], name, len(data[i]), want[i])
		}
	}
	if err := h.Resume(ctx); err != nil {
		t.Fatal(err)
	}

	// Read file 0 through its File and file 1 through its number.
	for i, r := range []*Reader{files[0].NewReader(), h.NewFileReader(1)} {
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
		if !bytes.Equal(got, data[i]) {
			t.Fatalf("file %d read %d bytes that differ from the source's %d", i, len(got), len(data[i]))
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []int{3, -1} {
		if _, err := h.NewFileReader(bad).Read(make([]byte, 1)); !errors.Is(err, ErrNoSuchFile) {
			t.Errorf("NewFileReader(%d): %v, want ErrNoSuchFile", bad, err)
		}
	}
	if _, err := (File{Index: 1}).NewReader().Read(make([]byte, 1)); !errors.Is(err, ErrNoSuchFile) {
		t.Errorf("a File made by hand: %v, want ErrNoSuchFile", err)
	}

	waitAlert(t, leecher, time.Minute, func(a plugin.Alert) bool {
		_, ok := a.(*plugin.TorrentFinishedAlert)
		return ok
	})
	if files, err = h.Files(ctx); err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		if wantDone := int64(len(data[i])) * int64(min(1, int(f.Priority))); f.Completed != wantDone {
			t.Errorf("file %d (%s) completed %d bytes, want %d", i, f.Path, f.Completed, wantDone)
		}
	}
	for i, name := range []string{"a.bin", "b.bin"} {
		if b, err := os.ReadFile(filepath.Join(dst, "p", name)); err != nil || !bytes.Equal(b, data[i]) {
			t.Errorf("%s on disk: %d bytes, %v; want the source's %d", name, len(b), err, len(data[i]))
		}
	}
	if _, err := os.Stat(filepath.Join(dst, "p", "c.bin")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the skipped c.bin: %v, want it never created", err)
	}
}
