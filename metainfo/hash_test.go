package metainfo

import (
	"errors"
	"strings"
	"testing"
)

func TestParseHashV1(t *testing.T) {
	const hexHash = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a"
	want, _ := ParseHashV1(hexHash)
	tests := []struct {
		name, in string
		wantErr  bool
	}{
		{"hex lower", hexHash, false},
		{"hex upper", strings.ToUpper(hexHash), false},
		{"base32", "YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK", false},
		{"base32 lower", "yex6dqdlxisuvhoj6um3gnnkpqjwpkek", false},
		{"empty", "", true},
		{"39 hex", hexHash[:39], true},
		{"41 hex", hexHash + "0", true},
		{"non-hex", "g" + hexHash[1:], true},
		{"bad base32", "1EX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK", true},
		{"base32 padding", "YEX6DQDLXISUVHOJ6UM3GNNKPQJWPK==", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseHashV1(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrBadHash) {
					t.Fatalf("err = %v, want ErrBadHash", err)
				}
				return
			}
			if err != nil || got != want {
				t.Fatalf("got %v, %v; want %v", got, err, want)
			}
			if got.String() != hexHash {
				t.Fatalf("String() = %s", got)
			}
		})
	}
}

func TestInfoHashShortAndString(t *testing.T) {
	var v1 HashV1
	var v2 HashV2
	for i := range v1 {
		v1[i] = 1
	}
	for i := range v2 {
		v2[i] = byte(i + 1)
	}
	var v2short [20]byte
	copy(v2short[:], v2[:])
	tests := []struct {
		name      string
		h         InfoHash
		short     [20]byte
		str       string
		hasV1, v2 bool
	}{
		{"v1", InfoHash{V1: v1}, v1, v1.String(), true, false},
		{"v2 truncated", InfoHash{V2: v2}, v2short, v2.String(), false, true},
		{"hybrid uses v1", InfoHash{V1: v1, V2: v2}, v1, v1.String(), true, true},
		{"zero", InfoHash{}, [20]byte{}, strings.Repeat("0", 40), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.h.Short(); got != tt.short {
				t.Errorf("Short() = %x, want %x", got, tt.short)
			}
			if got := tt.h.String(); got != tt.str {
				t.Errorf("String() = %s, want %s", got, tt.str)
			}
			if tt.h.HasV1() != tt.hasV1 || tt.h.HasV2() != tt.v2 {
				t.Errorf("HasV1/HasV2 = %v/%v", tt.h.HasV1(), tt.h.HasV2())
			}
		})
	}
}
