package metainfo

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// pathAttacks are hostile torrent path lists and what Parse must turn them
// into (below the torrent name "t").
var pathAttacks = []struct {
	name string
	in   []string
	want []string
}{
	{"dotdot", []string{".."}, []string{"_"}},
	{"dotdot twice", []string{"..", "..", "etc", "passwd"}, []string{"etc", "passwd"}},
	{"dot", []string{".", "a"}, []string{"a"}},
	{"absolute as one component", []string{"/etc/passwd"}, []string{"_etc_passwd"}},
	{"absolute as components", []string{"", "etc", "passwd"}, []string{"etc", "passwd"}},
	{"traversal inside one component", []string{"a/../../b"}, []string{"a_.._.._b"}},
	{"backslash traversal", []string{`..\..\windows`}, []string{`.._.._windows`}},
	{"windows drive", []string{`C:\x`}, []string{"C__x"}},
	{"drive letter alone", []string{"C:", "x"}, []string{"C_", "x"}},
	{"UNC", []string{`\\server\share`}, []string{"__server_share"}},
	{"NTFS stream", []string{"a.txt:$DATA"}, []string{"a.txt_$DATA"}},
	{"NUL", []string{"a\x00b"}, []string{"a_b"}},
	{"newline", []string{"a\nb"}, []string{"a_b"}},
	{"empty list", []string{}, []string{"_"}},
	{"all empty", []string{"", "", ""}, []string{"_"}},
	{"dots only", []string{"...", ". .", "x"}, []string{"x"}},
	{"trailing dot kept", []string{"x."}, []string{"x."}},
	{"invalid utf-8", []string{"a\xff\xfeb"}, []string{"a__b"}},
	{"bidi override removed", []string{"evil\u202Etxt.exe"}, []string{"eviltxt.exe"}},
	{"bidi-only component dropped", []string{"\u202E", "x"}, []string{"x"}},
	{"fullwidth dots are just characters", []string{"\uff0e\uff0e", "x"}, []string{"\uff0e\uff0e", "x"}},
	{"fullwidth solidus kept", []string{"a\uff0fb"}, []string{"a\uff0fb"}},
	{"long component", []string{strings.Repeat("a", 300)}, []string{strings.Repeat("a", 255)}},
	{"long keeps extension", []string{strings.Repeat("a", 300) + ".mkv"}, []string{strings.Repeat("a", 251) + ".mkv"}},
	{"long multibyte not split", []string{strings.Repeat("é", 200)}, []string{strings.Repeat("é", 127)}},
}

func TestPathAttacksParse(t *testing.T) {
	for _, tt := range pathAttacks {
		t.Run(tt.name, func(t *testing.T) {
			path := make([]any, len(tt.in))
			for i, c := range tt.in {
				path[i] = c
			}
			info, err := ParseInfo(encode(t, map[string]any{
				"name": "t", "piece length": 16384, "pieces": hashes(1),
				"files": []any{map[string]any{"length": 1, "path": path}},
			}))
			if err != nil {
				t.Fatal(err)
			}
			got := info.Files[0].Path
			if want := append([]string{"t"}, tt.want...); !reflect.DeepEqual(got, want) {
				t.Fatalf("path = %q, want %q", got, want)
			}
			for _, c := range got {
				if !utf8.ValidString(c) || len(c) > MaxComponentLength {
					t.Errorf("component %q", c)
				}
			}
			dl := t.TempDir()
			p, err := SafeJoin(dl, got...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(p, dl+string(filepath.Separator)) {
				t.Fatalf("%q escapes %q", p, dl)
			}
		})
	}
}

func TestNameSanitised(t *testing.T) {
	tests := []struct{ in, want string }{
		{"..", "_"},
		{"/", "_"},
		{"../../etc", ".._.._etc"},
		{"C:", "C_"},
		{"", "_"},
		{"ok name", "ok name"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			info, err := ParseInfo(encode(t, map[string]any{
				"name": tt.in, "piece length": 16384, "pieces": hashes(1), "length": 1,
			}))
			if err != nil {
				t.Fatal(err)
			}
			if info.Name != tt.want || !reflect.DeepEqual(info.Files[0].Path, []string{tt.want}) {
				t.Fatalf("name %q path %q, want %q", info.Name, info.Files[0].Path, tt.want)
			}
		})
	}
}

