package utmetadata

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

func TestParseMessage(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want header
		end  int
		err  error
	}{
		{"request", "d8:msg_typei0e5:piecei3ee", header{0, 3, -1}, 25, nil},
		{"data with bytes after", "d8:msg_typei1e5:piecei0e10:total_sizei9eeXYZ", header{1, 0, 9}, 41, nil},
		{"unknown keys skipped", "d1:ali1e1:xe3:food1:yi1ee8:msg_typei2e5:piecei1ee", header{2, 1, -1}, 49, nil},
		{"not a dict", "li1ee", header{}, 0, ErrBadMessage},
		{"empty", "", header{}, 0, ErrBadMessage},
		{"unterminated", "d8:msg_typei0e5:piecei0e", header{}, 0, ErrBadMessage},
		{"missing msg_type", "d5:piecei0ee", header{}, 0, ErrBadMessage},
		{"missing piece", "d8:msg_typei0ee", header{}, 0, ErrBadMessage},
		{"negative piece", "d8:msg_typei0e5:piecei-1ee", header{}, 0, ErrBadMessage},
		{"piece is a string", "d8:msg_typei0e5:piece1:0e", header{}, 0, ErrBadMessage},
		{"leading zero", "d8:msg_typei00e5:piecei0ee", header{}, 0, ErrBadMessage},
		{"minus zero", "d8:msg_typei-0e5:piecei0ee", header{}, 0, ErrBadMessage},
		{"huge integer", "d8:msg_typei99999999999999e5:piecei0ee", header{}, 0, ErrBadMessage},
		{"string past the end", "d99:msg_typei0ee", header{}, 0, ErrBadMessage},
		{"nested too deep", "d1:x" + strings.Repeat("l", 20) + strings.Repeat("e", 20) + "8:msg_typei0e5:piecei0ee", header{}, 0, ErrBadMessage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, end, err := parseMessage([]byte(tc.in))
			if tc.err != nil {
				var e *Error
				if !errors.Is(err, tc.err) || !errors.As(err, &e) {
					t.Fatalf("err = %v, want %v as *Error", err, tc.err)
				}
				return
			}
			if err != nil || h != tc.want || end != tc.end {
				t.Fatalf("got %+v end %d err %v, want %+v end %d", h, end, err, tc.want, tc.end)
			}
		})
	}
}

// Every truncated prefix of a valid message dictionary must fail.
func TestParseMessageTruncated(t *testing.T) {
	full := appendMessage(nil, MsgData, 12, 40000)
	for i := range len(full) {
		if _, _, err := parseMessage(full[:i]); !errors.Is(err, ErrBadMessage) {
			t.Fatalf("prefix %q parsed: %v", full[:i], err)
		}
	}
	h, end, err := parseMessage(full)
	if err != nil || h != (header{MsgData, 12, 40000}) || end != len(full) {
		t.Fatalf("round trip: %+v %d %v", h, end, err)
	}
}

func FuzzParseMessage(f *testing.F) {
	f.Add([]byte("d8:msg_typei1e5:piecei0e10:total_sizei9eeXYZ"))
	f.Add([]byte("d1:ali1e1:xe3:food1:yi1ee8:msg_typei2e5:piecei1ee"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, end, err := parseMessage(b)
		if err != nil {
			return
		}
		if end > len(b) || h.MsgType < 0 || h.Piece < 0 {
			t.Fatalf("accepted %q: %+v end %d", b, h, end)
		}
		// Re-encoding what we understood parses to the same thing.
		again, _, err := parseMessage(appendMessage(nil, h.MsgType, h.Piece, h.TotalSize))
		if err != nil || again != h {
			t.Fatalf("round trip of %+v: %+v %v", h, again, err)
		}
	})
}

func TestHandshake(t *testing.T) {
	info := infoOf(1000)
	r := newRig(t, &fakeTorrent{ih: hashOf(info), info: info})
	c := &fakeConn{}
	pp := r.tp.NewConnection(c).(*Peer)
	var h wire.ExtHandshake
	pp.AddHandshake(&h)
	if h.M[ExtensionName] != ExtID || h.MetadataSize != len(info) {
		t.Fatalf("our handshake: m %v metadata_size %d", h.M, h.MetadataSize)
	}
	if pp.OnExtensionHandshake(&wire.ExtHandshake{M: map[string]int{}}) {
		t.Fatal("a peer without ut_metadata kept the plugin")
	}
	// Without metadata: m.ut_metadata but no metadata_size.
	r2 := newRig(t, &fakeTorrent{ih: hashOf(info)})
	var h2 wire.ExtHandshake
	r2.tp.NewConnection(&fakeConn{}).(*Peer).AddHandshake(&h2)
	if h2.M[ExtensionName] != ExtID || h2.MetadataSize != 0 {
		t.Fatalf("handshake without metadata: %+v", h2)
	}
	// Private: the session plugin attaches nothing.
	if tp := New(Config{}).NewTorrent(&fakeTorrent{info: info, private: true}, nil); tp != nil {
		t.Fatal("ut_metadata attached to a private torrent")
	}
}

