package rpc_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/rpc"
)

// discardWriter is a ResponseWriter that keeps only the size and status,
// so a benchmark measures the handler, not a recorder's buffer.
type discardWriter struct {
	h    http.Header
	n    int
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// benchHandler is a handler over a session of n one-piece seed-mode
// torrents on two shards (the many scenario's shape).
func benchHandler(b *testing.B, n int) *rpc.Handler {
	b.Helper()
	s, err := shardtorrent.NewSession(context.Background(), shardtorrent.Settings{ListenAddr: "off", Shards: 2, Pool: bufpool.New(), DisableDHT: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close(context.Background()) })
	dir := b.TempDir()
	ps := make([]shardtorrent.AddTorrentParams, n)
	for i := range ps {
		var ih metainfo.InfoHash
		binary.LittleEndian.PutUint64(ih.V1[:], uint64(i)+1)
		name := fmt.Sprintf("s%05d.bin", i)
		info := &metainfo.Info{Name: name, PieceLength: 16 << 10, Pieces: make([]metainfo.HashV1, 1),
			Files: []metainfo.File{{Path: []string{name}, Length: 1000}}, TotalLength: 1000}
		ps[i] = shardtorrent.AddTorrentParams{Info: info, InfoHash: ih, SavePath: dir, SeedMode: true}
	}
	if _, errs := s.AddTorrents(context.Background(), ps); errs[0] != nil {
		b.Fatal(errs[0])
	}
	return rpc.New(&rpc.SessionBackend{S: s, Set: rpc.Settings{DownloadDir: dir}}, rpc.Config{})
}

// serve runs one request through h and checks it succeeded.
func serve(b *testing.B, h *rpc.Handler, w *discardWriter, body []byte) {
	req, _ := http.NewRequest(http.MethodPost, rpc.Path, bytes.NewReader(body))
	req.Header.Set(rpc.SessionIDHeader, h.SessionID())
	w.n, w.code = 0, 0
	h.ServeHTTP(w, req)
	if w.code != 0 && w.code != http.StatusOK {
		b.Fatalf("HTTP %d", w.code)
	}
}

// BenchmarkTorrentGetList10k is transmission-remote -l over 10,000
// torrents: one view round trip per shard, the JSON written into a
// pooled buffer.
func BenchmarkTorrentGetList10k(b *testing.B) {
	h := benchHandler(b, 10000)
	body, _ := json.Marshal(map[string]any{"method": "torrent-get", "arguments": map[string]any{"fields": remoteList}})
	w := &discardWriter{h: http.Header{}}
	serve(b, h, w, body) // first sight numbers every torrent
	b.ReportAllocs()
	for b.Loop() {
		serve(b, h, w, body)
	}
	b.ReportMetric(float64(w.n), "resp-bytes")
}

// BenchmarkTorrentGetListTable10k is the same in the table format.
func BenchmarkTorrentGetListTable10k(b *testing.B) {
	h := benchHandler(b, 10000)
	body, _ := json.Marshal(map[string]any{"method": "torrent-get", "arguments": map[string]any{"fields": remoteList, "format": "table"}})
	w := &discardWriter{h: http.Header{}}
	serve(b, h, w, body)
	b.ReportAllocs()
	for b.Loop() {
		serve(b, h, w, body)
	}
	b.ReportMetric(float64(w.n), "resp-bytes")
}

// BenchmarkSessionStats10k is session-stats over 10,000 torrents.
func BenchmarkSessionStats10k(b *testing.B) {
	h := benchHandler(b, 10000)
	body := []byte(`{"method":"session-stats"}`)
	w := &discardWriter{h: http.Header{}}
	serve(b, h, w, body)
	b.ReportAllocs()
	for b.Loop() {
		serve(b, h, w, body)
	}
}
