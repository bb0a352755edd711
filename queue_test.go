package shardtorrent

import (
	"context"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// queueSession starts a two-shard session with set's queue settings whose
// queue runs only when the test calls recalcQueue, and adds n seeds (seed
// mode: no check) in order.
func queueSession(t *testing.T, set Settings, n int) (*Session, []*Torrent) {
	t.Helper()
	old := startQueueLoop
	startQueueLoop = false
	t.Cleanup(func() { startQueueLoop = old })
	set.ListenAddr, set.Shards, set.Pool, set.AlertMask = "off", 2, bufpool.New(), plugin.CategoryAll
	s, err := NewSession(context.Background(), set)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	dir := t.TempDir()
	var hs []*Torrent
	for _, mi := range batchTorrents(t, dir, n) {
		h, err := s.AddTorrent(context.Background(), AddTorrentParams{MetaInfo: mi, SavePath: dir, SeedMode: true})
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	return s, hs
}

// running returns the indexes into hs of the torrents not paused.
func running(t testing.TB, hs []*Torrent) []int {
	t.Helper()
	var out []int
	for i, h := range hs {
		st, err := h.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !st.Paused {
			out = append(out, i)
		}
	}
	return out
}

func recalc(t *testing.T, s *Session) {
	t.Helper()
	if err := s.recalcQueue(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestQueueActiveSeeds: 20 seeds with 5 active seeds: exactly the first 5
// in queue order run, the others are paused with an alert; a queue move
// changes which run; a manual pause takes a torrent out of the queue
// (another starts) and a manual resume keeps one running outside it.
func TestQueueActiveSeeds(t *testing.T) {
	set := Settings{ActiveSeeds: LimitTo(5)}
	set.Engine.AutoManageInactiveTime = time.Hour // nothing is slow here
	s, hs := queueSession(t, set, 20)
	ctx := context.Background()
	for i, h := range hs {
		if p, err := h.QueuePosition(ctx); err != nil || p != i {
			t.Fatalf("torrent %d: queue position %d, %v", i, p, err)
		}
	}
	seq := s.Totals().StateSeq
	recalc(t, s)
	if got := running(t, hs); !sameInts(got, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("running %v, want the first 5", got)
	}
	// The aggregates follow the queue's pauses at once.
	if tot := s.Totals(); tot.Seeding != 5 || tot.Paused != 15 || tot.StateSeq == seq {
		t.Fatalf("totals after the queue: %d seeding, %d paused, StateSeq %d (was %d)", tot.Seeding, tot.Paused, tot.StateSeq, seq)
	}
	paused := 0
	for _, a := range s.PopAlerts() {
		if _, ok := a.(*plugin.TorrentPausedAlert); ok {
			paused++
		}
	}
	if paused != 15 {
		t.Fatalf("%d paused alerts, want 15", paused)
	}
	recalc(t, s) // stable
	if got := running(t, hs); !sameInts(got, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("second round: running %v", got)
	}

	// 12 to the top, 0 to the bottom, 7 up past 6 ... to position 4.
	if err := hs[12].QueueTop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := hs[0].QueueBottom(ctx); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := hs[7].QueueUp(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := hs[1].QueueDown(ctx); err != nil {
		t.Fatal(err)
	}
	// Order now: 12, 2, 1, 3, 7, 4, 5, 6, 8, ..., 0.
	want := map[int]int{12: 0, 2: 1, 1: 2, 3: 3, 7: 4, 4: 5, 0: 19}
	for i, p := range want {
		if got, _ := hs[i].QueuePosition(ctx); got != p {
			t.Fatalf("torrent %d at position %d, want %d", i, got, p)
		}
	}
	recalc(t, s)
	if got := running(t, hs); !sameInts(got, []int{1, 2, 3, 7, 12}) {
		t.Fatalf("after the moves running %v, want [1 2 3 7 12]", got)
	}

	// A manual pause leaves the queue: the next in order (4) starts.
	if err := hs[2].Pause(ctx); err != nil {
		t.Fatal(err)
	}
	recalc(t, s)
	if got := running(t, hs); !sameInts(got, []int{1, 3, 4, 7, 12}) {
		t.Fatalf("after pausing 2 running %v, want [1 3 4 7 12]", got)
	}
	// A manual resume runs a torrent outside the limit.
	if err := hs[19].Resume(ctx); err != nil {
		t.Fatal(err)
	}
	recalc(t, s)
	if got := running(t, hs); !sameInts(got, []int{1, 3, 4, 7, 12, 19}) {
		t.Fatalf("after resuming 19 running %v, want [1 3 4 7 12 19]", got)
	}

	// Removing a torrent closes its gap in the queue.
	if err := hs[12].Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if p, _ := hs[2].QueuePosition(ctx); p != 0 {
		t.Fatalf("after removing the head, 2 is at %d, want 0", p)
	}
	if _, err := hs[12].QueuePosition(ctx); err != ErrTorrentGone {
		t.Fatalf("removed torrent's position: %v, want ErrTorrentGone", err)
	}
}

// TestQueueSlowTorrents: running torrents that moved nothing for
// AutoManageInactiveTime use no slot (dont_count_slow_torrents), so none
// is stopped; with CountSlowTorrents they count.
func TestQueueSlowTorrents(t *testing.T) {
	for _, count := range []bool{false, true} {
		set := Settings{ActiveSeeds: LimitTo(3), ActiveLimit: LimitTo(100), CountSlowTorrents: count}
		set.Engine.AutoManageInactiveTime = time.Nanosecond // every running torrent is slow at once
		s, hs := queueSession(t, set, 8)
		recalc(t, s)
		want := 8
		if count {
			want = 3
		}
		if got := running(t, hs); len(got) != want {
			t.Errorf("count slow %v: %d running, want %d", count, len(got), want)
		}
	}
}

// TestQueueZeroAndHardLimit: 0 active seeds is a real value (every seed
// paused), and ActiveLimit caps downloads and seeds together.
func TestQueueZeroAndHardLimit(t *testing.T) {
	set := Settings{ActiveSeeds: LimitTo(0)}
	set.Engine.AutoManageInactiveTime = time.Hour
	s, hs := queueSession(t, set, 4)
	recalc(t, s)
	if got := running(t, hs); len(got) != 0 {
		t.Fatalf("0 active seeds: running %v", got)
	}
	set = Settings{ActiveLimit: LimitTo(2)}
	set.Engine.AutoManageInactiveTime = time.Hour
	s, hs = queueSession(t, set, 4)
	recalc(t, s)
	if got := running(t, hs); !sameInts(got, []int{0, 1}) {
		t.Fatalf("active limit 2: running %v", got)
	}
}

// TestQueueUnlimitedByDefault: with the defaults nothing is limited and the
// recalculation goroutine does not run.
func TestQueueUnlimitedByDefault(t *testing.T) {
	var set Settings
	set.ActiveDownloads = set.ActiveDownloads.Or(DefaultActiveDownloads)
	set.ActiveSeeds = set.ActiveSeeds.Or(DefaultActiveSeeds)
	set.ActiveLimit = set.ActiveLimit.Or(DefaultActiveLimit)
	if queueLimited(&set) {
		t.Fatal("the defaults limit the queue")
	}
}

// TestQueueLoop: with a limit set the session runs the recalculation on
// its own once a second: two of three seeds are paused, with alerts.
func TestQueueLoop(t *testing.T) {
	set := Settings{ListenAddr: "off", Shards: 2, Pool: bufpool.New(), AlertMask: plugin.CategoryAll, ActiveSeeds: LimitTo(1)}
	set.Engine.AutoManageInactiveTime = time.Hour
	s, err := NewSession(context.Background(), set)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	dir := t.TempDir()
	var hs []*Torrent
	for _, mi := range batchTorrents(t, dir, 3) {
		h, err := s.AddTorrent(context.Background(), AddTorrentParams{MetaInfo: mi, SavePath: dir, SeedMode: true})
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	paused := 0
	waitAlert(t, s, 10*time.Second, func(a plugin.Alert) bool {
		if _, ok := a.(*plugin.TorrentPausedAlert); ok {
			paused++
		}
		return paused == 2
	})
	if got := running(t, hs); !sameInts(got, []int{0}) {
		t.Fatalf("running %v, want [0]", got)
	}
}
