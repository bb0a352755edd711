//go:build interop

package interop

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/internal/refpeer"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// Streaming from a libtorrent 2.0.8 seeder (issue 14, part 3): a
// three-file torrent of 96 MiB in 256 KiB pieces, the seeder's upload
// limited so the whole torrent takes about 10 s. Our session opens a reader
// on the middle file, seeks into its middle and reads to its end; the bytes
// must equal the source and the first byte must arrive long before the
// torrent completes. PERF.md, "Streaming: time to first byte (issue 14)".
//
// With SHARDTORRENT_PERF=1, TestStreamBaselineLibtorrent downloads the same
// torrent without a reader and reports when the piece the reader starts at
// arrived (rarest first, random among equals), for comparison.
const (
	streamFileSize  = 32 << 20
	streamPieceSize = 256 << 10
	// streamRate is the seeder's upload limit, bytes/s: 96 MiB in ~8.4 s
	// once libtorrent's limiter has warmed up.
	streamRate = 12_000_000
	// streamFile is the middle file of the three.
	streamFile = 1
)

// streamTimes are measured from AddTorrent.
type streamTimes struct {
	connected time.Duration // the seeder's connection (PeerConnectedAlert)
	firstByte time.Duration // the reader's first byte, or the start piece passing (baseline)
	fileEnd   time.Duration // the reader's last byte
	complete  time.Duration // TorrentFinishedAlert
	// passed is when each piece passed (PieceFinishedAlert); read it after
	// the wait.
	passed map[int]time.Duration
}

// streamFixture starts the rate-limited libtorrent seeder of the 96 MiB
// torrent and returns it with the middle file's bytes.
func streamSeeder(t *testing.T, ctx context.Context) (fixture, *metainfo.MetaInfo, []byte, *refpeer.LTPeer) {
	t.Helper()
	dir := t.TempDir()
	f := makeFixture(t, dir, "stream", 0, map[string]int64{
		"a.bin": streamFileSize, "b.bin": streamFileSize, "c.bin": streamFileSize,
	}, streamPieceSize)
	mi, err := metainfo.Load(f.Torrent)
	if err != nil {
		t.Fatal(err)
	}
	if p := mi.Info.Files[streamFile].Path; p[len(p)-1] != "b.bin" {
		t.Fatalf("file %d is %v, want the middle file b.bin", streamFile, p)
	}
	src, err := os.ReadFile(filepath.Join(append([]string{f.SeedDir}, mi.Info.Files[streamFile].Path...)...))
	if err != nil {
		t.Fatal(err)
	}
	lt := ltSeed(t, ctx, f, freePorts(t, 1)[0], refpeer.LTOptions{UploadRateLimit: streamRate})
	return f, mi, src, lt
}

// streamDownload adds the torrent to a new session that dials the seeder
// and returns the handle, its save path, and a wait for the times the
// alerts give: connection, completion and (startPiece >= 0) the time
// startPiece passed.
func streamDownload(t *testing.T, ctx context.Context, mi *metainfo.MetaInfo, lt *refpeer.LTPeer, startPiece int) (*shardtorrent.Torrent, string, time.Time, func() streamTimes) {
	t.Helper()
	s, err := shardtorrent.NewSession(ctx, shardtorrent.Settings{ListenAddr: "127.0.0.1:0", Shards: 1, AlertMask: plugin.CategoryAll})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Close(cctx)
	})
	save := t.TempDir()
	start := time.Now()
	h, err := s.AddTorrent(ctx, shardtorrent.AddTorrentParams{MetaInfo: mi, SavePath: save,
		Peers: []netip.AddrPort{netip.MustParseAddrPort(lt.Addr())}})
	if err != nil {
		t.Fatal(err)
	}
	times := streamTimes{passed: map[int]time.Duration{}}
	var mu sync.Mutex // guards times.passed until the wait
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the alerts' times; ends with the torrent's completion
		defer wg.Done()
		for {
			for _, a := range s.PopAlerts() {
				switch a := a.(type) {
				case *plugin.PeerConnectedAlert:
					if times.connected == 0 {
						times.connected = time.Since(start)
					}
				case *plugin.PieceFinishedAlert:
					if a.Piece == startPiece {
						times.firstByte = time.Since(start)
					}
					mu.Lock()
					times.passed[a.Piece] = time.Since(start)
					mu.Unlock()
				case *plugin.TorrentFinishedAlert:
					times.complete = time.Since(start)
					return
				}
			}
			if s.WaitForAlert(ctx) != nil {
				return
			}
		}
	}()
	return h, save, start, func() streamTimes {
		wg.Wait()
		if times.complete == 0 {
			t.Fatal("the torrent did not complete")
		}
		return times
	}
}

