package resume

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/shardtorrent/shardtorrent/metainfo"
)

// TestPolicyRoundTrip: the torrent's own policy (rate limits, an explicit
// zero limit, ratio and idle rules, auto-managed) survives Encode and
// Decode, under libtorrent's key names where it has them.
func TestPolicyRoundTrip(t *testing.T) {
	ih := metainfo.InfoHash{V1: [20]byte{1, 2, 3}}
	cases := []Data{
		{InfoHash: ih, Policy: true, AutoManaged: true, UploadLimit: 50_000, DownloadLimit: 1 << 30, RatioMode: 1, RatioLimit: 1.2345, IdleMode: 1, IdleLimit: 600},
		{InfoHash: ih, Policy: true, ZeroLimits: ZeroUploadLimit | ZeroDownloadLimit, RatioMode: 2, IdleMode: 2},
		{InfoHash: ih}, // nothing set: an old file's content
	}
	for i, d := range cases {
		b, err := Encode(&d)
		if err != nil {
			t.Fatalf("case %d: Encode: %v", i, err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("case %d: Decode: %v", i, err)
		}
		got.Pieces = d.Pieces
		if !reflect.DeepEqual(*got, d) {
			t.Fatalf("case %d: round trip\n got %+v\nwant %+v", i, *got, d)
		}
		if d.UploadLimit > 0 && !strings.Contains(string(b), "17:upload_rate_limiti50000e") {
			t.Fatalf("case %d: upload_rate_limit not under libtorrent's key: %q", i, b)
		}
	}
}

// TestPolicyFromLibtorrent: libtorrent's rate-limit keys read as it reads
// them (0 and -1 are none), and a file without our policy keys decodes
// with Policy false.
func TestPolicyFromLibtorrent(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want int64
	}{{"i0e", 0}, {"i-1e", 0}, {"i4096e", 4096}} {
		b := "d12:auto_managedi1e11:file-format22:libtorrent resume file9:info-hash20:" + strings.Repeat("\x01", 20) + "17:upload_rate_limit" + tc.raw + "e"
		d, err := Decode([]byte(b))
		if err != nil {
			t.Fatalf("%s: %v", tc.raw, err)
		}
		if d.UploadLimit != tc.want || d.Policy || !d.AutoManaged {
			t.Fatalf("%s: upload limit %d, policy %v, auto-managed %v", tc.raw, d.UploadLimit, d.Policy, d.AutoManaged)
		}
	}
}

// TestPolicyBadValues: out-of-range policy keys are typed errors.
func TestPolicyBadValues(t *testing.T) {
	for _, kv := range [][2]string{
		{"shardtorrent-idle-limit", "i-1e"},
		{"shardtorrent-idle-mode", "i3e"},
		{"shardtorrent-ratio-limit", "3:abc"},
		{"shardtorrent-ratio-limit", "4:-1.5"},
		{"shardtorrent-ratio-limit", "4:+Inf"},
		{"shardtorrent-ratio-mode", "i-1e"},
		{"shardtorrent-zero-limits", "i4e"},
	} {
		b := "d11:file-format22:libtorrent resume file9:info-hash20:" + strings.Repeat("\x01", 20) +
			strconv.Itoa(len(kv[0])) + ":" + kv[0] + kv[1] + "e"
		_, err := Decode([]byte(b))
		var fe *FormatError
		if !errors.As(err, &fe) || !errors.Is(err, ErrBadField) {
			t.Fatalf("%s: error %v, want a bad-field FormatError", kv, err)
		}
	}
}
