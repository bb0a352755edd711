package shardtorrent

import (
	"context"
	"errors"
	"io"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
)

// closedLimit is how long any call may take on a closed session.
const closedLimit = 10 * time.Millisecond

// noErrorResult lists the exported methods of Session and Torrent that
// have no error to return, with what they do after Close. Every other
// method must return ErrClosed. The test fails on a method that has no
// error result and is not listed, so a new method is classified on
// purpose.
var noErrorResult = map[string]string{
	// Session: fixed facts, and state readable after Close (SaveState
	// is what an application persists after closing).
	"Session.DHTAddr":      "the DHT's address (invalid once closed)",
	"Session.IPFilter":     "the filter last set",
	"Session.RateLimits":   "the limits last set",
	"Session.SeedLimits":   "the limits last set",
	"Session.QueueLimits":  "the limits last set",
	"Session.SaveState":    "the plugins' state, for the application to keep",
	"Session.PeerID":       "fixed",
	"Session.ListenAddr":   "fixed",
	"Session.NumShards":    "fixed",
	"Session.PopAlerts":    "what is still queued (the last alerts of the close)",
	"Session.Totals":       "the final totals",
	"Session.SetAlertMask": "no effect that matters: nothing is posted any more",
	"Session.PostAlert":    "queued, for PopAlerts; nothing else happens",
	"Session.AddExtension": "ignored",
	"Session.Torrent":      "nil, false",
	"Session.Settings":     "the settings in effect when it closed",
	"Session.SeedPolicy":   "the policy last set",
	// Torrent: fixed facts of the handle.
	"Torrent.InfoHash": "fixed",
	"Torrent.Name":     "fixed once the metadata is known",
	"Torrent.Shard":    "fixed",
	"Torrent.Info":     "the metadata, if it was known",
	"Torrent.GotInfo":  "the channel (closed if the metadata was known)",
	"Torrent.Post":     "fn is not run",
	// Readers: reading one returns ErrClosed (checked below).
	"Torrent.NewReader":     "a Reader whose reads return ErrClosed",
	"Torrent.NewFileReader": "a Reader whose reads return ErrClosed",
}

// closedArgs gives arguments where the zero value would be a caller's
// bug rather than a test of the closed session.
func closedArgs(name string, h *Torrent) []any {
	switch name {
	case "Session.PostAlert":
		return []any{&handleAlert{}}
	case "Session.AddExtension":
		return []any{plugin.Plugin(nil)}
	case "Session.AddTorrents":
		return []any{context.Background(), []AddTorrentParams{{InfoHash: metainfo.InfoHash{V1: metainfo.HashV1{3}}, SavePath: "/nonexistent"}}}
	case "Session.AddTorrent":
		return []any{context.Background(), AddTorrentParams{InfoHash: metainfo.InfoHash{V1: metainfo.HashV1{3}}, SavePath: "/nonexistent"}}
	case "Session.Torrent":
		return []any{h.InfoHash()}
	case "Session.FindTorrent":
		return []any{context.Background(), h.InfoHash().Short()}
	case "Torrent.Post":
		return []any{func(plugin.TorrentHandle) { panic("Post ran fn on a closed session") }}
	}
	return nil
}

