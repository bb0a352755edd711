package nodecmd

import (
	"bytes"
	"slices"
	"testing"
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
		got := sessionSettings(t, c.args...)
		if got.DisableDHT != c.disable || !slices.Equal(got.DHTBootstrap, c.boot) || (c.boot == nil) != (got.DHTBootstrap == nil) {
			t.Fatalf("%v: DisableDHT %v DHTBootstrap %q", c.args, got.DisableDHT, got.DHTBootstrap)
		}
	}
	var out, errb bytes.Buffer
	if code := Run([]string{"-listen", "off", "-dht-bootstrap", "nohostport"}, &out, &errb); code != 2 {
		t.Fatalf("bad -dht-bootstrap: exit %d, stderr %q", code, errb.String())
	}
}
