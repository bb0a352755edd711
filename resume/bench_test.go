package resume

import (
	"strconv"
	"testing"
)

// benchData is the resume data of a 128 MiB single-file torrent (4,096
// pieces of 32 KiB) named name, half present, info inside: about 90 KB
// encoded.
func benchData(b *testing.B, name string) *Data {
	info, ih := testInfoNamed(b, 4096, name)
	d := &Data{InfoHash: ih, SavePath: "/srv/down", Info: info, Pieces: make([]byte, 4096),
		Trackers: [][]string{{"http://127.0.0.1:1/announce"}}, Files: []FileStat{{Size: 4096 * 32768, MTime: 1}}}
	for i := range d.Pieces {
		d.Pieces[i] = byte(i & 1 * 3)
	}
	return d
}

func BenchmarkEncode(b *testing.B) {
	d := benchData(b, "data")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	enc, err := Encode(benchData(b, "data"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStoreLoadAll1000 loads a store of 1,000 such torrents: what a
// restarting 1,000-torrent node reads before it adds them.
func BenchmarkStoreLoadAll1000(b *testing.B) {
	s, err := OpenStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		d := benchData(b, "t"+strconv.Itoa(i))
		if err := s.Save(d.InfoHash, d); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if got, errs := s.LoadAll(); len(got) != 1000 || len(errs) != 0 {
			b.Fatal(len(got), errs)
		}
	}
}
