// Package settings holds the engine's tunables (Engine) and their
// defaults, and the policy types they use: the one definition the root
// package's Settings.Engine, the node's flags and the shards all share, so
// that neither the root package's users nor the node need the shard
// package to configure a session.
package settings

import (
	"time"

	"github.com/shardtorrent/shardtorrent/choker"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// The queue's notion of a slow torrent (libtorrent's inactivity_timeout
// and inactive_down_rate / inactive_up_rate): a running torrent that moves
// less than InactiveRate bytes a second each way for
// Engine.AutoManageInactiveTime is slow.
const (
	InactiveRate                  = 2048
	DefaultAutoManageInactiveTime = time.Minute
)

// SeedPolicy is the part of the seeding policy beyond the ratio and time
// limits (Engine.SeedTimeRatioLimit, SeedIdleLimit and SeedLimitAction), as
// the root package's SeedPolicy and SetSeedPolicy read and change it.
type SeedPolicy struct {
	TimeRatio float64
	Idle      time.Duration
	Action    plugin.SeedLimitAction
}

// Engine are the engine's tunables: what each shard reads on its loop
// (the root package's Settings.Engine, shard.Settings). The zero value of a
// field means its default (DefaultEngine); the session fills them in once
// (FillDefaults).
type Engine struct {
	// MaxConnsPerTorrent bounds peer connections (both directions) of one torrent.
	MaxConnsPerTorrent int
	// MaxConns bounds peer connections of the whole session.
	MaxConns int
	// UnchokeSlots is the number of regular upload slots per torrent
	// (libtorrent's unchoke_slots_limit, default 8); negative means
	// unlimited (libtorrent's -1): every interested peer is unchoked.
	UnchokeSlots int
	// SeedChoker is the choker's ranking while seeding (libtorrent's
	// seed_choking_algorithm): the zero value choker.RoundRobin
	// (libtorrent's default), choker.FastestUpload or choker.AntiLeech.
	SeedChoker choker.SeedAlgorithm
	// ShareRatioLimit pauses a seed once it has uploaded this many times
	// its size (libtorrent's share_ratio_limit, Transmission's
	// seedRatioLimit): the ratio is payload uploaded over the larger of
	// payload downloaded and the torrent's size, both over the torrent's
	// life. 0 (the default) means no limit. See shard/seedlimit.go.
	ShareRatioLimit float64
	// SeedTimeLimit pauses a torrent once it has seeded (been complete and
	// not paused) this long in this session (libtorrent's seed_time_limit).
	// 0 (the default) means no limit. See shard/seedlimit.go.
	SeedTimeLimit time.Duration
	// SeedTimeRatioLimit stops a seed once its seeding time is this many
	// times its downloading time (libtorrent's seed_time_ratio_limit); a
	// torrent that never downloaded for more than a second (added
	// complete) has no such ratio and is not stopped by it. 0 (the
	// default) means no limit. See shard/seedlimit.go.
	SeedTimeRatioLimit float64
	// SeedIdleLimit stops a seed that uploaded no payload for this long
	// (Transmission's idle-seeding-limit). 0 (the default) means no
	// limit. See shard/seedlimit.go.
	SeedIdleLimit time.Duration
	// SeedLimitAction is what reaching any seed limit does: pause (the
	// zero value, as libtorrent), remove the torrent, or remove it with
	// its files (plugin.SeedLimitAction).
	SeedLimitAction plugin.SeedLimitAction
	// AutoManageInactiveTime is how long a running auto-managed torrent
	// may move no payload (faster than InactiveRate) before the queue
	// counts it slow (libtorrent's inactivity_timeout); also the startup
	// grace of a torrent the queue starts. 0 means
	// DefaultAutoManageInactiveTime, 60 s. See shard/queue.go.
	AutoManageInactiveTime time.Duration
	// MaxOutRequests caps our request pipeline to one peer (libtorrent's
	// max_out_request_queue, 500).
	MaxOutRequests int
	// MaxInRequests caps the requests a peer may queue with us; advertised as
	// "reqq" (libtorrent's max_allowed_in_request_queue, 2000).
	MaxInRequests int
	// RequestQueueTime is how many seconds of download the pipeline should
	// cover at the measured rate (libtorrent's request_queue_time, 3 s).
	RequestQueueTime time.Duration
	// HandshakeTimeout bounds the time from connect to a complete handshake.
	HandshakeTimeout time.Duration
	// PieceTimeout: a peer that has outstanding requests and sends no block for
	// this long has its requests cancelled and re-picked from others.
	PieceTimeout time.Duration
	// InactivityTimeout: a peer that sends nothing for this long is dropped.
	InactivityTimeout time.Duration
	// KeepAliveInterval: we send a keep-alive when we have sent nothing for this long.
	KeepAliveInterval time.Duration
	// ConnectTimeout bounds outgoing connection attempts.
	ConnectTimeout time.Duration
	// MaxInFlightReads bounds the disk reads outstanding for one peer's requests.
	MaxInFlightReads int
	// ClientName is sent as "v" in the extension handshake.
	ClientName string
	// ListenPort is advertised as "p" in the extension handshake (0 = omit).
	ListenPort int
	// DirectWrites writes verified pieces with O_DIRECT, past the page
	// cache (libtorrent's disable_os_cache write mode): a downloader spends
	// about a tenth of the CPU on writes, but pieces it re-serves are then
	// read from the disk. See storage/direct.go. Off by default.
	DirectWrites bool
	// SuggestReadCache sends BEP 6 suggest-piece messages for the pieces
	// most recently read (libtorrent's suggest_mode = suggest_read_cache):
	// up to 16 at an unchoke, and each newly read piece to the unchoked
	// peers that lack it. Off by default, as in libtorrent. See shard/suggest.go.
	SuggestReadCache bool
	// KeepPeersOnHashFailure turns off the core's hash-failure ban
	// (shard/hashfail.go): by default, as in libtorrent, the address that alone
	// sent every block of a piece that failed its hash check is banned.
	KeepPeersOnHashFailure bool
	// InEncPolicy and OutEncPolicy are libtorrent's in_enc_policy and
	// out_enc_policy for MSE: the zero value EncEnabled (libtorrent's
	// default) accepts both and dials encrypted with one plaintext retry.
	InEncPolicy, OutEncPolicy EncPolicy
	// AllowedEncLevel is libtorrent's allowed_enc_level: the zero value
	// EncLevelBoth (libtorrent's default) allows plaintext or RC4 after the
	// MSE handshake; a receiver offered both selects plaintext unless
	// PreferRC4.
	AllowedEncLevel EncLevel
	// PreferRC4 is libtorrent's prefer_rc4: an incoming MSE peer offering
	// both plaintext and RC4 (with both allowed) gets RC4. The zero value
	// false (libtorrent's default) selects plaintext then.
	PreferRC4 bool

	// The peer list (shard/peerlist.go), as libtorrent's settings of the same
	// names. ConnectionSpeed bounds new outgoing connection attempts per
	// second across the session (connection_speed, 30). MinReconnectTime
	// is the wait before redialling an address, times its failures plus
	// one (min_reconnect_time, 60 s). MaxFailCount is the failures after
	// which an address is no longer dialled, manual ones excepted
	// (max_failcount, 3).
	ConnectionSpeed  int
	MinReconnectTime time.Duration
	MaxFailCount     int
}

// DefaultEngine returns the engine's defaults, libtorrent's where it has
// the setting. Safe from any goroutine.
func DefaultEngine() Engine {
	return Engine{
		MaxConnsPerTorrent: 200,
		MaxConns:           4000,
		UnchokeSlots:       8,
		MaxOutRequests:     500,
		MaxInRequests:      2000,
		RequestQueueTime:   3 * time.Second,
		HandshakeTimeout:   10 * time.Second,
		PieceTimeout:       20 * time.Second,
		InactivityTimeout:  120 * time.Second,
		KeepAliveInterval:  60 * time.Second,
		ConnectTimeout:     10 * time.Second,
		MaxInFlightReads:   64,
		ClientName:         "shardtorrent/0.1",
		ConnectionSpeed:    30,
		MinReconnectTime:   60 * time.Second,
		MaxFailCount:       3,

		AutoManageInactiveTime: DefaultAutoManageInactiveTime,
	}
}

// FillDefaults replaces s's zero fields with DefaultEngine's values (a
// negative UnchokeSlots stays: unlimited).
func (s *Engine) FillDefaults() {
	d := DefaultEngine()
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setD := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&s.MaxConnsPerTorrent, d.MaxConnsPerTorrent)
	set(&s.MaxConns, d.MaxConns)
	if s.UnchokeSlots == 0 { // negative is unlimited
		s.UnchokeSlots = d.UnchokeSlots
	}
	set(&s.MaxOutRequests, d.MaxOutRequests)
	set(&s.MaxInRequests, d.MaxInRequests)
	set(&s.MaxInFlightReads, d.MaxInFlightReads)
	setD(&s.RequestQueueTime, d.RequestQueueTime)
	setD(&s.HandshakeTimeout, d.HandshakeTimeout)
	setD(&s.PieceTimeout, d.PieceTimeout)
	setD(&s.InactivityTimeout, d.InactivityTimeout)
	setD(&s.KeepAliveInterval, d.KeepAliveInterval)
	setD(&s.ConnectTimeout, d.ConnectTimeout)
	set(&s.ConnectionSpeed, d.ConnectionSpeed)
	setD(&s.MinReconnectTime, d.MinReconnectTime)
	set(&s.MaxFailCount, d.MaxFailCount)
	setD(&s.AutoManageInactiveTime, DefaultAutoManageInactiveTime)
	if s.ClientName == "" {
		s.ClientName = d.ClientName
	}
}

// RatioMode is a torrent's share-ratio rule, as Transmission's
// seedRatioMode.
type RatioMode uint8

const (
	// RatioGlobal follows Engine.ShareRatioLimit (the default).
	RatioGlobal RatioMode = iota
	// RatioOwn uses the torrent's own limit (the session's Torrent.SetRatioLimit).
	RatioOwn
	// RatioUnlimited seeds on whatever the session's limit.
	RatioUnlimited
)

// IdleMode is a torrent's idle-seeding rule, as Transmission's
// seedIdleMode.
type IdleMode uint8

const (
	// IdleGlobal follows Engine.SeedIdleLimit (the default).
	IdleGlobal IdleMode = iota
	// IdleOwn uses the torrent's own limit (the session's Torrent.SetIdleLimit).
	IdleOwn
	// IdleUnlimited seeds on however long it is idle.
	IdleUnlimited
)
