//go:build interop

package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/internal/refpeer"
	"github.com/shardtorrent/shardtorrent/ipfilter"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/shard"
)

// ltBoundScript is a libtorrent 2.0.8 leecher bound to one loopback
// address (127.0.0.2 here, so that our session on 127.0.0.1 can filter it
// alone): it listens there, dials from there, connects once to the peer
// it is given (none for "-"), and reports its connection alerts as JSON lines. It stops
// when stdin closes. (internal/refpeer's lt_peer.py listens on 127.0.0.1
// only.)
const ltBoundScript = `
import json, sys, threading, libtorrent as lt
torrent, save, host, port, target = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
def emit(**o):
    sys.stdout.write(json.dumps(o) + "\n"); sys.stdout.flush()
s = lt.session({
    "listen_interfaces": "%s:%d" % (host, port), "outgoing_interfaces": host,
    "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
    "allow_multiple_connections_per_ip": True, "enable_outgoing_utp": False, "enable_incoming_utp": False,
    "alert_mask": lt.alert.category_t.connect_notification | lt.alert.category_t.peer_notification |
                  lt.alert.category_t.status_notification | lt.alert.category_t.error_notification,
})
h = s.add_torrent({"ti": lt.torrent_info(torrent), "save_path": save})
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
connected = False
while not stop.is_set():
    s.wait_for_alert(200)
    for a in s.pop_alerts():
        if isinstance(a, lt.listen_succeeded_alert):
            emit(event="listening", addr="%s:%d" % (a.address, a.port))
        elif isinstance(a, lt.torrent_checked_alert) and not connected:
            connected = True
            emit(event="checked")
            if target == "-":
                continue
            th, tp = target.rsplit(":", 1)
            h.connect_peer((th, int(tp)))
        elif isinstance(a, lt.incoming_connection_alert):
            emit(event="incoming", addr="%s:%d" % (a.endpoint[0], a.endpoint[1]))
        elif isinstance(a, lt.peer_connect_alert):
            emit(event="dialling", addr="%s:%d" % (a.endpoint[0], a.endpoint[1]))
        elif isinstance(a, lt.peer_disconnected_alert):
            emit(event="disconnected", addr="%s:%d" % (a.endpoint[0], a.endpoint[1]), msg=a.message())
        elif isinstance(a, lt.torrent_finished_alert):
            emit(event="finished")
`

type ltEvent struct{ Event, Addr, Msg string }

// startBoundLT runs ltBoundScript and returns its events. A zero target
// makes it connect to nobody.
func startBoundLT(t *testing.T, ctx context.Context, f fixture, host string, port int, target netip.AddrPort) <-chan ltEvent {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "lt_bound.py")
	if err := os.WriteFile(script, []byte(ltBoundScript), 0o644); err != nil {
		t.Fatal(err)
	}
	to := "-"
	if target.IsValid() {
		to = target.String()
	}
	cmd := exec.CommandContext(ctx, refpeer.Python, script, f.Torrent, mkdir(t, dir, "save"), host, strconv.Itoa(port), to)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	ch := make(chan ltEvent, 100)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var e ltEvent
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				t.Logf("lt %s: %s %s %s", host, e.Event, e.Addr, e.Msg)
				ch <- e
			}
		}
	}()
	return ch
}

// waitLTEvent reads events until match, failing on ctx's end or the
// script's exit.
func waitLTEvent(t *testing.T, ctx context.Context, ch <-chan ltEvent, what string, match func(ltEvent) bool) []ltEvent {
	t.Helper()
	var seen []ltEvent
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("libtorrent exited before %s; saw %v", what, seen)
			}
			seen = append(seen, e)
			if match(e) {
				return seen
			}
		case <-ctx.Done():
			t.Fatalf("libtorrent: no %s; saw %v", what, seen)
		}
	}
}

// waitOurAlert pops the session's alerts until match.
func waitOurAlert(t *testing.T, ctx context.Context, s *shardtorrent.Session, what string, match func(plugin.Alert) bool) []plugin.Alert {
	t.Helper()
	var seen []plugin.Alert
	for {
		for _, a := range s.PopAlerts() {
			seen = append(seen, a)
			if match(a) {
				return seen
			}
		}
		if err := s.WaitForAlert(ctx); err != nil {
			t.Fatalf("no %s: %v", what, err)
		}
	}
}

