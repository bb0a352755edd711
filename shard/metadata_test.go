package shard

import (
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

func extHS(t testing.TB, h wire.ExtHandshake) []byte {
	t.Helper()
	b, err := h.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return wire.AppendExtended(nil, 0, b)
}

// TestNoMetadataTorrent: a torrent added by info-hash alone handshakes,
// requests and serves nothing, keeps what peers announce, and once
// SetMetadata gets the right dictionary applies it (a claim past the real
// piece count is then a protocol error) and downloads normally.
func TestNoMetadataTorrent(t *testing.T) {
	h := newHarness(t, Settings{})
	defer h.close()
	f := makeTorrent(t, 5*16<<10, 16<<10)
	var tor *Torrent
	h.do(func() {
		var err error
		tor, err = h.s.AddTorrent(AddParams{InfoHash: f.mi.InfoHash, SavePath: t.TempDir(), Name: "dn"})
		if err != nil {
			fatalf("AddTorrent: %v", err)
		}
	})
	var a, b, c, d, e *tpeer
	h.do(func() {
		st := tor.Status()
		if st.State != plugin.StateDownloadingMetadata || st.Name != "dn" || st.NumPieces != 0 || tor.isSeed() || tor.HasMetadata() {
			fatalf("status before metadata: %+v", st)
		}
		// a: bitfield {0, 2}, then HAVE 3, INTERESTED and a REQUEST.
		a = h.connect(tor, false)
		h.feed(a, join(handshake(tor, peerID(1), true, true), wire.AppendBitfield(nil, []byte{0xa0}),
			wire.AppendHave(nil, 3), simple(wire.Interested), wire.AppendRequest(nil, 0, 0, 16<<10)))
		got := a.fc.take()
		if len(only(got, wire.HaveNone)) != 1 || len(only(got, wire.Reject)) != 1 ||
			len(only(got, wire.Interested)) != 0 || len(only(got, wire.Request)) != 0 || len(only(got, wire.Bitfield)) != 0 {
			fatalf("before metadata we sent %v", ids(got))
		}
		b = h.handshaken(tor, 2, simple(wire.HaveAll))
		c = h.handshaken(tor, 3, wire.AppendHave(nil, 7)) // piece 7 of 5
		d = h.handshaken(tor, 4)
		h.feed(d, wire.AppendHave(nil, maxPiecesNoMeta))
		if !d.closing || d.discErr.Reason != ReasonProtocol {
			fatalf("HAVE past the bound before metadata: closing %v", d.closing)
		}
		// e: speaks ut_metadata without metadata_size, so lacks it, until
		// it says INTERESTED.
		e = h.handshaken(tor, 5, extHS(t, wire.ExtHandshake{M: map[string]int{"ut_metadata": 3}}))
		if e.conn().HasMetadata() {
			fatalf("peer without metadata_size reported as having metadata")
		}
		h.feed(e, simple(wire.Interested))
		if !e.conn().HasMetadata() {
			fatalf("INTERESTED did not mark the peer as having metadata")
		}
		if a.closing || b.closing || c.closing || e.closing {
			fatalf("a peer was dropped before metadata")
		}
	})
	h.do(func() {
		err := tor.Handle().SetMetadata(append([]byte("d1:xi1ee"), f.mi.InfoBytes...))
		if !errors.Is(err, plugin.ErrMismatchingInfoHash) || tor.HasMetadata() {
			fatalf("wrong metadata: %v", err)
		}
		if len(alertsOf[*plugin.MetadataFailedAlert](h.alerts)) != 1 {
			fatalf("no MetadataFailedAlert")
		}
		if err := tor.Handle().SetMetadata(f.mi.InfoBytes); err != nil {
			fatalf("SetMetadata: %v", err)
		}
		if err := tor.Handle().SetMetadata(f.mi.InfoBytes); !errors.Is(err, plugin.ErrHaveMetadata) {
			fatalf("second SetMetadata: %v", err)
		}
		if len(alertsOf[*plugin.MetadataReceivedAlert](h.alerts)) != 1 || tor.Handle().Name() != f.mi.Info.Name {
			fatalf("no MetadataReceivedAlert or name not updated")
		}
		if !c.closing || c.discErr.Reason != ReasonProtocol {
			fatalf("a claim of piece 7 of 5 survived the metadata")
		}
		if a.bf == nil || a.bf.Count() != 3 || !a.bf.Has(0) || !a.bf.Has(2) || !a.bf.Has(3) {
			fatalf("a announcements were not applied: %v closing %v", a.bf, a.closing)
		}
		if !b.seedCounted {
			fatalf("b's HAVE_ALL was not applied")
		}
	})
	h.waitFor("the check", func() bool { return !tor.checking })
	h.do(func() {
		if st := tor.Status(); st.State != plugin.StateDownloading || st.NumPieces != 5 {
			fatalf("after metadata: %+v", st)
		}
		if !a.amInterested || !b.amInterested {
			fatalf("interest not recomputed after the metadata")
		}
		if !bytesEqual(tor.Handle().InfoBytes(), f.mi.InfoBytes) {
			fatalf("InfoBytes differ")
		}
	})
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// TestSetMetadataUnparsable: the right hash over a dictionary that does not
// parse stops the torrent (error alert, paused), as libtorrent does: no
// peer can send a better one.
func TestSetMetadataUnparsable(t *testing.T) {
	h := newHarness(t, Settings{})
	defer h.close()
	junk := []byte("d4:name3:abce")
	h.do(func() {
		tor, err := h.s.AddTorrent(AddParams{InfoHash: metainfo.InfoHash{V1: sha1.Sum(junk)}, SavePath: t.TempDir()})
		if err != nil {
			fatalf("AddTorrent: %v", err)
		}
		if err := tor.SetMetadata(junk); err == nil || errors.Is(err, plugin.ErrMismatchingInfoHash) {
			fatalf("SetMetadata(junk) = %v", err)
		}
		if tor.HasMetadata() || !tor.paused || len(alertsOf[*plugin.TorrentErrorAlert](h.alerts)) != 1 {
			fatalf("after an unparsable dictionary: metadata %v paused %v", tor.HasMetadata(), tor.paused)
		}
	})
}

func TestMatchesInfoHash(t *testing.T) {
	info := []byte("d4:infoi1ee")
	v1, v2 := metainfo.HashV1(sha1.Sum(info)), metainfo.HashV2(sha256.Sum256(info))
	cases := []struct {
		name string
		ih   metainfo.InfoHash
		want bool
	}{
		{"v1", metainfo.InfoHash{V1: v1}, true},
		{"v1 wrong", metainfo.InfoHash{V1: metainfo.HashV1{1}}, false},
		{"v2 only", metainfo.InfoHash{V2: v2}, true},
		{"v2 wrong", metainfo.InfoHash{V2: metainfo.HashV2{1}}, false},
		{"hybrid", metainfo.InfoHash{V1: v1, V2: v2}, true},
		{"hybrid, v1 wrong", metainfo.InfoHash{V1: metainfo.HashV1{1}, V2: v2}, false},
		{"hybrid, v2 wrong", metainfo.InfoHash{V1: v1, V2: metainfo.HashV2{1}}, false},
	}
	for _, tc := range cases {
		tor := &Torrent{ih: tc.ih}
		if got := tor.matchesInfoHash(info); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
