// Package noopplugin is a plugin that implements the data-path hooks and
// does nothing: benchmarks attach it to measure the cost of the plugin
// dispatch itself (the plugin issue's "no plugins against four no-op peer
// plugins"), both in-process (go test -bench) and in the node (-noop-plugins).
package noopplugin

import "github.com/shardtorrent/shardtorrent/plugin"

// Session is a session plugin whose torrent plugin attaches a Peer to every
// connection. It declares no gated features.
type Session struct{}

// Features implements plugin.Plugin.
func (Session) Features() plugin.Feature { return 0 }

// NewTorrent implements plugin.TorrentCreator.
func (Session) NewTorrent(plugin.TorrentHandle, any) plugin.TorrentPlugin { return Torrent{} }

// Torrent attaches a Peer to every connection.
type Torrent struct{}

// NewConnection implements plugin.NewConnectionHook.
func (Torrent) NewConnection(plugin.PeerConn) plugin.PeerPlugin { return Peer{} }

// NewTorrentPlugin is an AddTorrentParams.Extensions constructor for Torrent.
func NewTorrentPlugin(plugin.TorrentHandle, any) plugin.TorrentPlugin { return Torrent{} }

// Peer implements the message, sent-message, payload, piece and tick hooks
// and does nothing in any of them.
type Peer struct{}

func (Peer) Type() string                              { return "noop" }
func (Peer) OnRequest(plugin.Request) bool             { return false }
func (Peer) OnPiece(plugin.Request, plugin.Block) bool { return false }
func (Peer) OnHave(int) bool                           { return false }
func (Peer) OnInterested() bool                        { return false }
func (Peer) OnUnchoke() bool                           { return false }
func (Peer) OnCancel(plugin.Request) bool              { return false }
func (Peer) SentPiece(plugin.Request)                  {}
func (Peer) SentPayload(int)                           {}
func (Peer) SentRequest(plugin.Request)                {}
func (Peer) SentHave(int)                              {}
func (Peer) WriteRequest(plugin.Request) bool          { return false }
func (Peer) CanDisconnect(error) bool                  { return true }
func (Peer) OnPiecePass(int)                           {}
func (Peer) Tick()                                     {}

// Sessions returns n no-op session plugins.
func Sessions(n int) []plugin.Plugin {
	out := make([]plugin.Plugin, n)
	for i := range out {
		out[i] = Session{}
	}
	return out
}
