package shardtorrent

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/ext/utmetadata"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// seedSession makes a torrent of files under a temp dir and seeds it from a
// new session.
func seedSession(t *testing.T, files map[string]int, opts metainfo.CreateOptions) (*Session, *metainfo.MetaInfo, string) {
	t.Helper()
	src := t.TempDir()
	writeFiles(t, src, files)
	first := ""
	for name := range files {
		first = filepathFirst(name)
	}
	_, mi, err := metainfo.Create(filepath.Join(src, first), opts)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestSession(t, bufpool.New(), 1)
	if _, err := s.AddTorrent(context.Background(), AddTorrentParams{MetaInfo: mi, SavePath: src}); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, s, 20*time.Second, func(a plugin.Alert) bool {
		sc, ok := a.(*plugin.StateChangedAlert)
		return ok && sc.To == plugin.StateSeeding
	})
	return s, mi, src
}

func isFinished(a plugin.Alert) bool { _, ok := a.(*plugin.TorrentFinishedAlert); return ok }

// TestMagnetFetchesMetadataAndCompletes: a session given only a magnet URI
// (x.pe naming the seeder) fetches the info dictionary with ut_metadata,
// becomes a normal torrent on the same shard, and downloads identical data.
func TestMagnetFetchesMetadataAndCompletes(t *testing.T) {
	cases := []struct {
		name      string
		files     map[string]int
		pieceSize int64
	}{
		// One metadata piece.
		{"single metadata piece", map[string]int{"m1/a.bin": 300_000, "m1/b.bin": 5}, 32 << 10},
		// 1100 pieces: 22 KB of hashes, two metadata pieces, the last short.
		{"two metadata pieces", map[string]int{"m2.bin": 1100*16<<10 - 77}, 16 << 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			seeder, mi, src := seedSession(t, tc.files, metainfo.CreateOptions{PieceLength: tc.pieceSize})
			defer seeder.Close(context.Background())
			if n := len(mi.InfoBytes); (n > 16<<10) != (tc.name == "two metadata pieces") {
				t.Fatalf("info dictionary is %d bytes: the case does not test what it says", n)
			}
			leecher := newTestSession(t, bufpool.New(), 2)
			defer leecher.Close(context.Background())
			uri := mi.Magnet().String() + "&x.pe=" + seeder.ListenAddr().String()
			p, err := ParseMagnet(uri)
			if err != nil {
				t.Fatal(err)
			}
			if p.InfoHash != mi.InfoHash || len(p.Peers) != 1 {
				t.Fatalf("ParseMagnet: %+v", p)
			}
			p.SavePath = t.TempDir()
			ctx := context.Background()
			h, err := leecher.AddTorrent(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			seen := waitAlert(t, leecher, 60*time.Second, isFinished)
			var gotMeta, fromMetaState bool
			for _, a := range seen {
				switch a := a.(type) {
				case *plugin.MetadataReceivedAlert:
					gotMeta = true
				case *plugin.MetadataFailedAlert:
					t.Errorf("unexpected %s", a.Message())
				case *plugin.StateChangedAlert:
					fromMetaState = fromMetaState || a.From == plugin.StateDownloadingMetadata
				}
			}
			if !gotMeta || !fromMetaState {
				t.Fatalf("metadata_received %v, left downloading_metadata %v", gotMeta, fromMetaState)
			}
			st, err := h.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.State != plugin.StateSeeding || st.Name != mi.Info.Name || st.NumPieces != mi.Info.NumPieces() {
				t.Fatalf("status after finish: %+v", st)
			}
			want, got := hashTree(t, src), hashTree(t, p.SavePath)
			if len(got) != len(want) {
				t.Fatalf("downloaded %d files, want %d", len(got), len(want))
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s differs", k)
				}
			}
		})
	}
}

