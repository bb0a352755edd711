package tracker

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strconv"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// counters are fixed announce figures.
type counters struct{ up, down, left int64 }

func (c *counters) Uploaded() int64   { return c.up }
func (c *counters) Downloaded() int64 { return c.down }
func (c *counters) Left() int64       { return c.left }

// sent is one request the simulation saw.
type sent struct {
	at  time.Time
	url string
	job job
}

// sim drives a sched in simulated time: every request takes latency and
// is answered by reply.
type sim struct {
	t        *testing.T
	s        *sched
	now      time.Time
	latency  time.Duration
	reply    func(url string, r Request) (Response, error)
	sent     []sent
	pending  []sent
	maxInFly int
	noCheck  bool // skip sched.check per step (it is O(torrents))
}

func newSim(t *testing.T, set schedSettings) *sim {
	if set.numWant == 0 {
		set.numWant = 50
	}
	if set.maxInFlight == 0 {
		set.maxInFlight = 8
	}
	if set.rate == 0 {
		set.rate, set.burst = 100, 100
	}
	if set.backoffRatio == 0 {
		set.backoffRatio = 250
	}
	if set.minAnnounce == 0 {
		set.minAnnounce = time.Second
	}
	if set.defaultInterval == 0 {
		set.defaultInterval = 1800 * time.Second
	}
	if set.maxPeers == 0 {
		set.maxPeers = 100
	}
	set.key = 0x1234
	set.port = func() uint16 { return 6881 }
	return &sim{
		t: t, s: newSched(set, rand.New(rand.NewPCG(1, 2))), now: t0, latency: 100 * time.Millisecond,
		reply: func(string, Request) (Response, error) {
			return Response{Interval: 1800 * time.Second, Complete: -1, Incomplete: -1, Downloaded: -1}, nil
		},
	}
}

// run advances simulated time to until, starting and finishing requests.
func (m *sim) run(until time.Time) {
	for {
		for _, j := range m.s.next(m.now) {
			x := sent{at: m.now, url: j.e.raw, job: j}
			m.sent = append(m.sent, x)
			m.pending = append(m.pending, x)
		}
		if !m.noCheck {
			m.s.check()
		}
		m.maxInFly = max(m.maxInFly, m.s.inFlight)
		if m.s.inFlight > m.s.set.maxInFlight {
			m.t.Fatalf("%d in flight, max %d", m.s.inFlight, m.s.set.maxInFlight)
		}
		next := m.s.wake(m.now)
		for _, p := range m.pending {
			if f := p.at.Add(m.latency); next.IsZero() || f.Before(next) {
				next = f
			}
		}
		if next.IsZero() || next.After(until) {
			m.now = until
			return
		}
		m.now = next
		kept := m.pending[:0]
		var due []sent
		for _, p := range m.pending {
			if !p.at.Add(m.latency).After(m.now) {
				due = append(due, p)
			} else {
				kept = append(kept, p)
			}
		}
		m.pending = kept
		for _, p := range due {
			var res result
			if p.job.kind == JobScrape {
				res.scrape = ScrapeResult{1, 2, 3}
			} else {
				res.resp, res.err = m.reply(p.url, p.job.req)
			}
			m.s.done(p.job, res, m.now)
			if !m.noCheck {
				m.s.check()
			}
		}
	}
}

func (m *sim) urls() []string {
	var out []string
	for _, s := range m.sent {
		out = append(out, s.url)
	}
	return out
}

func tor(n int, tiers ...[]string) Torrent {
	var ih [20]byte
	copy(ih[:], strconv.Itoa(n))
	return Torrent{InfoHash: ih, Tiers: tiers, Counters: &counters{left: 100}}
}

var errDown = &Error{Kind: ErrNetwork, Reason: "down"}

