package tracker

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"net/url"
	"time"

	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// The scheduler is the tracker client without I/O: torrent events, handle
// calls and announce results go in with the time; announces to send come
// out (next). The Manager drives it from its goroutine and runs the jobs;
// tests drive it with explicit times. Not safe for concurrent use: the
// Manager holds its mutex around every call.

// Counters are a torrent's announce figures, read at announce time. The
// Manager calls them from its own goroutine.
type Counters interface {
	Uploaded() int64
	Downloaded() int64
	// Left is the bytes still wanted, negative while unknown.
	Left() int64
}

// Torrent describes a torrent to the tracker client.
type Torrent struct {
	// InfoHash identifies the torrent on the wire (the v1 or truncated v2
	// hash) and to the Manager.
	InfoHash [20]byte
	// ID, Name and Handle label its alerts (plugin.TorrentAlert).
	ID     metainfo.InfoHash
	Name   string
	Handle plugin.TorrentRef
	// Tiers are its trackers (BEP 12).
	Tiers [][]string
	// Private torrents announce to Tiers only, never to Config.Extra.
	Private bool
	// Counters give uploaded/downloaded/left.
	Counters Counters
}

// entry is one tracker of one torrent.
type entry struct {
	u     *url.URL
	raw   string
	tier  int
	extra bool // from Config.Extra, dropped if the torrent turns out private
	tr    *torrent

	// Scheduling. Invariant: idx >= 0 iff the entry is in the heap, and
	// then it is neither inFlight nor its torrent stopped.
	idx      int
	due      time.Time
	inFlight bool

	// Announce state, libtorrent's announce_entry.
	fails        int
	working      bool
	startSent    bool
	completeSent bool
	next         time.Time // earliest regular or retry announce
	minNext      time.Time // never announce sooner (min interval)
	interval     time.Duration
	trackerID    string
	lastErr      error
	message      string
	complete     int
	incomplete   int
	downloaded   int
	scrapeQueued bool
}

type torrent struct {
	Torrent
	tiers      [][]*entry
	announcing bool
	finished   bool // EventCompleted seen, or left == 0 at start
	stopping   int  // stopped announces queued or in flight
	removed    bool // drop once stopping reaches zero
}

// JobKind says what a job does.
type JobKind uint8

// Job kinds.
const (
	JobAnnounce JobKind = iota + 1
	JobScrape
)

// job is one request for the Manager to run. Its fields are a copy made
// under the Manager's lock, so the request goroutine reads no scheduler
// state.
type job struct {
	kind JobKind
	e    *entry
	req  Request
	url  *url.URL
	raw  string
	id   metainfo.InfoHash
	name string
	ref  plugin.TorrentRef
}

// Settings tune the scheduler; zero fields take the defaults in brackets.
type schedSettings struct {
	allTiers, allTrackers bool
	numWant               int           // [200]
	maxInFlight           int           // [32]
	rate                  float64       // announces per second [100]
	burst                 float64       // [rate]
	backoffRatio          int           // libtorrent tracker_backoff [250]
	minAnnounce           time.Duration // floor of any interval [300 s]
	defaultInterval       time.Duration // when the tracker gives none [1800 s]
	maxPeers              int           // peers kept per reply [numWant*2]
	peerID                [20]byte
	key                   uint32
	port                  func() uint16
	extra                 []string
}

type sched struct {
	set      schedSettings
	rand     *rand.Rand
	torrents map[[20]byte]*torrent
	h        entryHeap
	urgent   []job // stopped announces and scrapes, before the heap
	inFlight int
	tokens   float64
	refilled time.Time
	closing  bool
}

func newSched(set schedSettings, r *rand.Rand) *sched {
	return &sched{set: set, rand: r, torrents: make(map[[20]byte]*torrent), tokens: set.burst}
}

// backoff is libtorrent 2.0.8's announce_entry::failed delay:
// max(retry, min(60 min, 5 s + fails² · 5 s · ratio/100)), plus up to 10%
// jitter (ours) so trackers failing together do not retry together.
func backoff(fails, ratio int, retry time.Duration, r *rand.Rand) time.Duration {
	const lo, hi = 5, 3600
	d := time.Duration(min(hi, lo+fails*fails*lo*ratio/100)) * time.Second
	if r != nil {
		d += time.Duration(r.Int64N(int64(d/10) + 1))
	}
	return max(d, retry)
}

