package resume

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"net/netip"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"

	"github.com/shardtorrent/shardtorrent/metainfo"
)

// testInfo returns a bencoded single-file info dictionary of n pieces of
// 32 KiB (two blocks each) and its info-hash.
func testInfo(t testing.TB, n int) ([]byte, metainfo.InfoHash) { return testInfoNamed(t, n, "data") }

// testInfoNamed is testInfo with the torrent's name.
func testInfoNamed(t testing.TB, n int, name string) ([]byte, metainfo.InfoHash) {
	t.Helper()
	pieces := bytes.Repeat([]byte("0123456789abcdefghij"), n)
	info := "d6:lengthi" + strconv.Itoa(n*32768) + "e4:name" + strconv.Itoa(len(name)) + ":" + name +
		"12:piece lengthi32768e6:pieces" +
		strconv.Itoa(len(pieces)) + ":" + string(pieces) + "e"
	return []byte(info), metainfo.InfoHash{V1: sha1.Sum([]byte(info))}
}

// fullData returns a Data with every field set, its info embedded.
func fullData(t testing.TB) *Data {
	info, ih := testInfo(t, 5)
	return &Data{
		InfoHash:        ih,
		Name:            "data",
		SavePath:        "/srv/down",
		Pieces:          []byte{PieceHave | PieceVerified, 0, PieceHave, 0, PieceHave | PieceVerified},
		Unfinished:      []Unfinished{{Piece: 1, Bitmask: []byte{0x80}}},
		TotalUploaded:   1 << 40,
		TotalDownloaded: 12345,
		AddedTime:       1700000000,
		CompletedTime:   1700000100,
		ActiveTime:      100,
		SeedingTime:     50,
		FinishedTime:    60,
		Trackers:        [][]string{{"http://127.0.0.1:1/announce", "udp://127.0.0.1:2"}, {"http://127.0.0.1:3/a"}},
		URLList:         []string{"http://127.0.0.1:4/ws/"},
		Peers: []netip.AddrPort{
			netip.MustParseAddrPort("127.0.0.1:6881"),
			netip.MustParseAddrPort("[::1]:51413"),
		},
		FilePriority:  []int{4},
		PiecePriority: []byte{4, 0, 7, 1, 4},
		Paused:        true,
		AutoManaged:   false,
		SeedMode:      true,
		Info:          info,
		Files:         []FileStat{{Size: 5 * 32768, MTime: 1700000000123456789}},
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for name, d := range map[string]*Data{
		"full":    fullData(t),
		"minimal": {InfoHash: fullData(t).InfoHash},
		"empty lists kept": {InfoHash: fullData(t).InfoHash, Trackers: [][]string{}, URLList: []string{},
			Files: []FileStat{}},
		"empty tier": {InfoHash: fullData(t).InfoHash, Trackers: [][]string{{}, {"http://127.0.0.1:1/"}}},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := Encode(d)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, d) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, d)
			}
			b2, err := Encode(got)
			if err != nil || !bytes.Equal(b, b2) {
				t.Fatalf("re-encoding differs (%v):\n%q\n%q", err, b, b2)
			}
		})
	}
}

