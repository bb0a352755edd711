package resume

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/anacrolix/torrent/bencode"

	"github.com/shardtorrent/shardtorrent/metainfo"
)

// makeTorrent creates a two-file torrent of size bytes under a temp dir,
// returning its metainfo.
func makeTorrent(t *testing.T, name string, size int) *metainfo.MetaInfo {
	t.Helper()
	root := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(root, 0o700); err != nil {
		t.Fatal(err)
	}
	for i, f := range []string{"a.bin", "b.bin"} {
		if err := os.WriteFile(filepath.Join(root, f), bytes.Repeat([]byte{byte(i + 1)}, size/2), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, mi, err := metainfo.Create(root, metainfo.CreateOptions{PieceLength: 16384})
	if err != nil {
		t.Fatal(err)
	}
	return mi
}

// qbtTorrentFile is the .torrent qBittorrent 4.5 writes beside a
// .fastresume: the resume data's "info" moved out, with "comment",
// "created by" and "creation date" (no trackers: those stay in the resume
// file).
func qbtTorrentFile(mi *metainfo.MetaInfo) []byte {
	return bencode.MustMarshal(map[string]any{
		"info": bencode.Bytes(mi.InfoBytes), "created by": "qBittorrent v4.5.2", "creation date": 1700000000,
	})
}

func TestImportDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hexOf := func(mi *metainfo.MetaInfo) string { return mi.InfoHash.V1.String() }

	// 1. qBittorrent's pair: resume data without "info", .torrent beside it.
	qbt := makeTorrent(t, "qbt", 5*16384)
	write(hexOf(qbt)+".fastresume", libtorrentLike(qbt.InfoHash, map[string]any{
		"file_priority": []int{4, 4}, "qBt-savePath": "/ignored", "save_path": "/srv/qbt"}))
	write(hexOf(qbt)+".torrent", qbtTorrentFile(qbt))
	// 2. libtorrent's own file: "info" inside, no .torrent.
	lt := makeTorrent(t, "lt", 4*16384)
	write(hexOf(lt)+".fastresume", libtorrentLike(lt.InfoHash, map[string]any{
		"info": bencode.Bytes(lt.InfoBytes), "pieces": "\x03\x03\x03\x03", "file_priority": nil}))
	// 3. Neither: the torrent is unknown.
	orphan := makeTorrent(t, "orphan", 2*16384)
	write(hexOf(orphan)+".fastresume", libtorrentLike(orphan.InfoHash, nil))
	// 4. A .torrent of another torrent.
	mixed := makeTorrent(t, "mixed", 6*16384)
	write(hexOf(mixed)+".fastresume", libtorrentLike(mixed.InfoHash, nil))
	write(hexOf(mixed)+".torrent", qbtTorrentFile(orphan))
	// 5. A corrupt resume file.
	bad := makeTorrent(t, "bad", 3*16384)
	write(hexOf(bad)+".fastresume", []byte("d11:file-format"))
	write(hexOf(bad)+".torrent", qbtTorrentFile(bad))
	// 6. More pieces than the .torrent has (only checkable with it).
	long := makeTorrent(t, "long", 2*16384)
	write(hexOf(long)+".fastresume", libtorrentLike(long.InfoHash, map[string]any{"pieces": "\x03\x03\x03"}))
	write(hexOf(long)+".torrent", qbtTorrentFile(long))
	// 7. Ignored: a lone .torrent, other names.
	write(hexOf(makeTorrent(t, "lone", 16384))+".torrent", qbtTorrentFile(qbt))
	write("queue", []byte("x"))
	write("zz.fastresume", []byte("x"))

	got, errs := ImportDir(dir)
	byIH := map[metainfo.HashV1]Imported{}
	for _, im := range got {
		byIH[im.Data.InfoHash.V1] = im
	}
	if len(got) != 2 {
		t.Fatalf("imported %d, want 2 (errors %v)", len(got), errs)
	}
	q := byIH[qbt.InfoHash.V1]
	if q.Data == nil || !reflect.DeepEqual(q.MetaInfo.Info, qbt.Info) || q.Data.SavePath != "/srv/qbt" ||
		!bytes.Equal(q.Data.Info, qbt.InfoBytes) || !bytes.Equal(q.Data.Pieces, []byte{3, 0, 3, 3, 0}) ||
		q.Path != filepath.Join(dir, hexOf(qbt)+".fastresume") {
		t.Fatalf("qBittorrent import: %+v", q)
	}
	l := byIH[lt.InfoHash.V1]
	if l.Data == nil || !reflect.DeepEqual(l.MetaInfo.Info, lt.Info) || l.MetaInfo.InfoHash != lt.InfoHash ||
		!l.Data.Has(3) {
		t.Fatalf("libtorrent import: %+v", l)
	}
	// An imported torrent can be saved into a Store and loads back whole.
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(q.Data.InfoHash, q.Data); err != nil {
		t.Fatal(err)
	}
	if back, errs := s.LoadAll(); len(errs) != 0 || !reflect.DeepEqual(back[0], q.Data) {
		t.Fatalf("store round trip: %+v, %v", back, errs)
	}

	want := map[string]ErrorKind{
		hexOf(orphan): ErrNoMetadata,
		hexOf(mixed):  ErrInfoHashMismatch,
		hexOf(bad):    ErrNotResume,
		hexOf(long):   ErrBadField,
	}
	if len(errs) != len(want) {
		t.Fatalf("errors %v, want %d", errs, len(want))
	}
	for _, err := range errs {
		var pe *fs.PathError
		if !errors.As(err, &pe) {
			t.Fatalf("error %v does not name its file", err)
		}
		h := filepath.Base(pe.Path)[:40]
		if kind, ok := want[h]; !ok || !errors.Is(err, kind) {
			t.Fatalf("error %v, want kind %v", err, want[h])
		}
	}
}

func TestImportDirMissing(t *testing.T) {
	if got, errs := ImportDir(filepath.Join(t.TempDir(), "nope")); got != nil || len(errs) != 1 || !errors.Is(errs[0], fs.ErrNotExist) {
		t.Fatalf("got %v, %v", got, errs)
	}
}