// start handles EventStarted. A torrent already known (a resume) keeps
// its trackers' state but announces started again.
func (s *sched) start(t Torrent, now time.Time) {
	tr := s.torrents[t.InfoHash]
	fresh := tr == nil
	if fresh {
		tr = &torrent{Torrent: t}
		s.torrents[t.InfoHash] = tr
	} else {
		// Known already: a resume, or trackers added before the start.
		tr.Counters, tr.ID, tr.Name, tr.Handle, tr.Private = t.Counters, t.ID, t.Name, t.Handle, t.Private
	}
	for i, tier := range t.Tiers {
		for _, u := range tier {
			s.addEntry(tr, u, i, false)
		}
	}
	if !t.Private {
		for _, u := range s.set.extra {
			s.addEntry(tr, u, len(tr.tiers), true)
		}
	}
	if fresh {
		for _, tier := range tr.tiers {
			s.rand.Shuffle(len(tier), func(i, j int) { tier[i], tier[j] = tier[j], tier[i] })
		}
	}
	tr.removed = false
	tr.announcing = true
	tr.finished = t.Counters != nil && t.Counters.Left() == 0
	for _, tier := range tr.tiers {
		for _, e := range tier {
			e.startSent, e.completeSent = false, tr.finished
			e.next, e.minNext = time.Time{}, time.Time{}
			e.fails = 0
		}
	}
	s.plan(tr, now)
}

// addEntry adds url u to tier (a new tier if tier == len(tiers)); a URL
// the torrent has already is ignored, so is one we cannot announce to.
func (s *sched) addEntry(tr *torrent, raw string, tier int, extra bool) *entry {
	u, err := url.Parse(raw)
	if err != nil || !ValidURL(raw) {
		return nil
	}
	for _, ti := range tr.tiers {
		for _, e := range ti {
			if e.raw == raw {
				return nil
			}
		}
	}
	tier = max(0, min(tier, len(tr.tiers)))
	if tier == len(tr.tiers) {
		tr.tiers = append(tr.tiers, nil)
	}
	e := &entry{u: u, raw: raw, tier: tier, extra: extra, tr: tr, idx: -1, complete: -1, incomplete: -1, downloaded: -1}
	tr.tiers[tier] = append(tr.tiers[tier], e)
	return e
}

// completed handles EventCompleted.
func (s *sched) completed(ih [20]byte, now time.Time) {
	if tr := s.torrents[ih]; tr != nil && tr.announcing {
		tr.finished = true
		s.plan(tr, now)
	}
}

// metadata handles EventMetadata: a torrent that turns out private drops
// the session's extra trackers.
func (s *sched) metadata(ih [20]byte, private bool, now time.Time) {
	tr := s.torrents[ih]
	if tr == nil || !private || tr.Private {
		return
	}
	tr.Private = true
	for i, tier := range tr.tiers {
		kept := tier[:0]
		for _, e := range tier {
			if e.extra {
				s.unschedule(e)
				continue
			}
			kept = append(kept, e)
		}
		tr.tiers[i] = kept
	}
	s.plan(tr, now)
}

// stop handles EventStopped: every tracker that accepted a started gets a
// stopped, ahead of the heap; remove drops the torrent once they are sent.
func (s *sched) stop(ih [20]byte, remove bool, now time.Time) {
	tr := s.torrents[ih]
	if tr == nil {
		return
	}
	tr.announcing = false
	tr.removed = tr.removed || remove
	for _, tier := range tr.tiers {
		for _, e := range tier {
			s.unschedule(e)
			if e.startSent && !e.inFlight {
				s.queueStopped(e)
			}
		}
	}
	s.maybeDrop(tr)
}

func (s *sched) queueStopped(e *entry) {
	e.startSent = false
	e.tr.stopping++
	s.urgent = append(s.urgent, job{kind: JobAnnounce, e: e, req: s.request(e, EventStopped)})
}

func (s *sched) maybeDrop(tr *torrent) {
	if !tr.removed || tr.stopping > 0 {
		return
	}
	for _, tier := range tr.tiers {
		for _, e := range tier {
			if e.inFlight {
				return
			}
		}
	}
	delete(s.torrents, tr.InfoHash)
}

