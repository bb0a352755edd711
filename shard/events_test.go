package shard

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// eventRec records lifecycle events with the counters as of each.
type eventRec struct {
	mu  sync.Mutex
	got []recEvent
}

type recEvent struct {
	e              Event
	up, down, left int64
}

func (r *eventRec) TorrentEvent(t *Torrent, e Event) {
	c := t.Counters()
	r.mu.Lock()
	r.got = append(r.got, recEvent{e, c.Uploaded.Load(), c.Downloaded.Load(), c.Left.Load()})
	r.mu.Unlock()
}

func (r *eventRec) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, x := range r.got {
		out = append(out, x.e)
	}
	return out
}

func (r *eventRec) last() recEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[len(r.got)-1]
}

func newEventHarness(t *testing.T) (*harness, *eventRec) {
	h := newHarness(t, Settings{})
	rec := &eventRec{}
	h.do(func() { h.s.events = rec })
	return h, rec
}

// TestEventsLifecycle: Started and Stopped alternate through pause,
// resume, remove and close; a paused add announces nothing; Left is the
// bytes missing as of each event.
func TestEventsLifecycle(t *testing.T) {
	tf := makeTorrent(t, 4*dlPieceLen+100, dlPieceLen)
	total := tf.mi.Info.TotalLength
	cases := []struct {
		name     string
		run      func(h *harness) *Torrent
		want     []Event
		wantLeft int64
	}{
		{"seed", func(h *harness) *Torrent { return h.seed(tf) }, []Event{EventStarted}, 0},
		{"leech", func(h *harness) *Torrent { return h.leech(tf) }, []Event{EventStarted}, total},
		{"pause_resume", func(h *harness) *Torrent {
			tor := h.seed(tf)
			h.do(func() { tor.Pause(); tor.Pause(); tor.Resume(); tor.Resume() })
			return tor
		}, []Event{EventStarted, EventStopped, EventStarted}, 0},
		{"remove", func(h *harness) *Torrent {
			tor := h.seed(tf)
			h.do(func() { tor.Remove(); tor.Remove() })
			return tor
		}, []Event{EventStarted, EventStopped}, 0},
		{"close", func(h *harness) *Torrent {
			tor := h.seed(tf)
			h.do(func() { h.s.Close() })
			return tor
		}, []Event{EventStarted, EventStopped}, 0},
		{"paused_add", func(h *harness) *Torrent {
			var tor *Torrent
			h.do(func() {
				var err error
				tor, err = h.s.AddTorrent(AddParams{Info: &tf.mi.Info, InfoHash: tf.mi.InfoHash, SavePath: tf.src, Paused: true})
				if err != nil {
					fatalf("add: %v", err)
				}
			})
			h.waitFor("the check", func() bool { return !tor.checking })
			h.do(func() { tor.Remove() })
			return tor
		}, nil, 0},
		{"magnet", func(h *harness) *Torrent {
			var tor *Torrent
			h.do(func() {
				var err error
				tor, err = h.s.AddTorrent(AddParams{InfoHash: tf.mi.InfoHash, SavePath: h.t.TempDir()})
				if err != nil {
					fatalf("add: %v", err)
				}
			})
			return tor
		}, []Event{EventStarted}, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, rec := newEventHarness(t)
			c.run(h)
			if got := rec.events(); !slices.Equal(got, c.want) {
				t.Fatalf("events %v, want %v", got, c.want)
			}
			if len(c.want) > 0 {
				if l := rec.last().left; l != c.wantLeft {
					t.Fatalf("left %d at the last event, want %d", l, c.wantLeft)
				}
			}
		})
	}
}

// TestEventCompleted: a torrent that downloads its last piece sends
// Completed once, with Left 0 and Downloaded counting the piece; one
// complete at its check never does (the seed case above).
func TestEventCompleted(t *testing.T) {
	h, rec := newEventHarness(t)
	tf := makeTorrent(t, 3*dlPieceLen, dlPieceLen)
	// Everything but the last piece is on disk.
	dir := t.TempDir()
	part := append([]byte(nil), tf.data...)
	clear(part[2*dlPieceLen:])
	if err := os.WriteFile(filepath.Join(dir, "payload.bin"), part, 0o644); err != nil {
		t.Fatal(err)
	}
	tor := h.add(tf, dir)
	if got := rec.last(); got.e != EventStarted || got.left != dlPieceLen {
		t.Fatalf("after the check: %+v, want started with left %d", got, dlPieceLen)
	}
	var src *tpeer
	h.do(func() {
		src = h.handshaken(tor, 1)
		h.feed(src, simple(wire.HaveAll))
		h.feed(src, simple(wire.Unchoke))
	})
	h.waitFor("the download", func() bool {
		var b []byte
		for _, r := range requestsOf(src.fc.take()) {
			b = wire.AppendPiece(b, r.Piece, r.Begin, tf.block(r.Piece, r.Begin, r.Length))
		}
		if len(b) > 0 {
			h.feed(src, b)
		}
		return tor.state == plugin.StateSeeding
	})
	want := []Event{EventStarted, EventCompleted}
	if got := rec.events(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if got := rec.last(); got.left != 0 || got.down != dlPieceLen {
		t.Fatalf("completed with left %d downloaded %d, want 0 and %d", got.left, got.down, dlPieceLen)
	}
}
