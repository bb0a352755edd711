//go:build interop

package interop

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/internal/crashpoint"
	"github.com/shardtorrent/shardtorrent/internal/refpeer"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/resume"
)

// Crash consistency (issue 11, part 9): our node downloads from a
// rate-limited libtorrent seeder with -state, is killed with SIGKILL at a
// chosen point, and is started again with the same -state. After the kill,
// every piece the resume file left behind marks present must hash right;
// after the restart the download must finish with the seed's bytes while
// fetching at most the pieces that resume file did not mark present.
const (
	crashSize  = 32 << 20
	crashPiece = 256 << 10
	// crashRate is the seeder's upload limit, bytes/s: a full download
	// takes about 17 s, so syncs (every 5 s, shard/durable.go) and resume
	// saves (every crashSaveEvery once a sync made pieces durable) happen
	// several times before the end.
	crashRate      = 2_000_000
	crashSaveEvery = "1s"
	// crashTimeout bounds the whole test (four kills and restarts).
	crashTimeout = 3 * time.Minute
)

// crashCase is one kill point: a crash point armed in the node (the
// node kills itself there) or, with point empty, a SIGKILL from the test
// once the status line shows at least killAt progress.
type crashCase struct {
	name  string
	point string // SHARDTORRENT_CRASHPOINT value
	// killAt: with point empty, the progress (0..1) at which the test
	// kills the node; drawn at random when the test starts.
	killAt float64
	// wantSaved: the node must have saved resume data with at least one
	// piece before this point (otherwise the case proves little).
	wantSaved bool
	// clean: no kill; the first run completes and exits by itself (the
	// baseline: the restart must then fetch nothing).
	clean bool
}

func TestCrashConsistency(t *testing.T) {
	ctx := setup(t, crashTimeout)
	requireNode(t)
	seed := time.Now().UnixNano()
	if s := os.Getenv("SHARDTORRENT_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("SHARDTORRENT_CRASH_SEED: %v", err)
		}
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("random kill moments from seed %d (SHARDTORRENT_CRASH_SEED=%d repeats them)", seed, seed)

	dir := t.TempDir()
	f := makeFixture(t, dir, "crash.bin", crashSize, nil, crashPiece)
	mi, err := metainfo.Load(f.Torrent)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(f.SeedDir, f.Name))
	if err != nil {
		t.Fatal(err)
	}
	lt := ltSeed(t, ctx, f, freePorts(t, 1)[0], refpeer.LTOptions{UploadRateLimit: crashRate})

	np := mi.Info.NumPieces()
	cases := []crashCase{
		// A SIGKILL at a random moment of the transfer: some piece is
		// always partly received, some written but not yet synced.
		{name: "mid_piece", killAt: 0.45 + 0.4*rng.Float64()},
		// Just after a piece passed and was written, before any sync
		// covers it: late enough that earlier pieces were saved.
		{name: "piece_passed", point: fmt.Sprintf("piece-passed:%d", np*7/10), wantSaved: true},
		// A sync made pieces durable; the save that would record them
		// never happens.
		{name: "piece_synced", point: "piece-synced:3", wantSaved: true},
		// The second resume save: its temporary file is written and
		// synced, the rename is not done, so the first save stands.
		{name: "resume_save", point: "resume-save:2", wantSaved: true},
		// No crash: completion and exit save everything, so the restart
		// may fetch nothing at all.
		{name: "clean_exit", clean: true, wantSaved: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runCrashCase(t, ctx, c, f, mi, src, lt)
		})
	}
}

