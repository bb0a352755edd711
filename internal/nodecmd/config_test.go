package nodecmd

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/shard"
)

// testFlags is a FlagSet with one flag of every kind the node uses.
type testFlags struct {
	fs     *flag.FlagSet
	listen *string
	on     *bool
	n      *int
	big    *int64
	ratio  *float64
	every  *time.Duration
	peers  multiFlag
}

func newTestFlags() *testFlags {
	f := &testFlags{fs: flag.NewFlagSet("t", flag.ContinueOnError)}
	f.fs.SetOutput(io.Discard)
	f.listen = f.fs.String("listen", "0.0.0.0:6881", "")
	f.on = f.fs.Bool("dht", true, "")
	f.n = f.fs.Int("shards", 0, "")
	f.big = f.fs.Int64("max-bytes", 0, "")
	f.ratio = f.fs.Float64("ratio", 0, "")
	f.every = f.fs.Duration("status", time.Second, "")
	f.fs.Var(&f.peers, "peer", "")
	f.fs.String(configFlag, "", "")
	return f
}

type flagValues struct {
	Listen string
	On     bool
	N      int
	Big    int64
	Ratio  float64
	Every  time.Duration
	Peers  []string
}

func (f *testFlags) values() flagValues {
	return flagValues{*f.listen, *f.on, *f.n, *f.big, *f.ratio, *f.every, []string(f.peers)}
}

// TestApplyConfig: every key sets its flag through the flag's own
// parser, the command line wins, and every bad file is refused naming the
// key.
func TestApplyConfig(t *testing.T) {
	defaults := newTestFlags().values()
	with := func(edit func(*flagValues)) flagValues {
		v := defaults
		edit(&v)
		return v
	}
	cases := []struct {
		name    string
		file    string
		args    []string
		want    flagValues
		wantErr string // substring of the one line; "" for success
		wantKey string // the key the error names
	}{
		{name: "empty file", file: "", want: defaults},
		{name: "comments only", file: "# nothing\n", want: defaults},
		{name: "every kind", file: `
listen = "127.0.0.1:7000"
dht = false
shards = 3
max-bytes = 10000000000
ratio = 1.5
status = "250ms"
peer = ["10.0.0.1:1", "10.0.0.2:2"]
`, want: flagValues{"127.0.0.1:7000", false, 3, 10_000_000_000, 1.5, 250 * time.Millisecond, []string{"10.0.0.1:1", "10.0.0.2:2"}}},
		{name: "repeatable flag as one string", file: `peer = "10.0.0.1:1"`,
			want: with(func(v *flagValues) { v.Peers = []string{"10.0.0.1:1"} })},
		{name: "integer for a float flag", file: `ratio = 2`, want: with(func(v *flagValues) { v.Ratio = 2 })},
		{name: "command line wins", file: "listen = \"127.0.0.1:7000\"\nshards = 3\n",
			args: []string{"-listen", "127.0.0.1:9"},
			want: with(func(v *flagValues) { v.Listen, v.N = "127.0.0.1:9", 3 })},
		{name: "command line replaces a list", file: `peer = ["10.0.0.1:1", "10.0.0.2:2"]`,
			args: []string{"-peer", "10.0.0.9:9"},
			want: with(func(v *flagValues) { v.Peers = []string{"10.0.0.9:9"} })},
		{name: "command line bool wins", file: "dht = true", args: []string{"-dht=false"},
			want: with(func(v *flagValues) { v.On = false })},

		{name: "unknown key", file: "listen = \"127.0.0.1:1\"\nlisten-port = 6881\n", wantKey: "listen-port", wantErr: "unknown key"},
		{name: "unknown table", file: "[rpc]\nport = 1\n", wantKey: "rpc", wantErr: "unknown key"},
		{name: "table for a flag", file: "[listen]\nport = 1\n", wantKey: "listen", wantErr: "want a string"},
		{name: "string for a bool", file: `dht = "no"`, wantKey: "dht", wantErr: "want true or false"},
		{name: "string for an int", file: `shards = "3"`, wantKey: "shards", wantErr: "want an integer"},
		{name: "float for an int", file: `shards = 1.5`, wantKey: "shards", wantErr: "want an integer"},
		{name: "int for a duration", file: `status = 1`, wantKey: "status", wantErr: `want a duration as a string, e.g. "1s"`},
		{name: "bad duration", file: `status = "soon"`, wantKey: "status", wantErr: `invalid value "soon": parse error`},
		{name: "number for a string", file: `listen = 6881`, wantKey: "listen", wantErr: "want a string"},
		{name: "list of numbers", file: `peer = [1, 2]`, wantKey: "peer", wantErr: "want a string or a list of strings"},
		{name: "list for a plain string", file: `listen = ["a", "b"]`, wantKey: "listen", wantErr: "want a string"},
		{name: "int overflow", file: `max-bytes = 9223372036854775807` + "\nshards = 99999999999999999999\n", wantErr: "toml: line 2"},
		{name: "config names another", file: `config = "/etc/other.toml"`, wantKey: "config", wantErr: "cannot name another"},
		{name: "bad TOML", file: "listen = \n", wantErr: "toml: line 1"},
		{name: "bad value even when overridden", file: `shards = "x"`, args: []string{"-shards", "2"}, wantKey: "shards", wantErr: "want an integer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "node.toml")
			if err := os.WriteFile(path, []byte(c.file), 0o644); err != nil {
				t.Fatal(err)
			}
			f := newTestFlags()
			if err := f.fs.Parse(c.args); err != nil {
				t.Fatal(err)
			}
			err := applyConfig(f.fs, path)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("applyConfig: %v", err)
				}
				if got := f.values(); !reflect.DeepEqual(got, c.want) {
					t.Fatalf("flags\n got %+v\nwant %+v", got, c.want)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v (%T), want a *ConfigError", err, err)
			}
			if ce.Key != c.wantKey || ce.File != path {
				t.Fatalf("error names key %q of %q, want %q of %q (%v)", ce.Key, ce.File, c.wantKey, path, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.wantErr) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q: want one line containing %q", msg, c.wantErr)
			}
			if c.wantKey != "" && !strings.Contains(msg, `key "`+c.wantKey+`"`) {
				t.Fatalf("error %q does not name key %q", msg, c.wantKey)
			}
		})
	}
}

