package rpc

import (
	"context"
	"encoding/json"
	"time"

	"github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/shard"
)

// The session keys that map onto the engine's run-time settings
// (shardtorrent.Session.ApplySettings): the connection caps, the
// encryption policy, the queue sizes and the stalled-torrent rule.
// session-get reads them from Session.Settings, so what it reports is
// what the engine does; session-set changes them in one ApplySettings.

// encryptionName is Transmission's name of an engine policy pair:
// "required" (MSE only, either way), "tolerated" (we dial plaintext) or
// "preferred" (MSE first, plaintext accepted: the engine's default).
func encryptionName(e *shard.Settings) string {
	switch {
	case e.InEncPolicy == shard.EncForced || e.OutEncPolicy == shard.EncForced:
		return "required"
	case e.OutEncPolicy == shard.EncDisabled:
		return "tolerated"
	}
	return "preferred"
}

// setEncryption sets e's policies for Transmission's name n.
func setEncryption(e *shard.Settings, n string) bool {
	switch n {
	case "required":
		e.InEncPolicy, e.OutEncPolicy = shard.EncForced, shard.EncForced
	case "preferred":
		e.InEncPolicy, e.OutEncPolicy = shard.EncEnabled, shard.EncEnabled
	case "tolerated":
		e.InEncPolicy, e.OutEncPolicy = shard.EncEnabled, shard.EncDisabled
	default:
		return false
	}
	return true
}

// putEngineSettings adds the run-time settings' keys to session-get's
// values. Under h.mu (for the remembered queue sizes).
func (h *Handler) putEngineSettings(m map[string]any) {
	set := h.sess.Settings()
	m["peer-limit-global"] = set.Engine.MaxConns
	m["peer-limit-per-torrent"] = set.Engine.MaxConnsPerTorrent
	m["encryption"] = encryptionName(&set.Engine)
	for i, q := range [...]struct {
		name string
		l    shardtorrent.Limit
	}{{"download-queue", set.ActiveDownloads}, {"seed-queue", set.ActiveSeeds}} {
		v, ok := q.l.Value()
		if !ok {
			v = h.queueSize[i] // Transmission keeps the size while the queue is off
		}
		m[q.name+"-enabled"] = ok
		m[q.name+"-size"] = v
	}
	// Transmission's stalled torrents are libtorrent's slow ones: with
	// queue-stalled-enabled they use no queue slot.
	m["queue-stalled-enabled"] = !set.CountSlowTorrents
	m["queue-stalled-minutes"] = int64(set.Engine.AutoManageInactiveTime / time.Minute)
}

// engineArgs are session-set's run-time settings keys, parsed.
type engineArgs struct {
	given                 bool
	peersGlobal, peersPer *int
	encryption            *string
	queueOn               [2]*bool // download, seed
	queueSize             [2]*int64
	stalledOn             *bool
	stalledMinutes        *int64
}

// parseEngineArg parses k if it is one of the run-time settings keys; ok
// says whether it was.
func parseEngineArg(k string, v json.RawMessage, a *engineArgs) (ok bool, err error) {
	posInt := func(dst **int) error {
		var n int
		if json.Unmarshal(v, &n) != nil || n <= 0 {
			return &ArgError{Arg: k, Reason: "want a number above 0"}
		}
		*dst = &n
		return nil
	}
	count := func(dst **int64) error {
		var n int64
		if json.Unmarshal(v, &n) != nil || n < 0 {
			return &ArgError{Arg: k, Reason: "want a number, 0 or more"}
		}
		*dst = &n
		return nil
	}
	flag := func(dst **bool) error {
		var b bool
		if json.Unmarshal(v, &b) != nil {
			return &ArgError{Arg: k, Reason: "want a boolean"}
		}
		*dst = &b
		return nil
	}
	switch k {
	case "peer-limit-global":
		err = posInt(&a.peersGlobal)
	case "peer-limit-per-torrent":
		err = posInt(&a.peersPer)
	case "encryption":
		var s string
		var e shard.Settings
		if json.Unmarshal(v, &s) != nil || !setEncryption(&e, s) {
			return true, &ArgError{Arg: k, Reason: `want "required", "preferred" or "tolerated"`}
		}
		a.encryption = &s
	case "download-queue-enabled":
		err = flag(&a.queueOn[0])
	case "seed-queue-enabled":
		err = flag(&a.queueOn[1])
	case "download-queue-size":
		err = count(&a.queueSize[0])
	case "seed-queue-size":
		err = count(&a.queueSize[1])
	case "queue-stalled-enabled":
		err = flag(&a.stalledOn)
	case "queue-stalled-minutes":
		err = count(&a.stalledMinutes)
		if err == nil && *a.stalledMinutes == 0 {
			err = &ArgError{Arg: k, Reason: "want a number above 0"}
		}
	default:
		return false, nil
	}
	a.given = true
	return true, err
}

// applyEngineArgs applies the parsed keys in one ApplySettings. Under h.mu.
func (h *Handler) applyEngineArgs(ctx context.Context, a *engineArgs) error {
	if !a.given {
		return nil
	}
	set := h.sess.Settings()
	e := &set.Engine
	if a.peersGlobal != nil {
		e.MaxConns = *a.peersGlobal
	}
	if a.peersPer != nil {
		e.MaxConnsPerTorrent = *a.peersPer
	}
	if a.encryption != nil {
		setEncryption(e, *a.encryption)
	}
	limits := [2]*shardtorrent.Limit{&set.ActiveDownloads, &set.ActiveSeeds}
	var sizes [2]int64
	for i, l := range limits {
		v, on := l.Value()
		if !on {
			v = h.queueSize[i]
		}
		if a.queueSize[i] != nil {
			v = *a.queueSize[i]
		}
		if a.queueOn[i] != nil {
			on = *a.queueOn[i]
		}
		sizes[i] = v
		if on {
			*l = shardtorrent.LimitTo(v)
		} else {
			*l = shardtorrent.Unlimited()
		}
	}
	if a.stalledOn != nil {
		set.CountSlowTorrents = !*a.stalledOn
	}
	if a.stalledMinutes != nil {
		e.AutoManageInactiveTime = time.Duration(*a.stalledMinutes) * time.Minute
	}
	if err := h.sess.ApplySettings(ctx, set); err != nil {
		return err
	}
	h.queueSize = sizes
	return nil
}