// TestMagnetWaitsForMetadata: before metadata the torrent reports
// downloading_metadata, has no pieces and is not seeding; an info-hash
// alone is accepted, nothing at all is ErrNoMetadata.
func TestMagnetWaitsForMetadata(t *testing.T) {
	s := newTestSession(t, bufpool.New(), 1)
	defer s.Close(context.Background())
	ctx := context.Background()
	if _, err := s.AddTorrent(ctx, AddTorrentParams{SavePath: t.TempDir()}); !errors.Is(err, ErrNoMetadata) {
		t.Fatalf("no metadata, no info-hash: %v", err)
	}
	h, err := s.AddTorrent(ctx, AddTorrentParams{InfoHash: metainfo.InfoHash{V1: metainfo.HashV1{9}}, Name: "dn", SavePath: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	st, err := h.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != plugin.StateDownloadingMetadata || st.NumPieces != 0 || st.Name != "dn" || h.Name() != "dn" {
		t.Fatalf("status: %+v", st)
	}
}

// hostilePeer accepts one plaintext connection for ih and answers every ut_metadata
// request with reply(piece) (wrongData by default). It counts the requests
// it got.
type hostilePeer struct {
	ln       net.Listener
	requests chan int
}

func newHostilePeer(t *testing.T, ih [20]byte, size int, reply func(piece int) []byte) *hostilePeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hp := &hostilePeer{ln: ln, requests: make(chan int, 16)}
	go func() {
		var c net.Conn
		for {
			var err error
			if c, err = ln.Accept(); err != nil {
				return
			}
			// A plaintext-only client: an MSE attempt (the session's
			// default first try) is closed at once, as real ones do,
			// and the session redials in plaintext.
			var hsb [wire.HandshakeLen]byte
			if _, err := io.ReadFull(c, hsb[:]); err != nil || !bytes.HasPrefix(hsb[:], []byte("\x13BitTorrent protocol")) {
				c.Close()
				continue
			}
			break
		}
		defer c.Close()
		hs := wire.Handshake{InfoHash: ih}
		hs.Reserved.SetExtended()
		copy(hs.PeerID[:], "-EV0000-hostile00000")
		out := wire.AppendHandshake(nil, &hs)
		eh := wire.ExtHandshake{M: map[string]int{"ut_metadata": 3}, MetadataSize: size}
		payload, _ := eh.Marshal()
		out = wire.AppendExtended(out, 0, payload)
		if _, err := c.Write(out); err != nil {
			return
		}
		theirID := 0
		for {
			var lb [4]byte
			if _, err := io.ReadFull(c, lb[:]); err != nil {
				return
			}
			body := make([]byte, binary.BigEndian.Uint32(lb[:]))
			if _, err := io.ReadFull(c, body); err != nil {
				return
			}
			if len(body) < 2 || body[0] != byte(wire.Extended) {
				continue
			}
			if body[1] == 0 {
				h, err := wire.ParseExtHandshake(body[2:])
				if err == nil {
					theirID = h.M["ut_metadata"]
				}
				continue
			}
			if body[1] != 3 || theirID == 0 {
				continue
			}
			// "d8:msg_typei0e5:piecei<N>ee"
			s := string(body[2:])
			i := strings.Index(s, "5:piecei")
			if i < 0 {
				continue
			}
			var piece int
			for _, ch := range s[i+8:] {
				if ch < '0' || ch > '9' {
					break
				}
				piece = piece*10 + int(ch-'0')
			}
			hp.requests <- piece
			msg := reply(piece)
			if _, err := c.Write(wire.AppendExtended(nil, uint8(theirID), msg)); err != nil {
				return
			}
		}
	}()
	return hp
}

// wrongData answers with data of the right size but the wrong bytes.
func wrongData(size int) func(int) []byte {
	return func(piece int) []byte {
		n := min(16<<10, size-piece*16<<10)
		msg := []byte("d8:msg_typei1e5:piecei" + strconv.Itoa(piece) + "e10:total_sizei" + strconv.Itoa(size) + "ee")
		return append(msg, bytes.Repeat([]byte{'x'}, n)...)
	}
}

// TestMagnetHostileMessagesDisconnectOnlyThatPeer: each malformed
// ut_metadata reply disconnects the peer that sent it, with an alert
// carrying the typed error, and the torrent then completes from an honest
// seeder.
func TestMagnetHostileMessagesDisconnectOnlyThatPeer(t *testing.T) {
	seeder, mi, src := seedSession(t, map[string]int{"x.bin": 100_000}, metainfo.CreateOptions{PieceLength: 16 << 10})
	defer seeder.Close(context.Background())
	size := len(mi.InfoBytes)
	cases := []struct {
		name  string
		reply func(int) []byte
		want  error
	}{
		{"oversized", func(int) []byte { return make([]byte, utmetadata.MaxMessageSize+1) }, utmetadata.ErrMessageTooLarge},
		{"bad bencode", func(int) []byte { return []byte("d8:msg_typei1e5:pi") }, utmetadata.ErrBadMessage},
		{"total_size over the limit", func(p int) []byte {
			return append([]byte("d8:msg_typei1e5:piecei0e10:total_sizei"+strconv.Itoa(utmetadata.MaxMetadataSize+1)+"ee"), make([]byte, 16<<10)...)
		}, utmetadata.ErrBadTotalSize},
		{"data past the end", func(p int) []byte {
			return append([]byte("d8:msg_typei1e5:piecei0e10:total_sizei"+strconv.Itoa(size)+"ee"), make([]byte, size+1)...)
		}, utmetadata.ErrBadPiece},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hp := newHostilePeer(t, mi.InfoHash.V1, size, tc.reply)
			defer hp.ln.Close()
			leecher := newTestSession(t, bufpool.New(), 1)
			defer leecher.Close(context.Background())
			ctx := context.Background()
			dst := t.TempDir()
			h, err := leecher.AddTorrent(ctx, AddTorrentParams{InfoHash: mi.InfoHash, SavePath: dst,
				Peers: []netip.AddrPort{hp.ln.Addr().(*net.TCPAddr).AddrPort()}})
			if err != nil {
				t.Fatal(err)
			}
			seen := waitAlert(t, leecher, 30*time.Second, func(a plugin.Alert) bool {
				_, ok := a.(*plugin.PeerDisconnectedAlert)
				return ok
			})
			pd := seen[len(seen)-1].(*plugin.PeerDisconnectedAlert)
			var ue *utmetadata.Error
			if !errors.Is(pd.Reason, tc.want) || !errors.As(pd.Reason, &ue) {
				t.Fatalf("disconnect reason %v, want %v", pd.Reason, tc.want)
			}
			if err := h.ConnectPeer(ctx, seeder.ListenAddr()); err != nil {
				t.Fatal(err)
			}
			waitAlert(t, leecher, 60*time.Second, isFinished)
			want, got := hashTree(t, src), hashTree(t, dst)
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s differs", k)
				}
			}
		})
	}
}

