package shardtorrent

import (
	"context"

	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/shard"
)

// Priority is the download priority of a file or piece
// (plugin.Priority, libtorrent's download_priority_t): PriorityDontDownload
// (0) skips it; 1 (PriorityLow) to 7 (PriorityTop) are picked highest
// first; PriorityDefault (4) is what every file and piece has until set.
// See plugin.Priority for the rules.
type Priority = plugin.Priority

// Priorities by libtorrent's names.
const (
	// PriorityDontDownload skips a file or piece (libtorrent's dont_download).
	PriorityDontDownload = plugin.PriorityDontDownload
	// PriorityLow is the lowest priority that downloads (low_priority).
	PriorityLow = plugin.PriorityLow
	// PriorityDefault is every file's and piece's priority until set
	// (default_priority).
	PriorityDefault = plugin.PriorityDefault
	// PriorityTop is the highest priority (top_priority).
	PriorityTop = plugin.PriorityTop
)

// ErrPriorityArg matches a file or piece index out of range, or piece
// priorities that are not one per piece (*shard.PriorityArgError). Piece
// priorities before a magnet's metadata arrives fail with
// ErrMetadataPending.
var ErrPriorityArg = shard.ErrPriorityArg

func toShardPrios(ps []Priority) []uint8 {
	if ps == nil {
		return nil
	}
	out := make([]uint8, len(ps))
	for i, p := range ps {
		out[i] = uint8(p)
	}
	return out
}

func fromShardPrios(ps []uint8) []Priority {
	if ps == nil {
		return nil
	}
	out := make([]Priority, len(ps))
	for i, p := range ps {
		out[i] = Priority(p)
	}
	return out
}

// SetFilePriorities sets the priority of every file: prios[i] for file i
// of Files (pad files are not counted), PriorityDefault for the files past
// the end of prios. Before the metadata arrives (a magnet) they are kept
// and applied when it does. Safe from any goroutine.
func (t *Torrent) SetFilePriorities(ctx context.Context, prios []Priority) error {
	ps := toShardPrios(prios)
	var err error
	if derr := t.do(ctx, func(x *shard.Torrent) { err = x.SetFilePriorities(ps) }); derr != nil {
		return derr
	}
	return shardErr(err) // reader.go
}

// SetFilePriority sets the priority of file i of Files. Before the
// metadata arrives it is kept and applied when it does. An index out of
// range returns an error matching ErrPriorityArg. Safe from any goroutine.
func (t *Torrent) SetFilePriority(ctx context.Context, file int, prio Priority) error {
	var err error
	if derr := t.do(ctx, func(x *shard.Torrent) { err = x.SetFilePriority(file, uint8(prio)) }); derr != nil {
		return derr
	}
	return shardErr(err) // reader.go
}

// FilePriorities returns the priority of every file of Files; before the
// metadata arrives, those set so far. Safe from any goroutine.
func (t *Torrent) FilePriorities(ctx context.Context) ([]Priority, error) {
	var ps []uint8
	err := t.do(ctx, func(x *shard.Torrent) { ps = x.FilePriorities() })
	return fromShardPrios(ps), err
}

// SetPiecePriorities sets the priority of every piece, one per piece,
// overriding what the file priorities gave them. It needs the metadata
// (ErrMetadataPending). Safe from any goroutine.
func (t *Torrent) SetPiecePriorities(ctx context.Context, prios []Priority) error {
	ps := toShardPrios(prios)
	var err error
	if derr := t.do(ctx, func(x *shard.Torrent) { err = x.SetPiecePriorities(ps) }); derr != nil {
		return derr
	}
	return shardErr(err) // reader.go
}

// SetPiecePriority sets the priority of one piece. It needs the metadata
// (ErrMetadataPending). Safe from any goroutine.
func (t *Torrent) SetPiecePriority(ctx context.Context, piece int, prio Priority) error {
	var err error
	if derr := t.do(ctx, func(x *shard.Torrent) { err = x.SetPiecePriority(piece, uint8(prio)) }); derr != nil {
		return derr
	}
	return shardErr(err) // reader.go
}

// PiecePriorities returns the priority of every piece; nil while the
// metadata is unknown. Safe from any goroutine.
func (t *Torrent) PiecePriorities(ctx context.Context) ([]Priority, error) {
	var ps []uint8
	err := t.do(ctx, func(x *shard.Torrent) { ps = x.PiecePriorities() })
	return fromShardPrios(ps), err
}
