package shardtorrent

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// addPeerRec is a torrent plugin that records OnAddPeer calls.
type addPeerRec struct {
	got chan plugin.PeerSource
}

func (r *addPeerRec) OnAddPeer(_ netip.AddrPort, src plugin.PeerSource, _ plugin.AddPeerFlags) {
	r.got <- src
}

// TestAddPeersReachesPeerList: addresses an announcer finds reach the
// torrent's peer list on its loop with their source, through OnAddPeer;
// banned addresses are filtered, and a gone torrent ignores them.
func TestAddPeersReachesPeerList(t *testing.T) {
	s := newTestSession(t, bufpool.New(), 2)
	defer s.Close(context.Background())
	ctx := context.Background()
	rec := &addPeerRec{got: make(chan plugin.PeerSource, 8)}
	tor, err := s.AddTorrent(ctx, AddTorrentParams{
		InfoHash: metainfo.InfoHash{V1: [20]byte{1, 2, 3}}, SavePath: t.TempDir(), Paused: true,
		Extensions: []func(plugin.TorrentHandle, any) plugin.TorrentPlugin{
			func(plugin.TorrentHandle, any) plugin.TorrentPlugin { return rec },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	peers := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:7001"), netip.MustParseAddrPort("[::1]:7002")}
	s.addPeers(tor.key, peers, plugin.SourceTracker)
	for range peers {
		if src := <-rec.got; src != plugin.SourceTracker {
			t.Fatalf("source %v, want tracker", src)
		}
	}
	st, err := tor.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.NumCandidates != 2 {
		t.Fatalf("%d candidates, want 2", st.NumCandidates)
	}
	s.addPeers([20]byte{9}, peers, plugin.SourceDHT) // no such torrent: nothing happens
}

func TestParseMagnetTrackers(t *testing.T) {
	p, err := ParseMagnet("magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&tr=http://a/announce&tr=udp://b:6969")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"http://a/announce"}, {"udp://b:6969"}}
	if !slices.EqualFunc(p.Trackers, want, slices.Equal) {
		t.Fatalf("trackers %q, want %q", p.Trackers, want)
	}
}