// TestTierFailover: a tier's trackers are tried one after the other, the
// next tier only when the whole tier failed, and a recovered first tier
// takes over again (BEP 12).
func TestTierFailover(t *testing.T) {
	m := newSim(t, schedSettings{})
	up := map[string]bool{"http://c/announce": true}
	m.reply = func(u string, _ Request) (Response, error) {
		if up[u] {
			return Response{Interval: 1800 * time.Second}, nil
		}
		return Response{}, errDown
	}
	tr := tor(1, []string{"http://a/announce", "http://b/announce"}, []string{"http://c/announce"})
	m.s.start(tr, m.now)
	m.run(t0.Add(time.Second))
	got := m.urls()
	if len(got) != 3 || got[2] != "http://c/announce" || got[0] == got[1] {
		t.Fatalf("first round %v: want both of tier 0 then tier 1", got)
	}
	first := got[0]
	// The first tracker recovers; at its retry (17 s + jitter) it answers
	// and tier 1 is not announced to again.
	up[first] = true
	m.run(t0.Add(2 * time.Hour))
	var after []string
	for _, s := range m.sent[3:] {
		after = append(after, s.url)
	}
	if len(after) == 0 || after[0] != first {
		t.Fatalf("after recovery %v: want %s retried first", after, first)
	}
	for _, u := range after {
		if u != first {
			t.Fatalf("after recovery %v: only %s should be announced to", after, first)
		}
	}
	// Until 2 h at an interval of 1800 s: the retry at ~17 s and
	// re-announces at ~1817, 3617 and 5417 s.
	if len(after) != 4 {
		t.Fatalf("after recovery %d announces, want 4: %v", len(after), after)
	}
	st, _ := m.s.status(tr.InfoHash)
	if st[0].URL != first || !st[0].Working {
		t.Fatalf("status %+v: working tracker not at the front of its tier", st)
	}
}

// TestAnnounceToAll: with both settings every tracker of every tier gets
// the started.
func TestAnnounceToAll(t *testing.T) {
	m := newSim(t, schedSettings{allTiers: true, allTrackers: true})
	m.s.start(tor(1, []string{"http://a/announce", "http://b/announce"}, []string{"http://c/announce"}), m.now)
	m.run(t0.Add(time.Second))
	got := m.urls()
	sort.Strings(got)
	if len(got) != 3 || got[0] != "http://a/announce" || got[1] != "http://b/announce" || got[2] != "http://c/announce" {
		t.Fatalf("announced to %v", got)
	}
}

// TestBackoffNoStorm: a tracker that always fails is asked on
// libtorrent's back-off curve, a handful of times in an hour.
func TestBackoffNoStorm(t *testing.T) {
	m := newSim(t, schedSettings{})
	m.reply = func(string, Request) (Response, error) { return Response{}, errDown }
	m.s.start(tor(1, []string{"http://a/announce"}), m.now)
	m.run(t0.Add(time.Hour))
	// 17, 55, 117, 205, 317, 455, 617, 805, 1017 s (+ up to 10%): the
	// first try and 8 retries fit in the hour.
	if n := len(m.sent); n < 8 || n > 9 {
		t.Fatalf("%d requests in an hour against a failing tracker, want 8 or 9", n)
	}
	for i := 1; i < len(m.sent); i++ {
		gap := m.sent[i].at.Sub(m.sent[i-1].at) - m.latency
		want := backoff(i, 250, 0, nil)
		if gap < want || gap > want+want/10+time.Second {
			t.Fatalf("retry %d after %v, want %v..%v", i, gap, want, want+want/10)
		}
	}
}

func TestBackoffCurve(t *testing.T) {
	for fails, want := range map[int]time.Duration{1: 17 * time.Second, 2: 55 * time.Second, 3: 117 * time.Second, 30: time.Hour} {
		if got := backoff(fails, 250, 0, nil); got != want {
			t.Errorf("backoff(%d) = %v, want %v", fails, got, want)
		}
	}
	if got := backoff(1, 250, time.Minute, nil); got != time.Minute {
		t.Errorf("retry floor: %v", got)
	}
}

