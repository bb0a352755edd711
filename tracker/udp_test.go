package tracker

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/url"
	"testing"
	"time"
)

// udpTracker answers BEP 15 connects, then answers announces with answer
// (nil: never). It listens on 127.0.0.1.
func udpTracker(t *testing.T, answer func(txid []byte, body []byte) []byte) (string, chan []byte) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	got := make(chan []byte, 100)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			p := append([]byte(nil), buf[:n]...)
			if n < 16 {
				continue
			}
			action, txid := binary.BigEndian.Uint32(p[8:12]), p[12:16]
			if action == 0 { // connect
				resp := binary.BigEndian.AppendUint32(nil, 0)
				resp = append(resp, txid...)
				resp = binary.BigEndian.AppendUint64(resp, 0x1122334455667788)
				pc.WriteTo(resp, from)
				continue
			}
			got <- p
			if answer != nil {
				if r := answer(txid, p); r != nil {
					pc.WriteTo(r, from)
				}
			}
		}
	}()
	return "udp://" + pc.LocalAddr().String() + "/announce?passkey=k", got
}

// TestUDPAnnounce: the connection id is used, BEP 41 URL data is sent,
// peers are decoded and capped.
func TestUDPAnnounce(t *testing.T) {
	raw, got := udpTracker(t, func(txid, _ []byte) []byte {
		r := binary.BigEndian.AppendUint32(nil, 1)
		r = append(r, txid...)
		r = binary.BigEndian.AppendUint32(r, 900)                    // interval
		r = binary.BigEndian.AppendUint32(r, 2)                      // leechers
		r = binary.BigEndian.AppendUint32(r, 3)                      // seeders
		r = append(r, 127, 0, 0, 1, 0x1a, 0xe1, 127, 0, 0, 2, 0, 80) // two peers
		return r
	})
	u, _ := url.Parse(raw)
	tp := NewUDPTransport()
	defer tp.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := tp.Announce(ctx, u, Request{Event: EventStarted, Port: 6881, NumWant: 10}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Interval != 900*time.Second || resp.Complete != 3 || resp.Incomplete != 2 || len(resp.Peers) != 1 || resp.Dropped != 1 ||
		resp.Peers[0].String() != "127.0.0.1:6881" {
		t.Fatalf("response %+v", resp)
	}
	p := <-got
	if binary.BigEndian.Uint64(p[:8]) != 0x1122334455667788 || binary.BigEndian.Uint32(p[8:12]) != 1 {
		t.Fatalf("announce header %x", p[:16])
	}
	// BEP 41 after the 98-byte announce: option 2 (URL data), length, data.
	if len(p) < 100 || p[98] != 2 || string(p[100:100+int(p[99])]) != "/announce?passkey=k" {
		t.Fatalf("URL data %q", p[98:])
	}
	if binary.BigEndian.Uint32(p[80:84]) != 2 { // event: started
		t.Fatalf("event %d", binary.BigEndian.Uint32(p[80:84]))
	}
}

// TestUDPErrors: an error action is ErrFailureReason with its text; a
// tracker that never answers is ErrTimeout when the deadline passes.
func TestUDPErrors(t *testing.T) {
	raw, _ := udpTracker(t, func(txid, _ []byte) []byte {
		r := binary.BigEndian.AppendUint32(nil, 3)
		return append(append(r, txid...), "go away"...)
	})
	u, _ := url.Parse(raw)
	tp := NewUDPTransport()
	defer tp.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := tp.Announce(ctx, u, Request{}, 10)
	var te *Error
	if !errors.Is(err, ErrFailureReason) || !errors.As(err, &te) || te.Reason != "go away" || resp.Failure != "go away" {
		t.Fatalf("err %v, response %+v", err, resp)
	}

	raw, _ = udpTracker(t, nil)
	u, _ = url.Parse(raw)
	sctx, scancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer scancel()
	if _, err := tp.Announce(sctx, u, Request{}, 10); !errors.Is(err, ErrTimeout) {
		t.Fatalf("silent tracker: %v", err)
	}
}