// needed reports whether e is one of the trackers its torrent announces
// to now (BEP 12): in its tier, every tracker before it has failed (a
// working tracker is moved to the front), and every tier before its own
// has failed as a whole; either rule is lifted by allTrackers and
// allTiers. The session's extra trackers (Config.Extra, the node's
// -tracker) are outside the tier rules: always announced to.
func (s *sched) needed(e *entry) bool {
	tr := e.tr
	if !tr.announcing || s.closing {
		return false
	}
	if e.extra {
		return true // the session's own trackers are always announced to
	}
	if !s.set.allTiers {
		for k := 0; k < e.tier; k++ {
			if !tierFailed(tr.tiers[k]) {
				return false
			}
		}
	}
	if !s.set.allTrackers {
		for _, o := range tr.tiers[e.tier] {
			if o == e {
				break
			}
			if o.fails == 0 {
				return false
			}
		}
	}
	return true
}

func tierFailed(tier []*entry) bool {
	for _, e := range tier {
		if e.fails == 0 {
			return false
		}
	}
	return true
}

// plan (re)schedules every tracker of tr that is needed and idle, and
// takes the rest off the heap.
func (s *sched) plan(tr *torrent, now time.Time) {
	for _, tier := range tr.tiers {
		for _, e := range tier {
			if e.inFlight {
				continue
			}
			if !s.needed(e) {
				s.unschedule(e)
				continue
			}
			due := e.next
			if e.fails == 0 && (!e.startSent || (tr.finished && !e.completeSent)) {
				due = now // an event goes at once (libtorrent lets completed past min interval)
			} else if due.Before(e.minNext) {
				due = e.minNext
			}
			s.schedule(e, due)
		}
	}
}

func (s *sched) schedule(e *entry, due time.Time) {
	e.due = due
	if e.idx >= 0 {
		heap.Fix(&s.h, e.idx)
		return
	}
	heap.Push(&s.h, e)
}

func (s *sched) unschedule(e *entry) {
	if e.idx >= 0 {
		heap.Remove(&s.h, e.idx)
	}
}

// request builds e's announce, reading the counters now.
func (s *sched) request(e *entry, ev AnnounceEvent) Request {
	tr := e.tr
	r := Request{
		InfoHash: tr.InfoHash, PeerID: s.set.peerID, Event: ev, NumWant: s.set.numWant,
		Key: s.set.key, TrackerID: e.trackerID, Left: -1,
	}
	if ev == EventStopped {
		r.NumWant = 0
	}
	if s.set.port != nil {
		r.Port = s.set.port()
	}
	if c := tr.Counters; c != nil {
		r.Uploaded, r.Downloaded, r.Left = c.Uploaded(), c.Downloaded(), c.Left()
	}
	return r
}

// next returns the jobs to start now: queued stopped announces and
// scrapes first, then due announces while fewer than maxInFlight run and
// the rate allows.
func (s *sched) next(now time.Time) []job {
	s.refill(now)
	var out []job
	for len(s.urgent) > 0 && s.inFlight < s.set.maxInFlight {
		j := s.urgent[0]
		s.urgent = s.urgent[1:]
		j.url, j.raw, j.id, j.name, j.ref = j.e.u, j.e.raw, j.e.tr.ID, j.e.tr.Name, j.e.tr.Handle
		if j.kind == JobAnnounce {
			j.e.inFlight = true // a scrape leaves the entry free to announce
		}
		s.inFlight++
		out = append(out, j)
	}
	for len(s.h) > 0 && s.inFlight < s.set.maxInFlight && s.tokens >= 1 && !s.h[0].due.After(now) {
		e := heap.Pop(&s.h).(*entry)
		ev := EventNone
		switch {
		case !e.startSent:
			ev = EventStarted
		case e.tr.finished && !e.completeSent:
			ev = EventCompleted
		}
		e.inFlight = true
		s.inFlight++
		s.tokens--
		out = append(out, job{kind: JobAnnounce, e: e, req: s.request(e, ev), url: e.u, raw: e.raw, id: e.tr.ID, name: e.tr.Name, ref: e.tr.Handle})
	}
	return out
}

func (s *sched) refill(now time.Time) {
	if !s.refilled.IsZero() && now.After(s.refilled) {
		s.tokens = min(s.set.burst, s.tokens+now.Sub(s.refilled).Seconds()*s.set.rate)
	}
	if s.refilled.IsZero() || now.After(s.refilled) {
		s.refilled = now
	}
}

