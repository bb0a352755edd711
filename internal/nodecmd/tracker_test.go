package nodecmd

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// TestTrackerFlag: -tracker is repeatable and reaches Settings.Trackers;
// a URL we cannot announce to is refused with one line.
func TestTrackerFlag(t *testing.T) {
	got := sessionSettings(t, "-tracker", "http://127.0.0.1:1/announce", "-tracker", "udp://127.0.0.1:2")
	if !slices.Equal(got.Trackers, []string{"http://127.0.0.1:1/announce", "udp://127.0.0.1:2"}) {
		t.Fatalf("trackers %q", got.Trackers)
	}
	var out, errb bytes.Buffer
	if code := Run([]string{"-listen", "off", "-data", t.TempDir(), "-tracker", "ftp://x/"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "-tracker") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}