// TestMagnetWrongMetadataBacksOffThatPeer: a peer serving a dictionary that
// does not hash to the info-hash causes MetadataFailedAlert and a back-off
// (it is not asked again), and the honest seeder then completes the torrent.
func TestMagnetWrongMetadataBacksOffThatPeer(t *testing.T) {
	seeder, mi, src := seedSession(t, map[string]int{"h.bin": 200_000}, metainfo.CreateOptions{PieceLength: 16 << 10})
	defer seeder.Close(context.Background())
	hp := newHostilePeer(t, mi.InfoHash.V1, len(mi.InfoBytes), wrongData(len(mi.InfoBytes)))
	defer hp.ln.Close()
	leecher := newTestSession(t, bufpool.New(), 1)
	defer leecher.Close(context.Background())
	ctx := context.Background()
	hostile := hp.ln.Addr().(*net.TCPAddr).AddrPort()
	dst := t.TempDir()
	h, err := leecher.AddTorrent(ctx, AddTorrentParams{InfoHash: mi.InfoHash, SavePath: dst, Peers: []netip.AddrPort{hostile}})
	if err != nil {
		t.Fatal(err)
	}
	seen := waitAlert(t, leecher, 30*time.Second, func(a plugin.Alert) bool {
		_, ok := a.(*plugin.MetadataFailedAlert)
		return ok
	})
	mf := seen[len(seen)-1].(*plugin.MetadataFailedAlert)
	if !errors.Is(mf.Err, plugin.ErrMismatchingInfoHash) {
		t.Fatalf("metadata_failed error: %v", mf.Err)
	}
	if err := h.ConnectPeer(ctx, seeder.ListenAddr()); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, leecher, 60*time.Second, isFinished)
	if got := len(hp.requests); got != 1 {
		t.Fatalf("hostile peer was asked %d times, want 1 (back-off after the hash failure)", got)
	}
	want, got := hashTree(t, src), hashTree(t, dst)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s differs", k)
		}
	}
}