// TestEncodeLibtorrentKeys pins the bytes of each key to what libtorrent
// 2.0.8's write_resume_data writes for the same values.
func TestEncodeLibtorrentKeys(t *testing.T) {
	d := fullData(t)
	b, err := Encode(d)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]bencode.Bytes
	if err := bencode.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"file-format":      "22:libtorrent resume file",
		"file-version":     "i1e",
		"allocation":       "6:sparse",
		"info-hash":        "20:" + string(d.InfoHash.V1[:]),
		"name":             "4:data",
		"save_path":        "9:/srv/down",
		"pieces":           "5:\x03\x00\x01\x00\x03",
		"unfinished":       "ld7:bitmask1:\x805:piecei1eee",
		"total_uploaded":   "i1099511627776e",
		"total_downloaded": "i12345e",
		"added_time":       "i1700000000e",
		"completed_time":   "i1700000100e",
		"active_time":      "i100e",
		"seeding_time":     "i50e",
		"finished_time":    "i60e",
		"trackers":         "ll27:http://127.0.0.1:1/announce17:udp://127.0.0.1:2el20:http://127.0.0.1:3/aee",
		"url-list":         "l22:http://127.0.0.1:4/ws/e",
		"peers":            "6:\x7f\x00\x00\x01\x1a\xe1",
		"peers6":           "18:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\xc8\xd5",
		"file_priority":    "li4ee",
		"piece_priority":   "5:\x04\x00\x07\x01\x04",
		"paused":           "i1e",
		"auto_managed":     "i0e",
		"seed_mode":        "i1e",
		"info":             string(d.Info),
		// Always written, as libtorrent; -1 is none.
		"upload_rate_limit":   "i-1e",
		"download_rate_limit": "i-1e",
		"shardtorrent-files":  "lli163840ei1700000000123456789eee",
	}
	for k, v := range want {
		if string(top[k]) != v {
			t.Errorf("%s = %q, want %q", k, top[k], v)
		}
	}
	for k := range top {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected key %q", k)
		}
	}
	// libtorrent's entry is a sorted map; so is ours.
	if !bytes.HasPrefix(b, []byte("d11:active_timei100e10:added_time")) {
		t.Errorf("keys not sorted: %.60q", b)
	}
}

// libtorrentLike is the dictionary libtorrent 2.0.8 writes for a v1
// torrent, with every key it writes (including those Data does not keep),
// as qBittorrent stores it (no "info", plus its "qBt-*" keys).
func libtorrentLike(ih metainfo.InfoHash, extra map[string]any) []byte {
	m := map[string]any{
		"active_time": 7, "added_time": 1700000000, "allocation": "sparse", "apply_ip_filter": 1,
		"auto_managed": 1, "completed_time": 0, "disable_dht": 0, "disable_lsd": 0, "disable_pex": 0,
		"download_rate_limit": -1, "file-format": "libtorrent resume file", "file-version": 1,
		"file_priority": []int{4}, "finished_time": 0, "httpseeds": []string{},
		"info-hash": string(ih.V1[:]), "info-hash2": strings.Repeat("\x00", 32),
		"last_download": 0, "last_seen_complete": 0, "last_upload": 0,
		"libtorrent-version": "2.0.8.0", "max_connections": -1, "max_uploads": -1,
		"num_complete": 16777215, "num_downloaded": 16777215, "num_incomplete": 16777215,
		"paused": 0, "pieces": "\x03\x00\x03\x03\x00", "save_path": "/home/u/Downloads",
		"seed_mode": 0, "seeding_time": 0, "sequential_download": 0, "share_mode": 0,
		"stop_when_ready": 0, "super_seeding": 0, "total_downloaded": 98304, "total_uploaded": 0,
		"trackers": [][]string{{"udp://127.0.0.1:6969/announce"}}, "upload_mode": 0,
		"upload_rate_limit": -1, "url-list": []string{},
		"qBt-category": "", "qBt-contentLayout": "Original", "qBt-firstLastPiecePriority": 0,
		"qBt-name": "", "qBt-ratioLimit": -2000, "qBt-seedStatus": 0, "qBt-seedingTimeLimit": -2,
		"qBt-stopCondition": "None", "qBt-tags": []string{"a"},
	}
	for k, v := range extra {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return bencode.MustMarshal(m)
}

func TestDecodeLibtorrentAndQBittorrentKeys(t *testing.T) {
	_, ih := testInfo(t, 5)
	d, err := Decode(libtorrentLike(ih, nil))
	if err != nil {
		t.Fatal(err)
	}
	want := &Data{
		InfoHash: ih, SavePath: "/home/u/Downloads", Pieces: []byte{3, 0, 3, 3, 0},
		TotalDownloaded: 98304, AddedTime: 1700000000, ActiveTime: 7,
		Trackers: [][]string{{"udp://127.0.0.1:6969/announce"}}, URLList: []string{},
		FilePriority: []int{4}, AutoManaged: true,
	}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("got  %+v\nwant %+v", d, want)
	}
	// qBittorrent's own save path stands in for an empty libtorrent one.
	d, err = Decode(libtorrentLike(ih, map[string]any{"save_path": "", "qBt-savePath": "/q"}))
	if err != nil || d.SavePath != "/q" {
		t.Fatalf("qBt-savePath: %v, %+v", err, d)
	}
	d, err = Decode(libtorrentLike(ih, map[string]any{"qBt-savePath": "/q"}))
	if err != nil || d.SavePath != "/home/u/Downloads" {
		t.Fatalf("save_path must win over qBt-savePath: %v, %+v", err, d)
	}
}

