package metrics_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/metrics"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/wire"
)

// scrape serves one request to h and parses the text exposition.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body.String())
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parsing the exposition: %v", err)
	}
	return fams
}

// value returns the value of the unlabelled (or first) sample of name.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string) float64 {
	t.Helper()
	return labelled(t, fams, name, "", "")
}

// labelled returns the value of name's sample with label=lv (any sample
// when label is empty).
func labelled(t *testing.T, fams map[string]*dto.MetricFamily, name, label, lv string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("metric %s missing", name)
	}
	for _, m := range f.Metric {
		if label != "" {
			found := false
			for _, l := range m.Label {
				if l.GetName() == label && l.GetValue() == lv {
					found = true
				}
			}
			if !found {
				continue
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("metric %s has no sample with %s=%q", name, label, lv)
	return 0
}

func newSession(t *testing.T, shards int) *shardtorrent.Session {
	t.Helper()
	s, err := shardtorrent.NewSession(context.Background(), shardtorrent.Settings{
		ListenAddr: "127.0.0.1:0", Shards: shards, AlertMask: plugin.CategoryAll,
		DisableDHT: true, Tracker: shardtorrent.TrackerSettings{Disable: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		delete(pending, s)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

// makeTorrent writes size pseudo-random bytes and makes a torrent of them.
func makeTorrent(t *testing.T, size int, pieceLen int64) (*metainfo.MetaInfo, string) {
	t.Helper()
	dir := t.TempDir()
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(size), 3))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	p := filepath.Join(dir, "data.bin")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, mi, err := metainfo.Create(p, metainfo.CreateOptions{PieceLength: pieceLen})
	if err != nil {
		t.Fatal(err)
	}
	return mi, dir
}

// pending holds alerts popped but not yet matched, per session, so a
// later waitAlert still sees an alert that came in the same batch as an
// earlier match.
var pending = map[*shardtorrent.Session][]plugin.Alert{}

// waitAlert takes alerts until match holds (or fails after d); the
// alerts after the match stay for the next call. Test goroutine only.
func waitAlert(t *testing.T, s *shardtorrent.Session, d time.Duration, match func(plugin.Alert) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		q := append(pending[s], s.PopAlerts()...)
		for i, a := range q {
			if match(a) {
				pending[s] = q[i+1:]
				return
			}
		}
		pending[s] = nil
		if err := s.WaitForAlert(ctx); err != nil {
			t.Fatalf("alert not seen within %v", d)
		}
	}
}

func seedTorrent(t *testing.T, s *shardtorrent.Session, mi *metainfo.MetaInfo, dir string) {
	t.Helper()
	if _, err := s.AddTorrent(context.Background(), shardtorrent.AddTorrentParams{MetaInfo: mi, SavePath: dir}); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, s, 20*time.Second, func(a plugin.Alert) bool {
		sc, ok := a.(*plugin.StateChangedAlert)
		return ok && sc.To == plugin.StateSeeding
	})
}

// rawLeecher is a BitTorrent peer under the test's control: it asks for
// one block at a time, so the test scrapes the seeder between blocks,
// while the transfer runs.
type rawLeecher struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, s *shardtorrent.Session, ih [20]byte) *rawLeecher {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.ListenAddr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	hs := wire.Handshake{InfoHash: ih}
	hs.Reserved.SetFast()
	copy(hs.PeerID[:], "-XX0000-metricstest1")
	msg := wire.AppendHandshake(nil, &hs)
	msg = wire.AppendSimple(msg, wire.HaveNone)
	msg = wire.AppendSimple(msg, wire.Interested)
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	l := &rawLeecher{t: t, c: c, r: bufio.NewReader(c)}
	var got [wire.HandshakeLen]byte
	if _, err := io.ReadFull(l.r, got[:]); err != nil {
		t.Fatalf("reading the seeder's handshake: %v", err)
	}
	for l.next() != wire.Unchoke {
	}
	return l
}

// next reads one message and returns its id (keep-alives are skipped).
func (l *rawLeecher) next() wire.MessageID {
	l.t.Helper()
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(l.r, hdr[:]); err != nil {
			l.t.Fatalf("reading from the seeder: %v", err)
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 {
			continue
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(l.r, body); err != nil {
			l.t.Fatalf("reading from the seeder: %v", err)
		}
		return wire.MessageID(body[0])
	}
}

// block requests one block and reads until its piece message arrived.
func (l *rawLeecher) block(piece, begin uint32) {
	l.t.Helper()
	if _, err := l.c.Write(wire.AppendRequest(nil, piece, begin, wire.BlockSize)); err != nil {
		l.t.Fatal(err)
	}
	for l.next() != wire.Piece {
	}
}

// TestScrapeCountsServedBlocks scrapes a seeder between the blocks a
// controlled peer downloads: byte, block, request and peer figures move
// by exactly what was served.
func TestScrapeCountsServedBlocks(t *testing.T) {
	s := newSession(t, 2)
	mi, dir := makeTorrent(t, 1<<20, 64<<10)
	seedTorrent(t, s, mi, dir)
	h := metrics.Handler(s)
	before := scrape(t, h)
	if v := value(t, before, "shardtorrent_blocks_sent_total"); v != 0 {
		t.Fatalf("blocks sent before any peer: %v", v)
	}
	if v := value(t, before, "shardtorrent_torrents"); v != 1 {
		t.Fatalf("shardtorrent_torrents = %v, want 1", v)
	}
	l := dialRaw(t, s, mi.InfoHash.Short())
	for i := 1; i <= 3; i++ {
		l.block(uint32(i), 0)
		f := scrape(t, h)
		checks := []struct {
			name string
			want float64
		}{
			{"shardtorrent_blocks_sent_total", float64(i)},
			{"shardtorrent_payload_sent_bytes_total", float64(i * wire.BlockSize)},
			{"shardtorrent_requests_received_total", float64(i)},
			{"shardtorrent_peers_connected", 1},
			{"shardtorrent_peers_up_interested", 1},
			{"shardtorrent_peers_up_unchoked", 1},
			{"shardtorrent_connections_incoming_total", 1},
			{"shardtorrent_incoming_accepted_total", 1},
		}
		for _, c := range checks {
			if got := value(t, f, c.name); got != c.want {
				t.Errorf("after %d blocks: %s = %v, want %v", i, c.name, got, c.want)
			}
		}
		// The seeder sent its handshake, have-all/bitfield, unchoke and
		// one 13-byte piece header per block at least.
		if got := value(t, f, "shardtorrent_protocol_sent_bytes_total"); got < float64(wire.HandshakeLen+i*13) {
			t.Errorf("after %d blocks: protocol bytes sent %v, too few", i, got)
		}
		if got, min := value(t, f, "shardtorrent_protocol_received_bytes_total"), float64(wire.HandshakeLen+i*17); got < min {
			t.Errorf("after %d blocks: protocol bytes received %v, want at least %v", i, got, min)
		}
		served := labelled(t, f, "shardtorrent_blocks_read_total", "source", "cache") + labelled(t, f, "shardtorrent_blocks_read_total", "source", "disk")
		if served != float64(i) {
			t.Errorf("after %d blocks: %v blocks read (cache + disk)", i, served)
		}
	}
	// The loop figures are there for every shard.
	f := scrape(t, h)
	for _, sh := range []string{"0", "1"} {
		_ = labelled(t, f, "shardtorrent_loop_busy_ratio", "shard", sh)
		_ = labelled(t, f, "shardtorrent_loop_iterations_total", "shard", sh)
	}
	if got := labelled(t, f, "shardtorrent_incoming_refused_total", "reason", "unknown_torrent"); got != 0 {
		t.Errorf("refused unknown torrent = %v before any such peer", got)
	}
	// A peer for a torrent we do not have is refused and counted.
	c, err := net.DialTimeout("tcp", s.ListenAddr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hs := wire.Handshake{InfoHash: [20]byte{9, 9, 9}}
	if _, err := c.Write(wire.AppendHandshake(nil, &hs)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("the refused connection did not close: %v", err)
	}
	waitAlert(t, s, 10*time.Second, func(a plugin.Alert) bool { _, ok := a.(*plugin.IncomingRefusedAlert); return ok })
	f = scrape(t, h)
	if got := labelled(t, f, "shardtorrent_incoming_refused_total", "reason", "unknown_torrent"); got != 1 {
		t.Errorf("refused unknown torrent = %v, want 1", got)
	}
}

// TestScrapeDuringTransfer runs a download between two sessions and
// scrapes both while it runs and after: download-side counters (pieces,
// blocks, disk writes) move while the transfer runs and end at exactly
// the torrent's figures, and no counter ever goes down.
func TestScrapeDuringTransfer(t *testing.T) {
	const size, pieceLen = 4 << 20, 64 << 10
	seeder, leecher := newSession(t, 1), newSession(t, 2)
	mi, dir := makeTorrent(t, size, pieceLen)
	seedTorrent(t, seeder, mi, dir)
	hs, hl := metrics.Handler(seeder), metrics.Handler(leecher)
	if _, err := leecher.AddTorrent(context.Background(), shardtorrent.AddTorrentParams{
		MetaInfo: mi, SavePath: t.TempDir(), Peers: []netip.AddrPort{seeder.ListenAddr()},
	}); err != nil {
		t.Fatal(err)
	}
	// While it runs: the first piece passed, so the leecher's counters
	// have moved.
	waitAlert(t, leecher, 30*time.Second, func(a plugin.Alert) bool { _, ok := a.(*plugin.PieceFinishedAlert); return ok })
	mid := scrape(t, hl)
	for _, name := range []string{
		"shardtorrent_pieces_passed_total", "shardtorrent_blocks_received_total",
		"shardtorrent_payload_received_bytes_total", "shardtorrent_requests_sent_total",
		"shardtorrent_connection_attempts_total", "shardtorrent_disk_written_bytes_total",
	} {
		if value(t, mid, name) == 0 {
			t.Errorf("%s is 0 while the transfer runs", name)
		}
	}
	waitAlert(t, leecher, 60*time.Second, func(a plugin.Alert) bool { _, ok := a.(*plugin.TorrentFinishedAlert); return ok })
	end := scrape(t, hl)
	np := float64(mi.Info.NumPieces())
	exact := []struct {
		name string
		want float64
	}{
		{"shardtorrent_pieces_passed_total", np},
		{"shardtorrent_pieces_failed_total", 0},
		{"shardtorrent_blocks_received_total", size / wire.BlockSize},
		{"shardtorrent_disk_written_bytes_total", size},
	}
	for _, c := range exact {
		if got := value(t, end, c.name); got != c.want {
			t.Errorf("leecher at the end: %s = %v, want %v", c.name, got, c.want)
		}
	}
	if got := value(t, end, "shardtorrent_payload_received_bytes_total"); got < size {
		t.Errorf("leecher received %v payload bytes, want at least %d", got, size)
	}
	if got := labelled(t, end, "shardtorrent_disk_job_duration_seconds", "kind", "write"); got != np {
		t.Errorf("leecher's write job histogram counts %v jobs, want %v", got, np)
	}
	// No counter went down between the two scrapes.
	for name, f := range mid {
		if !strings.HasPrefix(name, "shardtorrent_") || f.GetType() != dto.MetricType_COUNTER {
			continue
		}
		for i, m := range f.Metric {
			if e, ok := end[name]; ok && i < len(e.Metric) && len(e.Metric) == len(f.Metric) &&
				e.Metric[i].Counter.GetValue() < m.Counter.GetValue() {
				t.Errorf("%s went down: %v then %v", name, m.Counter.GetValue(), e.Metric[i].Counter.GetValue())
			}
		}
	}
	sf := scrape(t, hs)
	if got := value(t, sf, "shardtorrent_payload_sent_bytes_total"); got < size {
		t.Errorf("seeder sent %v payload bytes, want at least %d", got, size)
	}
	if got := value(t, sf, "shardtorrent_blocks_sent_total"); got < size/wire.BlockSize {
		t.Errorf("seeder sent %v blocks, want at least %d", got, size/wire.BlockSize)
	}
	// The Go and process collectors are mounted too.
	_ = value(t, sf, "go_goroutines")
}

// TestScrapeTrackerAndDHT: with the tracker client and the DHT on, their
// counters are exported; with them off, they are absent rather than zero.
func TestScrapeTrackerAndDHT(t *testing.T) {
	s, err := shardtorrent.NewSession(context.Background(), shardtorrent.Settings{
		ListenAddr: "127.0.0.1:0", Shards: 1, DHTBootstrap: []string{},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	f := scrape(t, metrics.Handler(s))
	for _, name := range []string{"shardtorrent_tracker_announces_total", "shardtorrent_tracker_requests_in_flight",
		"shardtorrent_dht_nodes", "shardtorrent_dht_queries_in_total", "process_cpu_seconds_total"} {
		_ = value(t, f, name)
	}
	off := scrape(t, metrics.Handler(newSession(t, 1)))
	for _, name := range []string{"shardtorrent_tracker_announces_total", "shardtorrent_dht_nodes"} {
		if _, ok := off[name]; ok {
			t.Errorf("%s exported with the tracker client and the DHT off", name)
		}
	}
}

// TestExpositionNames: every engine metric is exported, under its own
// name or as a labelled family's member; counters end in _total and
// nothing else does; every family has help.
func TestExpositionNames(t *testing.T) {
	f := scrape(t, metrics.Handler(newSession(t, 2)))
	for name, fam := range f {
		if !strings.HasPrefix(name, "shardtorrent_") {
			continue
		}
		if fam.GetHelp() == "" {
			t.Errorf("%s has no help", name)
		}
		isCounter := fam.GetType() == dto.MetricType_COUNTER
		if isCounter != strings.HasSuffix(name, "_total") {
			t.Errorf("%s: type %v, name ends in _total: %v", name, fam.GetType(), !isCounter)
		}
	}
	families := []struct{ name, label, value string }{
		{"shardtorrent_handshake_failures_total", "kind", "bad_protocol"},
		{"shardtorrent_handshake_failures_total", "kind", "info_hash"},
		{"shardtorrent_handshake_failures_total", "kind", "timeout"},
		{"shardtorrent_handshake_failures_total", "kind", "mse"},
		{"shardtorrent_handshake_failures_total", "kind", "self"},
		{"shardtorrent_mse_handshakes_total", "method", "rc4"},
		{"shardtorrent_mse_handshakes_total", "method", "plaintext"},
		{"shardtorrent_bans_total", "reason", "hash_failure"},
		{"shardtorrent_bans_total", "reason", "plugin"},
		{"shardtorrent_incoming_refused_total", "reason", "limit"},
		{"shardtorrent_incoming_refused_total", "reason", "banned"},
		{"shardtorrent_incoming_refused_total", "reason", "encryption_policy"},
		{"shardtorrent_peer_disconnects_total", "reason", "timeout"},
		{"shardtorrent_disk_job_duration_seconds", "kind", "read"},
		{"shardtorrent_torrents_by_state", "state", "seeding"},
	}
	for _, c := range families {
		_ = labelled(t, f, c.name, c.label, c.value)
	}
	for _, name := range []string{"shardtorrent_payload_sent_bytes_total", "shardtorrent_protocol_received_bytes_total",
		"shardtorrent_pieces_failed_total", "shardtorrent_peers_down_unchoked", "shardtorrent_peers_connecting",
		"shardtorrent_connection_attempts_total", "shardtorrent_disk_read_bytes_total", "shardtorrent_uptime_seconds"} {
		_ = value(t, f, name)
	}
}

// TestScrapeMSE: a download over MSE with RC4 forced both ways counts one
// outgoing RC4 handshake on the leecher and one incoming on the seeder.
func TestScrapeMSE(t *testing.T) {
	enc := func() shardtorrent.Settings {
		set := shardtorrent.Settings{
			ListenAddr: "127.0.0.1:0", Shards: 1, AlertMask: plugin.CategoryAll,
			DisableDHT: true, Tracker: shardtorrent.TrackerSettings{Disable: true},
		}
		set.Engine.InEncPolicy, set.Engine.OutEncPolicy, set.Engine.AllowedEncLevel =
			shardtorrent.EncForced, shardtorrent.EncForced, shardtorrent.EncLevelRC4
		return set
	}
	open := func() *shardtorrent.Session {
		s, err := shardtorrent.NewSession(context.Background(), enc())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { delete(pending, s); _ = s.Close(context.Background()) })
		return s
	}
	seeder, leecher := open(), open()
	mi, dir := makeTorrent(t, 256<<10, 64<<10)
	seedTorrent(t, seeder, mi, dir)
	if _, err := leecher.AddTorrent(context.Background(), shardtorrent.AddTorrentParams{
		MetaInfo: mi, SavePath: t.TempDir(), Peers: []netip.AddrPort{seeder.ListenAddr()},
	}); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, leecher, 60*time.Second, func(a plugin.Alert) bool { _, ok := a.(*plugin.TorrentFinishedAlert); return ok })
	for _, c := range []struct {
		s         *shardtorrent.Session
		direction string
	}{{leecher, "outgoing"}, {seeder, "incoming"}} {
		f := scrape(t, metrics.Handler(c.s))
		fam := f["shardtorrent_mse_handshakes_total"]
		for _, m := range fam.GetMetric() {
			var dir, method string
			for _, l := range m.Label {
				switch l.GetName() {
				case "direction":
					dir = l.GetValue()
				case "method":
					method = l.GetValue()
				}
			}
			want := 0.0
			if dir == c.direction && method == "rc4" {
				want = 1
			}
			if got := m.Counter.GetValue(); got != want {
				t.Errorf("%s side: mse_handshakes_total{direction=%q,method=%q} = %v, want %v", c.direction, dir, method, got, want)
			}
		}
	}
}