// TestPrivateMetadataNeverServed: a private torrent's seeder advertises
// neither ut_metadata nor metadata_size, so no peer can ask for the
// dictionary, and a ut_metadata request sent anyway is not answered with
// data (the connection is dropped as an unclaimed extended message).
func TestPrivateMetadataNeverServed(t *testing.T) {
	seeder, mi, _ := seedSession(t, map[string]int{"p.bin": 50_000}, metainfo.CreateOptions{PieceLength: 16 << 10, Private: true})
	defer seeder.Close(context.Background())
	c, err := net.DialTimeout("tcp", seeder.ListenAddr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hs := wire.Handshake{InfoHash: mi.InfoHash.V1}
	hs.Reserved.SetExtended()
	copy(hs.PeerID[:], "-XX0000-private00000")
	eh := wire.ExtHandshake{M: map[string]int{"ut_metadata": 3}}
	payload, _ := eh.Marshal()
	if _, err := c.Write(wire.AppendExtended(wire.AppendHandshake(nil, &hs), 0, payload)); err != nil {
		t.Fatal(err)
	}
	// Read its handshake and extension handshake before asking, so the
	// close that follows cannot drop them.
	var first [wire.HandshakeLen + 4]byte
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, first[:]); err != nil {
		t.Fatalf("no handshake from the seeder: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := c.Write(wire.AppendExtended(nil, 2, []byte("d8:msg_typei0e5:piecei0ee"))); err != nil {
		t.Fatal(err)
	}
	rest := append(first[wire.HandshakeLen:], expectClosed(t, c)...)
	sawExtHS := false
	for len(rest) >= 4 {
		n := int(binary.BigEndian.Uint32(rest))
		if len(rest) < 4+n {
			break
		}
		body := rest[4 : 4+n]
		rest = rest[4+n:]
		if n >= 2 && body[0] == byte(wire.Extended) {
			if body[1] != 0 {
				t.Fatalf("seeder sent extended message %d (metadata?) for a private torrent", body[1])
			}
			h, err := wire.ParseExtHandshake(body[2:])
			if err != nil {
				t.Fatal(err)
			}
			sawExtHS = true
			if h.M["ut_metadata"] != 0 || h.MetadataSize != 0 {
				t.Fatalf("private torrent advertises ut_metadata %d, metadata_size %d", h.M["ut_metadata"], h.MetadataSize)
			}
		}
	}
	if !sawExtHS {
		t.Fatal("no extension handshake seen")
	}
}

// readExtHandshake dials s for ih with the extension bit and returns the
// first extension handshake it sends.
func readExtHandshake(t *testing.T, s *Session, ih [20]byte) wire.ExtHandshake {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.ListenAddr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hs := wire.Handshake{InfoHash: ih}
	hs.Reserved.SetExtended()
	copy(hs.PeerID[:], "-XX0000-exthsreader0")
	if _, err := c.Write(wire.AppendHandshake(nil, &hs)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hsb [wire.HandshakeLen]byte
	if _, err := io.ReadFull(c, hsb[:]); err != nil {
		t.Fatal(err)
	}
	for {
		var lb [4]byte
		if _, err := io.ReadFull(c, lb[:]); err != nil {
			t.Fatal(err)
		}
		body := make([]byte, binary.BigEndian.Uint32(lb[:]))
		if _, err := io.ReadFull(c, body); err != nil {
			t.Fatal(err)
		}
		if len(body) >= 2 && body[0] == byte(wire.Extended) && body[1] == 0 {
			h, err := wire.ParseExtHandshake(body[2:])
			if err != nil {
				t.Fatal(err)
			}
			return h
		}
	}
}

// TestUTMetadataSetting: ut_metadata is on by default (advertised with
// metadata_size) and Settings.DisableUTMetadata turns it off.
func TestUTMetadataSetting(t *testing.T) {
	src := t.TempDir()
	writeFiles(t, src, map[string]int{"s.bin": 40_000})
	_, mi, err := metainfo.Create(filepath.Join(src, "s.bin"), metainfo.CreateOptions{PieceLength: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, disabled := range []bool{false, true} {
		s, err := NewSession(context.Background(), Settings{ListenAddr: "127.0.0.1:0", Shards: 1, DisableUTMetadata: disabled})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddTorrent(context.Background(), AddTorrentParams{MetaInfo: mi, SavePath: src, SeedMode: true}); err != nil {
			t.Fatal(err)
		}
		h := readExtHandshake(t, s, mi.InfoHash.V1)
		on := h.M["ut_metadata"] == utmetadata.ExtID && h.MetadataSize == len(mi.InfoBytes)
		if on == disabled {
			t.Errorf("DisableUTMetadata %v: handshake m %v metadata_size %d", disabled, h.M, h.MetadataSize)
		}
		s.Close(context.Background())
	}
}
