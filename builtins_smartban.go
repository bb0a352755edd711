package shardtorrent

import "github.com/shardtorrent/shardtorrent/ext/smartban"

// registerSmartBan adds the smart_ban session plugin when Settings.SmartBan
// is set. It has its own file so that the other built-in extensions can be
// wired beside it without touching the same lines.
func registerSmartBan(s *Session) {
	if s.set.SmartBan {
		s.AddExtension(smartban.New(smartban.Config{}))
	}
}