func TestSafeJoin(t *testing.T) {
	dir := filepath.FromSlash("/dl/torrents")
	tests := []struct {
		name string
		in   []string
		want string // "" means ErrUnsafePath
	}{
		{"plain", []string{"a", "b.txt"}, "/dl/torrents/a/b.txt"},
		{"unicode", []string{"ü", "\uff0e\uff0e"}, "/dl/torrents/ü/\uff0e\uff0e"},
		{"none", nil, ""},
		{"dotdot", []string{".."}, ""},
		{"dotdot later", []string{"a", "..", ".."}, ""},
		{"dot", []string{"."}, ""},
		{"empty", []string{"a", ""}, ""},
		{"slash inside", []string{"a/../../b"}, ""},
		{"absolute", []string{"/etc/passwd"}, ""},
		{"backslash", []string{`..\x`}, ""},
		{"drive", []string{`C:\x`}, ""},
		{"NUL", []string{"a\x00"}, ""},
		{"too long", []string{strings.Repeat("a", 256)}, ""},
		{"invalid utf-8", []string{"\xff"}, ""},
		{"bidi", []string{"a\u202eb"}, ""},
		{"dots", []string{"..."}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SafeJoin(dir, tt.in...)
			if tt.want == "" {
				if !errors.Is(err, ErrUnsafePath) {
					t.Fatalf("SafeJoin = %q, %v; want ErrUnsafePath", got, err)
				}
				return
			}
			if err != nil || got != filepath.FromSlash(tt.want) {
				t.Fatalf("SafeJoin = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestDuplicatePaths(t *testing.T) {
	tests := []struct {
		name string
		in   [][]string
		want [][]string
	}{
		{"distinct", [][]string{{"a"}, {"b"}}, [][]string{{"a"}, {"b"}}},
		{"same file twice", [][]string{{"a.txt"}, {"a.txt"}, {"a.txt"}}, [][]string{{"a.txt"}, {"a.1.txt"}, {"a.2.txt"}}},
		{"same after sanitising", [][]string{{"a", "..", "b"}, {"a", "b"}, {"a/b"}, {"a_b"}}, [][]string{{"a", "b"}, {"a", "b.1"}, {"a_b"}, {"a_b.1"}}},
		{"suffix already taken", [][]string{{"a"}, {"a.1"}, {"a"}}, [][]string{{"a"}, {"a.1"}, {"a.2"}}},
		{"file shadows directory", [][]string{{"d"}, {"d", "x"}}, [][]string{{"d.1"}, {"d", "x"}}},
		{"directory then file", [][]string{{"d", "x"}, {"d"}}, [][]string{{"d", "x"}, {"d.1"}}},
		{"hidden file", [][]string{{".rc"}, {".rc"}}, [][]string{{".rc"}, {".rc.1"}}},
		{"case differs", [][]string{{"A"}, {"a"}}, [][]string{{"A"}, {"a"}}},
		{"long name", [][]string{{strings.Repeat("x", 255)}, {strings.Repeat("x", 255)}}, [][]string{{strings.Repeat("x", 255)}, {strings.Repeat("x", 253) + ".1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := make([]any, len(tt.in))
			for i, p := range tt.in {
				path := make([]any, len(p))
				for j, c := range p {
					path[j] = c
				}
				files[i] = map[string]any{"length": 1, "path": path}
			}
			info, err := ParseInfo(encode(t, map[string]any{
				"name": "t", "piece length": 16384, "pieces": hashes(1), "files": files,
			}))
			if err != nil {
				t.Fatal(err)
			}
			if err := info.validate(); err != nil {
				t.Fatal(err)
			}
			var got [][]string
			for _, f := range info.Files {
				got = append(got, f.Path[1:])
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("paths = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDuplicatePathsLinear guards dedupePaths against quadratic renaming
// when a torrent repeats one name many times.
func TestDuplicatePathsLinear(t *testing.T) {
	const n = 20000
	files := make([]File, n)
	for i := range files {
		files[i].Path = []string{"t", "same"}
	}
	dedupePaths(files)
	if got := files[n-1].Path[1]; got != "same.19999" {
		t.Fatalf("last = %q", got)
	}
}
