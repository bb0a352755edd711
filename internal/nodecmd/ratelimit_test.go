package nodecmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardtorrent/shardtorrent"
)

// TestRateLimitFlags: -up-limit, -down-limit and -limit-local reach the
// session settings, from the command line and from the config file; 0 is
// unlimited; a bad value is refused by name.
func TestRateLimitFlags(t *testing.T) {
	got := sessionSettings(t)
	if got.UploadRateLimit.IsSet() || got.DownloadRateLimit.IsSet() || got.LimitLocal {
		t.Errorf("defaults: up %v down %v local %v, want unset, unset, false", got.UploadRateLimit, got.DownloadRateLimit, got.LimitLocal)
	}
	got = sessionSettings(t, "-up-limit", "5M", "-down-limit", "0", "-limit-local")
	if got.UploadRateLimit != shardtorrent.LimitTo(5_000_000) || !got.DownloadRateLimit.IsUnlimited() || !got.LimitLocal {
		t.Errorf("flags: up %v down %v local %v", got.UploadRateLimit, got.DownloadRateLimit, got.LimitLocal)
	}
	path := filepath.Join(t.TempDir(), "node.toml")
	if err := os.WriteFile(path, []byte("up-limit = \"100k\"\ndown-limit = \"2M\"\nlimit-local = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got = sessionSettings(t, "-config", path, "-rpc", "off")
	if got.UploadRateLimit != shardtorrent.LimitTo(100_000) || got.DownloadRateLimit != shardtorrent.LimitTo(2_000_000) || !got.LimitLocal {
		t.Errorf("config: up %v down %v local %v", got.UploadRateLimit, got.DownloadRateLimit, got.LimitLocal)
	}
	var out, errb bytes.Buffer
	if code := Run([]string{"-listen", "off", "-up-limit", "fast"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "up-limit") {
		t.Errorf("bad -up-limit: exit %d, stderr %q", code, errb.String())
	}
}