// TestIPFilterLibtorrent: a libtorrent 2.0.8 leecher on 127.0.0.2 and our
// session seeding on 127.0.0.1. Filtered (our filter blocks 127.0.0.2/32),
// its connection is refused at accept and our dial to it never starts; the
// refusal and the skipped dial are counted and alerted. The control (a
// filter blocking 127.0.0.3 only): it connects, we dial it, and it
// downloads the torrent.
func TestIPFilterLibtorrent(t *testing.T) {
	for _, tc := range []struct {
		name, block string
		filtered    bool
	}{{"filtered", "127.0.0.2", true}, {"control", "127.0.0.3", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := setup(t, testTimeout)
			dir := t.TempDir()
			f := makeFixture(t, dir, "ipf.bin", 3<<20, nil, 64<<10)
			flt := ipfilter.New()
			b := netip.MustParseAddr(tc.block)
			if err := flt.AddRule(b, b, ipfilter.Blocked); err != nil {
				t.Fatal(err)
			}
			set := shardtorrent.Settings{ListenAddr: "127.0.0.1:0", Shards: 1,
				DisableDHT: true, AlertMask: plugin.CategoryAll, IPFilter: flt}
			// A dial that fails (libtorrent's listener not accepting yet,
			// a busy CI machine) is retried after a second, not after
			// libtorrent's 60 s min_reconnect_time times two: what this
			// test is about is the filter, not the back-off.
			set.Engine.MinReconnectTime = time.Second
			s, err := shardtorrent.NewSession(ctx, set)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(context.Background())
			defer func() {
				if t.Failed() { // what our side saw, for the diagnosis
					for _, a := range s.PopAlerts() {
						t.Logf("our alert: %s", a.Message())
					}
				}
			}()
			tor, err := s.AddTorrent(ctx, shardtorrent.AddTorrentParams{TorrentFile: f.Torrent, SavePath: f.SeedDir})
			if err != nil {
				t.Fatal(err)
			}
			waitOurAlert(t, ctx, s, "seeding", func(a plugin.Alert) bool {
				sc, ok := a.(*plugin.StateChangedAlert)
				return ok && sc.To == plugin.StateSeeding
			})

			ports := freePorts(t, 2)
			lt1 := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), uint16(ports[0]))
			lt2 := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), uint16(ports[1]))
			if tc.filtered {
				ev := startBoundLT(t, ctx, f, "127.0.0.2", ports[0], s.ListenAddr())
				ltAddr := lt1
				// libtorrent dials us once checked; we refuse it at accept.
				seen := waitOurAlert(t, ctx, s, "the refusal", func(a plugin.Alert) bool {
					pb, ok := a.(*plugin.PeerBlockedAlert)
					return ok && pb.Incoming && pb.Addr.Addr() == ltAddr.Addr()
				})
				waitLTEvent(t, ctx, ev, "its connection closed", func(e ltEvent) bool {
					return e.Event == "disconnected" && e.Addr == s.ListenAddr().String()
				})
				// We are told its address and never dial it.
				if err := tor.ConnectPeer(ctx, ltAddr); err != nil {
					t.Fatal(err)
				}
				seen = append(seen, waitOurAlert(t, ctx, s, "the skipped dial", func(a plugin.Alert) bool {
					pb, ok := a.(*plugin.PeerBlockedAlert)
					return ok && !pb.Incoming && pb.Addr == ltAddr
				})...)
				for _, a := range seen {
					if pc, ok := a.(*plugin.PeerConnectedAlert); ok {
						t.Fatalf("connected to a filtered peer: %s", pc.Message())
					}
				}
				st, err := s.Stats(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if st.Incoming.IPFilter < 1 || st.Engine.V[shard.MetricIPFilterDialSkipped] != 1 || st.Engine.V[shard.MetricConnectionAttempts] != 0 {
					t.Fatalf("counters: incoming ip_filter %d, dial skips %d, dials %d; want >=1, 1, 0",
						st.Incoming.IPFilter, st.Engine.V[shard.MetricIPFilterDialSkipped], st.Engine.V[shard.MetricConnectionAttempts])
				}
				t.Logf("refused %d incoming connections from %v, skipped %d dials, dialled nothing",
					st.Incoming.IPFilter, ltAddr.Addr(), st.Engine.V[shard.MetricIPFilterDialSkipped])
				return
			}
			// We dial a libtorrent that dials nobody: it accepts and downloads.
			ev1 := startBoundLT(t, ctx, f, "127.0.0.2", ports[0], netip.AddrPort{})
			waitLTEvent(t, ctx, ev1, "its check", func(e ltEvent) bool { return e.Event == "checked" })
			if err := tor.ConnectPeer(ctx, lt1); err != nil {
				t.Fatal(err)
			}
			waitLTEvent(t, ctx, ev1, "our dial", func(e ltEvent) bool {
				a, err := netip.ParseAddrPort(e.Addr)
				return e.Event == "incoming" && err == nil && a.Addr() == s.ListenAddr().Addr()
			})
			waitLTEvent(t, ctx, ev1, "the download over our dial", func(e ltEvent) bool { return e.Event == "finished" })
			// A libtorrent that dials us is accepted and downloads.
			ev2 := startBoundLT(t, ctx, f, "127.0.0.2", ports[1], s.ListenAddr())
			waitOurAlert(t, ctx, s, "libtorrent's connection", func(a plugin.Alert) bool {
				pc, ok := a.(*plugin.PeerConnectedAlert)
				return ok && pc.Incoming && pc.Addr.Addr() == lt2.Addr()
			})
			waitLTEvent(t, ctx, ev2, "the download over its dial", func(e ltEvent) bool { return e.Event == "finished" })
			st, err := s.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Incoming.IPFilter != 0 || st.Engine.V[shard.MetricIPFilterDialSkipped] != 0 || st.Engine.V[shard.MetricConnectionAttempts] < 1 {
				t.Fatalf("control counters: incoming ip_filter %d, dial skips %d, dials %d",
					st.Incoming.IPFilter, st.Engine.V[shard.MetricIPFilterDialSkipped], st.Engine.V[shard.MetricConnectionAttempts])
			}
		})
	}
}
