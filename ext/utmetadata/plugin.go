package utmetadata

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// Limits and timings, libtorrent 2.0.8's (src/ut_metadata.cpp,
// settings_pack.cpp).
const (
	// ExtensionName is the key in the handshake's "m" dictionary.
	ExtensionName = "ut_metadata"
	// ExtID is the extended message id we receive ut_metadata on.
	ExtID = 2
	// PieceSize is the size of every metadata piece but the last.
	PieceSize = 16 << 10
	// MaxMessageSize: a longer incoming message disconnects the peer.
	MaxMessageSize = 17 << 10
	// MaxMetadataSize bounds total_size (libtorrent's max_metadata_size
	// default, 3 * 1024 * 10240 bytes).
	MaxMetadataSize = 3 * 1024 * 10240
	// MaxPresize bounds a handshake's metadata_size that we plan with.
	MaxPresize = 4 << 20
	// SendBufferLimit: requests arriving while more than this is queued to
	// the peer wait in its queue.
	SendBufferLimit = 160 << 10
	// MaxQueued bounds a peer's waiting requests; beyond, they are rejected.
	MaxQueued = 1024
	// MaxOutstanding is how many pieces we ask one peer for at a time.
	MaxOutstanding = 2
	// ReRequestDelay: a piece is not asked again this soon while its
	// previous source is connected.
	ReRequestDelay = 3 * time.Second
	// RejectBackoff: after a reject, the peer is not asked for this long.
	RejectBackoff = time.Minute
	// HashFailBackoffMin and HashFailBackoffMax bound the random back-off
	// of each peer that contributed to metadata that failed its hash.
	HashFailBackoffMin = 20 * time.Second
	HashFailBackoffMax = 70 * time.Second
	// SingleSourceBackoff replaces it when the metadata was a single piece
	// from one peer: that peer alone is to blame.
	SingleSourceBackoff = 5 * time.Minute
)

// Config sets the plugin's clock and randomness; zero fields take
// time.Now and a random source.
type Config struct {
	Now  func() time.Time
	Rand *rand.Rand
}

// Plugin is the session plugin: it attaches a torrent plugin to every
// torrent that is not private. Its NewTorrent runs on every shard's loop,
// so the shared random source is guarded.
type Plugin struct {
	cfg Config
	mu  sync.Mutex // guards cfg.Rand
}

// New returns the session plugin with cfg (see Config for its defaults).
func New(cfg Config) *Plugin {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Plugin{cfg: cfg}
}

// Features implements plugin.Plugin: no gated session hook.
func (*Plugin) Features() plugin.Feature { return 0 }

// NewTorrent implements plugin.TorrentCreator. A private torrent whose
// metadata is known gets nothing, as in libtorrent. Runs on the torrent's
// loop.
func (p *Plugin) NewTorrent(th plugin.TorrentHandle, _ any) plugin.TorrentPlugin {
	if th.HasMetadata() && th.Private() {
		return nil
	}
	cfg := p.cfg
	if cfg.Rand != nil {
		// Each torrent gets its own source derived from the shared one.
		p.mu.Lock()
		cfg.Rand = rand.New(rand.NewPCG(cfg.Rand.Uint64(), cfg.Rand.Uint64()))
		p.mu.Unlock()
	}
	return NewTorrent(th, cfg)
}

// Torrent is the torrent plugin: it serves the metadata when the torrent
// has it, and assembles it from peers when it does not. Owned by the
// torrent's loop.
type Torrent struct {
	th  plugin.TorrentHandle
	now func() time.Time
	rng *rand.Rand

	// Fetch state, unused once the torrent has metadata.
	size    int    // total_size fixed by the first data message; 0 = unknown
	hint    int    // a handshake's metadata_size (≤ MaxPresize), to plan requests
	buf     []byte // len size once known
	pieces  []pieceState
	hdr     []byte // message dictionary scratch
	scratch []byte // frame scratch; SendBuffer copies
}

// pieceState tracks one metadata piece being fetched.
type pieceState struct {
	have     bool
	requests int       // requests sent since the last reset (fewest first)
	lastReq  time.Time // when it was last asked for
	source   *Peer     // whom it was last asked of
	from     *Peer     // who sent the bytes we hold
}

