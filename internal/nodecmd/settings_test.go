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
		var got *shardtorrent.Settings
		stop := errors.New("stop here")
		old := newSession
		newSession = func(_ context.Context, set shardtorrent.Settings) (*shardtorrent.Session, error) {
			got = &set
			return nil, stop
		}
		var out, errb bytes.Buffer
		code := Run(append([]string{"-listen", "off", "-data", t.TempDir()}, c.args...), &out, &errb)
		newSession = old
		if code != 1 || got == nil {
			t.Fatalf("%v: exit %d, session settings seen %v; stderr %q", c.args, code, got != nil, errb.String())
		}
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
