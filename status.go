package shardtorrent

import (
	"context"
)

// TorrentStatuses returns the status of every torrent in the session with
// one round trip to each shard's loop, not one per torrent: the way to
// watch thousands of torrents (completion, errors) from their state rather
// than from alerts, which a full queue may drop. The statuses are appended
// to buf[:0] (pass the previous result to reuse its memory: a poll of
// 10,000 torrents then allocates next to nothing). The order is by shard,
// then unspecified within a shard. Safe from any goroutine.
func (s *Session) TorrentStatuses(ctx context.Context, buf []Status) ([]Status, error) {
	out := buf[:0]
	for _, sh := range s.shards {
		err := s.onLoop(ctx, sh, func() {
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