func TestStreamFromLibtorrent(t *testing.T) {
	ctx := setup(t, 2*time.Minute)
	f, mi, src, lt := streamSeeder(t, ctx)
	h, save, start, wait := streamDownload(t, ctx, mi, lt, -1)
	// Open the last file now: its reader seeks once the middle file is read.
	last := h.NewFileReader(streamFile + 1)
	defer last.Close()
	if _, err := last.Seek(0, io.SeekEnd); err != nil {
		t.Fatal(err)
	}

	r := h.NewFileReader(streamFile)
	defer r.Close()
	mid := int64(len(src) / 2)
	if _, err := r.Seek(mid, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 0, len(src)-int(mid))
	buf := make([]byte, 64<<10)
	var firstByte time.Duration
	for {
		n, err := r.ReadContext(ctx, buf)
		if n > 0 && firstByte == 0 {
			firstByte = time.Since(start)
		}
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", len(got), err)
		}
	}
	fileEnd := time.Since(start)
	if !bytes.Equal(got, src[mid:]) {
		t.Fatalf("read %d bytes from the middle of %s to its end; they differ from the source", len(got), f.Name)
	}
	// A seek in the middle of the download: near the end of the last file.
	seekOff := int64(streamFileSize) * 7 / 8
	seekPiece := int((mi.Info.Files[streamFile+1].Offset + seekOff) / mi.Info.PieceLength)
	if _, err := last.Seek(seekOff, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	seekAt := time.Since(start)
	if _, err := io.ReadFull(last, buf[:1]); err != nil {
		t.Fatal(err)
	}
	seekByte := time.Since(start)
	times := wait()
	times.firstByte, times.fileEnd = firstByte, fileEnd
	f.verify(t, "our streaming session", save)
	before := "not yet downloaded"
	if at, ok := times.passed[seekPiece]; ok && at < seekAt {
		before = "already downloaded"
	}
	t.Logf("seek at %v to piece %d (%s): first byte after %v", seekAt.Round(time.Millisecond), seekPiece, before,
		(seekByte - seekAt).Round(time.Millisecond))
	t.Logf("libtorrent %s seeder at %d B/s, %d MiB in %d pieces of %d KiB, reader from the middle of the middle file: "+
		"connected %v, first byte %v (%v after the connection), end of the file (%d MiB read) %v, torrent complete %v",
		refpeer.LTVersion(), streamRate, mi.Info.TotalLength>>20, mi.Info.NumPieces(), streamPieceSize>>10,
		times.connected.Round(time.Millisecond), times.firstByte.Round(time.Millisecond),
		(times.firstByte - times.connected).Round(time.Millisecond), len(got)>>20,
		times.fileEnd.Round(time.Millisecond), times.complete.Round(time.Millisecond))
	if times.firstByte*4 > times.complete {
		t.Fatalf("first byte after %v, torrent complete after %v: want the first byte in the first quarter", times.firstByte, times.complete)
	}
}

// TestStreamBaselineLibtorrent is the comparison for PERF.md: the same
// download without a reader; when does the reader's start piece arrive?
func TestStreamBaselineLibtorrent(t *testing.T) {
	if os.Getenv("SHARDTORRENT_PERF") != "1" {
		t.Skip("SHARDTORRENT_PERF=1 runs it")
	}
	ctx := setup(t, 2*time.Minute)
	_, mi, src, lt := streamSeeder(t, ctx)
	piece := int((mi.Info.Files[streamFile].Offset + int64(len(src)/2)) / mi.Info.PieceLength)
	_, _, _, wait := streamDownload(t, ctx, mi, lt, piece)
	times := wait()
	t.Logf("no reader: piece %d (the reader's start) passed after %v (%v after the connection), torrent complete %v",
		piece, times.firstByte.Round(time.Millisecond), (times.firstByte - times.connected).Round(time.Millisecond),
		times.complete.Round(time.Millisecond))
}
