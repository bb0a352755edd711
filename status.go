package shardtorrent

import (
	"context"
)

// TorrentStatuses returns the status of every torrent in the session with
// one round trip to each shard's loop, not one per torrent: the way to
// watch thousands of torrents (completion, errors) from their state rather
// than from alerts, which a full queue may drop. The order is by shard,
// then unspecified within a shard. Safe from any goroutine.
func (s *Session) TorrentStatuses(ctx context.Context) ([]Status, error) {
	var out []Status
	for _, sh := range s.shards {
		err := onLoop(ctx, sh, func() {
			for _, t := range sh.Torrents() {
				out = append(out, t.Status())
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
