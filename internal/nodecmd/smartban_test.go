package nodecmd

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/shardtorrent/shardtorrent"
)

// TestSmartBanFlag: smart_ban is on in the node unless -smart-ban=false.
func TestSmartBanFlag(t *testing.T) {
	cases := []struct {
		args []string
		want bool
	}{
		{nil, true},
		{[]string{"-smart-ban=false"}, false},
		{[]string{"-smart-ban"}, true},
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
		if got.SmartBan != c.want {
			t.Errorf("%v: SmartBan=%v, want %v", c.args, got.SmartBan, c.want)
		}
	}
}