// TestBadInputsDisconnect: each hostile message disconnects the peer with
// a typed error; the table sets up the outstanding requests first.
func TestBadInputsDisconnect(t *testing.T) {
	const size = 20000 // two pieces: 16384 + 3616
	info := infoOf(size)
	big := append(appendMessage(nil, MsgData, 0, size), make([]byte, PieceSize)...)
	big = append(big, make([]byte, MaxMessageSize-len(big)+1)...)
	cases := []struct {
		name  string
		steps [][]byte // delivered in order; the last must disconnect
		want  error
	}{
		{"oversized message", [][]byte{big}, ErrMessageTooLarge},
		{"bad bencode", [][]byte{[]byte("d8:msg_typei1e5:piece")}, ErrBadMessage},
		{"not a dictionary", [][]byte{[]byte("i1e")}, ErrBadMessage},
		{"missing msg_type", [][]byte{[]byte("d5:piecei0ee")}, ErrBadMessage},
		{"missing piece", [][]byte{[]byte("d8:msg_typei1ee")}, ErrBadMessage},
		{"total_size missing", [][]byte{append(appendMessage(nil, MsgData, 0, -1), info[:PieceSize]...)}, ErrBadTotalSize},
		{"total_size 0", [][]byte{dataMsg(0, 0, info[:PieceSize])}, ErrBadTotalSize},
		{"total_size over 30 MiB", [][]byte{dataMsg(0, MaxMetadataSize+1, info[:PieceSize])}, ErrBadTotalSize},
		{"total_size inconsistent", [][]byte{dataMsg(0, size, info[:PieceSize]), dataMsg(1, size+1, info[PieceSize:])}, ErrBadTotalSize},
		{"piece out of range", [][]byte{dataMsg(1, 100, info[:100])}, ErrBadPiece},
		{"data past the end", [][]byte{dataMsg(1, size, append(info[PieceSize:], 'x'))}, ErrBadPiece},
		{"short piece", [][]byte{dataMsg(0, size, info[:PieceSize-1])}, ErrBadPiece},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, &fakeTorrent{ih: hashOf(info)})
			c := r.connect(size) // hint: two pieces
			if got := requestsOf(c.take()); !slices.Equal(got, []int{0, 1}) {
				t.Fatalf("requests %v, want [0 1]", got)
			}
			for i, b := range tc.steps {
				if !deliver(c, b) {
					t.Fatal("own message not claimed")
				}
				if last := i == len(tc.steps)-1; c.closed != last {
					t.Fatalf("step %d: disconnected %v (%v)", i, c.closed, c.disc)
				}
			}
			var e *Error
			if !errors.Is(c.disc, tc.want) || !errors.As(c.disc, &e) {
				t.Fatalf("disconnect error %v, want %v", c.disc, tc.want)
			}
			if r.ft.sets != 0 {
				t.Fatal("SetMetadata called")
			}
		})
	}
}

// TestOversizedRefusedOnFirstFragment: the size check runs before the
// message is whole, so a peer cannot make the engine buffer it.
func TestOversizedRefusedOnFirstFragment(t *testing.T) {
	r := newRig(t, &fakeTorrent{ih: [20]byte{1}})
	c := r.connect(0)
	c.pp.OnExtended(MaxMessageSize+1, ExtID, []byte("d8:"))
	if !errors.Is(c.disc, ErrMessageTooLarge) {
		t.Fatalf("got %v", c.disc)
	}
	// Exactly the cap is fine (and incomplete, so nothing happens).
	c2 := r.connect(0)
	c2.pp.OnExtended(MaxMessageSize, ExtID, []byte("d8:"))
	if c2.closed {
		t.Fatalf("message of MaxMessageSize refused: %v", c2.disc)
	}
}

