package shardtorrent

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/resume"
	"github.com/shardtorrent/shardtorrent/shard"
)

// TestPolicySurvivesRestart: a torrent's own rate limits, ratio and idle
// rules and auto-managed flag are saved in its resume data at Close and
// restored when a new session adds it from the resume directory; a
// torrent with nothing set comes back with nothing set.
func TestPolicySurvivesRestart(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	writeFiles(t, src, map[string]int{"a.bin": 100 << 10, "b.bin": 90 << 10})
	var mis []*metainfo.MetaInfo
	for _, name := range []string{"a.bin", "b.bin"} {
		_, mi, err := metainfo.Create(filepath.Join(src, name), metainfo.CreateOptions{PieceLength: 16 << 10})
		if err != nil {
			t.Fatal(err)
		}
		mis = append(mis, mi)
	}
	state := filepath.Join(t.TempDir(), "state")
	open := func() *Session {
		s, err := NewSession(ctx, Settings{ListenAddr: "off", Shards: 2, AlertMask: plugin.CategoryAll, ResumeDir: state})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	var hs []*Torrent
	for _, mi := range mis {
		h, err := s.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src})
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	set := hs[0]
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(set.SetUploadLimit(ctx, LimitTo(50_000)))
	must(set.SetDownloadLimit(ctx, LimitTo(0)))
	must(set.SetRatioLimit(ctx, shard.RatioOwn, 1.5))
	must(set.SetIdleLimit(ctx, shard.IdleOwn, 10*time.Minute))
	must(set.SetAutoManaged(ctx, false))
	must(s.Close(ctx))

	st, err := resume.OpenStore(state)
	must(err)
	ds, errs := st.LoadAll()
	if len(errs) > 0 || len(ds) != 2 {
		t.Fatalf("store after Close: %d resume files, errors %v", len(ds), errs)
	}
	s = open()
	defer s.Close(ctx)
	byHash := map[[20]byte]*Torrent{}
	for _, d := range ds {
		p, err := ParamsFromResume(d)
		must(err)
		h, err := s.AddTorrent(ctx, p)
		must(err)
		byHash[h.key] = h
	}
	got, plain := byHash[set.key], byHash[hs[1].key]
	up, down, err := got.Limits(ctx)
	must(err)
	if v, ok := up.Value(); !ok || v != 50_000 {
		t.Errorf("upload limit %v after restart, want 50000", up)
	}
	if v, ok := down.Value(); !ok || v != 0 {
		t.Errorf("download limit %v after restart, want an explicit 0", down)
	}
	if m, r, err := got.RatioLimit(ctx); err != nil || m != shard.RatioOwn || r != 1.5 {
		t.Errorf("ratio rule %v %v (%v), want own 1.5", m, r, err)
	}
	if m, d, err := got.IdleLimit(ctx); err != nil || m != shard.IdleOwn || d != 10*time.Minute {
		t.Errorf("idle rule %v %v (%v), want own 10m", m, d, err)
	}
	if am, err := got.AutoManaged(ctx); err != nil || am {
		t.Errorf("auto-managed %v (%v) after restart, want false", am, err)
	}
	up, down, err = plain.Limits(ctx)
	must(err)
	if !up.IsUnlimited() || !down.IsUnlimited() {
		t.Errorf("untouched torrent's limits %v %v, want unlimited", up, down)
	}
	if m, _, _ := plain.RatioLimit(ctx); m != shard.RatioGlobal {
		t.Errorf("untouched torrent's ratio mode %v", m)
	}
	if am, _ := plain.AutoManaged(ctx); !am {
		t.Errorf("untouched torrent not auto-managed after restart")
	}
}

// TestOldResumeStaysAutoManaged: resume data of ours from before the
// policy keys (auto_managed always 0) re-adds the torrent auto-managed.
func TestOldResumeStaysAutoManaged(t *testing.T) {
	p, err := ParamsFromResume(&resume.Data{InfoHash: metainfo.InfoHash{V1: [20]byte{1}}})
	if err != nil {
		t.Fatal(err)
	}
	if p.NotAutoManaged {
		t.Fatal("old resume data (no policy keys) re-added not auto-managed")
	}
	p, _ = ParamsFromResume(&resume.Data{InfoHash: metainfo.InfoHash{V1: [20]byte{1}}, Policy: true})
	if !p.NotAutoManaged {
		t.Fatal("policy data saying auto_managed 0 re-added auto-managed")
	}
}