func TestDecodeErrors(t *testing.T) {
	info, ih := testInfo(t, 5)
	otherInfo, _ := testInfo(t, 6)
	lt := func(extra map[string]any) []byte { return libtorrentLike(ih, extra) }
	for _, tc := range []struct {
		name string
		in   []byte
		kind ErrorKind
		key  string
	}{
		{"empty", nil, ErrNotResume, ""},
		{"not bencode", []byte("hello"), ErrNotResume, ""},
		{"trailing", append(lt(nil), 'x'), ErrNotResume, ""},
		{"list", []byte("le"), ErrNotResume, ""},
		{"too deep", []byte(strings.Repeat("l", 100) + strings.Repeat("e", 100)), ErrNotResume, ""},
		{"leading zero", []byte("d1:ai01ee"), ErrNotResume, ""},
		{"no file-format", lt(map[string]any{"file-format": nil}), ErrNotResume, "file-format"},
		{"wrong file-format", lt(map[string]any{"file-format": "rtorrent"}), ErrNotResume, "file-format"},
		{"no info-hash", lt(map[string]any{"info-hash": nil}), ErrBadField, "info-hash"},
		{"short info-hash", lt(map[string]any{"info-hash": "abc"}), ErrBadField, "info-hash"},
		{"zero info-hash (v2-only)", lt(map[string]any{"info-hash": strings.Repeat("\x00", 20),
			"info-hash2": strings.Repeat("\x01", 32)}), ErrBadField, "info-hash"},
		{"bad info-hash2", lt(map[string]any{"info-hash2": "x"}), ErrBadField, "info-hash2"},
		{"pieces is int", lt(map[string]any{"pieces": 3}), ErrBadField, "pieces"},
		{"paused is string", lt(map[string]any{"paused": "yes"}), ErrBadField, "paused"},
		{"added_time is list", lt(map[string]any{"added_time": []int{1}}), ErrBadField, "added_time"},
		{"trackers not list", lt(map[string]any{"trackers": "udp://x"}), ErrBadField, "trackers"},
		{"tier not list", lt(map[string]any{"trackers": []string{"udp://x"}}), ErrBadField, "trackers"},
		{"tier of ints", lt(map[string]any{"trackers": [][]int{{1}}}), ErrBadField, "trackers"},
		{"url-list of lists", lt(map[string]any{"url-list": [][]string{{"a"}}}), ErrBadField, "url-list"},
		{"file_priority of strings", lt(map[string]any{"file_priority": []string{"4"}}), ErrBadField, "file_priority"},
		{"file_priority 8", lt(map[string]any{"file_priority": []int{8}}), ErrBadField, "file_priority"},
		{"file_priority -1", lt(map[string]any{"file_priority": []int{-1}}), ErrBadField, "file_priority"},
		{"piece_priority 9", lt(map[string]any{"piece_priority": "\x09"}), ErrBadField, "piece_priority"},
		{"peers not multiple of 6", lt(map[string]any{"peers": "12345"}), ErrBadField, "peers"},
		{"peers6 not multiple of 18", lt(map[string]any{"peers6": "123456"}), ErrBadField, "peers6"},
		{"unfinished not dict", lt(map[string]any{"unfinished": []int{1}}), ErrBadField, "unfinished"},
		{"unfinished negative", lt(map[string]any{"unfinished": []map[string]any{{"piece": -1, "bitmask": "\x80"}}}), ErrBadField, "unfinished"},
		{"unfinished without piece", lt(map[string]any{"unfinished": []map[string]any{{"bitmask": "\x80"}}}), ErrBadField, "unfinished"},
		{"unfinished piece string", lt(map[string]any{"unfinished": []map[string]any{{"piece": "1", "bitmask": "\x80"}}}), ErrBadField, "unfinished"},
		{"unfinished piece huge", []byte(strings.Replace(string(lt(map[string]any{"unfinished": []map[string]any{{"piece": 7, "bitmask": "\x80"}}})), "piecei7e", "piecei99999999999999999999e", 1)), ErrBadField, "unfinished"},
		{"unfinished bitmask int", lt(map[string]any{"unfinished": []map[string]any{{"piece": 1, "bitmask": 1}}}), ErrBadField, "unfinished"},
		{"shardtorrent-files overflow", []byte(strings.Replace(string(lt(map[string]any{"shardtorrent-files": [][]int{{1, 2}}})), "i2e", "i99999999999999999999e", 1)), ErrBadField, "shardtorrent-files"},
		{"unfinished empty bitmask", lt(map[string]any{"unfinished": []map[string]any{{"piece": 1, "bitmask": ""}}}), ErrBadField, "unfinished"},
		{"unfinished past info", lt(map[string]any{"info": bencode.Bytes(info),
			"unfinished": []map[string]any{{"piece": 5, "bitmask": "\x80"}}}), ErrBadField, "unfinished"},
		{"unfinished bitmask too long for piece", lt(map[string]any{"info": bencode.Bytes(info),
			"unfinished": []map[string]any{{"piece": 0, "bitmask": "\x80\x00"}}}), ErrBadField, "unfinished"},
		{"shardtorrent-files entry short", lt(map[string]any{"shardtorrent-files": [][]int{{1}}}), ErrBadField, "shardtorrent-files"},
		{"shardtorrent-files entry long", lt(map[string]any{"shardtorrent-files": [][]int{{1, 2, 3}}}), ErrBadField, "shardtorrent-files"},
		{"shardtorrent-files entry of strings", lt(map[string]any{"shardtorrent-files": [][]string{{"1", "2"}}}), ErrBadField, "shardtorrent-files"},
		{"shardtorrent-files not lists", lt(map[string]any{"shardtorrent-files": []int{1, 2}}), ErrBadField, "shardtorrent-files"},
		{"shardtorrent-files count", lt(map[string]any{"info": bencode.Bytes(info),
			"shardtorrent-files": [][]int{{1, 2}, {3, 4}}}), ErrBadField, "shardtorrent-files"},
		{"info not dict", lt(map[string]any{"info": "x"}), ErrBadField, "info"},
		{"info of another torrent", lt(map[string]any{"info": bencode.Bytes(otherInfo)}), ErrInfoHashMismatch, "info"},
		{"info-hash2 mismatch", lt(map[string]any{"info": bencode.Bytes(info),
			"info-hash2": strings.Repeat("\x01", 32)}), ErrInfoHashMismatch, "info"},
		{"pieces longer than info's", lt(map[string]any{"info": bencode.Bytes(info), "pieces": "\x03\x03\x03\x03\x03\x03"}), ErrBadField, "pieces"},
		{"piece_priority longer than info's", lt(map[string]any{"info": bencode.Bytes(info), "piece_priority": "\x01\x01\x01\x01\x01\x01"}), ErrBadField, "piece_priority"},
		{"file_priority longer than info's", lt(map[string]any{"info": bencode.Bytes(info), "file_priority": []int{1, 1}}), ErrBadField, "file_priority"},
		{"too many trackers", lt(map[string]any{"trackers": manyTiers(1, MaxTrackers+1)}), ErrTooLarge, "trackers"},
		{"too many tiers", lt(map[string]any{"trackers": manyTiers(MaxTrackers+1, 1)}), ErrTooLarge, "trackers"},
		{"too many URLs over tiers", lt(map[string]any{"trackers": manyTiers(MaxTrackers/2+1, 2)}), ErrTooLarge, "trackers"},
		{"too many empty tiers", lt(map[string]any{"trackers": manyTiers(MaxTrackers+1, 0)}), ErrTooLarge, "trackers"},
		{"too many web seeds", lt(map[string]any{"url-list": make([]string, MaxWebSeeds+1)}), ErrTooLarge, "url-list"},
		{"pieces past MaxPieces", lt(map[string]any{"pieces": make([]byte, MaxPieces+1)}), ErrTooLarge, "pieces"},
		{"too large", make([]byte, MaxSize+1), ErrTooLarge, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Decode(tc.in)
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, %v; want a *FormatError", d, err)
			}
			if d != nil {
				t.Error("Data returned with an error")
			}
			if !errors.Is(err, tc.kind) || fe.Key != tc.key {
				t.Fatalf("got %v (kind %v, key %q); want kind %v, key %q", err, fe.Kind, fe.Key, tc.kind, tc.key)
			}
		})
	}
}