// NewTorrent returns the torrent plugin for th; for plugins attached
// through AddTorrentParams.Extensions or TorrentHandle.AddExtension. It
// does not check Private: the caller decides. cfg.Rand, if set, is owned
// by the returned plugin from now on (it runs on th's loop).
func NewTorrent(th plugin.TorrentHandle, cfg Config) *Torrent {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	rng := cfg.Rand
	if rng == nil {
		rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return &Torrent{th: th, now: cfg.Now, rng: rng}
}

// NewConnection implements plugin.NewConnectionHook: BitTorrent
// connections only (not web seeds).
func (t *Torrent) NewConnection(pc plugin.PeerConn) plugin.PeerPlugin {
	if pc.Type() != plugin.ConnBitTorrent {
		return nil
	}
	return &Peer{t: t, pc: pc}
}

// numPieces is how many pieces we plan to fetch: from the size, else the
// hint, else 1 (piece 0 tells the size).
func (t *Torrent) numPieces() int {
	n := t.size
	if n == 0 {
		n = t.hint
	}
	if n == 0 {
		return 1
	}
	return (n + PieceSize - 1) / PieceSize
}

// plan sizes pieces to numPieces, keeping what is known.
func (t *Torrent) plan() {
	n := t.numPieces()
	if len(t.pieces) > n {
		t.pieces = t.pieces[:n]
	}
	for len(t.pieces) < n {
		t.pieces = append(t.pieces, pieceState{})
	}
}

// pick chooses the piece to ask pp for: the one with the fewest requests,
// not held, not already asked of pp, and not asked of a still-connected
// peer less than ReRequestDelay ago. -1 if none.
func (t *Torrent) pick(pp *Peer, now time.Time) int {
	t.plan()
	best := -1
	for i := range t.pieces {
		ps := &t.pieces[i]
		if ps.have || pp.asked(i) {
			continue
		}
		if ps.source != nil && ps.source.pc.Valid() && now.Sub(ps.lastReq) < ReRequestDelay {
			continue
		}
		if best < 0 || ps.requests < t.pieces[best].requests {
			best = i
		}
	}
	return best
}

// received stores a data message's bytes. The caller checked that pp
// asked for piece.
func (t *Torrent) received(pp *Peer, piece, totalSize int, data []byte) error {
	if totalSize <= 0 || totalSize > MaxMetadataSize {
		return newError(ErrBadTotalSize, "total_size "+itoa(totalSize))
	}
	if t.size == 0 {
		t.size = totalSize
		t.buf = make([]byte, totalSize)
		t.plan()
	} else if totalSize != t.size {
		return newError(ErrBadTotalSize, "total_size "+itoa(totalSize)+" after "+itoa(t.size))
	}
	n := t.numPieces()
	if piece >= n {
		return newError(ErrBadPiece, "piece "+itoa(piece)+" of "+itoa(n))
	}
	off := piece * PieceSize
	want := min(PieceSize, t.size-off)
	if len(data) != want {
		return newError(ErrBadPiece, "piece "+itoa(piece)+" has "+itoa(len(data))+" bytes, want "+itoa(want))
	}
	ps := &t.pieces[piece]
	if ps.have {
		return nil // a late duplicate
	}
	copy(t.buf[off:], data)
	ps.have, ps.from = true, pp
	for i := range t.pieces {
		if !t.pieces[i].have {
			return nil
		}
	}
	t.complete()
	return nil
}

// complete hands the assembled dictionary to the torrent.
func (t *Torrent) complete() {
	err := t.th.SetMetadata(t.buf)
	switch {
	case err == nil, errors.Is(err, plugin.ErrHaveMetadata):
		// Serve from the torrent's copy from now on.
		t.buf, t.pieces, t.size, t.hint = nil, nil, 0, 0
		return
	case errors.Is(err, plugin.ErrMismatchingInfoHash):
		// The engine posted MetadataFailedAlert. Every contributor is
		// suspect: make each wait before it is asked again.
		now := t.now()
		single := len(t.pieces) == 1
		for i := range t.pieces {
			if from := t.pieces[i].from; from != nil {
				d := SingleSourceBackoff
				if !single {
					d = HashFailBackoffMin + time.Duration(t.rng.Int64N(int64(HashFailBackoffMax-HashFailBackoffMin)+1))
				}
				from.backoff(now.Add(d))
			}
		}
	}
	// Start over, the size included: it came from the same peers.
	clear(t.pieces)
	t.pieces = t.pieces[:0]
	t.buf, t.size = nil, 0
}

// send queues one ut_metadata message to pp, followed by data, as one
// buffer (SendBuffer copies it, so the scratch arrays are reused).
func (t *Torrent) send(pp *Peer, msgType, piece, totalSize int, data []byte) {
	t.hdr = appendMessage(t.hdr[:0], msgType, piece, totalSize)
	out := wire.AppendExtendedHeader(t.scratch[:0], uint8(pp.extID), len(t.hdr)+len(data))
	out = append(out, t.hdr...)
	out = append(out, data...)
	pp.pc.SendBuffer(out)
	t.scratch = out[:0]
}

func itoa(n int) string { return strconv.Itoa(n) }
