package resume

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/shardtorrent/shardtorrent/internal/crashpoint"
	"github.com/shardtorrent/shardtorrent/metainfo"
)

// dataFor returns minimal valid Data for a torrent whose info-hash starts
// with b.
func dataFor(b byte) *Data {
	var ih metainfo.InfoHash
	ih.V1[0], ih.V1[19] = b, 1
	return &Data{InfoHash: ih, SavePath: "/s", Pieces: []byte{PieceHave | PieceVerified}}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	for _, content := range []string{"one", "two, longer", ""} {
		if err := WriteFileAtomic(p, []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
		if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"f"}) {
			t.Fatalf("directory holds %q, want only the file", names)
		}
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode())
	}
	// A failed write leaves the old file and no temporary one.
	if err := WriteFileAtomic(filepath.Join(dir, "missing-dir", "f"), []byte("x")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("write into a missing directory: %v", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "isdir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "isdir"), []byte("x")); err == nil {
		t.Fatal("renaming over a directory succeeded")
	}
	if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"f", "isdir"}) {
		t.Fatalf("directory holds %q after failures", names)
	}
}

func TestStoreSaveLoadRemove(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "state")
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("store dir: %v, %v", st, err)
	}
	full := fullData(t)
	ds := []*Data{dataFor(1), full, dataFor(0xff)}
	for _, d := range ds {
		if err := s.Save(d.InfoHash, d); err != nil {
			t.Fatal(err)
		}
	}
	if want := filepath.Join(dir, full.InfoHash.V1.String()+".fastresume"); s.Path(full.InfoHash) != want {
		t.Fatalf("Path = %s, want %s", s.Path(full.InfoHash), want)
	}
	if err := s.Save(dataFor(2).InfoHash, dataFor(3)); err == nil {
		t.Fatal("saved Data under another torrent's info-hash")
	}
	if err := s.Save(dataFor(2).InfoHash, nil); err == nil {
		t.Fatal("saved nil Data")
	}
	// A file of another name is ignored.
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, errs := s.LoadAll()
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	byIH := map[metainfo.InfoHash]*Data{}
	for _, d := range got {
		byIH[d.InfoHash] = d
	}
	if len(got) != 3 {
		t.Fatalf("loaded %d, want 3", len(got))
	}
	for _, d := range ds {
		if !reflect.DeepEqual(byIH[d.InfoHash], d) {
			t.Fatalf("loaded %+v, want %+v", byIH[d.InfoHash], d)
		}
	}
	// Save replaces.
	upd := dataFor(1)
	upd.Pieces = []byte{0}
	if err := s.Save(upd.InfoHash, upd); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(full.InfoHash); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(full.InfoHash); err != nil {
		t.Fatalf("removing twice: %v", err)
	}
	got, errs = s.LoadAll()
	if len(errs) != 0 || len(got) != 2 || got[0].Has(0) {
		t.Fatalf("after update and remove: %+v, %v", got, errs)
	}
}

// TestStoreLoadAllSkipsBadFiles: a truncated file, a file of garbage and a
// file whose content belongs to another torrent each give an error naming
// the file; the good one still loads.
func TestStoreLoadAllSkipsBadFiles(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	good, trunc, garbage, moved := dataFor(1), dataFor(2), dataFor(3), dataFor(4)
	for _, d := range []*Data{good, trunc, moved} {
		if err := s.Save(d.InfoHash, d); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(s.Path(trunc.InfoHash))
	if err := os.WriteFile(s.Path(trunc.InfoHash), b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Path(garbage.InfoHash), []byte("not bencode"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(s.Path(moved.InfoHash), s.Path(dataFor(5).InfoHash)); err != nil {
		t.Fatal(err)
	}
	got, errs := s.LoadAll()
	if len(got) != 1 || got[0].InfoHash != good.InfoHash {
		t.Fatalf("loaded %+v, want only the good one", got)
	}
	wantKinds := map[string]ErrorKind{
		s.Path(trunc.InfoHash):      ErrNotResume,
		s.Path(garbage.InfoHash):    ErrNotResume,
		s.Path(dataFor(5).InfoHash): ErrBadField,
	}
	if len(errs) != len(wantKinds) {
		t.Fatalf("errors %v, want %d", errs, len(wantKinds))
	}
	for _, err := range errs {
		var pe *fs.PathError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), pe.Path) {
			t.Fatalf("error %v does not name its file", err)
		}
		kind, ok := wantKinds[pe.Path]
		var fe *FormatError
		if !ok || !errors.As(err, &fe) || !errors.Is(err, kind) {
			t.Fatalf("error %v for %s, want a FormatError of kind %v", err, pe.Path, kind)
		}
	}
}

// TestStoreCrashLeftovers: the files a crash inside WriteFileAtomic leaves
// behind (a temporary file beside the old resume file) do not disturb
// LoadAll, which deletes them and loads the old content.
func TestStoreCrashLeftovers(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	old := dataFor(1)
	if err := s.Save(old.InfoHash, old); err != nil {
		t.Fatal(err)
	}
	newer := dataFor(1)
	newer.Pieces = []byte{0}
	b, _ := Encode(newer)
	for i, name := range []string{".123.tmp", ".4567.tmp"} {
		// A whole temporary file and a torn one.
		if err := os.WriteFile(s.Path(old.InfoHash)+name, b[:len(b)/(i+1)], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, errs := s.LoadAll()
	if len(errs) != 0 || len(got) != 1 || !reflect.DeepEqual(got[0], old) {
		t.Fatalf("loaded %+v, %v; want the old data", got, errs)
	}
	if names := dirNames(t, s.Dir()); len(names) != 1 {
		t.Fatalf("temporary files not cleaned: %q", names)
	}
}

// TestWriteFileAtomicKilledAtResumeSave kills a child process at the
// "resume-save" crash point, with the new file written and synced but not
// yet renamed: the old content must survive whole and LoadAll must clean
// the temporary file up.
func TestWriteFileAtomicKilledAtResumeSave(t *testing.T) {
	if dir := os.Getenv("RESUME_TEST_CHILD_DIR"); dir != "" {
		s, err := OpenStore(dir)
		if err != nil {
			os.Exit(3)
		}
		newer := dataFor(1)
		newer.Pieces = []byte{0}
		_ = s.Save(newer.InfoHash, newer)
		os.Exit(4) // not reached when the crash point fires
	}
	if crashpoint.Armed() != "" {
		t.Skip("crash point armed in the parent")
	}
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	old := dataFor(1)
	if err := s.Save(old.InfoHash, old); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestWriteFileAtomicKilledAtResumeSave$")
	cmd.Env = append(os.Environ(), "RESUME_TEST_CHILD_DIR="+s.Dir(), crashpoint.Env+"=resume-save")
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child: %v, want killed by SIGKILL", err)
	}
	if names := dirNames(t, s.Dir()); len(names) != 2 {
		t.Fatalf("after the crash the directory holds %q, want the old file and a temporary one", names)
	}
	got, errs := s.LoadAll()
	if len(errs) != 0 || len(got) != 1 || !reflect.DeepEqual(got[0], old) {
		t.Fatalf("loaded %+v, %v; want the old data", got, errs)
	}
	if names := dirNames(t, s.Dir()); len(names) != 1 {
		t.Fatalf("temporary file not cleaned: %q", names)
	}
}
