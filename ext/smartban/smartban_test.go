package smartban

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/shardtorrent/shardtorrent/plugin"
)

const blockLen = 16 << 10

// fakeTorrent is the part of plugin.TorrentHandle smart_ban uses. Its
// "disk" holds the good data; reads complete when run is called, as the
// engine's disk reads complete later on the loop.
type fakeTorrent struct {
	plugin.TorrentHandle // nil: any other method panics
	have                 map[int]bool
	reads                []func()
	readErr              error
	banned               []netip.Addr
}

func (f *fakeTorrent) HavePiece(i int) bool { return f.have[i] }
func (f *fakeTorrent) BanPeer(a netip.Addr) {
	if !slices.Contains(f.banned, a) {
		f.banned = append(f.banned, a)
	}
}

func (f *fakeTorrent) ReadBlock(piece, begin, length int, fn func([]byte, error)) {
	f.reads = append(f.reads, func() {
		if f.readErr != nil {
			fn(nil, f.readErr)
			return
		}
		fn(goodBlock(piece, begin/blockLen)[:length], nil)
	})
}

func (f *fakeTorrent) run() {
	for len(f.reads) > 0 {
		r := f.reads[0]
		f.reads = f.reads[1:]
		r()
	}
}

// fakeConn is the part of plugin.PeerConn smart_ban uses.
type fakeConn struct {
	plugin.PeerConn
	addr netip.AddrPort
}

func (c fakeConn) RemoteEndpoint() netip.AddrPort { return c.addr }

// goodBlock is the verified content of a block; badBlock(v) is a corrupt
// version number v of it.
func goodBlock(piece, block int) []byte {
	b := make([]byte, blockLen)
	for i := range b {
		b[i] = byte(piece*31 + block*7 + i)
	}
	return b
}

func badBlock(piece, block, v int) []byte {
	b := goodBlock(piece, block)
	b[100+v] ^= 0xff
	return b
}

var (
	honest  = netip.MustParseAddr("10.0.0.1")
	hostile = netip.MustParseAddr("10.0.0.2")
	other   = netip.MustParseAddr("10.0.0.3")
)

// ev is one step of a scenario.
type ev struct {
	kind  string // "blk", "fail", "pass", "seed", "have"
	from  netip.Addr
	piece int
	block int
	bad   int          // 0: good data; v > 0: corrupt version v
	bans  []netip.Addr // expected bans after this step (cumulative)
}

func blk(from netip.Addr, piece, block, bad int) ev {
	return ev{kind: "blk", from: from, piece: piece, block: block, bad: bad}
}
func fail(piece int, bans ...netip.Addr) ev { return ev{kind: "fail", piece: piece, bans: bans} }
func pass(piece int, bans ...netip.Addr) ev { return ev{kind: "pass", piece: piece, bans: bans} }

