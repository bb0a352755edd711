package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/shard"
	"github.com/shardtorrent/shardtorrent/storage"
)

// DefaultTimeout bounds how long one scrape waits for Session.Stats.
const DefaultTimeout = 2 * time.Second

const ns = "shardtorrent"

// Collector is a prometheus.Collector over a session. Safe from any
// goroutine.
type Collector struct {
	s *shardtorrent.Session
	// Timeout bounds each Collect's wait for Session.Stats; zero means
	// DefaultTimeout. Set it before registering the Collector.
	Timeout time.Duration

	// engine holds the Desc of every engine metric exported under its
	// own name; nil for those exported as one value of a labelled family
	// (groups).
	engine      [shard.NumMetrics]*prometheus.Desc
	groups      []*group
	disconnects *prometheus.Desc

	uptime, scrapeSeconds, torrentsByState *prometheus.Desc

	shardTorrents, shardPeers, loopBusy, loopIPS *prometheus.Desc
	loopBusySec, loopWaitSec, loopIters          *prometheus.Desc
	loopIn, loopOut, shardUpRate, shardDownRate  *prometheus.Desc
	accepted, refused, alertsDropped             *prometheus.Desc
	diskRead, diskWritten, diskLatency           *prometheus.Desc
	pluginSeconds, pluginCalls                   *prometheus.Desc
	trAnnounces, trAnnounceErrs, trScrapes       *prometheus.Desc
	trScrapeErrs, trPeers, trInFlight            *prometheus.Desc
	dhtGauges                                    [6]*prometheus.Desc
	dhtCounters                                  [11]*prometheus.Desc
	scrapeErr                                    *prometheus.Desc
}

// group is a labelled family made of engine counters: each member is one
// combination of the family's labels.
type group struct {
	desc    *prometheus.Desc
	members []member
}

type member struct {
	m      shard.Metric
	values []string
}

// groupSpecs are the engine counters exported as labelled families (the
// "by kind" figures); every other engine metric keeps its own name.
// incoming_refused_total is built apart: it adds the listening loop's
// refusals (Collect).
var groupSpecs = []struct {
	name, help string
	labels     []string
	members    []member
}{
	{"handshake_failures_total", "Peer handshakes that failed on a torrent's connection, by kind.", []string{"kind"}, []member{
		{shard.MetricHandshakeBadProtocol, []string{"bad_protocol"}},
		{shard.MetricHandshakeInfoHash, []string{"info_hash"}},
		{shard.MetricHandshakeTimeout, []string{"timeout"}},
		{shard.MetricHandshakeMSE, []string{"mse"}},
		{shard.MetricHandshakeSelf, []string{"self"}},
	}},
	{"mse_handshakes_total", "MSE handshakes that completed, by direction and negotiated method.", []string{"direction", "method"}, []member{
		{shard.MetricMSEOutgoingRC4, []string{"outgoing", "rc4"}},
		{shard.MetricMSEOutgoingPlaintext, []string{"outgoing", "plaintext"}},
		{shard.MetricMSEIncomingRC4, []string{"incoming", "rc4"}},
		{shard.MetricMSEIncomingPlaintext, []string{"incoming", "plaintext"}},
	}},
	{"bans_total", "Addresses banned, by reason: hash_failure (sole sender of a failed piece), plugin (TorrentHandle.BanPeer: smart_ban and others).", []string{"reason"}, []member{
		{shard.MetricBansHashFailure, []string{"hash_failure"}},
		{shard.MetricBansPlugin, []string{"plugin"}},
	}},
	{"blocks_read_total", "Blocks read to serve requests, by source: cache (page cache, on the event loop) or disk (a disk worker).", []string{"source"}, []member{
		{shard.MetricBlocksReadCache, []string{"cache"}},
		{shard.MetricBlocksReadDisk, []string{"disk"}},
	}},
}

// refusedInShard are the engine counters that join incoming_refused_total.
var refusedInShard = [...]struct {
	m      shard.Metric
	reason string
}{
	{shard.MetricRefusedConnLimit, "limit"},
	{shard.MetricRefusedBanned, "banned"},
	{shard.MetricRefusedUnknownTorrent, "unknown_torrent"},
}

