package shardtorrent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// writeFiles creates deterministic pseudo-random files under dir.
func writeFiles(t *testing.T, dir string, files map[string]int) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	for name, size := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// hashTree maps every regular file under dir to its SHA-256.
func hashTree(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newTestSession(t *testing.T, pool *bufpool.Pool, shards int) *Session {
	t.Helper()
	s, err := NewSession(context.Background(), Settings{
		ListenAddr: "127.0.0.1:0",
		Shards:     shards,
		Pool:       pool,
		AlertMask:  plugin.CategoryAll,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitAlert pops alerts until match returns true or the deadline passes.
func waitAlert(t *testing.T, s *Session, d time.Duration, match func(plugin.Alert) bool) []plugin.Alert {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var seen []plugin.Alert
	for {
		for _, a := range s.PopAlerts() {
			seen = append(seen, a)
			if match(a) {
				return seen
			}
		}
		if err := s.WaitForAlert(ctx); err != nil {
			var names []string
			for _, a := range seen {
				names = append(names, a.Message())
			}
			t.Fatalf("alert not seen within %v; saw %q", d, names)
		}
	}
}

func TestTransferBetweenSessions(t *testing.T) {
	cases := []struct {
		name      string
		files     map[string]int
		pieceSize int64
		shards    int
	}{
		{"single file", map[string]int{"one.bin": 3<<20 + 12345}, 256 << 10, 1},
		{"multi file odd last piece", map[string]int{
			"multi/a.bin": 100_000, "multi/sub/b.bin": 1, "multi/sub/c.bin": 700_001, "multi/d.bin": 40 << 10,
		}, 64 << 10, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := t.TempDir()
			writeFiles(t, src, tc.files)
			// The torrent's root is the first path component of the files.
			first := ""
			for name := range tc.files {
				first = filepathFirst(name)
			}
			root := filepath.Join(src, first)
			_, mi, err := metainfo.Create(root, metainfo.CreateOptions{PieceLength: tc.pieceSize})
			if err != nil {
				t.Fatal(err)
			}
			seedPool, leechPool := bufpool.New(), bufpool.New()
			seeder := newTestSession(t, seedPool, tc.shards)
			leecher := newTestSession(t, leechPool, tc.shards)
			ctx := context.Background()
			if _, err := seeder.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src}); err != nil {
				t.Fatal(err)
			}
			waitAlert(t, seeder, 20*time.Second, func(a plugin.Alert) bool {
				sc, ok := a.(*plugin.StateChangedAlert)
				return ok && sc.To == plugin.StateSeeding
			})
			dst := t.TempDir()
			h, err := leecher.AddTorrent(ctx, AddTorrentParams{
				MetaInfo: mi, SavePath: dst, Peers: []netip.AddrPort{seeder.ListenAddr()},
			})
			if err != nil {
				t.Fatal(err)
			}
			waitAlert(t, leecher, 60*time.Second, func(a plugin.Alert) bool {
				_, ok := a.(*plugin.TorrentFinishedAlert)
				return ok
			})
			st, err := h.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.State != plugin.StateSeeding || st.Progress != 1 {
				t.Fatalf("leecher status after finish: %+v", st)
			}
			want := hashTree(t, src)
			got := hashTree(t, dst)
			if len(got) != len(want) {
				t.Fatalf("downloaded %d files, want %d", len(got), len(want))
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s differs", k)
				}
			}
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := leecher.Close(cctx); err != nil {
				t.Fatal(err)
			}
			if err := seeder.Close(cctx); err != nil {
				t.Fatal(err)
			}
			if n := seedPool.Outstanding(); n != 0 {
				t.Errorf("seeder leaked %d spans", n)
			}
			if n := leechPool.Outstanding(); n != 0 {
				t.Errorf("leecher leaked %d spans", n)
			}
		})
	}
}

func filepathFirst(p string) string {
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return p
}