func TestScenarios(t *testing.T) {
	cases := []struct {
		name   string
		events []ev
		reads  int // block reads smart_ban asked for
	}{
		{"multi-peer failed piece, then pass: only the corrupt sender", []ev{
			blk(honest, 0, 0, 0), blk(hostile, 0, 1, 1), blk(other, 0, 2, 0), fail(0),
			blk(honest, 0, 1, 0), blk(other, 0, 0, 0), blk(other, 0, 2, 0), pass(0, hostile),
		}, 3},
		{"two versions of one block from one peer: banned at the failure", []ev{
			blk(hostile, 0, 0, 1), blk(honest, 0, 1, 0), fail(0),
			blk(hostile, 0, 0, 2), blk(honest, 0, 1, 0), fail(0, hostile),
		}, 0},
		{"the same corrupt version twice: no early ban, banned on pass", []ev{
			blk(hostile, 0, 0, 1), fail(0), blk(hostile, 0, 0, 1), fail(0),
			blk(honest, 0, 0, 0), pass(0, hostile),
		}, 1},
		{"end game: hostile's dropped duplicate and a corrupt block; honest never banned", []ev{
			blk(honest, 1, 0, 0), blk(hostile, 1, 0, 1), blk(hostile, 1, 1, 1), fail(1),
			blk(honest, 1, 0, 0), blk(honest, 1, 1, 0), pass(1, hostile),
		}, 2},
		{"end game: honest duplicate of hostile's kept corrupt block", []ev{
			blk(hostile, 2, 0, 1), blk(honest, 2, 0, 0), fail(2),
			blk(honest, 2, 0, 0), pass(2, hostile),
		}, 1},
		{"a piece that passes without failing costs nothing, even with a bad duplicate", []ev{
			blk(honest, 3, 0, 0), blk(hostile, 3, 0, 1), pass(3),
		}, 0},
		{"records are per piece", []ev{
			blk(hostile, 0, 0, 1), fail(0), blk(honest, 1, 0, 0), pass(1),
			blk(honest, 0, 0, 0), pass(0, hostile),
		}, 1},
		{"a seed drops every record", []ev{
			blk(hostile, 0, 0, 1), fail(0), {kind: "seed"}, pass(0),
		}, 0},
		{"late copies of a verified piece are not recorded", []ev{
			{kind: "have", piece: 4}, blk(hostile, 4, 0, 1), fail(4), pass(4),
		}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ft := &fakeTorrent{have: map[int]bool{}}
			tp := New(Config{Seed: 42}).NewTorrent(ft, nil).(*torrentPlugin)
			peers := map[netip.Addr]plugin.PieceHook{}
			for _, a := range []netip.Addr{honest, hostile, other} {
				peers[a] = tp.NewConnection(fakeConn{addr: netip.AddrPortFrom(a, 6881)}).(plugin.PieceHook)
			}
			reads := 0
			for i, e := range tc.events {
				switch e.kind {
				case "blk":
					data := goodBlock(e.piece, e.block)
					if e.bad > 0 {
						data = badBlock(e.piece, e.block, e.bad)
					}
					r := plugin.Request{Piece: e.piece, Begin: e.block * blockLen, Length: blockLen}
					if peers[e.from].OnPiece(r, plugin.NewBlock(nil, data)) {
						t.Fatalf("step %d: OnPiece swallowed a block", i)
					}
				case "fail":
					tp.OnPieceFailed(e.piece)
				case "pass":
					ft.have[e.piece] = true
					tp.OnPiecePass(e.piece)
					reads += len(ft.reads)
					ft.run()
				case "seed":
					tp.OnState(plugin.StateSeeding)
				case "have":
					ft.have[e.piece] = true
				}
				if e.kind == "fail" || e.kind == "pass" {
					if !sameSet(ft.banned, e.bans) {
						t.Fatalf("step %d (%s %d): banned %v, want %v", i, e.kind, e.piece, ft.banned, e.bans)
					}
				}
			}
			if reads != tc.reads {
				t.Errorf("%d block reads, want %d", reads, tc.reads)
			}
			if slices.Contains(ft.banned, honest) || slices.Contains(ft.banned, other) {
				t.Errorf("an honest peer was banned: %v", ft.banned)
			}
		})
	}
}

func sameSet(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}

func TestReadErrorBansNobody(t *testing.T) {
	ft := &fakeTorrent{have: map[int]bool{}, readErr: errors.New("disk on fire")}
	tp := New(Config{Seed: 1}).NewTorrent(ft, nil).(*torrentPlugin)
	pp := tp.NewConnection(fakeConn{addr: netip.AddrPortFrom(hostile, 1)}).(plugin.PieceHook)
	pp.OnPiece(plugin.Request{Piece: 0, Begin: 0, Length: blockLen}, plugin.NewBlock(nil, badBlock(0, 0, 1)))
	tp.OnPieceFailed(0)
	tp.OnPiecePass(0)
	ft.run()
	if len(ft.banned) != 0 {
		t.Fatalf("banned %v without verified data", ft.banned)
	}
}

func TestLedgerBound(t *testing.T) {
	cases := []struct {
		max, received, wantKept int
	}{
		{max: 4, received: 3, wantKept: 3},
		{max: 4, received: 4, wantKept: 4},
		{max: 4, received: 10, wantKept: 4},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("max %d received %d", tc.max, tc.received), func(t *testing.T) {
			l := newLedger(tc.max)
			for i := range tc.received {
				l.received(i%3, 0, blockLen, netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), uint64(i))
			}
			if l.n != tc.wantKept || l.dropped != int64(tc.received-tc.wantKept) {
				t.Fatalf("kept %d dropped %d, want %d and %d", l.n, l.dropped, tc.wantKept, tc.received-tc.wantKept)
			}
			for p := range 3 {
				l.failed(p)
				l.passed(p)
			}
			if l.n != 0 || len(l.pieces) != 0 {
				t.Fatalf("after every verdict n=%d pieces=%d, want 0 and 0", l.n, len(l.pieces))
			}
			// Room again: recording resumes.
			l.received(0, 0, blockLen, honest, 1)
			if l.n != 1 {
				t.Fatalf("n=%d after a verdict freed room, want 1", l.n)
			}
		})
	}
}

func TestLedgerCountsDeduplicatedCopies(t *testing.T) {
	l := newLedger(100)
	for range 3 {
		l.received(0, 0, blockLen, honest, 7) // one peer, one version, thrice
	}
	l.received(0, 0, blockLen, hostile, 8)
	if ban := l.failed(0); len(ban) != 0 {
		t.Fatalf("banned %v for repeating one version", ban)
	}
	if l.n != 2 {
		t.Fatalf("n=%d after the failure, want 2 (one record per peer and block)", l.n)
	}
	l.received(0, 0, blockLen, hostile, 9)
	if ban := l.failed(0); !slices.Equal(ban, []netip.Addr{hostile}) {
		t.Fatalf("second failure banned %v, want [%v]", ban, hostile)
	}
	if recs := l.passed(0); len(recs) != 2 || l.n != 0 {
		t.Fatalf("pass returned %d records, n=%d; want 2 and 0", len(recs), l.n)
	}
}