func manyTiers(tiers, per int) [][]string {
	out := make([][]string, tiers)
	for i := range out {
		out[i] = make([]string, per)
	}
	return out
}

// TestDecodeInvalidInfo: an info dictionary that hashes right but is not a
// valid torrent is ErrBadInfo, wrapping metainfo's error.
func TestDecodeInvalidInfo(t *testing.T) {
	bad := []byte("d4:name1:ae")
	ih := metainfo.InfoHash{V1: sha1.Sum(bad)}
	_, err := Decode(libtorrentLike(ih, map[string]any{"info": bencode.Bytes(bad)}))
	if !errors.Is(err, ErrBadInfo) || !errors.Is(err, metainfo.ErrBadInfo) {
		t.Fatalf("got %v", err)
	}
}

// TestDecodeDropsPeersPastLimit: peers are hints; past MaxPeers they are
// dropped, not refused, and never allocated.
func TestDecodeDropsPeersPastLimit(t *testing.T) {
	_, ih := testInfo(t, 1)
	d, err := Decode(libtorrentLike(ih, map[string]any{
		"peers": bytes.Repeat([]byte{127, 0, 0, 1, 0, 1}, MaxPeers+10), "peers6": make([]byte, 18*3)}))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Peers) != MaxPeers+3 {
		t.Fatalf("%d peers, want %d", len(d.Peers), MaxPeers+3)
	}
}