// TestSeedLimitRemoves: with SeedLimitAction remove (or remove-data), a
// torrent at its seed-time limit leaves the session as Torrent.Remove
// would: the registry and the queue forget it (FindTorrent says gone, the
// same torrent can be added again), its resume file is deleted, a
// TorrentRemovedAlert is posted, and its files go only with remove-data.
func TestSeedLimitRemoves(t *testing.T) {
	for _, action := range []shard.SeedLimitAction{shard.SeedLimitRemove, shard.SeedLimitRemoveData} {
		t.Run(action.String(), func(t *testing.T) {
			ctx := context.Background()
			src := t.TempDir()
			writeFiles(t, src, map[string]int{"x.bin": 60 << 10})
			_, mi, err := metainfo.Create(filepath.Join(src, "x.bin"), metainfo.CreateOptions{PieceLength: 16 << 10})
			if err != nil {
				t.Fatal(err)
			}
			state := filepath.Join(t.TempDir(), "state")
			s, err := NewSession(ctx, Settings{ListenAddr: "off", Shards: 2, AlertMask: plugin.CategoryAll, ResumeDir: state,
				Engine: shard.Settings{SeedTimeLimit: time.Second, SeedLimitAction: action}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(ctx)
			h, err := s.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src})
			if err != nil {
				t.Fatal(err)
			}
			// Until the seed-limit alert and, with remove-data, the
			// deletion (which a disk worker may finish first).
			var reached *plugin.SeedLimitReachedAlert
			deleted := false
			seen := waitAlert(t, s, 10*time.Second, func(a plugin.Alert) bool {
				switch a := a.(type) {
				case *plugin.SeedLimitReachedAlert:
					reached = a
				case *plugin.TorrentDeletedAlert:
					deleted = true
				}
				return reached != nil && (deleted || action != shard.SeedLimitRemoveData)
			})
			if reached.Action != action || reached.Reason != "seed time" {
				t.Fatalf("alert %+v, want seed time with %v", reached, action)
			}
			removed := false
			for _, a := range seen {
				if _, ok := a.(*plugin.TorrentRemovedAlert); ok {
					removed = true
				}
			}
			if !removed {
				t.Fatal("no TorrentRemovedAlert with the seed-limit alert")
			}
			if _, err := s.FindTorrent(ctx, h.key); err != ErrTorrentGone {
				t.Fatalf("FindTorrent after the removal: %v, want ErrTorrentGone", err)
			}
			if _, err := h.QueuePosition(ctx); err != ErrTorrentGone {
				t.Fatalf("QueuePosition after the removal: %v, want ErrTorrentGone", err)
			}
			if action == shard.SeedLimitRemoveData {
				if _, err := os.Stat(filepath.Join(src, "x.bin")); !os.IsNotExist(err) {
					t.Fatalf("remove-data left the file: %v", err)
				}
				return
			}
			if _, err := os.Stat(filepath.Join(src, "x.bin")); err != nil {
				t.Fatalf("remove deleted the file: %v", err)
			}
			if _, err := s.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src, Paused: true}); err != nil {
				t.Fatalf("adding the removed torrent again: %v", err)
			}
			if err := s.Close(ctx); err != nil {
				t.Fatal(err)
			}
			st, err := resume.OpenStore(state)
			if err != nil {
				t.Fatal(err)
			}
			// The re-added torrent (paused) is saved at Close; the removed
			// one's file was deleted before: one file, paused.
			ds, _ := st.LoadAll()
			if len(ds) != 1 || !ds[0].Paused {
				t.Fatalf("%d resume files after Close, want the re-added one only", len(ds))
			}
		})
	}
}

// TestSetAutoManagedUnlimited: without queue limits (no queue runs),
// SetAutoManaged(true) on a torrent paused by hand starts it at once and
// leaves it auto-managed; SetAutoManaged(false) leaves a running torrent
// running.
func TestSetAutoManagedUnlimited(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	writeFiles(t, src, map[string]int{"u.bin": 40 << 10})
	_, mi, err := metainfo.Create(filepath.Join(src, "u.bin"), metainfo.CreateOptions{PieceLength: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(ctx, Settings{ListenAddr: "off", Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	h, err := s.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src, Paused: true})
	if err != nil {
		t.Fatal(err)
	}
	state := func() (paused, managed bool) {
		t.Helper()
		st, err := h.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		am, err := h.AutoManaged(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.Paused, am
	}
	if p, m := state(); !p || m {
		t.Fatalf("added paused: paused %v, auto-managed %v", p, m)
	}
	if err := h.SetAutoManaged(ctx, true); err != nil {
		t.Fatal(err)
	}
	if p, m := state(); p || !m {
		t.Fatalf("SetAutoManaged(true): paused %v, auto-managed %v; want running and managed", p, m)
	}
	if err := h.SetAutoManaged(ctx, false); err != nil {
		t.Fatal(err)
	}
	if p, m := state(); p || m {
		t.Fatalf("SetAutoManaged(false): paused %v, auto-managed %v; want running, not managed", p, m)
	}
}

// TestSeedLimitPauseFreesQueueSlot: a torrent a seed limit pauses leaves
// the queue, and the queue gives its slot to the next torrent at once,
// not at the next AutoManageInterval.
func TestSeedLimitPauseFreesQueueSlot(t *testing.T) {
	ctx := context.Background()
	set := Settings{ListenAddr: "off", Shards: 2, Pool: bufpool.New(), AlertMask: plugin.CategoryAll,
		ActiveSeeds: LimitTo(1), AutoManageInterval: time.Hour}
	set.Engine.SeedTimeLimit = time.Second
	set.Engine.AutoManageInactiveTime = time.Hour // nothing is slow here
	s, err := NewSession(ctx, set)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	dir := t.TempDir()
	var hs []*Torrent
	for _, mi := range batchTorrents(t, dir, 2) {
		h, err := s.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: dir, SeedMode: true})
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	var limited, resumed bool
	waitAlert(t, s, 20*time.Second, func(a plugin.Alert) bool {
		switch a := a.(type) {
		case *plugin.SeedLimitReachedAlert:
			limited = limited || a.InfoHash == hs[0].InfoHash()
		case *plugin.TorrentResumedAlert:
			resumed = resumed || (limited && a.InfoHash == hs[1].InfoHash())
		}
		return resumed
	})
}
