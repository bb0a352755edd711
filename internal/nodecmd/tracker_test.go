package nodecmd

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/shardtorrent/shardtorrent"
)

// TestTrackerFlag: -tracker is repeatable and reaches Settings.Trackers;
// a URL we cannot announce to is refused with one line.
func TestTrackerFlag(t *testing.T) {
	var got *shardtorrent.Settings
	old := newSession
	defer func() { newSession = old }()
	newSession = func(_ context.Context, set shardtorrent.Settings) (*shardtorrent.Session, error) {
		got = &set
		return nil, errors.New("stop here")
	}
	var out, errb bytes.Buffer
	Run([]string{"-listen", "off", "-data", t.TempDir(), "-tracker", "http://127.0.0.1:1/announce", "-tracker", "udp://127.0.0.1:2"}, &out, &errb)
	if got == nil || !slices.Equal(got.Trackers, []string{"http://127.0.0.1:1/announce", "udp://127.0.0.1:2"}) {
		t.Fatalf("settings %+v; stderr %q", got, errb.String())
	}
	errb.Reset()
	if code := Run([]string{"-listen", "off", "-data", t.TempDir(), "-tracker", "ftp://x/"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "-tracker") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}
