package nodecmd

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRestartResumesFromState: a node that seeded a torrent saves it in
// DATA/.shardtorrent at exit; restarted with no argument it re-adds it
// from there without a check, and a torrent given both ways uses the
// resume data. A file changed between runs is re-checked, that torrent
// alone.
func TestRestartResumesFromState(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	var tors []string
	for _, name := range []string{"one.bin", "two.bin"} {
		if err := os.MkdirAll(data, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(data, name), bytes.Repeat([]byte(name), 20_000), 0o644); err != nil {
			t.Fatal(err)
		}
		tor := filepath.Join(dir, name+".torrent")
		var out, errb bytes.Buffer
		if code := Run([]string{"make", "-o", tor, "-piece-size", "16384", filepath.Join(data, name)}, &out, &errb); code != 0 {
			t.Fatalf("make: %d %s", code, errb.String())
		}
		tors = append(tors, tor)
	}
	run := func(args ...string) (string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		base := []string{"-listen", "127.0.0.1:0", "-data", data, "-exit-when-complete", "-status", "0", "-dht=false"}
		if code := Run(append(base, args...), &out, &errb); code != 0 {
			t.Fatalf("node %v: exit %d\n%s\n%s", args, code, out.String(), errb.String())
		}
		return out.String(), errb.String()
	}
	out, log := run(tors...)
	// The first run has no state: it checks (and prints no "resumed").
	// Its state-change log lines are not asserted: the node may exit on
	// the completion it polls before it logs the alerts.
	if strings.Contains(out, "resumed") {
		t.Fatalf("first run resumed from a state it cannot have:\n%s\n%s", out, log)
	}
	if files, _ := filepath.Glob(filepath.Join(data, ".shardtorrent", "*.fastresume")); len(files) != 2 {
		t.Fatalf("state directory holds %d resume files after exit, want 2", len(files))
	}

	// Restart without arguments: both come back from the state, unchecked.
	out, log = run()
	for _, want := range []string{"resumed 2 torrents (0 re-checked)", "seeding one.bin", "seeding two.bin", "all torrents complete"} {
		if !strings.Contains(out, want) {
			t.Fatalf("restart output lacks %q:\n%s\n%s", want, out, log)
		}
	}
	if strings.Contains(log, "checking_files") {
		t.Fatalf("restart checked files:\n%s", log)
	}

	// Given on the command line too: still from the resume data. A file
	// changed behind the node's back: that torrent alone is re-checked.
	fi, err := os.Stat(filepath.Join(data, "two.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(data, "two.bin"), time.Now(), fi.ModTime().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	out, log = run(tors[0])
	if !strings.Contains(out, "resumed 2 torrents (1 re-checked)") || strings.Contains(out, "added one.bin") {
		t.Fatalf("restart with a changed file:\n%s\n%s", out, log)
	}
	if !strings.Contains(log, "two.bin state changed: checking_files") || strings.Contains(log, "one.bin state changed: checking_files") {
		t.Fatalf("want two.bin alone re-checked:\n%s", log)
	}
}

// ltResumeScript has libtorrent 2.0.8 (Debian's python bindings) check a
// torrent over its data and write its resume data, info inside, into a
// qBittorrent-style BT_backup directory with the .torrent beside it.
const ltResumeScript = `
import sys, shutil, libtorrent as lt
tor, save, out = sys.argv[1:4]
s = lt.session({'listen_interfaces': '127.0.0.1:0', 'enable_dht': False, 'enable_lsd': False,
                'enable_upnp': False, 'enable_natpmp': False, 'alert_mask': lt.alert_category.all})
ti = lt.torrent_info(tor)
h = s.add_torrent({'ti': ti, 'save_path': save})
done = False
while not done:
    s.wait_for_alert(10000)
    for a in s.pop_alerts():
        if isinstance(a, lt.torrent_checked_alert):
            h.save_resume_data(lt.torrent_handle.save_info_dict)
        elif isinstance(a, lt.save_resume_data_alert):
            ih = str(ti.info_hashes().v1)
            open(out + '/' + ih + '.fastresume', 'wb').write(lt.write_resume_data_buf(a.params))
            shutil.copy(tor, out + '/' + ih + '.torrent')
            done = True
`

// TestImportResumeFromLibtorrent: -import-resume adopts libtorrent's resume
// data and seeds without a check, and saves it into -state.
func TestImportResumeFromLibtorrent(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import libtorrent").Run(); err != nil {
		t.Skip("python3-libtorrent not installed:", err)
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	backup := filepath.Join(dir, "BT_backup")
	state := filepath.Join(dir, "state")
	for _, d := range []string{data, backup} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(data, "lt.bin"), bytes.Repeat([]byte("libtorrent"), 30_000), 0o644); err != nil {
		t.Fatal(err)
	}
	tor := filepath.Join(dir, "lt.torrent")
	var out, errb bytes.Buffer
	if code := Run([]string{"make", "-o", tor, "-piece-size", "16384", filepath.Join(data, "lt.bin")}, &out, &errb); code != 0 {
		t.Fatalf("make: %d %s", code, errb.String())
	}
	if b, err := exec.Command("/usr/bin/python3", "-c", ltResumeScript, tor, data, backup).CombinedOutput(); err != nil {
		t.Fatalf("libtorrent: %v\n%s", err, b)
	}
	out.Reset()
	errb.Reset()
	args := []string{"-listen", "127.0.0.1:0", "-data", filepath.Join(dir, "elsewhere"), "-state", state, "-import-resume", backup,
		"-exit-when-complete", "-status", "0", "-dht=false"}
	if code := Run(args, &out, &errb); code != 0 {
		t.Fatalf("node: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"imported 1 torrents", "resumed 1 torrents (0 re-checked)", "seeding lt.bin", "all torrents complete"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s\n%s", want, out.String(), errb.String())
		}
	}
	if strings.Contains(errb.String(), "checking_files") {
		t.Fatalf("imported torrent was checked:\n%s", errb.String())
	}
	if files, _ := filepath.Glob(filepath.Join(state, "*.fastresume")); len(files) != 1 {
		t.Fatalf("-state holds %d resume files, want 1", len(files))
	}
}

// TestStateOff: -state off keeps no resume data: nothing is written under
// the data directory, and -import-resume is refused with a clear error.
func TestStateOff(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "one.bin"), bytes.Repeat([]byte("x"), 40_000), 0o644); err != nil {
		t.Fatal(err)
	}
	tor := filepath.Join(dir, "one.torrent")
	var out, errb bytes.Buffer
	if code := Run([]string{"make", "-o", tor, "-piece-size", "16384", filepath.Join(data, "one.bin")}, &out, &errb); code != 0 {
		t.Fatalf("make: %d %s", code, errb.String())
	}
	base := []string{"-listen", "127.0.0.1:0", "-data", data, "-exit-when-complete", "-status", "0", "-dht=false", "-state", "off"}
	out.Reset()
	errb.Reset()
	if code := Run(append(base, tor), &out, &errb); code != 0 {
		t.Fatalf("node -state off: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	if _, err := os.Stat(filepath.Join(data, stateDirName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("-state off left a state directory (stat: %v)", err)
	}
	out.Reset()
	errb.Reset()
	if code := Run(append(base, "-import-resume", dir, tor), &out, &errb); code == 0 || !strings.Contains(errb.String(), "-import-resume needs a -state") {
		t.Fatalf("-import-resume with -state off: exit %d, stderr %q", code, errb.String())
	}
}