// TestClosedSessionReturnsErrClosed: after Close, every exported method
// of Session and of a Torrent handle returns at once (within 10 ms), and
// every one that returns an error returns ErrClosed. The methods are found
// by reflection, so a new one is covered without editing the test.
func TestClosedSessionReturnsErrClosed(t *testing.T) {
	s := newTestSession(t, bufpool.New(), 2)
	ctx := context.Background()
	src := t.TempDir()
	writeFiles(t, src, map[string]int{"c.bin": 50_000})
	_, mi, err := metainfo.Create(src+"/c.bin", metainfo.CreateOptions{PieceLength: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.AddTorrent(ctx, AddTorrentParams{MetaInfo: mi, SavePath: src})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.AddTorrent(ctx, AddTorrentParams{InfoHash: metainfo.InfoHash{V1: metainfo.HashV1{5}}, SavePath: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// A call blocked before Close is released by it.
	waiting := make(chan error, 2)
	go func() { _, err := m.AwaitInfo(ctx); waiting <- err }()
	go func() { waiting <- s.WaitForAlert(ctx) }()
	s.PopAlerts()

	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case err := <-waiting:
			if !errors.Is(err, ErrClosed) {
				t.Errorf("call waiting across Close returned %v, want ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a call waiting across Close was not released")
		}
	}

	seen := map[string]bool{}
	for _, recv := range []any{s, h} {
		rv := reflect.ValueOf(recv)
		typ := rv.Type()
		for i := range typ.NumMethod() {
			meth := typ.Method(i)
			name := typ.Elem().Name() + "." + meth.Name
			seen[name] = true
			t.Run(name, func(t *testing.T) {
				args := argValues(t, meth.Type, closedArgs(name, h))
				out, took := callFastest(t, rv.Method(i), args)
				if took > closedLimit {
					t.Errorf("took %v after Close, limit %v", took, closedLimit)
				}
				errs := errorResults(out)
				if errs == nil {
					if _, ok := noErrorResult[name]; !ok {
						t.Errorf("has no error result and is not in noErrorResult: say what it does after Close")
					}
					return
				}
				if _, ok := noErrorResult[name]; ok {
					t.Errorf("returns an error but is listed in noErrorResult")
				}
				if len(errs) == 0 {
					t.Errorf("returned no error to check")
				}
				for _, err := range errs {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("returned %v after Close, want ErrClosed", err)
					}
				}
			})
		}
	}
	for _, r := range []*Reader{h.NewReader(), h.NewFileReader(0)} {
		start := time.Now()
		if _, err := r.Read(make([]byte, 10)); !errors.Is(err, ErrClosed) || time.Since(start) > time.Second {
			t.Errorf("reading after Close: %v after %v, want ErrClosed at once", err, time.Since(start))
		}
		if _, err := r.Seek(5, io.SeekStart); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("seeking after Close: %v", err)
		}
		_ = r.Close()
	}
	if got, ok := s.Torrent(h.InfoHash()); ok || got != nil {
		t.Errorf("Session.Torrent after Close = %v, %v", got, ok)
	}
	var stale []string
	for name := range noErrorResult {
		if !seen[name] {
			stale = append(stale, name)
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Errorf("noErrorResult lists methods that do not exist: %v", stale)
	}
}

// argValues builds a call's arguments: given ones first, then a
// context.Background for a Context and the zero value for anything else.
// A variadic parameter gets no values.
func argValues(t *testing.T, ft reflect.Type, given []any) []reflect.Value {
	t.Helper()
	n := ft.NumIn() - 1 // without the receiver
	if ft.IsVariadic() {
		n--
	}
	out := make([]reflect.Value, n)
	ctxType := reflect.TypeFor[context.Context]()
	for i := range n {
		in := ft.In(i + 1)
		switch {
		case i < len(given) && given[i] == nil:
			out[i] = reflect.Zero(in)
		case i < len(given):
			out[i] = reflect.ValueOf(given[i])
			if out[i].Type() != in {
				out[i] = out[i].Convert(in)
			}
		case in == ctxType:
			out[i] = reflect.ValueOf(context.Background())
		default:
			out[i] = reflect.Zero(in)
		}
	}
	return out
}

// callFastest calls fn three times and returns the results of the last
// call and the fastest call's duration (so that one descheduling of the
// test goroutine does not fail it); a call that does not return within a
// second fails the test.
func callFastest(t *testing.T, fn reflect.Value, args []reflect.Value) ([]reflect.Value, time.Duration) {
	t.Helper()
	best := time.Hour
	var out []reflect.Value
	for range 3 {
		type result struct {
			out  []reflect.Value
			took time.Duration
			pan  any
		}
		done := make(chan result, 1)
		go func() {
			defer func() {
				if v := recover(); v != nil {
					done <- result{pan: v}
				}
			}()
			start := time.Now()
			o := fn.Call(args)
			done <- result{out: o, took: time.Since(start)}
		}()
		select {
		case r := <-done:
			if r.pan != nil {
				t.Fatalf("panicked after Close: %v", r.pan)
			}
			out, best = r.out, min(best, r.took)
		case <-time.After(time.Second):
			t.Fatalf("blocked for over a second after Close")
		}
	}
	return out, best
}

// errorResults returns the error results of a call (an error, or every
// element of an []error), or nil if its type has none.
func errorResults(out []reflect.Value) []error {
	errType := reflect.TypeFor[error]()
	var errs []error
	found := false
	for _, v := range out {
		switch {
		case v.Type() == errType:
			found = true
			err, _ := v.Interface().(error)
			errs = append(errs, err)
		case v.Kind() == reflect.Slice && v.Type().Elem() == errType:
			found = true
			for j := range v.Len() {
				err, _ := v.Index(j).Interface().(error)
				errs = append(errs, err)
			}
		}
	}
	if !found {
		return nil
	}
	if errs == nil {
		errs = []error{}
	}
	return errs
}