// TestUnrequestedDataIgnored: as libtorrent, data we did not ask for (or
// no longer wait for) is dropped without a disconnect and not stored.
func TestUnrequestedDataIgnored(t *testing.T) {
	info := infoOf(100)
	r := newRig(t, &fakeTorrent{ih: hashOf(info)})
	c := r.connect(0)
	c.take()
	deliver(c, dataMsg(3, 100, info))
	if c.closed || r.ft.sets != 0 || r.tp.size != 0 {
		t.Fatalf("unrequested data: closed %v sets %d size %d", c.closed, r.ft.sets, r.tp.size)
	}
}

func TestFetchAssemblesAndFreesBuffer(t *testing.T) {
	const size = 3*PieceSize + 5 // four pieces
	info := infoOf(size)
	r := newRig(t, &fakeTorrent{ih: hashOf(info)})
	a, b := r.connect(size), r.connect(0)
	ra, rb := requestsOf(a.take()), requestsOf(b.take())
	// a knew the size from its handshake hint: two pieces; b gets the
	// other two (fewest requests first), without waiting.
	if !slices.Equal(ra, []int{0, 1}) || !slices.Equal(rb, []int{2, 3}) {
		t.Fatalf("requests a %v b %v", ra, rb)
	}
	for _, p := range ra {
		deliver(a, dataMsg(p, size, info[p*PieceSize:min((p+1)*PieceSize, size)]))
	}
	for _, p := range rb {
		deliver(b, dataMsg(p, size, info[p*PieceSize:min((p+1)*PieceSize, size)]))
	}
	if a.closed || b.closed || r.ft.sets != 1 || !bytes.Equal(r.ft.info, info) {
		t.Fatalf("closed %v %v, sets %d, info ok %v", a.closed, b.closed, r.ft.sets, bytes.Equal(r.ft.info, info))
	}
	if r.tp.buf != nil || r.tp.pieces != nil {
		t.Fatal("the plugin kept its copy after success")
	}
	// Now it serves from the torrent's copy.
	deliver(a, appendMessage(nil, MsgRequest, 3, -1))
	got := a.take()
	if len(got) != 1 || got[0].extID != 7 || got[0].h != (header{MsgData, 3, size}) || !bytes.Equal(got[0].data, info[3*PieceSize:]) {
		t.Fatalf("served %+v", got)
	}
}

func TestServeQueueAndReject(t *testing.T) {
	info := infoOf(2*PieceSize + 1)
	r := newRig(t, &fakeTorrent{ih: hashOf(info), info: info})
	c := r.connect(len(info))
	if len(c.take()) != 0 {
		t.Fatal("requested metadata we have")
	}
	req := func(p int) { deliver(c, appendMessage(nil, MsgRequest, p, -1)) }

	req(3) // out of range
	if m := c.take(); len(m) != 1 || m[0].h.MsgType != MsgReject || m[0].h.Piece != 3 {
		t.Fatalf("out of range: %+v", m)
	}
	c.buffered = SendBufferLimit // full: queue
	for i := range MaxQueued {
		req(i % 3)
	}
	if len(c.take()) != 0 {
		t.Fatal("sent while the send buffer was full")
	}
	req(0) // one more than MaxQueued: rejected
	if m := c.take(); len(m) != 1 || m[0].h.MsgType != MsgReject {
		t.Fatalf("past MaxQueued: %+v", m)
	}
	c.pp.Tick() // still full: nothing drains
	if len(c.take()) != 0 {
		t.Fatal("drained while full")
	}
	c.buffered = 0
	c.pp.Tick()
	m := c.take()
	if len(m) != MaxQueued || m[0].h != (header{MsgData, 0, len(info)}) || len(m[2].data) != 1 {
		t.Fatalf("drained %d messages, first %+v", len(m), m[0].h)
	}
	if c.closed {
		t.Fatal(c.disc)
	}
}

func TestNoServeWithoutMetadataOrPrivate(t *testing.T) {
	info := infoOf(100)
	for _, ft := range []*fakeTorrent{
		{ih: hashOf(info)}, // a magnet still fetching
		{ih: hashOf(info), info: info, private: true}, // learned private after fetching
	} {
		r := newRig(t, ft)
		c := r.connect(0)
		c.take()
		deliver(c, appendMessage(nil, MsgRequest, 0, -1))
		if m := c.take(); len(m) != 1 || m[0].h.MsgType != MsgReject {
			t.Fatalf("private %v: %+v", ft.private, m)
		}
	}
}