// rawPeer dials s and sends a handshake for ih; it returns the connection.
func rawPeer(t *testing.T, s *Session, ih [20]byte, id string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.ListenAddr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	hs := wire.Handshake{InfoHash: ih}
	hs.Reserved.SetFast()
	copy(hs.PeerID[:], "-XX0000-"+id)
	if _, err := c.Write(wire.AppendHandshake(nil, &hs)); err != nil {
		t.Fatal(err)
	}
	return c
}

// expectClosed reads from c until EOF or error; it fails if that takes too long.
func expectClosed(t *testing.T, c net.Conn) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("connection was not closed")
			}
			return got.Bytes()
		}
	}
}

func TestIncomingUnknownInfoHashRefused(t *testing.T) {
	s := newTestSession(t, bufpool.New(), 2)
	defer s.Close(context.Background())
	c := rawPeer(t, s, [20]byte{1, 2, 3}, "unknown")
	defer c.Close()
	if got := expectClosed(t, c); len(got) != 0 {
		t.Fatalf("refused connection got %d bytes (a handshake reply?)", len(got))
	}
	waitAlert(t, s, 5*time.Second, func(a plugin.Alert) bool {
		r, ok := a.(*plugin.IncomingRefusedAlert)
		return ok && r.Reason == ErrUnknownInfoHash
	})
}

func TestMalformedMessageDisconnectsOnlyThatPeer(t *testing.T) {
	src := t.TempDir()
	writeFiles(t, src, map[string]int{"f.bin": 1 << 20})
	_, mi, err := metainfo.Create(filepath.Join(src, "f.bin"), metainfo.CreateOptions{PieceLength: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	s := newTestSession(t, bufpool.New(), 2)
	defer s.Close(context.Background())
	if _, err := s.AddTorrent(context.Background(), AddTorrentParams{MetaInfo: mi, SavePath: src}); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, s, 10*time.Second, func(a plugin.Alert) bool {
		sc, ok := a.(*plugin.StateChangedAlert)
		return ok && sc.To == plugin.StateSeeding
	})
	ih := mi.InfoHash.Short()
	good := rawPeer(t, s, ih, "good")
	defer good.Close()
	bad := rawPeer(t, s, ih, "bad")
	defer bad.Close()
	// A have message with 3 bytes of payload instead of 4.
	if _, err := bad.Write([]byte{0, 0, 0, 4, byte(wire.Have), 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, bad)
	waitAlert(t, s, 5*time.Second, func(a plugin.Alert) bool {
		_, ok := a.(*plugin.PeerErrorAlert)
		return ok
	})
	// The good peer still gets served: interested, then a block.
	var msgs []byte
	msgs = wire.AppendSimple(msgs, wire.HaveNone)
	msgs = wire.AppendSimple(msgs, wire.Interested)
	if _, err := good.Write(msgs); err != nil {
		t.Fatal(err)
	}
	_ = good.SetReadDeadline(time.Now().Add(10 * time.Second))
	var buf []byte
	tmp := make([]byte, 1<<16)
	var dec wire.Decoder
	unchoked, gotBlock := false, false
	for !gotBlock {
		n, err := good.Read(tmp)
		if err != nil {
			t.Fatalf("good peer: %v", err)
		}
		buf = append(buf, tmp[:n]...)
		if len(buf) >= wire.HandshakeLen && buf[0] == 19 {
			buf = buf[wire.HandshakeLen:]
		}
		for {
			m, k, err := dec.Next(buf)
			if err != nil {
				t.Fatal(err)
			}
			if k == 0 {
				break
			}
			switch m.ID {
			case wire.Unchoke:
				if !m.KeepAlive && !unchoked {
					unchoked = true
					if _, err := good.Write(wire.AppendRequest(nil, 3, 0, 16<<10)); err != nil {
						t.Fatal(err)
					}
				}
			case wire.Piece:
				if !m.KeepAlive {
					want, _ := os.ReadFile(filepath.Join(src, "f.bin"))
					if !bytes.Equal(m.Payload, want[3*64<<10:3*64<<10+16<<10]) {
						t.Fatal("served block differs from the file")
					}
					gotBlock = true
				}
			}
			buf = buf[k:]
		}
	}
}
