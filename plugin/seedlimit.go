package plugin

import "fmt"

// TypeSeedLimitReached is SeedLimitReachedAlert's type id. libtorrent has
// no such alert, so it does not take one of libtorrent's ids (which the
// other explicit ids here follow) but 200, clear of them and of the
// built-in list.
const TypeSeedLimitReached AlertType = 200

// SeedLimitAction is what a seed limit does to a torrent that reached it
// (qBittorrent's choice of "pause", "remove" and "remove with content").
type SeedLimitAction uint8

const (
	// SeedLimitPause pauses the torrent (the zero value; libtorrent's and
	// Transmission's behaviour).
	SeedLimitPause SeedLimitAction = iota
	// SeedLimitRemove removes the torrent from the session (and its resume
	// data); its files stay on disk.
	SeedLimitRemove
	// SeedLimitRemoveData removes the torrent and deletes its files.
	SeedLimitRemoveData
)

// String returns "pause", "remove" or "remove-data".
func (a SeedLimitAction) String() string {
	switch a {
	case SeedLimitPause:
		return "pause"
	case SeedLimitRemove:
		return "remove"
	case SeedLimitRemoveData:
		return "remove-data"
	}
	return fmt.Sprintf("SeedLimitAction(%d)", uint8(a))
}

// SeedLimitReachedAlert: a seeding torrent reached a seed limit (the
// session's or its own share ratio, the seed time, the seed-time ratio or
// the idle limit) and Action was taken (libtorrent pauses an auto-managed
// torrent at share_ratio_limit / seed_time_limit; Transmission stops it at
// seedRatioLimit and seedIdleLimit). Reason is "ratio", "seed time",
// "seed time ratio" or "idle"; Ratio is the share ratio then, and Seeded
// how long it had seeded, in seconds. Posted before the torrent's
// TorrentPausedAlert or TorrentRemovedAlert.
type SeedLimitReachedAlert struct {
	TorrentAlert
	Reason string
	Ratio  float64
	Seeded int64
	Action SeedLimitAction
}

func (*SeedLimitReachedAlert) Type() AlertType    { return TypeSeedLimitReached }
func (*SeedLimitReachedAlert) Category() Category { return CategoryStatus }
func (*SeedLimitReachedAlert) Name() string       { return "seed_limit_reached" }
func (a *SeedLimitReachedAlert) Message() string {
	done := "paused"
	switch a.Action {
	case SeedLimitRemove:
		done = "removed"
	case SeedLimitRemoveData:
		done = "removed with its files"
	}
	return fmt.Sprintf("%s reached its %s limit (ratio %.3f, seeded %d s): %s", a.prefix(), a.Reason, a.Ratio, a.Seeded, done)
}

func init() {
	a := (*SeedLimitReachedAlert)(nil)
	alertTypes[a.Type()] = alertTypeInfo{a.Category(), a.Name()}
}
