package metainfo

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

func TestParseCreated(t *testing.T) {
	tests := []struct {
		name      string
		files     map[string][]byte
		single    string // create from this file instead of the directory
		pl        int64
		wantPaths [][]string
		wantLens  []int64
	}{
		{
			name:      "single file odd last piece",
			files:     map[string][]byte{"movie.mkv": pattern(3*BlockSize+5, 1)},
			single:    "movie.mkv",
			pl:        BlockSize,
			wantPaths: [][]string{{"movie.mkv"}},
			wantLens:  []int64{3*BlockSize + 5},
		},
		{
			name:      "single file exact pieces",
			files:     map[string][]byte{"a.bin": pattern(2*BlockSize, 2)},
			single:    "a.bin",
			pl:        BlockSize,
			wantPaths: [][]string{{"a.bin"}},
			wantLens:  []int64{2 * BlockSize},
		},
		{
			name: "multi file lexical order with empty file",
			files: map[string][]byte{
				"b.txt":       pattern(100, 3),
				"a/z.txt":     pattern(BlockSize+1, 4),
				"a/empty":     nil,
				"a.txt":       pattern(7, 5),
				"c/d/e/f.bin": pattern(2*BlockSize-1, 6),
			},
			pl: BlockSize,
			wantPaths: [][]string{
				{"root", "a", "empty"}, {"root", "a", "z.txt"}, {"root", "a.txt"},
				{"root", "b.txt"}, {"root", "c", "d", "e", "f.bin"},
			},
			wantLens: []int64{0, BlockSize + 1, 7, 100, 2*BlockSize - 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, "root", tt.files)
			src := dir
			if tt.single != "" {
				src = filepath.Join(dir, tt.single)
			}
			data, created, err := Create(src, CreateOptions{PieceLength: tt.pl, Trackers: []string{"udp://t1", "http://t2"}})
			if err != nil {
				t.Fatal(err)
			}
			m, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m, created) {
				t.Fatalf("Create's MetaInfo differs from Parse's")
			}
			if err := m.Info.validate(); err != nil {
				t.Fatal(err)
			}
			var paths [][]string
			var lens []int64
			for _, f := range m.Info.Files {
				paths = append(paths, f.Path)
				lens = append(lens, f.Length)
			}
			if !reflect.DeepEqual(paths, tt.wantPaths) || !reflect.DeepEqual(lens, tt.wantLens) {
				t.Fatalf("files = %q %v, want %q %v", paths, lens, tt.wantPaths, tt.wantLens)
			}
			if m.Info.IsSingleFile() != (tt.single != "") {
				t.Errorf("IsSingleFile = %v", m.Info.IsSingleFile())
			}
			if m.InfoHash.V1 != sha1.Sum(m.InfoBytes) || m.InfoHash.HasV2() {
				t.Errorf("info-hash %v is not SHA-1 of the info bytes", m.InfoHash)
			}
			if !bytes.Contains(data, m.InfoBytes) {
				t.Errorf("InfoBytes not a slice of the file")
			}
			if got := m.Trackers(); !reflect.DeepEqual(got, [][]string{{"udp://t1"}, {"http://t2"}}) || m.Announce != "udp://t1" {
				t.Errorf("trackers = %q, announce %q", got, m.Announce)
			}
			verifyPieces(t, filepath.Dir(src), m)
		})
	}
}

// verifyPieces re-reads every file through SafeJoin and checks each piece
// hash and PieceSize.
func verifyPieces(t *testing.T, saveDir string, m *MetaInfo) {
	t.Helper()
	var all []byte
	for _, f := range m.Info.Files {
		p, err := SafeJoin(saveDir, f.Path...)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != f.Length || int64(len(all)) != f.Offset {
			t.Fatalf("%s: length %d offset %d, file has %d at %d", p, f.Length, f.Offset, len(b), len(all))
		}
		all = append(all, b...)
	}
	info := &m.Info
	if int64(len(all)) != info.TotalLength {
		t.Fatalf("read %d bytes, TotalLength %d", len(all), info.TotalLength)
	}
	var sum int64
	for i := range info.NumPieces() {
		size := info.PieceSize(i)
		sum += size
		piece := all[int64(i)*info.PieceLength:][:size]
		if HashV1(sha1.Sum(piece)) != info.Pieces[i] {
			t.Fatalf("piece %d hash mismatch", i)
		}
	}
	if sum != info.TotalLength || info.PieceSize(-1) != 0 || info.PieceSize(info.NumPieces()) != 0 {
		t.Fatalf("piece sizes sum to %d of %d", sum, info.TotalLength)
	}
}