// A peer that sends a block of a different length for the same offset sent
// two versions too.
func TestLedgerLengthIsPartOfTheVersion(t *testing.T) {
	l := newLedger(100)
	l.received(0, 0, blockLen, hostile, 7)
	l.failed(0)
	l.received(0, 0, blockLen/2, hostile, 7)
	if ban := l.failed(0); !slices.Equal(ban, []netip.Addr{hostile}) {
		t.Fatalf("banned %v, want [%v]", ban, hostile)
	}
}

// The per-block path (fingerprint and record) allocates nothing once the
// piece records are recycled.
func TestOnPieceAllocatesNothing(t *testing.T) {
	ft := &fakeTorrent{have: map[int]bool{}}
	tp := New(Config{Seed: 3}).NewTorrent(ft, nil).(*torrentPlugin)
	pp := tp.NewConnection(fakeConn{addr: netip.AddrPortFrom(honest, 1)}).(plugin.PieceHook)
	data := goodBlock(0, 0)
	const blocks = 64
	piece := 0
	cycle := func() {
		for b := range blocks {
			pp.OnPiece(plugin.Request{Piece: piece, Begin: b * blockLen, Length: blockLen}, plugin.NewBlock(nil, data))
		}
		tp.OnPiecePass(piece)
		piece++
	}
	cycle() // grow the record slice once
	if a := testing.AllocsPerRun(100, cycle); a != 0 {
		t.Fatalf("%.1f allocations per piece of %d blocks, want 0", a, blocks)
	}
}

func TestFingerprintIsKeyed(t *testing.T) {
	b := goodBlock(0, 0)
	a1, a2, c := newFingerprinter(1), newFingerprinter(1), newFingerprinter(2)
	if a1.sum(b) != a2.sum(b) {
		t.Fatal("one seed, one block: two fingerprints")
	}
	if a1.sum(b) == c.sum(b) {
		t.Fatal("the seed does not change the fingerprint")
	}
	if a1.sum(b) == a1.sum(badBlock(0, 0, 1)) {
		t.Fatal("a one-byte change kept the fingerprint")
	}
	if bytes.Equal(b, badBlock(0, 0, 1)) {
		t.Fatal("badBlock is not bad")
	}
}

func BenchmarkOnPiece(b *testing.B) {
	ft := &fakeTorrent{have: map[int]bool{}}
	tp := New(Config{Seed: 3}).NewTorrent(ft, nil).(*torrentPlugin)
	pp := tp.NewConnection(fakeConn{addr: netip.AddrPortFrom(honest, 1)}).(plugin.PieceHook)
	data := goodBlock(0, 0)
	b.SetBytes(blockLen)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		pp.OnPiece(plugin.Request{Piece: i / 64, Begin: i % 64 * blockLen, Length: blockLen}, plugin.NewBlock(nil, data))
		if i%64 == 63 {
			tp.OnPiecePass(i / 64)
		}
	}
}

// BenchmarkFingerprint compares the fingerprint with SHA-1 (libtorrent's
// choice) on one block: the figure behind fingerprinter's comment.
func BenchmarkFingerprint(b *testing.B) {
	data := goodBlock(0, 0)
	b.Run("xxhash-seeded", func(b *testing.B) {
		f := newFingerprinter(5)
		b.SetBytes(blockLen)
		for b.Loop() {
			f.sum(data)
		}
	})
	b.Run("sha1", func(b *testing.B) {
		b.SetBytes(blockLen)
		for b.Loop() {
			sha1.Sum(data)
		}
	})
}

// TestNewPieceRecordsStartFull: more pieces in flight than recycled records
// (the download's working set growing) cost one pending slice each, sized
// by the largest piece seen, not a slice grown block by block.
func TestNewPieceRecordsStartFull(t *testing.T) {
	l := newLedger(DefaultMaxRecords)
	const blocks = 64
	for b := range blocks {
		l.received(0, b*blockLen, blockLen, honest, 1)
	}
	l.passed(0)
	l.received(1, 0, blockLen, honest, 1) // the recycled record
	l.received(2, 0, blockLen, honest, 1) // a new one
	if c := cap(l.pieces[2].pending); c < blocks {
		t.Fatalf("a new piece's records start with capacity %d, want >= %d", c, blocks)
	}
	allocs := testing.AllocsPerRun(10, func() {
		for b := 1; b < blocks; b++ {
			l.received(2, b*blockLen, blockLen, honest, 1)
		}
		l.pieces[2].pending = l.pieces[2].pending[:1]
		l.n -= blocks - 1
	})
	if allocs != 0 {
		t.Fatalf("filling a new piece's records: %.0f allocations, want 0", allocs)
	}
}
