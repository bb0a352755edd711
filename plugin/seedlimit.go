package plugin

import "fmt"

// TypeSeedLimitReached is SeedLimitReachedAlert's type id. libtorrent has
// no such alert, so it does not take one of libtorrent's ids (which the
// other explicit ids here follow) but 200, clear of them and of the
// built-in list.
const TypeSeedLimitReached AlertType = 200

// SeedLimitReachedAlert: a seeding torrent reached the session's
// share-ratio or seed-time limit and was paused (libtorrent pauses an
// auto-managed torrent at share_ratio_limit / seed_time_limit; Transmission
// stops it at seedRatioLimit). Reason is "ratio" or "seed time"; Ratio is
// the share ratio then, and Seeded how long it had seeded, in seconds.
type SeedLimitReachedAlert struct {
	TorrentAlert
	Reason string
	Ratio  float64
	Seeded int64
}

func (*SeedLimitReachedAlert) Type() AlertType    { return TypeSeedLimitReached }
func (*SeedLimitReachedAlert) Category() Category { return CategoryStatus }
func (*SeedLimitReachedAlert) Name() string       { return "seed_limit_reached" }
func (a *SeedLimitReachedAlert) Message() string {
	return fmt.Sprintf("%s reached its %s limit (ratio %.3f, seeded %d s): paused", a.prefix(), a.Reason, a.Ratio, a.Seeded)
}

func init() {
	a := (*SeedLimitReachedAlert)(nil)
	alertTypes[a.Type()] = alertTypeInfo{a.Category(), a.Name()}
}
