package nodecmd

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/shardtorrent/shardtorrent"
)

// TestSettingsFlags: the node's flags reach the session settings: the
// built-in extensions (on by default, all off with
// -builtin-extensions=false), smart_ban, direct writes and suggest mode.
func TestSettingsFlags(t *testing.T) {
	type want struct{ smartBan, builtins, direct, suggest bool }
	cases := []struct {
		args []string
		want want
	}{
		{nil, want{smartBan: true, builtins: true, direct: true}},
		{[]string{"-smart-ban=false"}, want{builtins: true, direct: true}},
		{[]string{"-smart-ban"}, want{smartBan: true, builtins: true, direct: true}},
		{[]string{"-builtin-extensions=false"}, want{direct: true}},
		{[]string{"-direct-writes=false", "-suggest-read-cache"}, want{smartBan: true, builtins: true, suggest: true}},
	}
	for _, c := range cases {
		got := sessionSettings(t, c.args...)
		builtins := !got.DisableUTMetadata && !got.DisablePEX && !got.DisableDontHave && !got.DisableUploadOnly
		if !builtins && (!got.DisableUTMetadata || !got.DisablePEX || !got.DisableDontHave || !got.DisableUploadOnly) {
			t.Errorf("%v: built-ins partly off: %+v", c.args, got)
		}
		g := want{got.SmartBan, builtins, got.Engine.DirectWrites, got.Engine.SuggestReadCache}
		if g != c.want {
			t.Errorf("%v: got %+v, want %+v", c.args, g, c.want)
		}
	}
}

// sessionSettings runs the node with args (plus -listen off and a fresh
// -data) and returns the Settings it would start its session with; the
// session itself is never started. It fails the test unless the node got
// that far.
func sessionSettings(t *testing.T, args ...string) *shardtorrent.Settings {
	t.Helper()
	var got *shardtorrent.Settings
	old := newSession
	defer func() { newSession = old }()
	newSession = func(_ context.Context, set shardtorrent.Settings) (*shardtorrent.Session, error) {
		got = &set
		return nil, errors.New("stop here")
	}
	var out, errb bytes.Buffer
	code := Run(append([]string{"-listen", "off", "-data", t.TempDir()}, args...), &out, &errb)
	if code != 1 || got == nil {
		t.Fatalf("%v: exit %d, session settings seen %v; stderr %q", args, code, got != nil, errb.String())
	}
	return got
}