// TestInfoHashCoversOriginalBytes guards against hashing a re-encoding: the
// info dict here has unknown keys, unsorted keys and a nested unsorted
// dict, none of which survive a decode/encode round trip.
func TestInfoHashCoversOriginalBytes(t *testing.T) {
	info := "d" +
		"4:name5:a.bin" +
		"12:piece lengthi16384e" +
		"6:lengthi20000e" +
		"6:pieces40:" + hashes(2) +
		"9:x-unknownd1:zi1e1:ai2ee" +
		"1:0li1ei2ee" +
		"e"
	data := []byte("d8:announce3:x:y4:info" + info + "7:comment2:hie")
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.InfoBytes) != info {
		t.Fatalf("InfoBytes = %q", m.InfoBytes)
	}
	if m.InfoHash.V1 != sha1.Sum([]byte(info)) {
		t.Fatalf("info-hash %v is not SHA-1 of the original info bytes", m.InfoHash)
	}
	if m.Comment != "hi" || m.Announce != "x:y" || m.Info.TotalLength != 20000 || m.Info.PieceSize(1) != 20000-16384 {
		t.Fatalf("parsed %+v", m)
	}
}

func TestParseFields(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{"name": "n", "piece length": 16384, "length": 10, "pieces": hashes(1)}
	}
	tests := []struct {
		name  string
		top   map[string]any
		check func(t *testing.T, m *MetaInfo)
	}{
		{"url-list as string", map[string]any{"url-list": "http://ws/"}, func(t *testing.T, m *MetaInfo) {
			if !reflect.DeepEqual(m.URLList, []string{"http://ws/"}) {
				t.Errorf("URLList = %q", m.URLList)
			}
		}},
		{"url-list as list", map[string]any{"url-list": []any{"http://a/", 5, "http://b/"}}, func(t *testing.T, m *MetaInfo) {
			if !reflect.DeepEqual(m.URLList, []string{"http://a/", "http://b/"}) {
				t.Errorf("URLList = %q", m.URLList)
			}
		}},
		{"announce only", map[string]any{"announce": "http://a"}, func(t *testing.T, m *MetaInfo) {
			if !reflect.DeepEqual(m.Trackers(), [][]string{{"http://a"}}) {
				t.Errorf("Trackers = %q", m.Trackers())
			}
		}},
		{"announce-list beats announce, bad entries dropped", map[string]any{
			"announce": "http://a", "announce-list": []any{[]any{"http://b", 3, "http://c"}, []any{}, "junk", []any{"udp://d"}},
		}, func(t *testing.T, m *MetaInfo) {
			if want := [][]string{{"http://b", "http://c"}, {"udp://d"}}; !reflect.DeepEqual(m.Trackers(), want) {
				t.Errorf("Trackers = %q", m.Trackers())
			}
		}},
		{"no trackers", map[string]any{}, func(t *testing.T, m *MetaInfo) {
			if m.Trackers() != nil {
				t.Errorf("Trackers = %q", m.Trackers())
			}
		}},
		{"wrong-typed optional fields ignored", map[string]any{"comment": 5, "creation date": "x", "announce": []any{"a"}}, func(t *testing.T, m *MetaInfo) {
			if m.Comment != "" || m.CreationDate != 0 || m.Announce != "" {
				t.Errorf("got %+v", m)
			}
		}},
		{"metadata fields", map[string]any{"comment": "c", "created by": "me", "creation date": 1700000000}, func(t *testing.T, m *MetaInfo) {
			if m.Comment != "c" || m.CreatedBy != "me" || m.CreationDate != 1700000000 {
				t.Errorf("got %+v", m)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.top["info"] = base()
			m, err := Parse(encode(t, tt.top))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, m)
		})
	}
}