// TestConfigMissingFile: a config file that cannot be read refuses the
// start, naming the file.
func TestConfigMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.toml")
	var out, errb bytes.Buffer
	if code := Run([]string{"-listen", "off", "-exit-when-complete", "-config", path}, &out, &errb); code != 2 {
		t.Fatalf("exit %d, want 2; stderr %q", code, errb.String())
	}
	if !strings.Contains(errb.String(), path) || strings.Count(errb.String(), "\n") != 1 {
		t.Fatalf("stderr %q: want one line naming %s", errb.String(), path)
	}
}

// TestNodeConfigExample loads docs/node.toml, the commented example, into
// the real node: it must parse against the node's flags, and its values
// must reach the session's settings, with the command line winning where
// both are given (-listen, -data, -state, -watch here, so the test touches
// no system paths).
func TestNodeConfigExample(t *testing.T) {
	example := filepath.Join("..", "..", "docs", "node.toml")
	got := sessionSettings(t, "-config", example, "-state", "off", "-watch", "", "-rpc", "off")
	if got.ListenAddr != "off" {
		t.Errorf("ListenAddr %q: the command line's -listen off should win", got.ListenAddr)
	}
	if want := []string{"udp://tracker.example.org:6969/announce"}; !reflect.DeepEqual(got.Trackers, want) {
		t.Errorf("Trackers %q, want %q", got.Trackers, want)
	}
	if got.ResumeSaveInterval != 5*time.Minute || got.ResumeDir != "" {
		t.Errorf("resume: interval %v dir %q, want 5m and none (-state off wins)", got.ResumeSaveInterval, got.ResumeDir)
	}
	if got.Engine.UnchokeSlots != 8 || got.Engine.InEncPolicy != shard.EncEnabled || got.DisableDHT || !got.SmartBan {
		t.Errorf("settings from the example: unchoke %d, enc %v, dht off %v, smart ban %v",
			got.Engine.UnchokeSlots, got.Engine.InEncPolicy, got.DisableDHT, got.SmartBan)
	}

	// The same example with a command-line override of a file value.
	got = sessionSettings(t, "-config", example, "-state", "off", "-watch", "", "-rpc", "off", "-unchoke-slots", "3", "-dht=false", "-tracker", "http://127.0.0.1:1/announce")
	if got.Engine.UnchokeSlots != 3 || !got.DisableDHT || !reflect.DeepEqual(got.Trackers, []string{"http://127.0.0.1:1/announce"}) {
		t.Errorf("command line did not win: unchoke %d, dht off %v, trackers %q", got.Engine.UnchokeSlots, got.DisableDHT, got.Trackers)
	}
}

// TestNodeRefusesBadConfig: through the real node, an unknown key or a
// bad value is exit 2 with one line naming the key, before anything
// starts.
func TestNodeRefusesBadConfig(t *testing.T) {
	cases := []struct{ file, want string }{
		{"listen-port = 6881\n", `key "listen-port": unknown key`},
		{"status = \"often\"\n", `key "status": invalid value "often"`},
		{"encryption = \"always\"\n", `-encryption: settings: unknown encryption policy "always"`},
		{"peer = [\"localhost\"]\n", `bad -peer "localhost"`},
		{"dht = 1\n", `key "dht": want true or false`},
		// A flag set from the file is checked like one on the command
		// line: the service's listen rule applies.
		{"rpc = \"0.0.0.0:0\"\nrpc-allow = \"10.0.0.0/8\"\n", "without -rpc-auth-file"},
	}
	for _, c := range cases {
		path := filepath.Join(t.TempDir(), "node.toml")
		if err := os.WriteFile(path, []byte(c.file), 0o644); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		// -exit-when-complete with no torrent: a config that is not
		// refused ends the run at once, with another message.
		code := Run([]string{"-listen", "off", "-data", t.TempDir(), "-exit-when-complete", "-config", path}, &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), c.want) || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q; want 2 and one line with %q", c.file, code, errb.String(), c.want)
		}
	}
}