// wake returns when next may have work (zero: only a result or an event
// can make work).
func (s *sched) wake(now time.Time) time.Time {
	if len(s.urgent) > 0 && s.inFlight < s.set.maxInFlight {
		return now
	}
	if len(s.h) == 0 || s.inFlight >= s.set.maxInFlight {
		return time.Time{}
	}
	at := s.h[0].due
	if s.tokens < 1 {
		// Out of tokens: wake when a batch of them has accrued (a tenth of
		// a second's worth), not for each one. Measured in the many
		// scenario: waking per token at 100/s cost the node ~490 µs of
		// CPU per announce; see doc.go.
		want := min(s.set.burst, max(1, s.set.rate/10))
		at = later(at, s.refilled.Add(time.Duration((want-s.tokens)/s.set.rate*float64(time.Second))+1))
	}
	return later(at, now)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// idle reports whether no stopped announce or scrape is queued or running.
func (s *sched) idle() bool { return s.inFlight == 0 && len(s.urgent) == 0 }

// result is what came back for a job.
type result struct {
	resp   Response
	scrape ScrapeResult
	err    error
}

// done applies a job's result and returns the peers to hand on (already
// capped). The alerts are the caller's.
func (s *sched) done(j job, res result, now time.Time) {
	e, tr := j.e, j.e.tr
	s.inFlight--
	if j.kind == JobScrape {
		e.scrapeQueued = false
		if res.err == nil {
			e.complete, e.incomplete, e.downloaded = res.scrape.Complete, res.scrape.Incomplete, res.scrape.Downloaded
		}
		s.after(tr, now)
		return
	}
	e.inFlight = false
	if j.req.Event == EventStopped {
		tr.stopping--
		s.after(tr, now)
		return
	}
	if res.err != nil {
		e.fails++
		e.working = false
		e.lastErr = res.err
		e.message = res.resp.Failure
		e.next = now.Add(backoff(e.fails, s.set.backoffRatio, 0, s.rand))
		s.stoppedMeanwhile(e)
		s.after(tr, now)
		return
	}
	r := res.resp
	e.fails, e.working, e.lastErr = 0, true, nil
	e.message = r.Warning
	if r.TrackerID != "" {
		e.trackerID = r.TrackerID
	}
	if r.Complete >= 0 {
		e.complete = r.Complete
	}
	if r.Incomplete >= 0 {
		e.incomplete = r.Incomplete
	}
	if r.Downloaded >= 0 {
		e.downloaded = r.Downloaded
	}
	switch j.req.Event {
	case EventStarted:
		e.startSent = true
		e.completeSent = j.req.Left == 0
	case EventCompleted:
		e.completeSent = true
	}
	iv := r.Interval
	if iv <= 0 {
		iv = s.set.defaultInterval
	}
	iv = max(iv, r.MinInterval, s.set.minAnnounce)
	e.interval = iv
	e.minNext = now.Add(max(r.MinInterval, s.set.minAnnounce))
	e.next = now.Add(iv)
	// BEP 12: the tracker that answered moves to the front of its tier.
	tier := tr.tiers[e.tier]
	for i, o := range tier {
		if o == e {
			copy(tier[1:i+1], tier[:i])
			tier[0] = e
			break
		}
	}
	s.stoppedMeanwhile(e)
	s.after(tr, now)
}

// stoppedMeanwhile sends the stopped a tracker missed because its torrent
// stopped while an announce to it was out.
func (s *sched) stoppedMeanwhile(e *entry) {
	if !e.tr.announcing && e.startSent {
		s.queueStopped(e)
	}
}

func (s *sched) after(tr *torrent, now time.Time) {
	if tr.announcing {
		s.plan(tr, now)
	}
	s.maybeDrop(tr)
}

// force re-announces every needed tracker of ih now, or at its min
// interval if that is later.
func (s *sched) force(ih [20]byte, now time.Time) bool {
	tr := s.torrents[ih]
	if tr == nil || !tr.announcing {
		return false
	}
	for _, tier := range tr.tiers {
		for _, e := range tier {
			e.next = now
		}
	}
	s.plan(tr, now)
	return true
}

// scrape queues a scrape of every tracker of ih.
func (s *sched) scrape(ih [20]byte) bool {
	tr := s.torrents[ih]
	if tr == nil {
		return false
	}
	for _, tier := range tr.tiers {
		for _, e := range tier {
			if !e.scrapeQueued && !s.closing {
				e.scrapeQueued = true
				s.urgent = append(s.urgent, job{kind: JobScrape, e: e, req: Request{InfoHash: tr.InfoHash}})
			}
		}
	}
	return true
}

// addTracker adds url to ih's tier; an unknown ih is recorded, not
// announcing, until its start.
func (s *sched) addTracker(ih [20]byte, raw string, tier int, now time.Time) bool {
	tr := s.torrents[ih]
	if tr == nil {
		if !ValidURL(raw) {
			return false
		}
		tr = &torrent{Torrent: Torrent{InfoHash: ih}}
		s.torrents[ih] = tr
	}
	if s.addEntry(tr, raw, tier, false) == nil {
		return false
	}
	if tr.announcing {
		s.plan(tr, now)
	}
	return true
}

// closeAll stops every announcing torrent and lets nothing new start but
// stopped announces.
func (s *sched) closeAll(now time.Time) {
	for ih, tr := range s.torrents {
		if tr.announcing {
			s.stop(ih, true, now)
		}
	}
	s.closing = true // stop unscheduled every entry; plan schedules none now
	kept := s.urgent[:0]
	for _, j := range s.urgent {
		if j.kind == JobAnnounce {
			kept = append(kept, j)
		}
	}
	s.urgent = kept
}

// Status is the state of one tracker of a torrent. Immutable once
// returned.
type Status struct {
	URL  string
	Tier int
	// Working: the last announce succeeded.
	Working bool
	// Fails is the consecutive failures.
	Fails int
	// NextAnnounce is when the next announce is due (zero: none planned).
	NextAnnounce time.Time
	// Updating: a request is out.
	Updating bool
	// LastError is the last failure, nil after a success.
	LastError error
	// Message is the tracker's last warning or failure reason.
	Message string
	// Seeders, Leechers and Downloaded are from the last reply or
	// scrape, -1 when unknown.
	Seeders, Leechers, Downloaded int
	// Interval is the re-announce period in use.
	Interval time.Duration
}

func (s *sched) status(ih [20]byte) ([]Status, bool) {
	tr := s.torrents[ih]
	if tr == nil {
		return nil, false
	}
	var out []Status
	for _, tier := range tr.tiers {
		for _, e := range tier {
			st := Status{
				URL: e.raw, Tier: e.tier, Working: e.working, Fails: e.fails, Updating: e.inFlight,
				LastError: e.lastErr, Message: e.message, Seeders: e.complete, Leechers: e.incomplete,
				Downloaded: e.downloaded, Interval: e.interval,
			}
			if e.idx >= 0 {
				st.NextAnnounce = e.due
			}
			out = append(out, st)
		}
	}
	return out, true
}

// check panics if an invariant of the package doc does not hold. Tests
// run it after every step.
func (s *sched) check() {
	for i, e := range s.h {
		if e.idx != i {
			panic(fmt.Sprintf("tracker: heap entry %d has idx %d", i, e.idx))
		}
		if e.inFlight || !e.tr.announcing || !s.needed(e) {
			panic(fmt.Sprintf("tracker: %s in the heap but in flight %v, announcing %v", e.raw, e.inFlight, e.tr.announcing))
		}
	}
	if s.inFlight < 0 || s.inFlight > s.set.maxInFlight {
		panic(fmt.Sprintf("tracker: %d requests out, max %d", s.inFlight, s.set.maxInFlight))
	}
	out := 0
	for _, tr := range s.torrents {
		if tr.stopping < 0 {
			panic("tracker: negative stopping count")
		}
		for _, tier := range tr.tiers {
			for _, e := range tier {
				if e.idx >= 0 && (e.idx >= len(s.h) || s.h[e.idx] != e) {
					panic(fmt.Sprintf("tracker: %s has idx %d but is not there", e.raw, e.idx))
				}
				if e.inFlight {
					out++
				}
			}
		}
	}
	if out > s.inFlight {
		panic(fmt.Sprintf("tracker: %d entries in flight, %d requests out", out, s.inFlight))
	}
}

// entryHeap orders entries by due time.
type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *entryHeap) Push(x any) { e := x.(*entry); e.idx = len(*h); *h = append(*h, e) }
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.idx = -1
	return e
}
