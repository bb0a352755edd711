package shardtorrent

import (
	"context"
	"path/filepath"
	"time"

	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/shard"
)

// Views of the session for remote front ends (the Transmission RPC in
// package rpc, the status page): everything about every torrent that is
// cheap to copy, read with one round trip per shard, and the heavier
// per-torrent parts (files, pieces) read only for the torrents that ask.

// TorrentView is a torrent's Status plus the shard's View of it (times,
// totals over every session, the metadata's shape).
type TorrentView struct {
	Status
	shard.View
	// QueuePosition is the torrent's position in the session's queue
	// (Torrent.QueuePosition).
	QueuePosition int
	// SeedRatioLimit is the share ratio at which the torrent is paused
	// (0: none): its own (View.RatioMode RatioOwn), or the session's
	// (SeedLimits).
	SeedRatioLimit float64
	// SeedIdleLimit is how long the torrent may seed without uploading
	// (0: no limit): its own (View.IdleMode IdleOwn), or the session's
	// (SeedPolicy).
	SeedIdleLimit time.Duration
}

// TorrentViews returns the view of every torrent in the session with one
// round trip to each shard's loop, appended to buf[:0] (pass the previous
// result back to reuse its memory). The order is by shard, then
// unspecified. Safe from any goroutine.
func (s *Session) TorrentViews(ctx context.Context, buf []TorrentView) ([]TorrentView, error) {
	out := buf[:0]
	for _, sh := range s.shards {
		err := s.onLoop(ctx, sh, func() {
			sh.EachTorrent(func(t *shard.Torrent) {
				out = append(out, TorrentView{Status: t.Status(), View: t.View()})
			})
		})
		if err != nil {
			return nil, err
		}
	}
	s.q.positions(out)
	ratio, _ := s.SeedLimits()
	idle := s.SeedPolicy().Idle
	for i := range out {
		out[i].SeedRatioLimit = ratio
		if out[i].RatioMode != shard.RatioGlobal {
			out[i].SeedRatioLimit = out[i].RatioLimit
		}
		out[i].SeedIdleLimit = idle
		if out[i].IdleMode != shard.IdleGlobal {
			out[i].SeedIdleLimit = out[i].IdleLimit
		}
	}
	return out, nil
}

// aboutOf is what mi says about itself, for views (rpcview.go).
func aboutOf(mi *metainfo.MetaInfo) shard.About {
	return shard.About{Comment: mi.Comment, CreatedBy: mi.CreatedBy, CreationDate: mi.CreationDate}
}

// FindTorrent returns the handle of the torrent whose wire info-hash (the
// v1 hash, or the v2 hash truncated) is ih, or ErrTorrentGone; see also
// Session.Torrent. After Close it returns ErrClosed. Safe from any
// goroutine; it does not wait for a loop.
func (s *Session) FindTorrent(ctx context.Context, ih [20]byte) (*Torrent, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if t := s.handle(ih); t != nil {
		return t, nil
	}
	return nil, ErrTorrentGone
}

// File is one file of a torrent, as Files lists it: its path relative to
// the torrent's save path (the torrent's name first), its size, the bytes
// of it in pieces the torrent has, and its download priority. Pad files
// (BEP 47) are left out, and a File's Index (its place in Files) is the
// file number that SetFilePriority, FilePriorities, NewFileReader and the
// RPC take. A File is a copy made when Files was called: its Completed and
// Priority do not change after.
type File struct {
	Path      string   // relative to the save path, the torrent's name first
	Size      int64    // bytes
	Completed int64    // bytes of the file in pieces the torrent has
	Priority  Priority // SetFilePriority; PriorityDontDownload: skipped
	Index     int      // the file's number: its index in Files

	t *Torrent // the torrent Files was called on; nil in a File made by hand
}

// NewReader returns a Reader over the file, as Torrent.NewFileReader(Index)
// of the torrent that listed it (anacrolix's File.NewReader). A File not
// returned by Files has no torrent: its reader's first read or seek fails
// with ErrNoSuchFile. Safe from any goroutine; it does not block.
func (f File) NewReader() *Reader {
	if f.t == nil {
		return newReader(nil, 0) // its open fails with ErrNoSuchFile
	}
	return f.t.NewFileReader(f.Index)
}

// Files lists the torrent's files, pad files left out; nil while it has
// no metadata. Safe from any goroutine.
func (t *Torrent) Files(ctx context.Context) ([]File, error) {
	var info *metainfo.Info
	var done []int64
	var prios []uint8
	err := t.do(ctx, func(x *shard.Torrent) {
		info = x.Info()
		done = x.FileCompleted(nil)
		if info != nil {
			for i := range info.Files {
				prios = append(prios, x.FilePriorityAt(i))
			}
		}
	})
	if err != nil || info == nil {
		return nil, err
	}
	out := make([]File, 0, len(info.Files))
	for i, f := range info.Files {
		if f.IsPad() {
			continue
		}
		out = append(out, File{Path: filepath.Join(f.Path...), Size: f.Length, Completed: done[i],
			Priority: Priority(prios[i]), Index: len(out), t: t})
	}
	return out, nil
}

// Pieces returns the torrent's have bitfield (piece 0 is the high bit of
// byte 0) and its number of pieces; nil and 0 while it has no metadata.
// Safe from any goroutine.
func (t *Torrent) Pieces(ctx context.Context) ([]byte, int, error) {
	var bits []byte
	var n int
	err := t.do(ctx, func(x *shard.Torrent) {
		if info := x.Info(); info != nil {
			n = info.NumPieces()
			bits = x.HaveBits(nil)
		}
	})
	return bits, n, err
}