func TestParseInfoFields(t *testing.T) {
	tests := []struct {
		name  string
		info  map[string]any
		check func(t *testing.T, i *Info)
	}{
		{"utf-8 names preferred", map[string]any{
			"name": "bad", "name.utf-8": "good", "piece length": 16384, "pieces": hashes(1),
			"files": []any{map[string]any{"length": 5, "path": []any{"x"}, "path.utf-8": []any{"ü", "y"}}},
		}, func(t *testing.T, i *Info) {
			if i.Name != "good" || !reflect.DeepEqual(i.Files[0].Path, []string{"good", "ü", "y"}) {
				t.Errorf("got %q %q", i.Name, i.Files[0].Path)
			}
		}},
		{"pad files kept", map[string]any{
			"name": "n", "piece length": 16384, "pieces": hashes(2),
			"files": []any{
				map[string]any{"length": 100, "path": []any{"a"}},
				map[string]any{"length": 16284, "path": []any{".pad", "16284"}, "attr": "p"},
				map[string]any{"length": 10, "path": []any{"b"}},
			},
		}, func(t *testing.T, i *Info) {
			if len(i.Files) != 3 || !i.Files[1].IsPad() || i.Files[0].IsPad() || i.Files[2].Offset != 16384 {
				t.Errorf("files %+v", i.Files)
			}
		}},
		{"private and source", map[string]any{
			"name": "n", "piece length": 16384, "pieces": hashes(1), "length": 1, "private": 1, "source": "S",
		}, func(t *testing.T, i *Info) {
			if !i.Private || i.Source != "S" || !i.IsSingleFile() {
				t.Errorf("got %+v", i)
			}
		}},
		{"multi-file with one file is not single", map[string]any{
			"name": "n", "piece length": 16384, "pieces": hashes(1),
			"files": []any{map[string]any{"length": 5, "path": []any{"x"}}},
		}, func(t *testing.T, i *Info) {
			if i.IsSingleFile() || !reflect.DeepEqual(i.Files[0].Path, []string{"n", "x"}) {
				t.Errorf("got %+v", i)
			}
		}},
		{"non-power-of-two piece length", map[string]any{
			"name": "n", "piece length": 1000, "pieces": hashes(3), "length": 2001,
		}, func(t *testing.T, i *Info) {
			if i.PieceSize(2) != 1 || i.PieceSize(0) != 1000 {
				t.Errorf("piece sizes %d %d", i.PieceSize(0), i.PieceSize(2))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i, err := ParseInfo(encode(t, tt.info))
			if err != nil {
				t.Fatal(err)
			}
			if err := i.validate(); err != nil {
				t.Fatal(err)
			}
			tt.check(t, i)
		})
	}
}

func TestHybridAndV2Only(t *testing.T) {
	hybrid := map[string]any{"name": "n", "piece length": 16384, "pieces": hashes(1), "length": 5,
		"meta version": 2, "file tree": map[string]any{"n": map[string]any{"": map[string]any{"length": 5}}}}
	m, err := Parse(torrentWith(t, hybrid))
	if err != nil {
		t.Fatal(err)
	}
	if m.InfoHash.V1 != sha1.Sum(m.InfoBytes) || m.InfoHash.V2 != sha256.Sum256(m.InfoBytes) || m.Info.MetaVersion != 2 {
		t.Fatalf("hybrid hashes %v / %v", m.InfoHash.V1, m.InfoHash.V2)
	}
	delete(hybrid, "pieces")
	if _, err := Parse(torrentWith(t, hybrid)); !errors.Is(err, ErrV2Only) {
		t.Fatalf("v2-only: err = %v, want ErrV2Only", err)
	}
}

func TestParseErrors(t *testing.T) {
	info := func(kv ...any) map[string]any {
		m := map[string]any{"name": "n", "piece length": 16384, "pieces": hashes(1), "length": 10}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	file := func(length any, path ...any) map[string]any {
		return map[string]any{"length": length, "path": path}
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrNotTorrent},
		{"not bencode", []byte("hello"), ErrNotTorrent},
		{"list", []byte("le"), ErrNotTorrent},
		{"list holding a torrent", append(append([]byte("l"), torrentWith(t, info())...), 'e'), ErrNotTorrent},
		{"trailing bytes", append(torrentWith(t, info()), '\n'), ErrNotTorrent},
		{"no info", encode(t, map[string]any{"announce": "x"}), ErrNotTorrent},
		{"info not dict", encode(t, map[string]any{"info": "x"}), ErrNotTorrent},
		{"string length beyond input", []byte("d4:info999999999:e"), ErrNotTorrent},
		{"huge string length", []byte("d4:info99999999999999999999999:e"), ErrNotTorrent},
		{"leading zero int", []byte("d1:ai01ee"), ErrNotTorrent},
		{"minus zero", []byte("d1:ai-0ee"), ErrNotTorrent},
		{"non-string key", []byte("di1ei2ee"), ErrNotTorrent},
		{"key without value", []byte("d1:ae"), ErrNotTorrent},
		{"too deep", append(bytes.Repeat([]byte("l"), MaxDepth+1), bytes.Repeat([]byte("e"), MaxDepth+1)...), ErrNotTorrent},
		{"no name", torrentWith(t, info("name", nil)), ErrBadInfo},
		{"name not string", torrentWith(t, info("name", 5)), ErrBadInfo},
		{"no piece length", torrentWith(t, info("piece length", nil)), ErrBadInfo},
		{"zero piece length", torrentWith(t, info("piece length", 0)), ErrBadInfo},
		{"negative piece length", torrentWith(t, info("piece length", -16384)), ErrBadInfo},
		{"huge piece length", torrentWith(t, info("piece length", MaxPieceLength+1)), ErrTooLarge},
		{"piece length beyond int64", []byte("d4:infod4:name1:n12:piece lengthi99999999999999999999e6:lengthi1e6:pieces20:" + hashes(1) + "ee"), ErrBadInfo},
		{"no pieces", torrentWith(t, info("pieces", nil)), ErrBadInfo},
		{"pieces not multiple of 20", torrentWith(t, info("pieces", hashes(1)+"x")), ErrBadInfo},
		{"too few pieces", torrentWith(t, info("length", 16385)), ErrBadInfo},
		{"too many pieces", torrentWith(t, info("pieces", hashes(2))), ErrBadInfo},
		{"negative length", torrentWith(t, info("length", -1)), ErrBadInfo},
		{"zero length", torrentWith(t, info("length", 0, "pieces", "")), ErrEmpty},
		{"length and files", torrentWith(t, info("files", []any{file(10, "a")})), ErrBadInfo},
		{"neither length nor files", torrentWith(t, info("length", nil)), ErrBadInfo},
		{"files not list", torrentWith(t, info("length", nil, "files", "x")), ErrBadInfo},
		{"files empty", torrentWith(t, info("length", nil, "files", []any{})), ErrEmpty},
		{"file not dict", torrentWith(t, info("length", nil, "files", []any{"x"})), ErrBadInfo},
		{"file negative length", torrentWith(t, info("length", nil, "files", []any{file(-1, "a"), file(11, "b")})), ErrBadInfo},
		{"file no path", torrentWith(t, info("length", nil, "files", []any{map[string]any{"length": 10}})), ErrBadInfo},
		{"file path not strings", torrentWith(t, info("length", nil, "files", []any{file(10, 5)})), ErrBadInfo},
		{"file path a string", torrentWith(t, info("length", nil, "files", []any{map[string]any{"length": 10, "path": "a"}})), ErrBadInfo},
		{"total overflows", torrentWith(t, info("length", nil, "files", []any{file(int64(1)<<62, "a"), file(int64(1)<<62, "b"), file(int64(1)<<62, "c")})), ErrBadInfo},
		{"all files empty", torrentWith(t, info("length", nil, "pieces", "", "files", []any{file(0, "a")})), ErrEmpty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.data)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if m != nil {
				t.Fatalf("returned %+v with an error", m)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%v is not an *Error", err)
			}
		})
	}
}