// TestMinInterval: a re-announce never comes sooner than "min interval",
// neither from a short "interval" nor from a forced re-announce.
func TestMinInterval(t *testing.T) {
	m := newSim(t, schedSettings{})
	m.reply = func(string, Request) (Response, error) {
		return Response{Interval: 10 * time.Second, MinInterval: 120 * time.Second}, nil
	}
	tr := tor(1, []string{"http://a/announce"})
	m.s.start(tr, m.now)
	m.run(t0.Add(5 * time.Second))
	m.s.force(tr.InfoHash, m.now)
	m.run(t0.Add(200 * time.Second))
	if len(m.sent) != 2 {
		t.Fatalf("%d announces in 200 s, want 2", len(m.sent))
	}
	if d := m.sent[1].at.Sub(m.sent[0].at); d < 120*time.Second {
		t.Fatalf("second announce after %v, sooner than min interval", d)
	}
}

// TestTrackerIDEcho: the "tracker id" of a reply is sent back, and the
// session key and numwant are in every announce.
func TestTrackerIDEcho(t *testing.T) {
	m := newSim(t, schedSettings{})
	m.reply = func(string, Request) (Response, error) {
		return Response{Interval: 600 * time.Second, TrackerID: "tid-7"}, nil
	}
	m.s.start(tor(1, []string{"http://a/announce"}), m.now)
	m.run(t0.Add(1300 * time.Second))
	if len(m.sent) != 3 {
		t.Fatalf("%d announces", len(m.sent))
	}
	if m.sent[0].job.req.TrackerID != "" || m.sent[1].job.req.TrackerID != "tid-7" || m.sent[2].job.req.TrackerID != "tid-7" {
		t.Fatalf("tracker ids %q %q %q", m.sent[0].job.req.TrackerID, m.sent[1].job.req.TrackerID, m.sent[2].job.req.TrackerID)
	}
	for _, s := range m.sent {
		if s.job.req.Key != 0x1234 || s.job.req.NumWant != 50 || s.job.req.Port != 6881 {
			t.Fatalf("request %+v", s.job.req)
		}
	}
}

// TestEventSequence: started, a periodic announce, completed, stopped,
// each carrying the counters as they were when it was sent; a removed
// torrent is forgotten after its stopped.
func TestEventSequence(t *testing.T) {
	m := newSim(t, schedSettings{})
	m.reply = func(string, Request) (Response, error) { return Response{Interval: 600 * time.Second}, nil }
	c := &counters{left: 1000}
	tr := tor(1, []string{"http://a/announce"})
	tr.Counters = c
	m.s.start(tr, m.now)
	m.run(t0.Add(10 * time.Second))
	c.down, c.left = 400, 600
	m.run(t0.Add(700 * time.Second))
	c.down, c.left, c.up = 1000, 0, 50
	m.s.completed(tr.InfoHash, m.now)
	m.run(t0.Add(710 * time.Second))
	c.up = 70
	m.s.stop(tr.InfoHash, true, m.now)
	m.run(t0.Add(720 * time.Second))
	want := []Request{
		{Event: EventStarted, Left: 1000},
		{Event: EventNone, Downloaded: 400, Left: 600},
		{Event: EventCompleted, Downloaded: 1000, Uploaded: 50},
		{Event: EventStopped, Downloaded: 1000, Uploaded: 70},
	}
	if len(m.sent) != len(want) {
		t.Fatalf("%d announces, want %d", len(m.sent), len(want))
	}
	for i, w := range want {
		r := m.sent[i].job.req
		if r.Event != w.Event || r.Downloaded != w.Downloaded || r.Left != w.Left || r.Uploaded != w.Uploaded {
			t.Errorf("announce %d: %v up %d down %d left %d, want %v up %d down %d left %d",
				i, r.Event, r.Uploaded, r.Downloaded, r.Left, w.Event, w.Uploaded, w.Downloaded, w.Left)
		}
	}
	if len(m.s.torrents) != 0 {
		t.Fatal("removed torrent still known after its stopped")
	}
}

// TestStoppedWhileStartedOut: a torrent stopped while its started is out
// sends stopped once the started is answered.
func TestStoppedWhileStartedOut(t *testing.T) {
	m := newSim(t, schedSettings{})
	tr := tor(1, []string{"http://a/announce"})
	m.s.start(tr, m.now)
	jobs := m.s.next(m.now)
	m.s.stop(tr.InfoHash, true, m.now)
	m.s.done(jobs[0], result{resp: Response{Interval: time.Hour}}, m.now)
	jobs = m.s.next(m.now)
	if len(jobs) != 1 || jobs[0].req.Event != EventStopped {
		t.Fatalf("jobs after stop %+v", jobs)
	}
	m.s.done(jobs[0], result{}, m.now)
	if len(m.s.torrents) != 0 || !m.s.idle() {
		t.Fatal("not idle after the stopped")
	}
}

