package rpc

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"time"

	shardtorrent "github.com/shardtorrent/shardtorrent"
)

// RecentlyActive is the window of "recently-active": torrents that
// changed within it, and ids removed within it, as Transmission's 60 s.
const RecentlyActive = 60 * time.Second

// MaxIDs bounds the entries of one "ids" list: more is refused before
// anything is built from them (a 16 MiB body could otherwise carry
// millions).
const MaxIDs = 100_000

// entry is the registry's record of one torrent it has seen.
type entry struct {
	id   int
	hash [20]byte
	// fp is a digest of the figures whose change counts as activity;
	// changed is when it last changed (or the torrent was added).
	fp      uint64
	changed time.Time
	// seen is the registry's update count when the torrent was last in a
	// listing; one not in the latest listing is gone.
	seen uint64
}

// removal is an id removed at a time, kept for RecentlyActive.
type removal struct {
	id int
	at time.Time
}

// registry numbers torrents in order of first sight. Guarded by
// Handler.mu.
type registry struct {
	byHash  map[[20]byte]*entry
	byID    map[int]*entry
	next    int
	updates uint64
	removed []removal
	fresh   []*entry // scratch for update
}

func (r *registry) init() {
	r.byHash = make(map[[20]byte]*entry)
	r.byID = make(map[int]*entry)
	r.next = 1
}

// fingerprint digests what Transmission's "activity" covers: state,
// progress, payload moved, peers and errors.
func fingerprint(v *shardtorrent.TorrentView) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	mix := func(x uint64) { h = (h ^ x) * prime }
	mix(uint64(v.State))
	mix(uint64(v.Pieces))
	mix(uint64(v.TotalDownload))
	mix(uint64(v.TotalUpload))
	mix(uint64(v.NumPeers))
	if v.Paused {
		mix(1)
	}
	if v.Err != nil {
		mix(2)
	}
	if v.HasMetadata {
		mix(3)
	}
	return h
}

// update records a listing of every torrent in the session: new torrents
// get ids (by added time, then hash), changed ones a new change time,
// missing ones are removed. ids[i] is set to views[i]'s id. Under
// Handler.mu.
func (r *registry) update(views []shardtorrent.TorrentView, ids []int, now time.Time) []int {
	r.updates++
	ids = ids[:0]
	r.fresh = r.fresh[:0]
	for i := range views {
		v := &views[i]
		key := v.InfoHash.Short()
		e := r.byHash[key]
		fp := fingerprint(v)
		if e == nil {
			e = &entry{hash: key, fp: fp, changed: v.AddedAt}
			if e.changed.IsZero() || e.changed.After(now) {
				e.changed = now
			}
			r.byHash[key] = e
			r.fresh = append(r.fresh, e)
		} else if e.fp != fp {
			e.fp, e.changed = fp, now
		}
		e.seen = r.updates
		ids = append(ids, 0)
	}
	if len(r.fresh) > 0 {
		slices.SortFunc(r.fresh, func(a, b *entry) int {
			if c := a.changed.Compare(b.changed); c != 0 {
				return c
			}
			return bytes.Compare(a.hash[:], b.hash[:])
		})
		for _, e := range r.fresh {
			r.assign(e)
		}
	}
	for i := range views {
		ids[i] = r.byHash[views[i].InfoHash.Short()].id
	}
	if len(r.byHash) > len(views) {
		for key, e := range r.byHash {
			if e.seen != r.updates {
				r.remove(key, now)
			}
		}
	}
	r.expire(now)
	return ids
}

func (r *registry) assign(e *entry) {
	e.id = r.next
	r.next++
	r.byID[e.id] = e
}

// add registers a torrent just added (torrent-add answers its id at once).
func (r *registry) add(key [20]byte, now time.Time) int {
	if e := r.byHash[key]; e != nil {
		return e.id
	}
	e := &entry{hash: key, changed: now, seen: r.updates}
	r.byHash[key] = e
	r.assign(e)
	return e.id
}

// remove forgets a torrent; its id is never given again.
func (r *registry) remove(key [20]byte, now time.Time) {
	e := r.byHash[key]
	if e == nil {
		return
	}
	delete(r.byHash, key)
	delete(r.byID, e.id)
	r.removed = append(r.removed, removal{id: e.id, at: now})
}

