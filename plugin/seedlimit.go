package plugin

import "fmt"

// TypeSeedLimitReached is SeedLimitReachedAlert's type id. It is given
// explicitly (not by the iota list in alert.go) so that alert types added
// by other parts of the engine at the same time cannot take its number.
const TypeSeedLimitReached AlertType = 40

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
