package shard

import (
	"github.com/shardtorrent/shardtorrent/choker"
	"github.com/shardtorrent/shardtorrent/settings"
)

// Settings are the engine's tunables, defined in package settings (the
// root package's Settings.Engine): one type for the shards, the session
// and the node.
type Settings = settings.Engine

// Defaults returns the engine's defaults (settings.DefaultEngine).
func Defaults() Settings { return settings.DefaultEngine() }

// ApplySettings replaces the shard's settings while it runs (the root
// package's Session.ApplySettings, which has refused the fields that
// cannot change: ClientName, ListenPort and DirectWrites keep their
// values here whatever set says). Everything that reads s.set on the loop
// sees the new values from its next use; the chokers of every torrent are
// rebuilt when UnchokeSlots or SeedChoker changed, so the next choker
// round uses them. Loop only.
func (s *Shard) ApplySettings(set Settings) {
	set.FillDefaults()
	old := s.set
	set.ClientName, set.ListenPort, set.DirectWrites = old.ClientName, old.ListenPort, old.DirectWrites
	s.set = set
	if set.UnchokeSlots != old.UnchokeSlots || set.SeedChoker != old.SeedChoker {
		for _, t := range s.torrents {
			t.resetChoker()
		}
	}
}

// resetChoker rebuilds t's choker from the shard's settings, keeping its
// piece quota and piece count. Loop only.
func (t *Torrent) resetChoker() {
	cfg := t.choker.Config()
	t.choker = choker.New(choker.Config{Slots: t.s.set.UnchokeSlots, Seeding: t.s.set.SeedChoker, NumPieces: cfg.NumPieces, PieceQuota: cfg.PieceQuota})
}

// ChokerConfig returns the configuration of t's choker, defaults filled
// in. Loop only.
func (t *Torrent) ChokerConfig() choker.Config { return t.choker.Config() }
