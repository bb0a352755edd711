package rpc

import (
	"context"
	"encoding/json"

	shardtorrent "github.com/shardtorrent/shardtorrent"
)

// Speed limits (issue 13): session-set's speed-limit-up/down with their
// -enabled flags and torrent-set's uploadLimit/downloadLimit with
// uploadLimited/downloadLimited. Transmission's speeds are in kB/s of
// 1000 bytes (session-get's units: "speed-bytes": 1000); the engine's
// limits are bytes/s. As in Transmission, a limit's value is kept while
// it is disabled: the engine holds the limit in force, the handler
// remembers the last value of a disabled one.

// speedBytes is the bytes in one kB/s of the RPC's speeds (units).
const speedBytes = 1000

// speedState is one direction's limit as the RPC shows it: its value in
// kB/s and whether it is enabled.
type speedState struct {
	kb int64
	on bool
}

// speedOf reads l as the RPC shows it; remembered is the value to show
// for a disabled limit.
func speedOf(l shardtorrent.Limit, remembered int64) speedState {
	if v, ok := l.Value(); ok {
		return speedState{kb: v / speedBytes, on: true}
	}
	return speedState{kb: remembered}
}

// limit is the engine limit for s.
func (s speedState) limit() shardtorrent.Limit {
	if !s.on {
		return shardtorrent.Unlimited()
	}
	return shardtorrent.LimitTo(s.kb * speedBytes)
}

// speedArgs is what a set request says about one direction's limit.
type speedArgs struct {
	kb *int64
	on *bool
}

func (a speedArgs) given() bool { return a.kb != nil || a.on != nil }

// apply returns s changed by a.
func (a speedArgs) apply(s speedState) speedState {
	if a.kb != nil {
		s.kb = *a.kb
	}
	if a.on != nil {
		s.on = *a.on
	}
	return s
}

// parseSpeed reads key k of a set request into a: a kB/s value (a
// non-negative integer) or an enabled flag. It reports whether k was one.
func parseSpeed(k string, v json.RawMessage, valueKey, onKey string, a *speedArgs) (bool, error) {
	switch k {
	case valueKey:
		var n int64
		if err := json.Unmarshal(v, &n); err != nil || n < 0 || n > 1<<40 {
			return true, &ArgError{Arg: k, Reason: "want a speed in kB/s (1000 bytes/s), a non-negative integer"}
		}
		a.kb = &n
	case onKey:
		var b bool
		if err := json.Unmarshal(v, &b); err != nil {
			return true, &ArgError{Arg: k, Reason: "want a boolean"}
		}
		a.on = &b
	default:
		return false, nil
	}
	return true, nil
}

// sessionSpeeds returns the session's limits as the RPC shows them.
// Under h.mu.
func (h *Handler) sessionSpeeds() (up, down speedState) {
	u, d := h.sess.RateLimits()
	return speedOf(u, h.upKB), speedOf(d, h.downKB)
}

// putSessionSpeeds adds the speed keys to session-get's values. Under h.mu.
func (h *Handler) putSessionSpeeds(m map[string]any) {
	up, down := h.sessionSpeeds()
	m["speed-limit-up"], m["speed-limit-up-enabled"] = up.kb, up.on
	m["speed-limit-down"], m["speed-limit-down-enabled"] = down.kb, down.on
}

// setSessionSpeeds applies session-set's speed keys. Under h.mu.
func (h *Handler) setSessionSpeeds(ctx context.Context, up, down speedArgs) error {
	if !up.given() && !down.given() {
		return nil
	}
	cu, cd := h.sessionSpeeds()
	nu, nd := up.apply(cu), down.apply(cd)
	h.upKB, h.downKB = nu.kb, nd.kb
	return h.sess.SetRateLimits(ctx, nu.limit(), nd.limit())
}

// setTorrentSpeeds applies torrent-set's speed keys to t. Under h.mu.
func (h *Handler) setTorrentSpeeds(ctx context.Context, t *shardtorrent.Torrent, key [20]byte, up, down speedArgs) error {
	if !up.given() && !down.given() {
		return nil
	}
	u, d, err := t.Limits(ctx)
	if err != nil {
		return err
	}
	rem := h.torrentKB[key]
	nu, nd := up.apply(speedOf(u, rem[0])), down.apply(speedOf(d, rem[1]))
	if h.torrentKB == nil {
		h.torrentKB = make(map[[20]byte][2]int64)
	}
	h.torrentKB[key] = [2]int64{nu.kb, nd.kb}
	if up.given() {
		if err := t.SetUploadLimit(ctx, nu.limit()); err != nil {
			return err
		}
	}
	if down.given() {
		return t.SetDownloadLimit(ctx, nd.limit())
	}
	return nil
}

// torrentSpeed is torrent-get's view of a torrent's limit in one
// direction (bytes/s from the engine, negative: none), with remembered
// the value of a disabled one.
func torrentSpeed(rate, remembered int64) speedState {
	if rate >= 0 {
		return speedState{kb: rate / speedBytes, on: true}
	}
	return speedState{kb: remembered}
}
