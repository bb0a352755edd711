package utpex

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/plugin"
)

// msgOf bencodes added IPv4 peers with no flags.
func msgOf(added ...netip.AddrPort) []byte {
	m := Message{}
	for _, a := range added {
		m.Added = append(m.Added, Peer{Addr: a})
	}
	return m.Append(nil)
}

func TestPrivateTorrentGetsNothing(t *testing.T) {
	if tp := New().NewTorrent(&fakeTorrent{private: true}, nil); tp != nil {
		t.Fatalf("private torrent got %T", tp)
	}
	if tp := New().NewTorrent(&fakeTorrent{}, nil); tp == nil {
		t.Fatal("public torrent got no plugin")
	}
}

// TestReceiveLimits: size, rate and bencode limits disconnect the sender
// with a typed error and an alert; messages within the limits do not.
func TestReceiveLimits(t *testing.T) {
	good := msgOf(ap("127.0.0.2:1"))
	cases := []struct {
		name    string
		msgs    int           // messages sent
		gap     time.Duration // between messages
		body    []byte
		length  int // announced payload length (0: len(body))
		wantErr error
		wantAt  int // index of the message that disconnects
	}{
		{"six in a minute are fine", 6, 5 * time.Second, good, 0, nil, 0},
		{"seventh within a minute disconnects", 7, 5 * time.Second, good, 0, ErrTooFrequent, 6},
		{"seven spread over more than a minute", 7, 10*time.Second + time.Millisecond, good, 0, nil, 0},
		{"too large at its first fragment", 1, 0, good[:3], MaxMessageSize + 1, ErrTooLarge, 0},
		{"largest size accepted", 1, 0, append(good[:len(good)-1:len(good)-1], []byte(fmt.Sprintf("1:x%d:%se", MaxMessageSize-len(good)-11, make([]byte, MaxMessageSize-len(good)-11)))...), 0, nil, 0},
		{"bad bencode", 1, 0, []byte("d5:added"), 0, ErrBadMessage, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig()
			c1 := r.connect("127.0.0.9:9", 9)
			pp := r.pps[c1]
			for i := 0; i < c.msgs; i++ {
				if i > 0 {
					r.clk.add(c.gap)
				}
				n := c.length
				if n == 0 {
					n = len(c.body)
				}
				if !pp.OnExtended(n, LocalID, c.body) {
					t.Fatalf("message %d not claimed", i)
				}
				if c1.discErr != nil {
					if c.wantErr == nil || i != c.wantAt {
						t.Fatalf("message %d disconnected with %v", i, c1.discErr)
					}
					break
				}
			}
			if c.wantErr == nil {
				if c1.discErr != nil || len(r.ft.alerts) != 0 {
					t.Fatalf("disconnected: %v, alerts %v", c1.discErr, r.ft.alerts)
				}
				return
			}
			var e *Error
			if !errors.Is(c1.discErr, c.wantErr) || !errors.As(c1.discErr, &e) {
				t.Fatalf("disconnect error %v, want %v", c1.discErr, c.wantErr)
			}
			if len(r.ft.alerts) != 1 {
				t.Fatalf("alerts %v, want one PeerErrorAlert", r.ft.alerts)
			}
			if a, ok := r.ft.alerts[0].(*plugin.PeerErrorAlert); !ok || !errors.Is(a.Err, c.wantErr) || a.Addr != c1.addr {
				t.Fatalf("alert %#v", r.ft.alerts[0])
			}
		})
	}
}

// TestReceiveAccepts: the per-connection cap, local-network filtering
// and the PEX source.
func TestReceiveAccepts(t *testing.T) {
	var many []netip.AddrPort
	for i := 0; i < 60; i++ {
		many = append(many, netip.AddrPortFrom(netip.AddrFrom4([4]byte{8, 8, 0, byte(i)}), 6881))
	}
	cases := []struct {
		name   string
		sender string
		added  []netip.AddrPort
		want   int
	}{
		{"at most 50 per connection", "8.8.8.8:1", many, MaxPeersAccepted},
		{"local peers from a remote sender are ignored", "8.8.8.8:1", []netip.AddrPort{ap("192.168.1.2:1"), ap("127.0.0.1:2"), ap("9.9.9.9:3")}, 1},
		{"local peers from a local sender are taken", "127.0.0.1:1", []netip.AddrPort{ap("192.168.1.2:1"), ap("127.0.0.1:2"), ap("9.9.9.9:3")}, 3},
		{"port 0 and unspecified are ignored", "8.8.8.8:1", []netip.AddrPort{ap("9.9.9.9:0"), ap("0.0.0.0:5")}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig()
			c1 := r.connect(c.sender, 1)
			b := msgOf(c.added...)
			r.pps[c1].OnExtended(len(b), LocalID, b)
			if c1.discErr != nil {
				t.Fatal(c1.discErr)
			}
			if len(r.ft.added) != c.want {
				t.Fatalf("added %d peers %v, want %d", len(r.ft.added), r.ft.added, c.want)
			}
			for _, s := range r.ft.srcs {
				if s != plugin.SourcePEX {
					t.Fatalf("source %v, want SourcePEX", s)
				}
			}
		})
	}
}

