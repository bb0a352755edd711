package nodecmd

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/shardtorrent/shardtorrent"
)

// TestDHTFlags: -dht (on by default) and -dht-bootstrap (repeatable,
// replacing the default routers) reach the session settings; a bad
// -dht-bootstrap is a usage error.
func TestDHTFlags(t *testing.T) {
	cases := []struct {
		args    []string
		disable bool
		boot    []string
	}{
		{nil, false, nil},
		{[]string{"-dht=false"}, true, nil},
		{[]string{"-dht-bootstrap", "127.0.0.1:7000", "-dht-bootstrap", "router.example:6881"}, false, []string{"127.0.0.1:7000", "router.example:6881"}},
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
			t.Fatalf("%v: exit %d; stderr %q", c.args, code, errb.String())
		}
		if got.DisableDHT != c.disable || !slices.Equal(got.DHTBootstrap, c.boot) || (c.boot == nil) != (got.DHTBootstrap == nil) {
			t.Fatalf("%v: DisableDHT %v DHTBootstrap %q", c.args, got.DisableDHT, got.DHTBootstrap)
		}
	}
	var out, errb bytes.Buffer
	if code := Run([]string{"-listen", "off", "-dht-bootstrap", "nohostport"}, &out, &errb); code != 2 {
		t.Fatalf("bad -dht-bootstrap: exit %d, stderr %q", code, errb.String())
	}
}