// NewCollector returns a Collector over s.
func NewCollector(s *shardtorrent.Session) *Collector {
	c := &Collector{s: s}
	grouped := map[shard.Metric]bool{}
	for _, g := range groupSpecs {
		c.groups = append(c.groups, &group{desc: prometheus.NewDesc(ns+"_"+g.name, g.help, g.labels, nil), members: g.members})
		for _, mb := range g.members {
			grouped[mb.m] = true
		}
	}
	for _, r := range refusedInShard {
		grouped[r.m] = true
	}
	for m := range shard.NumMetrics {
		if grouped[m] {
			continue
		}
		name := m.Name()
		if !m.IsGauge() {
			name += "_total"
		}
		c.engine[m] = prometheus.NewDesc(ns+"_"+name, m.Help(), nil, nil)
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(ns+"_"+name, help, labels, nil)
	}
	c.disconnects = d("peer_disconnects_total", "Peer connections closed, by reason.", "reason")
	c.uptime = d("uptime_seconds", "Time since the session started.")
	c.scrapeSeconds = d("stats_duration_seconds", "Time Session.Stats took for this scrape.")
	c.torrentsByState = d("torrents_by_state", "Torrents by state (Session.Totals).", "state")
	c.shardTorrents = d("shard_torrents", "Torrents on the shard.", "shard")
	c.shardPeers = d("shard_peers", "Peer connections past the handshake on the shard.", "shard")
	c.shardUpRate = d("shard_upload_rate_bytes_per_second", "Payload upload rate of the shard's torrents.", "shard")
	c.shardDownRate = d("shard_download_rate_bytes_per_second", "Payload download rate of the shard's torrents.", "shard")
	c.loopBusy = d("loop_busy_ratio", "Share of wall time the shard's event loop ran callbacks rather than waiting in epoll_wait, over its last 1 s window.", "shard")
	c.loopIPS = d("loop_iterations_per_second", "Event loop iterations per second over its last 1 s window.", "shard")
	c.loopBusySec = d("loop_busy_seconds_total", "Time the event loop ran callbacks.", "shard")
	c.loopWaitSec = d("loop_wait_seconds_total", "Time the event loop waited in epoll_wait.", "shard")
	c.loopIters = d("loop_iterations_total", "Event loop iterations.", "shard")
	c.loopIn = d("loop_received_bytes_total", "Bytes the event loop read from its sockets.", "shard")
	c.loopOut = d("loop_sent_bytes_total", "Bytes the event loop wrote to its sockets.", "shard")
	c.accepted = d("incoming_accepted_total", "Incoming TCP connections accepted.")
	c.refused = d("incoming_refused_total", "Incoming connections refused, by reason: by the listening loop (bad_protocol, unknown_torrent, timeout, encryption_policy, mse, ip_filter, other) or by the torrent's loop (limit, banned, unknown_torrent: removed meanwhile).", "reason")
	c.alertsDropped = d("alerts_dropped_total", "Alerts dropped because the alert queue was full, by alert type.", "alert")
	c.diskRead = d("disk_read_bytes_total", "Bytes the disk workers read (block reads, hashing, checks).")
	c.diskWritten = d("disk_written_bytes_total", "Bytes the disk workers wrote.")
	c.diskLatency = d("disk_job_duration_seconds", "Time a disk worker spent on a job, by kind.", "kind")
	c.pluginSeconds = d("plugin_hook_seconds_total", "Estimated time spent in a plugin's hooks (one call in 64 timed, scaled).", "plugin", "hook")
	c.pluginCalls = d("plugin_hook_calls_total", "Calls of a plugin's hooks.", "plugin", "hook")
	c.trAnnounces = d("tracker_announces_total", "Tracker announces sent.")
	c.trAnnounceErrs = d("tracker_announce_errors_total", "Tracker announces that failed.")
	c.trScrapes = d("tracker_scrapes_total", "Tracker scrapes sent.")
	c.trScrapeErrs = d("tracker_scrape_errors_total", "Tracker scrapes that failed.")
	c.trPeers = d("tracker_peers_received_total", "Peers received in tracker replies.")
	c.trInFlight = d("tracker_requests_in_flight", "Tracker requests out now.")
	c.dhtGauges = [...]*prometheus.Desc{
		d("dht_nodes", "Nodes in the DHT routing table."),
		d("dht_good_nodes", "Good nodes in the DHT routing table."),
		d("dht_torrents", "Torrents the DHT looks up and announces."),
		d("dht_lookups_in_flight", "DHT lookups running."),
		d("dht_transactions", "DHT queries waiting for a reply."),
		d("dht_stored_peers", "Peers in the DHT peer store."),
	}
	c.dhtCounters = [...]*prometheus.Desc{
		d("dht_lookups_total", "DHT lookups finished."),
		d("dht_peers_found_total", "Distinct peers DHT lookups found."),
		d("dht_queries_in_total", "DHT queries handled."),
		d("dht_queries_dropped_total", "DHT queries dropped over a source's rate."),
		d("dht_malformed_total", "DHT packets that were not bencode."),
		d("dht_plugin_replies_total", "DHT queries answered by a session plugin."),
		d("dht_unknown_queries_total", "DHT queries of an unknown method."),
		d("dht_replies_dropped_total", "DHT replies dropped over the send rate."),
		d("dht_queries_out_total", "DHT queries sent."),
		d("dht_announces_in_total", "announce_peer queries that stored a peer."),
		d("dht_store_refused_total", "announce_peer queries refused by the store's limits."),
	}
	c.scrapeErr = d("stats_error", "Session.Stats failed during this scrape.")
	return c
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.engine {
		if d != nil {
			ch <- d
		}
	}
	for _, g := range c.groups {
		ch <- g.desc
	}
	for _, d := range []*prometheus.Desc{
		c.disconnects, c.uptime, c.scrapeSeconds, c.torrentsByState,
		c.shardTorrents, c.shardPeers, c.shardUpRate, c.shardDownRate, c.loopBusy, c.loopIPS,
		c.loopBusySec, c.loopWaitSec, c.loopIters, c.loopIn, c.loopOut,
		c.accepted, c.refused, c.alertsDropped, c.diskRead, c.diskWritten, c.diskLatency,
		c.pluginSeconds, c.pluginCalls, c.trAnnounces, c.trAnnounceErrs, c.trScrapes, c.trScrapeErrs,
		c.trPeers, c.trInFlight, c.scrapeErr,
	} {
		ch <- d
	}
	for _, d := range c.dhtGauges {
		ch <- d
	}
	for _, d := range c.dhtCounters {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one Session.Stats, bounded by
// Timeout.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	to := c.Timeout
	if to <= 0 {
		to = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), to)
	defer cancel()
	began := time.Now()
	st, err := c.s.Stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.scrapeErr, err)
		return
	}
	took := time.Since(began)
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for m := range shard.NumMetrics {
		switch {
		case c.engine[m] == nil:
		case m.IsGauge():
			gauge(c.engine[m], float64(st.Engine.V[m]))
		default:
			counter(c.engine[m], float64(st.Engine.V[m]))
		}
	}
	for _, g := range c.groups {
		for _, mb := range g.members {
			counter(g.desc, float64(st.Engine.V[mb.m]), mb.values...)
		}
	}
	for r := 1; r < shard.NumDisconnectReasons; r++ {
		counter(c.disconnects, float64(st.Engine.Disconnects[r]), shard.DisconnectReason(r).ReasonName())
	}
	gauge(c.uptime, st.Uptime.Seconds())
	gauge(c.scrapeSeconds, took.Seconds())
	t := &st.Totals
	for _, s := range [...]struct {
		name string
		n    int
	}{{"checking", t.Checking}, {"downloading", t.Downloading}, {"seeding", t.Seeding}, {"paused", t.Paused}, {"error", t.Errored}} {
		gauge(c.torrentsByState, float64(s.n), s.name)
	}
	for i := range st.Shards {
		sh := &st.Shards[i]
		id := strconv.Itoa(sh.ID)
		gauge(c.shardTorrents, float64(sh.Torrents), id)
		gauge(c.shardPeers, float64(sh.Peers), id)
		gauge(c.shardUpRate, float64(sh.UploadRate), id)
		gauge(c.shardDownRate, float64(sh.DownloadRate), id)
		gauge(c.loopBusy, sh.Busy, id)
		gauge(c.loopIPS, sh.IterationsPerSec, id)
		counter(c.loopBusySec, sh.BusyTime.Seconds(), id)
		counter(c.loopWaitSec, sh.WaitTime.Seconds(), id)
		counter(c.loopIters, float64(sh.Iterations), id)
		counter(c.loopIn, float64(sh.BytesIn), id)
		counter(c.loopOut, float64(sh.BytesOut), id)
	}
	in := &st.Incoming
	counter(c.accepted, float64(in.Accepted))
	for _, r := range [...]struct {
		name string
		n    uint64
	}{{"bad_protocol", in.BadProtocol}, {"unknown_torrent", in.UnknownTorrent + st.Engine.V[shard.MetricRefusedUnknownTorrent]},
		{"timeout", in.Timeout}, {"encryption_policy", in.EncryptionPolicy}, {"mse", in.MSE}, {"ip_filter", in.IPFilter}, {"other", in.Other},
		{"limit", st.Engine.V[shard.MetricRefusedConnLimit]}, {"banned", st.Engine.V[shard.MetricRefusedBanned]}} {
		counter(c.refused, float64(r.n), r.name)
	}
	for name, n := range st.AlertsDropped {
		counter(c.alertsDropped, float64(n), name)
	}
	counter(c.diskRead, float64(st.Disk.ReadBytes))
	counter(c.diskWritten, float64(st.Disk.WriteBytes))
	var bounds [storage.NumLatencyBuckets]float64
	for i := range bounds {
		bounds[i] = storage.LatencyBucketBound(i).Seconds()
	}
	for k := range storage.NumLatencyKinds {
		h := &st.Disk.Latency[k]
		buckets := make(map[float64]uint64, len(bounds))
		var cum uint64
		for i, b := range bounds {
			cum += h.Buckets[i]
			buckets[b] = cum
		}
		ch <- prometheus.MustNewConstHistogram(c.diskLatency, h.Count, h.Sum.Seconds(), buckets, k.String())
	}
	for _, p := range st.Plugins {
		counter(c.pluginSeconds, p.Time.Seconds(), p.Plugin, p.Hook)
		counter(c.pluginCalls, float64(p.Calls), p.Plugin, p.Hook)
	}
	if tr := st.Tracker; tr != nil {
		counter(c.trAnnounces, float64(tr.Announces))
		counter(c.trAnnounceErrs, float64(tr.AnnounceErrors))
		counter(c.trScrapes, float64(tr.Scrapes))
		counter(c.trScrapeErrs, float64(tr.ScrapeErrors))
		counter(c.trPeers, float64(tr.PeersReceived))
		gauge(c.trInFlight, float64(tr.InFlight))
	}
	if dh := st.DHT; dh != nil {
		for i, v := range [...]int{dh.Nodes, dh.GoodNodes, dh.Torrents, dh.LookupsInFlight, dh.Transactions, dh.StoredPeers} {
			gauge(c.dhtGauges[i], float64(v))
		}
		for i, v := range [...]int64{dh.Lookups, dh.PeersFound, dh.QueriesIn, dh.QueriesDropped, dh.Malformed,
			dh.PluginReplies, dh.UnknownQueries, dh.RepliesDropped, dh.QueriesOut, dh.AnnouncesIn, dh.StoreRefused} {
			counter(c.dhtCounters[i], float64(v))
		}
	}
}

// Registry returns a registry with a Collector over s and the Go runtime
// and process collectors.
func Registry(s *shardtorrent.Session) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(s), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves s's metrics in the Prometheus exposition formats
// (promhttp), with the Go runtime and process metrics. A scrape whose
// Session.Stats fails or times out still answers with what it could
// gather, and the error in shardtorrent_stats_error's place. Safe from
// any goroutine.
func Handler(s *shardtorrent.Session) http.Handler { return HandlerFor(Registry(s)) }

// HandlerFor serves reg (a Registry, to which the caller added its own
// collectors: the node adds its RPC guard's refusals) as Handler does.
// Safe from any goroutine.
func HandlerFor(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, Registry: reg})
}
