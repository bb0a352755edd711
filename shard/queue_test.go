package shard

import (
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/plugin"
)

// queueInfo returns tor's QueueInfo, or false if it is not auto-managed.
func queueInfo(h *harness, tor *Torrent) (QueueInfo, bool) {
	for _, e := range h.s.AppendQueueInfo(nil) {
		if e.Key == tor.wireIH {
			return e, true
		}
	}
	return QueueInfo{}, false
}

// TestQueueActivity: a torrent is active within AutoManageInactiveTime of
// its add or of a second with payload at InactiveRate or more, and slow
// after; a second below the rate does not count.
func TestQueueActivity(t *testing.T) {
	h := newHarness(t, Settings{AutoManageInactiveTime: time.Minute, InactivityTimeout: time.Hour, KeepAliveInterval: time.Hour})
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	h.do(func() {
		if e, ok := queueInfo(h, tor); !ok || !e.Active || !e.Seed || e.Paused || e.Busy {
			fatalf("just added: %+v, auto-managed %v", e, ok)
		}
	})
	h.tick(59 * time.Second)
	h.do(func() {
		if e, _ := queueInfo(h, tor); !e.Active {
			fatalf("slow 59 s after the add")
		}
	})
	h.tick(time.Second)
	h.do(func() {
		if e, _ := queueInfo(h, tor); e.Active {
			fatalf("active 60 s after the add with nothing moved")
		}
		tor.secUp = InactiveRate - 1 // below the rate: no activity
		tor.onTick(h.clock.now)
		if e, _ := queueInfo(h, tor); e.Active {
			fatalf("a second below InactiveRate made it active")
		}
		tor.secUp = InactiveRate
		tor.onTick(h.clock.now)
		if e, _ := queueInfo(h, tor); !e.Active {
			fatalf("a second at InactiveRate left it slow")
		}
	})
}

// TestQueueStopStart: the queue's stop and start keep the torrent
// auto-managed, post the pause and resume alerts, and a queue stop is not
// saved as a pause in resume data; a manual Pause or Resume takes the
// torrent out of the queue, and a torrent added paused is not in it.
func TestQueueStopStart(t *testing.T) {
	h := newHarness(t, Settings{InactivityTimeout: time.Hour, KeepAliveInterval: time.Hour})
	tor := h.seed(makeTorrent(t, seedSize, seedPieceLen))
	h.do(func() {
		tor.QueueStop()
		e, ok := queueInfo(h, tor)
		if !ok || !e.Paused || !tor.paused {
			fatalf("after QueueStop: %+v, auto-managed %v", e, ok)
		}
		if tor.ResumeData().Paused {
			fatalf("a queue stop saved as a pause")
		}
		tor.QueueStart()
		if e, ok := queueInfo(h, tor); !ok || e.Paused || !e.Active {
			fatalf("after QueueStart: %+v, auto-managed %v", e, ok)
		}
		tor.Pause()
		if _, ok := queueInfo(h, tor); ok || !tor.ResumeData().Paused {
			fatalf("a manual pause stayed auto-managed")
		}
		tor.QueueStart() // not the queue's any more
		if !tor.paused {
			fatalf("QueueStart resumed a torrent paused by hand")
		}
		tor.Resume()
		tor.QueueStop()
		if tor.paused {
			fatalf("QueueStop paused a torrent resumed by hand")
		}
	})
	var paused, resumed int
	for _, a := range h.alerts.snapshot() {
		switch a.(type) {
		case *plugin.TorrentPausedAlert:
			paused++
		case *plugin.TorrentResumedAlert:
			resumed++
		}
	}
	if paused != 2 || resumed != 2 {
		t.Fatalf("%d paused and %d resumed alerts, want 2 and 2", paused, resumed)
	}
	f := makeTorrent(t, seedSize+1, seedPieceLen)
	var p *Torrent
	h.do(func() {
		var err error
		p, err = h.s.AddTorrent(AddParams{Info: &f.mi.Info, InfoHash: f.mi.InfoHash, SavePath: f.src, Paused: true})
		if err != nil {
			fatalf("AddTorrent: %v", err)
		}
		if p.AutoManaged() {
			fatalf("a torrent added paused is auto-managed")
		}
	})
}
