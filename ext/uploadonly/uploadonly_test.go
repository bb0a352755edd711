package uploadonly

import (
	"testing"

	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// fakeTorrent and fakeConn implement what the plugin uses; the embedded
// nil interfaces panic on anything else.
type fakeTorrent struct {
	plugin.TorrentHandle
	seeding bool
	peers   []*fakeConn
}

func (t *fakeTorrent) Status() plugin.TorrentStatus { return plugin.TorrentStatus{Seeding: t.seeding} }
func (t *fakeTorrent) Peers() []plugin.PeerConn {
	var out []plugin.PeerConn
	for _, p := range t.peers {
		out = append(out, p)
	}
	return out
}

type fakeConn struct {
	plugin.PeerConn
	pp         plugin.PeerPlugin
	sent       [][]byte
	uploadOnly bool
}

func (c *fakeConn) FindPlugin(typ string) plugin.PeerPlugin {
	if c.pp != nil && c.pp.Type() == typ {
		return c.pp
	}
	return nil
}
func (c *fakeConn) InHandshake() bool     { return false }
func (c *fakeConn) Valid() bool           { return true }
func (c *fakeConn) IsDisconnecting() bool { return false }
func (c *fakeConn) SendBuffer(b []byte)   { c.sent = append(c.sent, append([]byte(nil), b...)) }
func (c *fakeConn) SetUploadOnly(v bool)  { c.uploadOnly = v }

// TestStateChangeSendsUploadOnly: finishing sends upload_only 1, losing a
// piece sends 0, each with the id the peer advertised and only to peers
// that advertised it; our handshake follows the seeding state.
func TestStateChangeSendsUploadOnly(t *testing.T) {
	ft := &fakeTorrent{}
	tp := New().NewTorrent(ft, nil).(*torrent)
	speaks, mute := &fakeConn{}, &fakeConn{}
	for _, c := range []*fakeConn{speaks, mute} {
		c.pp = tp.NewConnection(c)
		ft.peers = append(ft.peers, c)
	}
	speaks.pp.(*peer).OnExtensionHandshake(&wire.ExtHandshake{M: map[string]int{Name: 42}, UploadOnly: true})
	mute.pp.(*peer).OnExtensionHandshake(&wire.ExtHandshake{})
	if !speaks.uploadOnly || mute.uploadOnly {
		t.Fatalf("peer upload_only flags %v %v, want true false", speaks.uploadOnly, mute.uploadOnly)
	}
	steps := []struct {
		seeding bool
		want    string // payload sent to speaks, "" for nothing
	}{
		{false, ""}, // no change
		{true, "\x01"},
		{true, ""},
		{false, "\x00"},
	}
	for i, s := range steps {
		ft.seeding = s.seeding
		speaks.sent = nil
		tp.OnState(plugin.StateSeeding)
		var hs wire.ExtHandshake
		speaks.pp.(*peer).AddHandshake(&hs)
		if hs.UploadOnly != s.seeding || hs.M[Name] != LocalID {
			t.Fatalf("step %d: handshake upload_only %v m %v", i, hs.UploadOnly, hs.M)
		}
		if len(mute.sent) != 0 {
			t.Fatalf("step %d: sent to a peer without upload_only", i)
		}
		if s.want == "" {
			if len(speaks.sent) != 0 {
				t.Fatalf("step %d: sent %q without a change", i, speaks.sent)
			}
			continue
		}
		if want := string(wire.AppendExtended(nil, 42, []byte(s.want))); len(speaks.sent) != 1 || string(speaks.sent[0]) != want {
			t.Fatalf("step %d: sent %q, want %q", i, speaks.sent, want)
		}
	}
}
