package shardtorrent

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/storage"
)

// capturingOpener wraps storage.MemoryOpener(budget) and keeps the
// storages it opens, so a test can read what the engine stored.
type capturingOpener struct {
	budget *storage.MemoryBudget
	mu     sync.Mutex
	opened []*storage.MemoryStorage
}

func (c *capturingOpener) open(p storage.OpenParams) (storage.Storage, error) {
	s, err := storage.MemoryOpener(c.budget)(p)
	if err == nil {
		c.mu.Lock()
		c.opened = append(c.opened, s.(*storage.MemoryStorage))
		c.mu.Unlock()
	}
	return s, err
}

// seedTorrent makes a multi-file torrent under a temporary directory and
// seeds it from a new session; it returns the session, the metainfo and
// the torrent's bytes end to end.
func seedTorrent(t *testing.T, files map[string]int, pieceLen int64) (*Session, *metainfo.MetaInfo, []byte) {
	t.Helper()
	src := t.TempDir()
	writeFiles(t, src, files)
	_, mi, err := metainfo.Create(filepath.Join(src, "m"), metainfo.CreateOptions{PieceLength: pieceLen})
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, f := range mi.Info.Files {
		if strings.Contains(f.Attr, "p") { // a pad file reads as zeros
			all = append(all, make([]byte, f.Length)...)
			continue
		}
		b, err := os.ReadFile(filepath.Join(append([]string{src}, f.Path...)...))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	seeder := newTestSession(t, bufpool.New(), 1)
	if _, err := seeder.AddTorrent(context.Background(), AddTorrentParams{MetaInfo: mi, SavePath: src}); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, seeder, 20*time.Second, func(a plugin.Alert) bool {
		sc, ok := a.(*plugin.StateChangedAlert)
		return ok && sc.To == plugin.StateSeeding
	})
	return seeder, mi, all
}

// TestTransferIntoMemoryStorage: a leecher whose torrent lives in a
// MemoryStorage downloads it from a seeder over 127.0.0.1; every piece
// reads back equal from memory, nothing is created under its save path,
// and closing the session gives the budget back.
func TestTransferIntoMemoryStorage(t *testing.T) {
	files := map[string]int{"m/a.bin": 300_001, "m/sub/b.bin": 1, "m/c.bin": 500_000}
	seeder, mi, want := seedTorrent(t, files, 64<<10)
	pool := bufpool.New()
	leecher := newTestSession(t, pool, 2)
	op := &capturingOpener{budget: storage.NewMemoryBudget(1 << 20)}
	dst := t.TempDir()
	ctx := context.Background()
	h, err := leecher.AddTorrent(ctx, AddTorrentParams{
		MetaInfo: mi, SavePath: dst, Peers: []netip.AddrPort{seeder.ListenAddr()}, Storage: op.open,
	})
	if err != nil {
		t.Fatal(err)
	}
	waitAlert(t, leecher, 60*time.Second, func(a plugin.Alert) bool {
		_, ok := a.(*plugin.TorrentFinishedAlert)
		return ok
	})
	if st, err := h.Status(ctx); err != nil || st.Progress != 1 {
		t.Fatalf("leecher status after finish: %+v, %v", st, err)
	}
	op.mu.Lock()
	opened := op.opened
	op.mu.Unlock()
	if len(opened) != 1 {
		t.Fatalf("opener called %d times, want 1", len(opened))
	}
	m := opened[0]
	l := m.Layout()
	got := make([]byte, l.TotalLength)
	for p := range l.NumPieces() {
		off := int64(p) * l.PieceLength
		if _, err := m.ReadAt(got[off:off+l.PieceSize(p)], p, 0); err != nil {
			t.Fatalf("piece %d from memory: %v", p, err)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the memory storage holds different bytes than the seeder's files")
	}
	if used := op.budget.Used(); used != l.TotalLength {
		t.Errorf("budget use %d, want the torrent's %d", used, l.TotalLength)
	}
	if left, _ := os.ReadDir(dst); len(left) != 0 {
		t.Errorf("the memory-stored torrent created %d entries under its save path", len(left))
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := leecher.Close(cctx); err != nil {
		t.Fatal(err)
	}
	if err := seeder.Close(cctx); err != nil {
		t.Fatal(err)
	}
	if used := op.budget.Used(); used != 0 {
		t.Errorf("%d bytes still charged to the budget after Close", used)
	}
	if n := pool.Outstanding(); n != 0 {
		t.Errorf("leecher leaked %d spans", n)
	}
}

// TestMemoryStorageBudgetExhausted: a torrent larger than its memory
// budget fails the write that would exceed it with a FileErrorAlert
// matching storage.ErrBudget and goes to its error state; nothing crashes,
// nothing is evicted.
func TestMemoryStorageBudgetExhausted(t *testing.T) {
	files := map[string]int{"m/a.bin": 400_000, "m/b.bin": 100_000}
	seeder, mi, _ := seedTorrent(t, files, 64<<10)
	leecher := newTestSession(t, bufpool.New(), 1)
	budget := storage.NewMemoryBudget(3 * 64 << 10)
	ctx := context.Background()
	h, err := leecher.AddTorrent(ctx, AddTorrentParams{
		MetaInfo: mi, SavePath: t.TempDir(), Peers: []netip.AddrPort{seeder.ListenAddr()}, Storage: storage.MemoryOpener(budget),
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := waitAlert(t, leecher, 60*time.Second, func(a plugin.Alert) bool {
		_, ok := a.(*plugin.TorrentErrorAlert)
		return ok
	})
	var fe *plugin.FileErrorAlert
	for _, a := range seen {
		if x, ok := a.(*plugin.FileErrorAlert); ok {
			fe = x
		}
	}
	var be *storage.BudgetError
	if fe == nil || !errors.As(fe.Err, &be) || fe.Op != "write" {
		t.Fatalf("no write FileErrorAlert with a *BudgetError before the error: %v", fe)
	}
	// The refused piece did not fit; the pieces that did are all still
	// held (nothing evicted to make room), within the budget.
	if be.Used+be.Need <= be.Budget || be.Budget != budget.Limit() {
		t.Errorf("refused %+v, which fits", be)
	}
	if used := budget.Used(); used < be.Used || used > budget.Limit() {
		t.Errorf("budget use %d after refusing at %d, limit %d", used, be.Used, budget.Limit())
	}
	st, err := h.Status(ctx)
	if err != nil || st.Err == nil {
		t.Fatalf("status after the budget ran out: %+v, %v", st, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	leecher.Close(cctx)
	seeder.Close(cctx)
}