// TestDroppedFreesSlots: dropped peers no longer count against the cap.
func TestDroppedFreesSlots(t *testing.T) {
	r := newRig()
	c1 := r.connect("8.8.8.8:1", 1)
	var first []netip.AddrPort
	for i := 0; i < MaxPeersAccepted; i++ {
		first = append(first, netip.AddrPortFrom(netip.AddrFrom4([4]byte{8, 8, 1, byte(i)}), 1))
	}
	b := msgOf(first...)
	r.pps[c1].OnExtended(len(b), LocalID, b)
	r.clk.add(time.Minute)
	m := Message{Added: []Peer{{Addr: ap("9.9.9.9:9")}}, Dropped: first[:1]}
	b = m.Append(nil)
	r.pps[c1].OnExtended(len(b), LocalID, b)
	if n := len(r.ft.added); n != MaxPeersAccepted+1 || r.ft.added[n-1] != ap("9.9.9.9:9") {
		t.Fatalf("added %d, last %v", n, r.ft.added[n-1])
	}
}

// TestSendSchedule: full list first, then the shared diff at most once a
// minute, nothing while the torrent has one peer, only reachable peers
// past the handshake, with their listen port and flags.
func TestSendSchedule(t *testing.T) {
	r := newRig()
	a := r.connect("10.0.0.1:50000", 6881) // incoming, told us its port
	a.seed = true
	tick := func() {
		r.tp.Tick()
		for _, c := range r.ft.peers {
			if pp := r.pps[c]; pp != nil {
				pp.Tick()
			}
		}
	}
	tick()
	if len(a.sent) != 0 {
		t.Fatal("sent with a single peer")
	}
	b := r.connect("10.0.0.2:7000", 7000)
	b.enc = true
	hs := r.connect("10.0.0.3:1", 1) // still handshaking: never advertised
	hs.handshaking = true
	noPort := r.connect("10.0.0.4:2", 0) // incoming without a listen port
	r.clk.add(time.Second)
	tick()
	m, ok := lastMsg(a)
	want := []Peer{{ap("10.0.0.2:7000"), FlagEncryption}}
	if !ok || fmt.Sprint(m.Added) != fmt.Sprint(want) || len(m.Dropped) != 0 {
		t.Fatalf("full list to a: %+v, want added %v", m, want)
	}
	m, _ = lastMsg(b)
	if want := []Peer{{ap("10.0.0.1:6881"), FlagSeed}}; fmt.Sprint(m.Added) != fmt.Sprint(want) {
		t.Fatalf("full list to b: %+v, want %v", m, want)
	}
	if len(noPort.sent) != 1 || len(hs.sent) != 0 {
		t.Fatalf("sent %d to the port-less peer (want its full list), %d to the handshaking one", len(noPort.sent), len(hs.sent))
	}
	// A new peer and a departed one: nothing before the minute is up.
	c := r.connect("10.0.0.5:8000", 8000)
	b.gone = true
	r.clk.add(30 * time.Second)
	tick()
	if len(a.sent) != 1 {
		t.Fatalf("sent %d messages to a within a minute", len(a.sent))
	}
	if len(c.sent) != 1 {
		t.Fatalf("new peer c got %d messages, want its full list", len(c.sent))
	}
	r.clk.add(31 * time.Second)
	tick()
	// b came and went between two rebuilds: it is in neither list.
	m, _ = lastMsg(a)
	if len(a.sent) != 2 || fmt.Sprint(m.Added) != fmt.Sprint([]Peer{{ap("10.0.0.5:8000"), 0}}) || len(m.Dropped) != 0 {
		t.Fatalf("diff to a (%d sent): %+v", len(a.sent), m)
	}
	c.gone = true
	r.clk.add(61 * time.Second)
	tick()
	m, _ = lastMsg(a)
	if len(a.sent) != 3 || len(m.Added) != 0 || fmt.Sprint(m.Dropped) != fmt.Sprint([]netip.AddrPort{ap("10.0.0.5:8000")}) {
		t.Fatalf("diff to a (%d sent): %+v", len(a.sent), m)
	}
	// Nothing changes: the empty diff is not sent.
	r.clk.add(61 * time.Second)
	tick()
	if len(a.sent) != 3 {
		t.Fatalf("sent an empty diff: %d messages", len(a.sent))
	}
}

// TestFullListCapped: the first message carries at most 100 peers.
func TestFullListCapped(t *testing.T) {
	r := newRig()
	for i := 0; i < 150; i++ {
		r.connect(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i / 250), byte(i%250 + 1)}), 1).String(), 1000+uint16(i))
	}
	first := r.ft.peers[0]
	r.pps[first].Tick()
	m, ok := lastMsg(first)
	if !ok || len(m.Added) != MaxPeerEntries {
		t.Fatalf("full list of %d peers, want %d", len(m.Added), MaxPeerEntries)
	}
}

// TestNotSentToNonPEXPeer: a peer that did not advertise ut_pex gets nothing.
func TestNotSentToNonPEXPeer(t *testing.T) {
	r := newRig()
	r.connect("10.0.0.1:1", 1)
	c := &fakeConn{t: r.ft, id: 99, addr: ap("10.0.0.2:2"), port: 2}
	r.ft.peers = append(r.ft.peers, c)
	pp := r.tp.NewConnection(c).(*peer)
	pp.Tick()
	if len(c.sent) != 0 {
		t.Fatal("sent ut_pex to a peer that does not speak it")
	}
}
