package shard

import "time"

// About is what a .torrent file says about itself beyond its info
// dictionary (its comment, creator and creation date): shown by views,
// never used. Zero for a torrent added without a .torrent.
type About struct {
	Comment, CreatedBy string
	CreationDate       int64 // Unix seconds, 0 if absent
}

// View is what a remote view of a torrent (the RPC, a status page) shows
// beyond Status: times, totals across sessions and the metadata's shape.
// Every field is a copy except Trackers, which shares the torrent's tiers
// (never modified in place: AddParams' slice is kept as given).
type View struct {
	// AddedAt is when the torrent was first added (kept across restarts
	// by its resume data); DoneAt when it completed, zero if never.
	AddedAt, DoneAt time.Time
	// StartedAt is when this session added the torrent.
	StartedAt time.Time
	// UploadedEver and DownloadedEver are payload bytes over every
	// session (resume data's totals plus this session's).
	UploadedEver, DownloadedEver int64
	// SecondsActive is the time the torrent has been in a session.
	SecondsActive int64
	HasMetadata   bool
	Private       bool
	PieceSize     int64
	NumFiles      int
	Checking      bool
	Trackers      [][]string
	About         About
	// PeersSendingToUs counts handshaken peers that unchoked us while we
	// are interested; PeersGettingFromUs those we unchoked that are
	// interested (Transmission's peersSendingToUs, peersGettingFromUs).
	PeersSendingToUs, PeersGettingFromUs int
	// UploadLimit and DownloadLimit are the torrent's own rate limits in
	// bytes/s; negative (NoRateLimit): none (ratelimit.go).
	UploadLimit, DownloadLimit int64
	// RatioMode and RatioLimit are the torrent's share-ratio rule
	// (SetRatioLimit).
	RatioMode  RatioMode
	RatioLimit float64
	// IdleMode and IdleLimit are the torrent's idle-seeding rule
	// (SetIdleLimit).
	IdleMode  IdleMode
	IdleLimit time.Duration
	// AutoManaged: the session's queue starts and stops the torrent
	// (queue.go); paused and auto-managed is "queued".
	AutoManaged bool
}

// View returns the torrent's View. Loop only.
func (t *Torrent) View() View {
	v := View{
		AddedAt:        t.rs.added,
		DoneAt:         t.rs.completed,
		StartedAt:      t.rs.started,
		UploadedEver:   t.rs.baseUp + t.totalUp,
		DownloadedEver: t.rs.baseDown + t.totalDown,
		SecondsActive:  t.rs.activeBase + int64(t.s.now().Sub(t.rs.started)/time.Second),
		HasMetadata:    t.info != nil,
		Checking:       t.checking,
		Trackers:       t.trackers,
		About:          t.about,
		UploadLimit:    t.rlUpB.rate,
		DownloadLimit:  t.rlDownB.rate,
		RatioMode:      t.sl.mode,
		RatioLimit:     t.sl.ratio,
		IdleMode:       t.sl.idleMode,
		IdleLimit:      t.sl.idle,
		AutoManaged:    t.autoManaged,
	}
	for _, p := range t.peers {
		if !p.active() {
			continue
		}
		if !p.peerChoking && p.amInterested {
			v.PeersSendingToUs++
		}
		if !p.amChoking && p.peerInterested {
			v.PeersGettingFromUs++
		}
	}
	if t.info != nil {
		v.Private = t.info.Private
		v.PieceSize = t.info.PieceLength
		v.NumFiles = len(t.info.Files)
	}
	return v
}

// EachTorrent calls fn for every torrent of the shard, in no order, with
// no allocation (Torrents copies the set). fn must not add or remove
// torrents. Loop only.
func (s *Shard) EachTorrent(fn func(*Torrent)) {
	for _, t := range s.torrents {
		fn(t)
	}
}

// FileCompleted appends to out, for each file of the torrent in order,
// the bytes of it that lie in pieces the torrent has; nil without
// metadata. It walks the pieces had once. Loop only.
func (t *Torrent) FileCompleted(out []int64) []int64 {
	if t.info == nil {
		return out
	}
	files := t.info.Files
	base := len(out)
	for range files {
		out = append(out, 0)
	}
	fi := 0
	for p := t.have.NextSet(0); p >= 0; p = t.have.NextSet(p + 1) {
		start := int64(p) * t.info.PieceLength
		end := start + t.info.PieceSize(p)
		for fi < len(files) && files[fi].Offset+files[fi].Length <= start {
			fi++
		}
		for j := fi; j < len(files) && files[j].Offset < end; j++ {
			lo, hi := max(start, files[j].Offset), min(end, files[j].Offset+files[j].Length)
			if hi > lo {
				out[base+j] += hi - lo
			}
		}
	}
	return out
}

// HaveBits appends the torrent's have bitfield (BitTorrent's bit order:
// piece 0 is the high bit of byte 0) to out; nil without metadata. Loop
// only.
func (t *Torrent) HaveBits(out []byte) []byte {
	if t.info == nil {
		return out
	}
	return append(out, t.have.Bytes()...)
}