// TestDecodeTruncated: every proper prefix of valid resume data is refused.
func TestDecodeTruncated(t *testing.T) {
	b, err := Encode(fullData(t))
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(b); n++ {
		if _, err := Decode(b[:n]); err == nil {
			t.Fatalf("prefix of %d/%d bytes decoded", n, len(b))
		}
	}
}

func TestEncodeRefusesWhatDecodeRefuses(t *testing.T) {
	for name, mut := range map[string]func(*Data){
		"zero info-hash":     func(d *Data) { d.InfoHash = metainfo.InfoHash{} },
		"info of another":    func(d *Data) { d.Info, _ = testInfo(t, 7) },
		"info not bencode":   func(d *Data) { d.Info = []byte("d1:a") },
		"pieces past info":   func(d *Data) { d.Pieces = make([]byte, 6) },
		"priority 8":         func(d *Data) { d.FilePriority = []int{8} },
		"empty bitmask":      func(d *Data) { d.Unfinished = []Unfinished{{Piece: 0}} },
		"files count":        func(d *Data) { d.Files = []FileStat{{}, {}} },
		"too many web seeds": func(d *Data) { d.URLList = make([]string, MaxWebSeeds+1) },
	} {
		t.Run(name, func(t *testing.T) {
			d := fullData(t)
			mut(d)
			var fe *FormatError
			if _, err := Encode(d); !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *FormatError", err)
			}
		})
	}
}

// FuzzDecode: Decode never panics; what it accepts survives Encode and a
// second Decode unchanged, and no proper prefix of it decodes.
func FuzzDecode(f *testing.F) {
	d := fullData(f)
	b, err := Encode(d)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(libtorrentLike(d.InfoHash, nil))
	if lt, err := os.ReadFile("testdata/libtorrent-2.0.8.fastresume"); err == nil {
		f.Add(lt)
	} else {
		f.Fatal(err)
	}
	f.Add(libtorrentLike(d.InfoHash, map[string]any{"info": bencode.Bytes(d.Info),
		"unfinished": []map[string]any{{"piece": 1, "bitmask": "\xc0"}}}))
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := Decode(in)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || d != nil {
				t.Fatalf("error %v (%T) with Data %v", err, err, d)
			}
			return
		}
		b1, err := Encode(d)
		if err != nil {
			t.Fatalf("Encode of decoded data: %v", err)
		}
		d2, err := Decode(b1)
		if err != nil {
			t.Fatalf("Decode of re-encoded data: %v", err)
		}
		b2, err := Encode(d2)
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("second round trip differs: %v", err)
		}
		for _, n := range []int{0, 1, len(in) / 2, len(in) - 1} {
			if _, err := Decode(in[:n]); err == nil {
				t.Fatalf("prefix of %d/%d bytes decoded", n, len(in))
			}
		}
	})
}