func runCrashCase(t *testing.T, ctx context.Context, c crashCase, f fixture, mi *metainfo.MetaInfo, src []byte, lt *refpeer.LTPeer) {
	base := t.TempDir()
	data, state := mkdir(t, base, "data"), filepath.Join(base, "state")
	report := filepath.Join(base, "report.json")
	args := []string{
		"-listen", loopback(freePorts(t, 1)[0]), "-data", data, "-state", state,
		"-resume-interval", crashSaveEvery, "-status", "200ms", "-dht=false",
		"-exit-when-complete", "-report", report, "-peer", lt.Addr(), f.Torrent,
	}
	upBefore := lt.LastStatus().TotalUpload

	// First run, to the kill.
	var env []string
	if c.point != "" {
		env = []string{crashpoint.Env + "=" + c.point}
	}
	first, err := refpeer.StartProcess(ctx, refpeer.ProcOptions{Name: "node-" + c.name, Path: nodeBin, Args: args, Env: env, Log: t.Output()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Stop() })
	var atKill float64
	if c.point == "" && !c.clean {
		line, err := first.WaitLineFunc(ctx, func(l string) bool {
			p, ok := statusProgress(l)
			return ok && p >= c.killAt
		}, fmt.Sprintf("a status line at %.1f%% or more", 100*c.killAt))
		if err != nil {
			t.Fatal(err)
		}
		atKill, _ = statusProgress(line)
		if err := syscall.Kill(first.Pid(), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	_, err = first.Wait(ctx)
	if c.clean {
		if err != nil {
			t.Fatalf("first run: %v", err)
		}
		atKill = 1
	} else if !killedBySIGKILL(err) {
		t.Fatalf("first run: want death by SIGKILL at %s, got %v", c.desc(), err)
	}
	if c.point != "" {
		// The last status line printed before the crash point fired.
		for _, l := range first.Output() {
			if p, ok := statusProgress(l); ok {
				atKill = p
			}
		}
	}

	// What the kill left: the resume file (if any) must claim only pieces
	// whose bytes hash right.
	rd := readCrashResume(t, state, mi)
	saved, savedBytes := 0, int64(0)
	if rd != nil {
		for i := range mi.Info.NumPieces() {
			if rd.Has(i) {
				saved++
				savedBytes += mi.Info.PieceSize(i)
			}
		}
		if bad := badPieces(t, data, mi, rd.Has); len(bad) > 0 {
			t.Fatalf("resume data marks %d pieces present that fail their hash: %v", len(bad), bad)
		}
	}
	onDisk := mi.Info.NumPieces() - len(badPieces(t, data, mi, func(int) bool { return true }))
	if c.wantSaved && saved == 0 {
		t.Fatalf("killed at %s with no saved piece: the case proves nothing (resume file present: %v)", c.desc(), rd != nil)
	}

	// Restart with the same state; it finishes from where the saved data
	// says, fetching at most what that data did not mark.
	second := startNode(t, ctx, "node-"+c.name+"-restart", args...)
	if _, err := second.Wait(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(data, f.Name))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, src) {
		t.Fatalf("after the restart the data differs from the seed's (%d pieces fail their hash)", len(badPieces(t, data, mi, func(int) bool { return true })))
	}
	// How the restart took the saved data (the node's own words, e.g.
	// "resumed 1 torrents (1 re-checked)": files written after the last
	// save have a newer mtime, so the torrent is checked again).
	resumedLine := "no resume line"
	for _, l := range second.Output() {
		if strings.Contains(l, "resumed ") {
			resumedLine = strings.TrimSpace(l)
		}
	}
	rep := readCrashReport(t, report)
	allowed := mi.Info.TotalLength - savedBytes
	refetched := (rep.BytesDown + int64(mi.Info.PieceLength) - 1) / int64(mi.Info.PieceLength)
	t.Logf("%s: first run ended at %.1f%%; %d of %d pieces on disk, %d in the saved resume data; restart (%s) fetched %d bytes (~%d pieces), allowed %d bytes (%d pieces); libtorrent uploaded %d bytes over both runs",
		c.desc(), 100*atKill, onDisk, mi.Info.NumPieces(), saved, resumedLine, rep.BytesDown, refetched, allowed, mi.Info.NumPieces()-saved, lt.LastStatus().TotalUpload-upBefore)
	if rep.BytesDown > allowed {
		t.Fatalf("the restart fetched %d bytes, more than the %d the saved resume data left missing: a durable, saved piece was downloaded twice", rep.BytesDown, allowed)
	}
	if rd := readCrashResume(t, state, mi); rd == nil || !allHave(rd, mi.Info.NumPieces()) {
		t.Errorf("after completion the state directory's resume data does not mark every piece present")
	}
}

func (c crashCase) desc() string {
	if c.clean {
		return "clean exit at completion"
	}
	if c.point != "" {
		return "crash point " + c.point
	}
	return fmt.Sprintf("SIGKILL at %.1f%%", 100*c.killAt)
}

var progressRE = regexp.MustCompile(` downloading ([0-9.]+)%`)

// statusProgress reads a torrent's progress from the node's status line.
func statusProgress(line string) (float64, bool) {
	m := progressRE.FindStringSubmatch(line)
	if m == nil {
		return 0, false
	}
	p, err := strconv.ParseFloat(m[1], 64)
	return p / 100, err == nil
}

func killedBySIGKILL(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// readCrashResume decodes the torrent's resume file in the state
// directory, or returns nil if there is none.
func readCrashResume(t *testing.T, state string, mi *metainfo.MetaInfo) *resume.Data {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(state, mi.InfoHash.V1.String()+".fastresume"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	d, err := resume.Decode(b)
	if err != nil {
		t.Fatalf("the resume file left by the kill does not decode: %v", err)
	}
	if d.InfoHash.V1 != mi.InfoHash.V1 {
		t.Fatalf("the resume file is for %s, want %s", d.InfoHash, mi.InfoHash)
	}
	if len(d.Pieces) != mi.Info.NumPieces() {
		t.Fatalf("the resume file has %d piece entries, want %d", len(d.Pieces), mi.Info.NumPieces())
	}
	return d
}

// badPieces re-hashes the pieces for which check is true, reading the
// single-file torrent's data under dir, and returns those that do not
// match the .torrent (a missing or short file fails its pieces).
func badPieces(t *testing.T, dir string, mi *metainfo.MetaInfo, check func(int) bool) []int {
	t.Helper()
	fh, err := os.Open(filepath.Join(dir, mi.Info.Name))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if fh != nil {
		defer fh.Close()
	}
	var bad []int
	buf := make([]byte, mi.Info.PieceLength)
	for i := range mi.Info.NumPieces() {
		if !check(i) {
			continue
		}
		b := buf[:mi.Info.PieceSize(i)]
		if fh == nil {
			bad = append(bad, i)
			continue
		}
		if _, err := fh.ReadAt(b, int64(i)*mi.Info.PieceLength); err != nil {
			if err != io.EOF {
				t.Fatal(err)
			}
			bad = append(bad, i)
			continue
		}
		if metainfo.HashV1(sha1.Sum(b)) != mi.Info.Pieces[i] {
			bad = append(bad, i)
		}
	}
	return bad
}

func allHave(d *resume.Data, n int) bool {
	for i := range n {
		if !d.Has(i) {
			return false
		}
	}
	return true
}

// crashReport is the part of the node's -report JSON the test reads
// (internal/nodecmd.Report).
type crashReport struct {
	Final     bool  `json:"final"`
	BytesDown int64 `json:"bytes_down"`
}

func readCrashReport(t *testing.T, path string) crashReport {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r crashReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if !r.Final {
		t.Fatalf("%s is not the final report", path)
	}
	return r
}
