package shard

import (
	"errors"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// statusAggregate sums every torrent's Status as the shard's aggregate
// should read. Loop only.
func statusAggregate(s *Shard) Aggregate {
	var a Aggregate
	for _, t := range s.torrents {
		st := t.Status()
		a.Classes[ClassOf(st.State, st.Paused, st.Err != nil)]++
		a.Peers += int64(st.NumPeers)
		a.Connecting += int64(st.NumConnecting)
		a.UploadRate += st.UploadRate
		a.DownloadRate += st.DownloadRate
		a.TotalUpload += st.TotalUpload
		a.TotalDownload += st.TotalDownload
	}
	return a
}

// checkAggregate compares the published aggregate with the statuses'
// sum (StateSeq aside), on the loop. Loop only.
func checkAggregate(what string, s *Shard) Aggregate {
	got, want := s.Aggregate(), statusAggregate(s)
	seq := got.StateSeq
	got.StateSeq = 0
	if got != want {
		fatalf("%s: published %+v, statuses sum to %+v", what, got, want)
	}
	got.StateSeq = seq
	return got
}

// TestAggregateFollowsTorrents: class counts and StateSeq follow every
// add, pause, resume, error and removal at once; peers, rates and totals
// follow at the tick; StateSeq stays put while nothing changes.
func TestAggregateFollowsTorrents(t *testing.T) {
	h := newHarness(t, Settings{})
	f := makeTorrent(t, seedSize, seedPieceLen)
	seed := h.seed(f)
	leech := h.leech(makeTorrent(t, seedSize+1, seedPieceLen))
	var a Aggregate
	h.do(func() {
		a = checkAggregate("after adds", h.s)
		if a.Classes[ClassSeeding] != 1 || a.Classes[ClassDownloading] != 1 || a.StateSeq == 0 {
			fatalf("after adds: %+v", a)
		}
	})
	seq := a.StateSeq
	for range 3 {
		h.tick(time.Second)
	}
	h.do(func() {
		if a := checkAggregate("idle ticks", h.s); a.StateSeq != seq {
			fatalf("StateSeq moved from %d to %d with nothing changing", seq, a.StateSeq)
		}
	})

	// A peer takes a block: peers at the next tick, payload too.
	var tp *tpeer
	h.do(func() {
		tp = h.handshaken(seed, 1, simple(wire.HaveNone), simple(wire.Interested))
		h.feed(tp, wire.AppendRequest(nil, 1, 0, wire.BlockSize))
	})
	h.waitFor("the served block", func() bool { return tp.totalUp == wire.BlockSize })
	h.tick(time.Second)
	h.do(func() {
		a := checkAggregate("after a transfer", h.s)
		if a.Peers != 1 || a.TotalUpload != wire.BlockSize || a.UploadRate == 0 || a.StateSeq != seq {
			fatalf("after a transfer: %+v (StateSeq was %d)", a, seq)
		}
	})

	steps := []struct {
		what string
		do   func()
		cls  Class // the class leech is in afterwards
	}{
		{"pause", leech.Pause, ClassPaused},
		{"resume", leech.Resume, ClassDownloading},
		{"error", func() { leech.fail(errors.New("test: disk on fire")) }, ClassErrored},
		{"resume after the error", leech.Resume, ClassDownloading},
	}
	for _, st := range steps {
		h.do(func() {
			st.do()
			a := h.s.Aggregate()
			if a.StateSeq == seq || a.Classes[st.cls] == 0 {
				fatalf("%s: %+v (StateSeq was %d)", st.what, a, seq)
			}
			seq = a.StateSeq
			for c := range NumClasses {
				if got, want := a.Classes[c], statusAggregate(h.s).Classes[c]; got != want {
					fatalf("%s: class %d: %d published, %d by status", st.what, c, got, want)
				}
			}
		})
	}
	// Removing the seed takes its peers and payload out at once, without
	// waiting for a tick.
	h.do(func() {
		seed.Remove()
		a := checkAggregate("after removal", h.s)
		if a.StateSeq == seq || a.Classes[ClassSeeding] != 0 || a.Peers != 0 || a.TotalUpload != 0 {
			fatalf("after removal: %+v", a)
		}
		seq = a.StateSeq
	})
	h.tick(time.Second)
	h.do(func() {
		if a := checkAggregate("a tick after removal", h.s); a.StateSeq != seq {
			fatalf("StateSeq moved at a tick: %d -> %d", seq, a.StateSeq)
		}
	})
}

// TestAggregateSeedingOnCompletion: a download that completes moves the
// torrent to Seeding and StateSeq with it.
func TestAggregateSeedingOnCompletion(t *testing.T) {
	h := newHarness(t, Settings{})
	f := makeTorrent(t, seedSize, seedPieceLen)
	leech := h.leech(f)
	var seq uint64
	h.do(func() { seq = checkAggregate("leech", h.s).StateSeq })
	h.do(func() {
		for i := range f.mi.Info.NumPieces() {
			leech.pk.SetHave(i)
			leech.have.Set(i)
		}
		leech.finished()
		a := checkAggregate("finished", h.s)
		if a.Classes[ClassSeeding] != 1 || a.StateSeq == seq {
			fatalf("finished: %+v (StateSeq was %d)", a, seq)
		}
		if leech.state != plugin.StateSeeding {
			fatalf("state %v", leech.state)
		}
	})
}
