package shard

// The engine with the lt_donthave and upload_only plugins (ext/donthave,
// ext/uploadonly) attached, as the session attaches them by default: the
// core's primitives (PeerConn.IncomingDontHave, SetUploadOnly, losing a
// piece) driven through the public plugin API.

import (
	"errors"
	"fmt"
	"testing"

	"github.com/shardtorrent/shardtorrent/ext/donthave"
	"github.com/shardtorrent/shardtorrent/ext/uploadonly"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// addWithBuiltins adds f over dir with both plugins attached and waits
// for its check.
func (h *harness) addWithBuiltins(f *tfile, dir string) *Torrent {
	h.t.Helper()
	var tor *Torrent
	h.do(func() {
		var err error
		tor, err = h.s.AddTorrent(AddParams{Info: &f.mi.Info, InfoHash: f.mi.InfoHash, SavePath: dir,
			Extensions: []func(plugin.TorrentHandle, any) plugin.TorrentPlugin{
				func(th plugin.TorrentHandle, ud any) plugin.TorrentPlugin { return donthave.New().NewTorrent(th, ud) },
				func(th plugin.TorrentHandle, ud any) plugin.TorrentPlugin { return uploadonly.New().NewTorrent(th, ud) },
			}})
		if err != nil {
			fatalf("AddTorrent: %v", err)
		}
	})
	h.waitFor("the check", func() bool { return !tor.checking })
	return tor
}

// extHS is a remote extension handshake.
func extHSUpload(uploadOnly bool, m map[string]int) []byte {
	return extHS(panicTB{}, wire.ExtHandshake{M: m, UploadOnly: uploadOnly})
}

// panicTB lets table literals, built outside any test function, use
// helpers that take a testing.TB: a failure panics.
type panicTB struct{ testing.TB }

func (panicTB) Helper()           {}
func (panicTB) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

func donthaveMsg(piece uint32, n int) []byte {
	b := []byte{byte(piece >> 24), byte(piece >> 16), byte(piece >> 8), byte(piece)}
	for len(b) < n {
		b = append(b, 0)
	}
	return wire.AppendExtended(nil, donthave.LocalID, b[:n])
}

// TestOurExtHandshake: the plugins advertise their ids, and upload_only
// while we seed.
func TestOurExtHandshake(t *testing.T) {
	tf := makeTorrent(t, seedSize, seedPieceLen)
	h := newHarness(t, Settings{})
	for _, c := range []struct {
		name string
		dir  string
		want bool
	}{{"seed", tf.src, true}, {"leecher", t.TempDir(), false}} {
		t.Run(c.name, func(t *testing.T) {
			tor := h.addWithBuiltins(tf, c.dir)
			defer h.do(tor.Remove)
			h.do(func() {
				tp := h.connect(tor, false)
				h.feed(tp, handshake(tor, peerID(1), true, true))
				var eh wire.ExtHandshake
				for _, m := range only(tp.fc.take(), wire.Extended) {
					var err error
					if eh, err = wire.ParseExtHandshake(m.Payload); err != nil {
						fatalf("%v", err)
					}
				}
				if eh.M[donthave.Name] != donthave.LocalID || eh.M[uploadonly.Name] != uploadonly.LocalID || eh.UploadOnly != c.want {
					fatalf("our handshake m %v upload_only %v, want upload_only %v", eh.M, eh.UploadOnly, c.want)
				}
			})
		})
	}
}

// TestIncomingDontHave: a seed's lt_donthave makes that piece unavailable
// from it; bad messages disconnect it with a typed error and an alert.
func TestIncomingDontHave(t *testing.T) {
	tf := makeTorrent(t, seedSize, seedPieceLen)
	np := uint32(tf.mi.Info.NumPieces())
	cases := []struct {
		name    string
		msg     []byte
		wantErr error
	}{
		{"applied", donthaveMsg(1, 4), nil},
		{"short", donthaveMsg(1, 3), donthave.ErrLength},
		{"long", donthaveMsg(1, 5), donthave.ErrLength},
		{"out of range", donthaveMsg(np, 4), donthave.ErrPiece},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, Settings{})
			tor := h.addWithBuiltins(tf, t.TempDir())
			h.do(func() {
				tp := h.handshaken(tor, i, extHSUpload(false, map[string]int{"lt_donthave": 7}), simple(wire.HaveAll))
				pc := tp.conn()
				if !pc.HasPiece(1) || tor.pk.Availability(1) != 1 {
					fatalf("before: has %v availability %d", pc.HasPiece(1), tor.pk.Availability(1))
				}
				h.feed(tp, c.msg)
				if c.wantErr == nil {
					if tp.closing || pc.HasPiece(1) || !pc.HasPiece(0) || tor.pk.Availability(1) != 0 || tor.pk.Availability(0) != 1 {
						fatalf("after: closing %v has1 %v has0 %v avail %d/%d", tp.closing, pc.HasPiece(1), pc.HasPiece(0),
							tor.pk.Availability(1), tor.pk.Availability(0))
					}
					return
				}
				if !tp.closing || !errors.Is(tp.discErr, c.wantErr) {
					fatalf("disconnect %v, want %v", tp.discErr, c.wantErr)
				}
			})
			if c.wantErr != nil {
				var found bool
				for _, a := range alertsOf[*plugin.PeerErrorAlert](h.alerts) {
					found = found || errors.Is(a.Err, c.wantErr)
				}
				if !found {
					t.Fatal("no PeerErrorAlert with the typed error")
				}
			}
		})
	}
}