// TestTruncatedTorrentsFail: every strict prefix of a valid torrent must be
// rejected, never half-parsed.
func TestTruncatedTorrentsFail(t *testing.T) {
	dir := writeTree(t, "r", map[string][]byte{"a": pattern(40000, 1), "b/c": pattern(3, 2)})
	data, _, err := Create(dir, CreateOptions{Trackers: []string{"http://t"}, Comment: "c"})
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(data) {
		if _, err := Parse(data[:n]); err == nil {
			t.Fatalf("prefix of %d/%d bytes parsed", n, len(data))
		}
	}
}

func TestParseInfoLimits(t *testing.T) {
	big := make([]byte, MaxTorrentSize+1)
	if _, err := ParseInfo(big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if _, err := Parse(big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if _, err := ParseInfo([]byte("d4:name")); !errors.Is(err, ErrBadInfo) {
		t.Fatalf("err = %v", err)
	}
}

func TestLoad(t *testing.T) {
	dir := writeTree(t, "r", map[string][]byte{"a": pattern(100, 1)})
	data, want, err := Create(filepath.Join(dir, "a"), CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "a.torrent")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Load(p)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Load = %+v, %v", got, err)
	}
	if _, err := Load(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
}

// BenchmarkParseManyFiles parses a 100,000-file torrent, the shape where
// per-file decoding cost dominates.
func BenchmarkParseManyFiles(b *testing.B) {
	const n = 100000
	files := make([]any, n)
	for i := range files {
		files[i] = map[string]any{"length": 1000, "path": []any{"d" + strconv.Itoa(i%100), "file-" + strconv.Itoa(i) + ".bin"}}
	}
	total := int64(n) * 1000
	data := torrentWith(b, map[string]any{"name": "big", "piece length": 16384, "pieces": hashes(int((total-1)/16384 + 1)), "files": files})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
