package shardtorrent

import (
	"github.com/shardtorrent/shardtorrent/ext/donthave"
	"github.com/shardtorrent/shardtorrent/ext/uploadonly"
	"github.com/shardtorrent/shardtorrent/ext/utmetadata"
	"github.com/shardtorrent/shardtorrent/ext/utpex"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// builtins lists the extensions the session registers by default, in
// chain order, before Settings.Extensions. They are ordinary session
// plugins written against package plugin alone.
func builtins(set *Settings) []plugin.Plugin {
	var out []plugin.Plugin
	add := func(off bool, p plugin.Plugin) {
		if !off {
			out = append(out, p)
		}
	}
	add(set.DisableUTMetadata, utmetadata.New(utmetadata.Config{}))
	add(set.DisablePEX, utpex.New())
	add(set.DisableDontHave, donthave.New())
	add(set.DisableUploadOnly, uploadonly.New())
	return out
}

// addBuiltins registers the built-in extensions.
func (s *Session) addBuiltins() {
	for _, p := range builtins(&s.set) {
		s.AddExtension(p)
	}
}
