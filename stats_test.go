package shardtorrent

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/ext/mse"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/shard"
	"github.com/shardtorrent/shardtorrent/wire"
)

// TestAlertsDroppedCumulative: the per-pop drop report resets, the
// session's cumulative counts by alert name do not.
func TestAlertsDroppedCumulative(t *testing.T) {
	q := newAlertQueue(2, plugin.CategoryAll)
	if q.droppedTotals() != nil {
		t.Fatal("drops counted before any alert")
	}
	post := func(n int) {
		for range n {
			q.Post(&plugin.PieceFinishedAlert{})
		}
		q.Post(userAlert{}) // dropped too: the queue is full
	}
	post(5) // 2 queued, 3 dropped
	q.pop()
	post(4) // 2 queued, 2 dropped
	got := q.droppedTotals()
	want := map[string]uint64{(&plugin.PieceFinishedAlert{}).Name(): 5, userAlert{}.Name(): 2}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("cumulative drops %v, want %v", got, want)
	}
	got[userAlert{}.Name()] = 100 // a copy: the queue's counts stay
	if q.droppedTotals()[userAlert{}.Name()] != 2 {
		t.Fatal("droppedTotals returned the queue's own map")
	}
}

// TestIncomingRefusalKinds: every refusal of the accepting loop lands in
// its reason's counter.
func TestIncomingRefusalKinds(t *testing.T) {
	cases := []struct {
		err  error
		want func(*IncomingStats) uint64
	}{
		{ErrUnknownInfoHash, func(s *IncomingStats) uint64 { return s.UnknownTorrent }},
		{errAcceptTimeout, func(s *IncomingStats) uint64 { return s.Timeout }},
		{shard.NewEncryptionError(shard.ErrPlaintextRefused), func(s *IncomingStats) uint64 { return s.EncryptionPolicy }},
		{shard.NewEncryptionError(shard.ErrEncryptedRefused), func(s *IncomingStats) uint64 { return s.EncryptionPolicy }},
		{shard.NewEncryptionError(shard.ErrEncryptionTimeout), func(s *IncomingStats) uint64 { return s.MSE }},
		{shard.NewEncryptionError(mse.ErrSyncNotFound), func(s *IncomingStats) uint64 { return s.MSE }},
		{&wire.HandshakeError{Kind: wire.ErrBadProtocol}, func(s *IncomingStats) uint64 { return s.BadProtocol }},
		{errors.New("something else"), func(s *IncomingStats) uint64 { return s.Other }},
	}
	for _, c := range cases {
		var ic incomingCounters
		ic.refused(c.err)
		var st IncomingStats
		ic.read(&st)
		total := st.BadProtocol + st.UnknownTorrent + st.Timeout + st.EncryptionPolicy + st.MSE + st.Other
		if c.want(&st) != 1 || total != 1 {
			t.Errorf("%v: counted as %+v", c.err, st)
		}
	}
}

// TestStatsIdleSession: Stats on a session with a torrent answers every
// shard, counts the torrent and carries the disk's and tracker's figures.
func TestStatsIdleSession(t *testing.T) {
	s := newTestSession(t, bufpool.New(), 2)
	defer s.Close(context.Background())
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Shards) != 2 || st.Shards[0].ID != 0 || st.Shards[1].ID != 1 {
		t.Fatalf("shards %+v", st.Shards)
	}
	if st.Tracker == nil {
		t.Error("no tracker counters with the tracker client on")
	}
	if st.Engine.V[shard.MetricTorrents] != 0 || st.AlertsDropped != nil {
		t.Errorf("idle session: %d torrents, drops %v", st.Engine.V[shard.MetricTorrents], st.AlertsDropped)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Stats(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Stats with a cancelled context: %v", err)
	}
}
