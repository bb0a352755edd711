package rpc

import (
	"context"
	"encoding/json"
	"sort"

	shardtorrent "github.com/shardtorrent/shardtorrent"
)

type queueMoveKind int

const (
	queueTop queueMoveKind = iota
	queueUp
	queueDown
	queueBottom
)

// queueMove answers queue-move-top, -up, -down and -bottom: the torrents
// "ids" names move in the session's queue (shardtorrent's
// Torrent.QueueTop and so on), keeping their order among themselves as
// Transmission does: up and top move them from the head of the queue
// down, down and bottom from its tail up.
func (h *Handler) queueMove(ctx context.Context, raw json.RawMessage, out []byte, kind queueMoveKind) ([]byte, error) {
	var a struct {
		IDs json.RawMessage `json:"ids"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return out, &ArgError{Arg: "arguments", Reason: err.Error()}
	}
	type moving struct {
		t   *shardtorrent.Torrent
		pos int
	}
	var ms []moving
	h.mu.Lock()
	defer h.mu.Unlock()
	err := h.each(ctx, a.IDs, func(t *shardtorrent.Torrent, _ [20]byte) error {
		p, err := t.QueuePosition(ctx)
		if err != nil {
			return err
		}
		ms = append(ms, moving{t, p})
		return nil
	})
	if err != nil {
		return out, err
	}
	// Top is applied from the last of them up, so the first ends first;
	// down from the last, so none overtakes another.
	desc := kind == queueTop || kind == queueDown
	sort.Slice(ms, func(i, j int) bool {
		if desc {
			return ms[i].pos > ms[j].pos
		}
		return ms[i].pos < ms[j].pos
	})
	for _, m := range ms {
		var err error
		switch kind {
		case queueTop:
			err = m.t.QueueTop(ctx)
		case queueUp:
			err = m.t.QueueUp(ctx)
		case queueDown:
			err = m.t.QueueDown(ctx)
		default:
			err = m.t.QueueBottom(ctx)
		}
		if err != nil && err != shardtorrent.ErrTorrentGone {
			return out, err
		}
	}
	return append(out, `{}`...), nil
}