// TestManyTorrentsSpread: 10,000 torrents started at once are announced
// at the configured rate with the in-flight bound held, and their
// re-announces stay spread.
func TestManyTorrentsSpread(t *testing.T) {
	const n = 10000
	m := newSim(t, schedSettings{maxInFlight: 16, rate: 100, burst: 100})
	m.latency = 50 * time.Millisecond
	m.noCheck = true
	defer m.s.check()
	for i := 0; i < n; i++ {
		m.s.start(tor(i, []string{"http://a/announce"}), m.now)
	}
	m.run(t0.Add(3600 * time.Second))
	if m.maxInFly > 16 {
		t.Fatalf("%d in flight", m.maxInFly)
	}
	// Interval 1800 s: each torrent announced at most twice... and every
	// one at least once.
	seen := map[[20]byte]int{}
	perSec := map[int64]int{}
	for _, s := range m.sent {
		seen[s.job.req.InfoHash]++
		perSec[s.at.Unix()]++
	}
	if len(seen) != n {
		t.Fatalf("%d of %d torrents announced", len(seen), n)
	}
	for sec, c := range perSec {
		if c > 200 { // the burst plus one second of rate
			t.Fatalf("%d announces in second %d", c, sec-t0.Unix())
		}
	}
	if len(m.sent) > 2*n {
		t.Fatalf("%d announces for %d torrents in an hour", len(m.sent), n)
	}
}

// TestPrivateDropsExtra: the session's extra trackers are not used for a
// private torrent, and leave a magnet that turns out private.
func TestPrivateDropsExtra(t *testing.T) {
	m := newSim(t, schedSettings{extra: []string{"http://x/announce"}, allTiers: true})
	p := tor(1, []string{"http://a/announce"})
	p.Private = true
	m.s.start(p, m.now)
	mag := tor(2, []string{"http://b/announce"})
	m.s.start(mag, m.now)
	m.s.metadata(mag.InfoHash, true, m.now)
	m.run(t0.Add(time.Second))
	for _, u := range m.urls() {
		if u == "http://x/announce" {
			t.Fatalf("private torrent announced to the extra tracker: %v", m.urls())
		}
	}
	pub := tor(3)
	m.s.start(pub, m.now)
	m.run(t0.Add(2 * time.Second))
	if u := m.urls(); u[len(u)-1] != "http://x/announce" {
		t.Fatalf("public torrent not announced to the extra tracker: %v", u)
	}
}

func TestScrapeAndAddTracker(t *testing.T) {
	m := newSim(t, schedSettings{allTiers: true})
	tr := tor(1, []string{"http://a/announce"})
	m.s.start(tr, m.now)
	if !m.s.addTracker(tr.InfoHash, "http://b/announce", 5, m.now) || m.s.addTracker(tr.InfoHash, "http://b/announce", 0, m.now) {
		t.Fatal("addTracker")
	}
	m.s.scrape(tr.InfoHash)
	m.run(t0.Add(time.Second))
	st, _ := m.s.status(tr.InfoHash)
	if len(st) != 2 || st[1].Tier != 1 || st[0].Seeders != 1 || st[0].Leechers != 2 || st[0].Downloaded != 3 {
		t.Fatalf("status %+v", st)
	}
}

func TestSkipSelf(t *testing.T) {
	p := func(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
	in := []netip.AddrPort{p("127.0.0.1:6881"), p("127.0.0.1:7000"), p("10.0.0.1:6881")}
	got := SkipSelf(append([]netip.AddrPort(nil), in...), p("0.0.0.0:6881"))
	if len(got) != 2 || got[0] != in[1] || got[1] != in[2] {
		t.Fatalf("%v", got)
	}
	if !errors.Is(errDown, ErrNetwork) {
		t.Fatal("kind")
	}
}
