package shardtorrent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

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