// TestUploadOnlyHonoured: a seed drops an upload-only peer (handshake flag
// or the standalone message); a leecher keeps it and is not interested
// while it has nothing we want; a bad message disconnects.
func TestUploadOnlyHonoured(t *testing.T) {
	tf := makeTorrent(t, seedSize, seedPieceLen)
	uo := func(v ...byte) []byte { return wire.AppendExtended(nil, uploadonly.LocalID, v) }
	cases := []struct {
		name       string
		seed       bool
		msgs       [][]byte
		wantReason DisconnectReason
		wantErr    error
	}{
		{"seed drops upload-only handshake", true, [][]byte{extHSUpload(true, nil)}, ReasonRedundant, nil},
		{"seed drops upload_only message", true, [][]byte{extHSUpload(false, map[string]int{"upload_only": 3}), uo(1)}, ReasonRedundant, nil},
		{"seed keeps a leecher", true, [][]byte{extHSUpload(false, nil), uo(0)}, 0, nil},
		{"leecher keeps an upload-only peer", false, [][]byte{extHSUpload(true, nil)}, 0, nil},
		{"bad upload_only message", false, [][]byte{extHSUpload(false, nil), uo(1, 1)}, ReasonPlugin, uploadonly.ErrLength},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, Settings{})
			dir := t.TempDir()
			if c.seed {
				dir = tf.src
			}
			tor := h.addWithBuiltins(tf, dir)
			h.do(func() {
				tp := h.handshaken(tor, i, simple(wire.HaveNone))
				for _, m := range c.msgs {
					h.feed(tp, m)
				}
				got := DisconnectReason(0)
				if tp.discErr != nil {
					got = tp.discErr.Reason
				}
				if got != c.wantReason || (c.wantErr != nil && !errors.Is(tp.discErr, c.wantErr)) {
					fatalf("disconnect %v, want reason %v err %v", tp.discErr, c.wantReason, c.wantErr)
				}
				if got == 0 && tp.amInterested {
					fatalf("interested in a peer with nothing")
				}
				if c.name == "leecher keeps an upload-only peer" && !tp.conn().UploadOnly() {
					fatalf("UploadOnly() false after the peer's upload_only")
				}
			})
		})
	}
}
