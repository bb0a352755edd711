package nodecmd

import "github.com/shardtorrent/shardtorrent/plugin"

// noopSession attaches, through its torrent plugin, one peer plugin to
// every connection of every torrent; the peer plugin implements the hooks
// the data path calls (message, sent-message, payload, piece, tick) and does
// nothing. -noop-plugins N registers N of them, so cmd/bench can measure
// what the plugin dispatch itself costs on a real seeder.
type noopSession struct{}

func (noopSession) Features() plugin.Feature { return 0 }

func (noopSession) NewTorrent(plugin.TorrentHandle, any) plugin.TorrentPlugin { return noopTorrent{} }

type noopTorrent struct{}

func (noopTorrent) NewConnection(plugin.PeerConn) plugin.PeerPlugin { return noopPeer{} }

type noopPeer struct{}

func (noopPeer) Type() string                              { return "noop" }
func (noopPeer) OnRequest(plugin.Request) bool             { return false }
func (noopPeer) OnPiece(plugin.Request, plugin.Block) bool { return false }
func (noopPeer) OnHave(int) bool                           { return false }
func (noopPeer) OnInterested() bool                        { return false }
func (noopPeer) OnUnchoke() bool                           { return false }
func (noopPeer) OnCancel(plugin.Request) bool              { return false }
func (noopPeer) SentPiece(plugin.Request)                  {}
func (noopPeer) SentPayload(int)                           {}
func (noopPeer) SentRequest(plugin.Request)                {}
func (noopPeer) SentHave(int)                              {}
func (noopPeer) WriteRequest(plugin.Request) bool          { return false }
func (noopPeer) CanDisconnect(error) bool                  { return true }
func (noopPeer) OnPiecePass(int)                           {}
func (noopPeer) Tick()                                     {}

// noopExtensions returns n no-op session plugins.
func noopExtensions(n int) []plugin.Plugin {
	out := make([]plugin.Plugin, n)
	for i := range out {
		out[i] = noopSession{}
	}
	return out
}
