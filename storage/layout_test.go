package storage

import (
	"reflect"
	"testing"
)

type seg struct {
	File   int
	Off, N int64
}

func files(lengths ...int64) []FileSpec {
	fs := make([]FileSpec, len(lengths))
	for i, n := range lengths {
		fs[i] = FileSpec{Path: string(rune('a'+i)) + ".bin", Length: n}
	}
	return fs
}

func sum(fs []FileSpec) (n int64) {
	for _, f := range fs {
		n += f.Length
	}
	return n
}

func TestLayoutSegments(t *testing.T) {
	padded := files(20, 12, 40)
	padded[1].Pad = true
	tests := []struct {
		name        string
		pieceLen    int64
		files       []FileSpec
		piece       int
		begin, n    int64
		want        []seg
		wantPieces  int
		wantLastLen int64
	}{
		{"single file, first piece", 32, files(100), 0, 0, 32, []seg{{0, 0, 32}}, 4, 4},
		{"single file, odd last piece", 32, files(100), 3, 0, 4, []seg{{0, 96, 4}}, 4, 4},
		{"single file, block inside piece", 32, files(100), 2, 8, 16, []seg{{0, 72, 16}}, 4, 4},
		{"range clipped at the end", 32, files(100), 3, 0, 32, []seg{{0, 96, 4}}, 4, 4},
		{"piece spans 3 files past an empty one", 16, files(10, 0, 5, 30, 0), 0, 0, 16,
			[]seg{{0, 0, 10}, {2, 0, 5}, {3, 0, 1}}, 3, 13},
		{"inside one file", 16, files(10, 0, 5, 30, 0), 1, 0, 16, []seg{{3, 1, 16}}, 3, 13},
		{"last piece, empty file at the end", 16, files(10, 0, 5, 30, 0), 2, 0, 13, []seg{{3, 17, 13}}, 3, 13},
		{"block across a file boundary", 16, files(10, 0, 5, 30, 0), 0, 8, 4, []seg{{0, 8, 2}, {2, 0, 2}}, 3, 13},
		{"empty file first", 4, files(0, 10), 1, 0, 4, []seg{{1, 4, 4}}, 3, 2},
		{"many small files", 8, files(3, 3, 3, 3, 3, 3), 1, 0, 8, []seg{{2, 2, 1}, {3, 0, 3}, {4, 0, 3}, {5, 0, 1}}, 3, 2},
		{"pad file", 32, padded, 0, 0, 32, []seg{{0, 0, 20}, {1, 0, 12}}, 3, 8},
		{"after pad file", 32, padded, 2, 0, 8, []seg{{2, 32, 8}}, 3, 8},
		{"piece out of range", 32, files(100), 4, 0, 32, nil, 4, 4},
		{"zero length", 32, files(100), 0, 0, 0, nil, 4, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain := Layout{PieceLength: tt.pieceLen, TotalLength: sum(tt.files), Files: tt.files}
			indexed := plain
			if _, err := indexed.validate(); err != nil {
				t.Fatal(err)
			}
			if got := plain.NumPieces(); got != tt.wantPieces {
				t.Errorf("NumPieces = %d, want %d", got, tt.wantPieces)
			}
			if got := plain.PieceSize(tt.wantPieces - 1); got != tt.wantLastLen {
				t.Errorf("last PieceSize = %d, want %d", got, tt.wantLastLen)
			}
			for name, l := range map[string]*Layout{"scan": &plain, "search": &indexed} {
				var got []seg
				l.Segments(tt.piece, tt.begin, tt.n, func(file int, off, n int64) bool {
					got = append(got, seg{file, off, n})
					return true
				})
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("%s: Segments(%d, %d, %d) = %v, want %v", name, tt.piece, tt.begin, tt.n, got, tt.want)
				}
			}
		})
	}
}

func TestLayoutSegmentsStopsWhenFnReturnsFalse(t *testing.T) {
	l := Layout{PieceLength: 16, TotalLength: 9, Files: files(3, 3, 3)}
	calls := 0
	l.Segments(0, 0, 9, func(int, int64, int64) bool { calls++; return false })
	if calls != 1 {
		t.Fatalf("fn called %d times after returning false", calls)
	}
}

func TestLayoutValidateRejectsInconsistentNumbers(t *testing.T) {
	for name, l := range map[string]Layout{
		"zero piece length": {PieceLength: 0, TotalLength: 3, Files: files(3)},
		"total mismatch":    {PieceLength: 4, TotalLength: 4, Files: files(3)},
		"negative length":   {PieceLength: 4, TotalLength: 3, Files: files(4, -1)},
		"duplicate path":    {PieceLength: 4, TotalLength: 6, Files: []FileSpec{{Path: "x", Length: 3}, {Path: "x", Length: 3}}},
	} {
		if _, err := Open(t.TempDir(), l); err == nil {
			t.Errorf("%s: Open accepted %+v", name, l)
		}
	}
}