func TestRequestPolicy(t *testing.T) {
	const size = 5 * PieceSize
	info := infoOf(size)
	r := newRig(t, &fakeTorrent{ih: hashOf(info)})
	a := r.connect(size)
	if got := requestsOf(a.take()); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("first peer asked %v, want 2 outstanding [0 1]", got)
	}
	a.pp.Tick()
	if len(a.take()) != 0 {
		t.Fatal("more than MaxOutstanding")
	}
	b := r.connect(0)
	if got := requestsOf(b.take()); !slices.Equal(got, []int{2, 3}) {
		t.Fatalf("second peer asked %v, want the unasked [2 3]", got)
	}
	c := r.connect(0)
	if got := requestsOf(c.take()); !slices.Equal(got, []int{4}) {
		t.Fatalf("third peer asked %v: pieces in flight to connected peers must wait %v", got, ReRequestDelay)
	}
	// A disconnected source frees its pieces at once.
	b.closed = true
	c.pp.Tick()
	if got := requestsOf(c.take()); !slices.Equal(got, []int{2}) {
		t.Fatalf("after b left, c asked %v, want [2]", got)
	}
	d := r.connect(0)
	if got := requestsOf(d.take()); !slices.Equal(got, []int{3}) {
		t.Fatalf("d asked %v, want only [3] (its source left)", got)
	}
	r.clk.add(ReRequestDelay)
	d.pp.Tick()
	if got := requestsOf(d.take()); len(got) != 1 {
		t.Fatalf("after %v d asked %v, want one more", ReRequestDelay, got)
	}
	// A reject: one minute without requests.
	deliver(a, appendMessage(nil, MsgReject, 0, -1))
	deliver(a, appendMessage(nil, MsgReject, 1, -1))
	r.clk.add(RejectBackoff - time.Second)
	a.pp.Tick()
	if got := requestsOf(a.take()); len(got) != 0 {
		t.Fatalf("asked %v during the reject back-off", got)
	}
	r.clk.add(time.Second)
	a.pp.Tick()
	if got := requestsOf(a.take()); len(got) != 2 {
		t.Fatalf("asked %v after the reject back-off", got)
	}
}

func TestHashFailureBackoff(t *testing.T) {
	t.Run("single piece from one peer", func(t *testing.T) {
		info := infoOf(100)
		r := newRig(t, &fakeTorrent{ih: [20]byte{1}}) // nothing hashes to it
		c := r.connect(0)
		c.take()
		deliver(c, dataMsg(0, 100, info))
		if r.ft.sets != 1 || c.closed || r.tp.size != 0 || len(r.tp.pieces) != 0 {
			t.Fatalf("sets %d closed %v size %d: not reset", r.ft.sets, c.closed, r.tp.size)
		}
		if d := c.pp.notUntil.Sub(r.clk.now()); d != SingleSourceBackoff {
			t.Fatalf("back-off %v, want %v", d, SingleSourceBackoff)
		}
		r.clk.add(SingleSourceBackoff - time.Second)
		c.pp.Tick()
		if len(c.take()) != 0 {
			t.Fatal("asked again during the back-off")
		}
		r.clk.add(time.Second)
		c.pp.Tick()
		if got := requestsOf(c.take()); !slices.Equal(got, []int{0}) {
			t.Fatalf("after the back-off: %v", got)
		}
	})
	t.Run("several pieces", func(t *testing.T) {
		const size = 2 * PieceSize
		info := infoOf(size)
		r := newRig(t, &fakeTorrent{ih: [20]byte{1}})
		a, b := r.connect(size), r.connect(0)
		ra := requestsOf(a.take())
		b.take()
		for _, p := range ra {
			deliver(a, dataMsg(p, size, info[p*PieceSize:(p+1)*PieceSize]))
		}
		if r.ft.sets != 1 {
			t.Fatalf("sets %d", r.ft.sets)
		}
		d := a.pp.notUntil.Sub(r.clk.now())
		if d < HashFailBackoffMin || d > HashFailBackoffMax {
			t.Fatalf("contributor back-off %v, want in [%v, %v]", d, HashFailBackoffMin, HashFailBackoffMax)
		}
		if !b.pp.notUntil.IsZero() {
			t.Fatal("a peer that sent nothing was penalised")
		}
		// The honest peer is asked again at once: the pieces were reset.
		b.pp.Tick()
		if got := requestsOf(b.take()); len(got) == 0 {
			t.Fatal("no peer asked after the reset")
		}
	})
}

var _ plugin.TorrentCreator = (*Plugin)(nil)