// expire drops removals older than RecentlyActive.
func (r *registry) expire(now time.Time) {
	i := 0
	for i < len(r.removed) && now.Sub(r.removed[i].at) > RecentlyActive {
		i++
	}
	if i > 0 {
		r.removed = append(r.removed[:0], r.removed[i:]...)
	}
}

// idSet is a parsed "ids" argument.
type idSet struct {
	all    bool
	recent bool
	nums   []int
	hashes [][20]byte
}

// parseIDs parses the "ids" argument (absent: every torrent).
func parseIDs(raw json.RawMessage) (idSet, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return idSet{all: true}, nil
	}
	var s idSet
	switch raw[0] {
	case '"':
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return s, &ArgError{Arg: "ids", Reason: err.Error()}
		}
		if str == "recently-active" {
			s.recent = true
			return s, nil
		}
		if err := s.addString(str); err != nil {
			return s, err
		}
		return s, nil
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return s, &ArgError{Arg: "ids", Reason: err.Error()}
		}
		if len(items) > MaxIDs {
			return s, &ArgError{Arg: "ids", Reason: "more than " + itoa(MaxIDs) + " entries"}
		}
		for _, it := range items {
			if len(it) > 0 && it[0] == '"' {
				var str string
				if err := json.Unmarshal(it, &str); err != nil {
					return s, &ArgError{Arg: "ids", Reason: err.Error()}
				}
				if err := s.addString(str); err != nil {
					return s, err
				}
				continue
			}
			if err := s.addNumber(it); err != nil {
				return s, err
			}
		}
		return s, nil
	default:
		return s, s.addNumber(raw)
	}
}

func (s *idSet) addNumber(raw json.RawMessage) error {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return &ArgError{Arg: "ids", Reason: "want a torrent id, a list of ids and info-hashes, or \"recently-active\"; got " + truncate(string(raw))}
	}
	v, err := n.Int64()
	if err != nil || v < 1 || v > 1<<31 {
		return &ArgError{Arg: "ids", Reason: "torrent id " + n.String() + " is not a positive integer"}
	}
	s.nums = append(s.nums, int(v))
	return nil
}

// addString takes a 40-hex info-hash (any case).
func (s *idSet) addString(str string) error {
	var h [20]byte
	if len(str) != 40 {
		return &ArgError{Arg: "ids", Reason: "\"" + truncate(str) + "\" is neither a torrent id nor a 40-hex info-hash"}
	}
	if _, err := hex.Decode(h[:], []byte(strings.ToLower(str))); err != nil {
		return &ArgError{Arg: "ids", Reason: "\"" + truncate(str) + "\" is not a hex info-hash"}
	}
	s.hashes = append(s.hashes, h)
	return nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// selected is one torrent a request names: its id and index in the views.
type selected struct {
	id int
	vi int
}

// selectIDs resolves set against views (ids[i] is views[i]'s id) into
// out, ordered by id, without repeats. Ids naming no torrent are
// skipped. Under Handler.mu (reads the registry for recently-active).
func (r *registry) selectIDs(set idSet, views []shardtorrent.TorrentView, ids []int, now time.Time, out []selected) []selected {
	out = out[:0]
	switch {
	case set.all:
		for i := range views {
			out = append(out, selected{id: ids[i], vi: i})
		}
	case set.recent:
		for i := range views {
			if e := r.byID[ids[i]]; e != nil && now.Sub(e.changed) <= RecentlyActive {
				out = append(out, selected{id: ids[i], vi: i})
			}
		}
	default:
		want := make(map[int]bool, len(set.nums)+len(set.hashes))
		for _, n := range set.nums {
			want[n] = true
		}
		for _, hsh := range set.hashes {
			if e := r.byHash[hsh]; e != nil {
				want[e.id] = true
			}
		}
		for i := range views {
			if want[ids[i]] {
				out = append(out, selected{id: ids[i], vi: i})
			}
		}
	}
	slices.SortFunc(out, func(a, b selected) int { return a.id - b.id })
	return out
}

// recentlyRemoved appends the ids removed within RecentlyActive.
func (r *registry) recentlyRemoved(now time.Time, out []int) []int {
	for _, rm := range r.removed {
		if now.Sub(rm.at) <= RecentlyActive {
			out = append(out, rm.id)
		}
	}
	return out
}
