package tracker

import (
	"testing"

	"github.com/shardtorrent/shardtorrent/internal/trackertest"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// TestStats: announces, their failures, scrapes and the peers replies
// carried are counted by the time each one's alert is posted.
func TestStats(t *testing.T) {
	h := newHarness(t, Config{})
	h.srv.Mode, h.srv.NumPeers = trackertest.ManyPeers, 7
	tr := h.torrent()
	h.m.Started(tr)
	if r := next[*plugin.TrackerReplyAlert](h); r.NumPeers != 7 {
		t.Fatalf("reply with %d peers, want 7", r.NumPeers)
	}
	if got, want := h.m.Stats(), (Stats{Announces: 1, PeersReceived: 7}); got != want {
		t.Fatalf("after one reply: %+v, want %+v", got, want)
	}
	if !h.m.Scrape(tr.InfoHash) {
		t.Fatal("scrape refused")
	}
	next[*plugin.ScrapeReplyAlert](h)
	if got, want := h.m.Stats(), (Stats{Announces: 1, PeersReceived: 7, Scrapes: 1}); got != want {
		t.Fatalf("after a scrape: %+v, want %+v", got, want)
	}
	h.srv.Lock()
	h.srv.Mode, h.srv.Reason = trackertest.Failure, "no"
	h.srv.Unlock()
	h.m.ForceReannounce(tr.InfoHash)
	st, _ := h.m.Trackers(tr.InfoHash)
	h.advanceTo(st[0].NextAnnounce)
	next[*plugin.TrackerErrorAlert](h)
	if got, want := h.m.Stats(), (Stats{Announces: 2, AnnounceErrors: 1, PeersReceived: 7, Scrapes: 1}); got != want {
		t.Fatalf("after a failure: %+v, want %+v", got, want)
	}
}
