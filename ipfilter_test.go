package shardtorrent

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/ipfilter"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/shard"
)

// ipPair is two real sessions on 127.0.0.1 sharing one small torrent: a
// seeder and a leecher, both checked. With empty, the "seeder" has no data
// either, so a connection between them stays up (nobody finishes).
type ipPair struct {
	seeder, leecher *Session
	st, lt          *Torrent
}

func newIPPair(t *testing.T, empty bool) *ipPair {
	t.Helper()
	ctx := context.Background()
	src := t.TempDir()
	writeFiles(t, src, map[string]int{"f.bin": 300 << 10})
	_, mi, err := metainfo.Create(filepath.Join(src, "f.bin"), metainfo.CreateOptions{PieceLength: 32 << 10})
	if err != nil {
		t.Fatal(err)
	}
	p := &ipPair{seeder: newTestSession(t, bufpool.New(), 1), leecher: newTestSession(t, bufpool.New(), 1)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.leecher.Close(ctx)
		_ = p.seeder.Close(ctx)
	})
	seedPath := src
	if empty {
		seedPath = t.TempDir()
	}
	if p.st, err = p.seeder.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: seedPath}); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, p.seeder, 10*time.Second, func(a plugin.Alert) bool { _, ok := a.(*plugin.TorrentCheckedAlert); return ok })
	if p.lt, err = p.leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, p.leecher, 10*time.Second, func(a plugin.Alert) bool { _, ok := a.(*plugin.TorrentCheckedAlert); return ok })
	return p
}

func blockList(t *testing.T, cidr string) *ipfilter.Filter {
	t.Helper()
	pf := netip.MustParsePrefix(cidr)
	f := ipfilter.New()
	last := pf.Addr()
	for a := pf.Addr(); pf.Contains(a); a = a.Next() {
		last = a
	}
	if err := f.AddRule(pf.Addr(), last, ipfilter.Blocked); err != nil {
		t.Fatal(err)
	}
	return f
}

func stats(t *testing.T, s *Session) SessionStats {
	t.Helper()
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestIPFilterRefusesIncoming: the seeder's filter blocks 127.0.0.1, so
// the leecher's connection is refused at accept (counted, alerted) and the
// leecher never gets past the handshake; with a filter that does not cover
// the leecher (the control), the same connection succeeds.
func TestIPFilterRefusesIncoming(t *testing.T) {
	for _, tc := range []struct {
		name    string
		filter  string
		blocked bool
	}{{"filtered", "127.0.0.1/32", true}, {"control", "10.0.0.0/30", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			p := newIPPair(t, false)
			if err := p.seeder.SetIPFilter(ctx, blockList(t, tc.filter)); err != nil {
				t.Fatal(err)
			}
			if err := p.lt.ConnectPeer(ctx, p.seeder.ListenAddr()); err != nil {
				t.Fatal(err)
			}
			if tc.blocked {
				seen := waitAlert(t, p.seeder, 10*time.Second, func(a plugin.Alert) bool {
					pb, ok := a.(*plugin.PeerBlockedAlert)
					return ok && pb.Incoming && pb.Reason == plugin.BlockIPFilter && pb.Addr.Addr() == netip.MustParseAddr("127.0.0.1")
				})
				for _, a := range seen {
					if _, ok := a.(*plugin.PeerConnectedAlert); ok {
						t.Fatal("the seeder connected a filtered peer")
					}
				}
				// The leecher sees its connection closed before any handshake.
				waitAlert(t, p.leecher, 10*time.Second, func(a plugin.Alert) bool {
					switch a.(type) {
					case *plugin.PeerDisconnectedAlert, *plugin.PeerErrorAlert:
						return true
					}
					return false
				})
				if in := stats(t, p.seeder).Incoming; in.IPFilter != 1 || in.Other != 0 {
					t.Fatalf("incoming stats %+v, want IPFilter 1", in)
				}
				return
			}
			seen := waitAlert(t, p.seeder, 10*time.Second, func(a plugin.Alert) bool {
				pc, ok := a.(*plugin.PeerConnectedAlert)
				return ok && pc.Incoming
			})
			for _, a := range seen {
				if _, ok := a.(*plugin.PeerBlockedAlert); ok {
					t.Fatalf("blocked under the control filter: %s", a.Message())
				}
			}
			if in := stats(t, p.seeder).Incoming; in.IPFilter != 0 {
				t.Fatalf("incoming stats %+v, want IPFilter 0", in)
			}
		})
	}
}

// TestIPFilterNeverDials: the seeder's filter blocks 127.0.0.1, so
// ConnectPeer to the leecher is dropped without a dial (counted, alerted).
// Then the filter is removed and the same ConnectPeer connects: the
// leecher has accepted exactly one connection, so the first was never
// dialled.
func TestIPFilterNeverDials(t *testing.T) {
	ctx := context.Background()
	p := newIPPair(t, false)
	if err := p.seeder.SetIPFilter(ctx, blockList(t, "127.0.0.0/8")); err != nil {
		t.Fatal(err)
	}
	if err := p.st.ConnectPeer(ctx, p.leecher.ListenAddr()); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, p.seeder, 10*time.Second, func(a plugin.Alert) bool {
		pb, ok := a.(*plugin.PeerBlockedAlert)
		return ok && !pb.Incoming && !pb.Closed && pb.Addr == p.leecher.ListenAddr()
	})
	if n := stats(t, p.seeder).Engine.V[shard.MetricIPFilterDialSkipped]; n != 1 {
		t.Fatalf("dial skips %d, want 1", n)
	}
	if err := p.seeder.SetIPFilter(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if p.seeder.IPFilter() != nil {
		t.Fatal("filter still set")
	}
	if err := p.st.ConnectPeer(ctx, p.leecher.ListenAddr()); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, p.leecher, 10*time.Second, func(a plugin.Alert) bool {
		pc, ok := a.(*plugin.PeerConnectedAlert)
		return ok && pc.Incoming
	})
	if in := stats(t, p.leecher).Incoming; in.Accepted != 1 {
		t.Fatalf("the leecher accepted %d connections, want 1 (the filtered ConnectPeer must not dial)", in.Accepted)
	}
}

// TestSetIPFilterClosesConnections: a connection made while unfiltered is
// closed when a filter blocking its address is set, as libtorrent's
// set_ip_filter does.
func TestSetIPFilterClosesConnections(t *testing.T) {
	ctx := context.Background()
	p := newIPPair(t, true)
	if err := p.lt.ConnectPeer(ctx, p.seeder.ListenAddr()); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, p.seeder, 10*time.Second, func(a plugin.Alert) bool {
		pc, ok := a.(*plugin.PeerConnectedAlert)
		return ok && pc.Incoming
	})
	if err := p.seeder.SetIPFilter(ctx, blockList(t, "127.0.0.1/32")); err != nil {
		t.Fatal(err)
	}
	// SetIPFilter returned after the shard's round: the PeerBlockedAlert
	// is posted, and the disconnect follows it.
	seen := waitAlert(t, p.seeder, 10*time.Second, func(a plugin.Alert) bool {
		_, ok := a.(*plugin.PeerDisconnectedAlert)
		return ok
	})
	closed := false
	for _, a := range seen {
		if pb, ok := a.(*plugin.PeerBlockedAlert); ok && pb.Closed {
			closed = true
		}
	}
	if !closed {
		t.Fatal("no PeerBlockedAlert with Closed before the disconnect")
	}
	if n := stats(t, p.seeder).Engine.V[shard.MetricIPFilterClosed]; n != 1 {
		t.Fatalf("closed by the filter: %d, want 1", n)
	}
}