// TestDecodeLibtorrentFixture decodes a file libtorrent 2.0.8 wrote (see
// testdata/README.md): pieces 0, 2, 3, 4, 6 and 7 of 11 present, info
// inside, every libtorrent-only key ignored.
func TestDecodeLibtorrentFixture(t *testing.T) {
	b, err := os.ReadFile("testdata/libtorrent-2.0.8.fastresume")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	// libtorrent sets only bit 0 (have) outside seed mode.
	if want := []byte{1, 0, 1, 1, 1, 0, 1, 1, 0, 0, 0}; !bytes.Equal(d.Pieces, want) {
		t.Errorf("pieces %v, want %v", d.Pieces, want)
	}
	info, err := metainfo.ParseInfo(d.Info)
	if err != nil || info.NumPieces() != 11 || len(info.Files) != 3 || info.Name != "resumedata" {
		t.Fatalf("info: %+v, %v", info, err)
	}
	if d.InfoHash.V1 != sha1.Sum(d.Info) || d.InfoHash.HasV2() || d.Name != "resumedata" || d.SavePath == "" ||
		d.Trackers == nil || len(d.Trackers) != 0 || d.URLList == nil || d.Paused || d.AutoManaged || d.SeedMode ||
		d.AddedTime == 0 || d.Files != nil || d.Unfinished != nil || d.Peers != nil {
		t.Errorf("decoded %+v", d)
	}
	b2, err := Encode(d)
	if err != nil {
		t.Fatal(err)
	}
	if d2, err := Decode(b2); err != nil || !reflect.DeepEqual(d, d2) {
		t.Fatalf("re-encoded: %+v, %v", d2, err)
	}
}

// TestDecodeMemoryBounded: for inputs built to inflate once decoded, Decode
// allocates at most a small multiple of the input, whether it accepts or
// refuses them.
func TestDecodeMemoryBounded(t *testing.T) {
	_, ih := testInfo(t, 1)
	manyInts := make([]int, MaxFiles)
	for i := range manyInts {
		manyInts[i] = 4
	}
	manyUnfinished := make([]map[string]any, 200000)
	for i := range manyUnfinished {
		manyUnfinished[i] = map[string]any{"piece": i, "bitmask": "\x80"}
	}
	for name, in := range map[string][]byte{
		"file_priority at its limit": libtorrentLike(ih, map[string]any{"file_priority": manyInts}),
		"file_priority past it":      libtorrentLike(ih, map[string]any{"file_priority": append(manyInts, 4)}),
		"unfinished":                 libtorrentLike(ih, map[string]any{"unfinished": manyUnfinished}),
		"peers":                      libtorrentLike(ih, map[string]any{"peers": make([]byte, 6<<20)}),
		"empty URLs":                 libtorrentLike(ih, map[string]any{"url-list": make([]string, 1<<20)}),
		"empty tracker URLs":         libtorrentLike(ih, map[string]any{"trackers": manyTiers(1, 1<<20)}),
		"shardtorrent-files long":    libtorrentLike(ih, map[string]any{"shardtorrent-files": [][]int{make([]int, 1<<20)}}),
		"deep nesting":               []byte(strings.Repeat("l", 1<<20) + strings.Repeat("e", 1<<20)),
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Decode(in)
		runtime.ReadMemStats(&after)
		ratio := float64(after.TotalAlloc-before.TotalAlloc) / float64(len(in))
		t.Logf("%s: %d bytes in, %.1fx allocated, err %v", name, len(in), ratio, err)
		if ratio > 6 {
			t.Errorf("%s: allocated %.1f times the input", name, ratio)
		}
	}
}

// TestDecodeDoesNotAlias: the decoded Data keeps no reference into the
// input buffer (callers reuse read buffers).
func TestDecodeDoesNotAlias(t *testing.T) {
	b, err := Encode(fullData(t))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 'x'
	}
	if !reflect.DeepEqual(d, fullData(t)) {
		t.Fatalf("Data changed with its input: %+v", d)
	}
}
