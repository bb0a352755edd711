package metainfo

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/anacrolix/torrent/bencode"
)

// writeTree creates files (relative slash paths -> contents) under a new
// temporary directory named root and returns the root's path.
func writeTree(t testing.TB, root string, files map[string][]byte) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), root)
	for rel, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// pattern returns n bytes that differ from piece to piece.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i/251) ^ seed
	}
	return b
}

// encode bencodes v (maps come out with sorted keys).
func encode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := bencode.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hashes returns a "pieces" string with n dummy hashes.
func hashes(n int) string { return string(make([]byte, 20*n)) }

// torrentWith wraps an info dict in a minimal torrent.
func torrentWith(t testing.TB, info map[string]any) []byte {
	return encode(t, map[string]any{"announce": "http://t/a", "info": info})
}
