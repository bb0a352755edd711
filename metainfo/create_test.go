package metainfo

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestAutoPieceLength(t *testing.T) {
	tests := []struct {
		total, want int64
	}{
		{1, 16 << 10},
		{2000 * (16 << 10), 16 << 10},
		{2000*(16<<10) + 1, 32 << 10},
		{1 << 30, 1 << 20}, // 1024 pieces
		{4 << 30, 4 << 20},
		{1 << 50, 16 << 20}, // capped
	}
	for _, tt := range tests {
		got := AutoPieceLength(tt.total)
		if got != tt.want {
			t.Errorf("AutoPieceLength(%d) = %d, want %d", tt.total, got, tt.want)
		}
		if n := (tt.total-1)/got + 1; got < maxAutoPieceLength && tt.total > 2000*minAutoPieceLength && (n < 1000 || n > 2000) {
			t.Errorf("AutoPieceLength(%d) gives %d pieces", tt.total, n)
		}
	}
}

func TestCreateOptions(t *testing.T) {
	dir := writeTree(t, "root", map[string][]byte{"f": pattern(50000, 9)})
	data, m, err := Create(dir, CreateOptions{
		Trackers:     []string{"http://a", "udp://b"},
		WebSeeds:     []string{"http://ws/"},
		Private:      true,
		Source:       "SRC",
		Comment:      "hello",
		CreatedBy:    "shardtorrent",
		CreationDate: 1700000000,
		Name:         "../evil/name",
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Info.Name != ".._evil_name" || !m.Info.Private || m.Info.Source != "SRC" || m.Comment != "hello" ||
		m.CreatedBy != "shardtorrent" || m.CreationDate != 1700000000 || m.Info.PieceLength != BlockSize ||
		!reflect.DeepEqual(m.URLList, []string{"http://ws/"}) || m.Announce != "http://a" {
		t.Fatalf("got %+v", m)
	}
	// Deterministic: the same input gives the same bytes.
	again, _, err := Create(dir, CreateOptions{
		Trackers: []string{"http://a", "udp://b"}, WebSeeds: []string{"http://ws/"}, Private: true,
		Source: "SRC", Comment: "hello", CreatedBy: "shardtorrent", CreationDate: 1700000000, Name: "../evil/name",
	})
	if err != nil || !bytes.Equal(data, again) {
		t.Fatalf("Create is not deterministic (%v)", err)
	}
}

func TestCreateErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) string
		opts  CreateOptions
		want  error
	}{
		{"missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, CreateOptions{}, os.ErrNotExist},
		{"empty dir", func(t *testing.T) string { return t.TempDir() }, CreateOptions{}, ErrEmpty},
		{"only empty files", func(t *testing.T) string {
			return writeTree(t, "r", map[string][]byte{"a": nil, "b/c": nil})
		}, CreateOptions{}, ErrEmpty},
		{"symlink inside", func(t *testing.T) string {
			dir := writeTree(t, "r", map[string][]byte{"a": pattern(10, 1)})
			if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link")); err != nil {
				t.Skip(err)
			}
			return dir
		}, CreateOptions{}, ErrUnsupportedFile},
		{"symlink root", func(t *testing.T) string {
			dir := writeTree(t, "r", map[string][]byte{"a": pattern(10, 1)})
			link := filepath.Join(t.TempDir(), "link")
			if err := os.Symlink(dir, link); err != nil {
				t.Skip(err)
			}
			return link
		}, CreateOptions{}, ErrUnsupportedFile},
		{"piece length not block multiple", func(t *testing.T) string {
			return writeTree(t, "r", map[string][]byte{"a": pattern(10, 1)})
		}, CreateOptions{PieceLength: 1000}, ErrBadOption},
		{"piece length negative", func(t *testing.T) string {
			return writeTree(t, "r", map[string][]byte{"a": pattern(10, 1)})
		}, CreateOptions{PieceLength: -BlockSize}, ErrBadOption},
		{"piece length too big", func(t *testing.T) string {
			return writeTree(t, "r", map[string][]byte{"a": pattern(10, 1)})
		}, CreateOptions{PieceLength: 2 * MaxPieceLength}, ErrBadOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, m, err := Create(tt.setup(t), tt.opts)
			if !errors.Is(err, tt.want) || data != nil || m != nil {
				t.Fatalf("Create = %d bytes, %v; want %v", len(data), err, tt.want)
			}
		})
	}
}

// TestCreateManyFilesAcrossPieces checks pieces that span many small files
// and the auto piece length, hashing with every worker busy.
func TestCreateManyFilesAcrossPieces(t *testing.T) {
	files := make(map[string][]byte)
	for i := range 300 {
		files[filepath.Join("d"+string(rune('a'+i%7)), "f"+string(rune('a'+i%26))+string(rune('a'+i/26)))] = pattern(i*37%1000, byte(i))
	}
	files["big"] = pattern(3*BlockSize+77, 1)
	dir := writeTree(t, "root", files)
	_, m, err := Create(dir, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Info.Files) != len(files) || m.Info.PieceLength != BlockSize {
		t.Fatalf("%d files, piece length %d", len(m.Info.Files), m.Info.PieceLength)
	}
	verifyPieces(t, filepath.Dir(dir), m)
}

func BenchmarkCreate(b *testing.B) {
	const size = 64 << 20
	dir := b.TempDir()
	p := filepath.Join(dir, "data.bin")
	if err := os.WriteFile(p, pattern(size, 3), 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := Create(p, CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
