package storage

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// bothResolvers runs fn once with openat2 (skipped where the kernel lacks
// it) and once with the component-wise walk forced, so every verdict is
// proven for both.
func bothResolvers(t *testing.T, fn func(t *testing.T)) {
	for _, walk := range []bool{false, true} {
		name := "openat2"
		if walk {
			name = "walk"
		}
		t.Run(name, func(t *testing.T) {
			if !walk && !probeOpenat2() {
				t.Skip("openat2 is not available here")
			}
			forceWalk.Store(walk)
			t.Cleanup(func() { forceWalk.Store(false) })
			if useOpenat2() == walk {
				t.Fatalf("useOpenat2() = %v with forceWalk %v", useOpenat2(), walk)
			}
			fn(t)
		})
	}
}

// snapshot describes every entry under dir without following links: a
// regular file by its content's hash, a link by its target, a directory
// or other file by its type. Two equal snapshots mean nothing under dir
// was written, created, removed or retargeted.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "link -> " + target
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = fmt.Sprintf("file %x", sha256.Sum256(b))
		default:
			out[rel] = d.Type().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameSnapshot(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: %s was %q, now %q", what, k, v, after[k])
		}
	}
	for k, v := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s: %s appeared (%s)", what, k, v)
		}
	}
}

func mustDo(t *testing.T, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// outsideTree fills out with what an attack would aim at: a file with
// content (secret) and a directory holding one (dir/f.bin).
func outsideTree(t *testing.T, out string) {
	mustDo(t,
		os.WriteFile(filepath.Join(out, "secret"), []byte("outside: not the torrent's to write\n"), 0o600),
		os.Mkdir(filepath.Join(out, "dir"), 0o755),
		os.WriteFile(filepath.Join(out, "dir", "f.bin"), []byte("outside file in a linked directory\n"), 0o600))
}

// plants are the ways a link (or a non-file) can sit where a torrent's
// file or one of its directories belongs. Each plants under save, aiming
// at out (filled by outsideTree), and names the torrent file it attacks.
var plants = []struct {
	name  string
	path  string // the torrent file's path
	plant func(t *testing.T, save, out string)
}{
	{"directory link on the path", "t/sub/f.bin", func(t *testing.T, save, out string) {
		mustDo(t, os.Mkdir(filepath.Join(save, "t"), 0o755),
			os.Symlink(filepath.Join(out, "dir"), filepath.Join(save, "t", "sub")))
	}},
	{"relative directory link climbing out", "t/sub/f.bin", func(t *testing.T, save, out string) {
		rel, err := filepath.Rel(filepath.Join(save, "t"), filepath.Join(out, "dir"))
		mustDo(t, err, os.Mkdir(filepath.Join(save, "t"), 0o755), os.Symlink(rel, filepath.Join(save, "t", "sub")))
	}},
	{"file link as the torrent's file", "t/f.bin", func(t *testing.T, save, out string) {
		mustDo(t, os.Mkdir(filepath.Join(save, "t"), 0o755),
			os.Symlink(filepath.Join(out, "secret"), filepath.Join(save, "t", "f.bin")))
	}},
	{"dangling file link as the torrent's file", "t/f.bin", func(t *testing.T, save, out string) {
		mustDo(t, os.Mkdir(filepath.Join(save, "t"), 0o755),
			os.Symlink(filepath.Join(out, "created-by-the-torrent"), filepath.Join(save, "t", "f.bin")))
	}},
	{"multi-file torrent's root is a link", "t/a/f.bin", func(t *testing.T, save, out string) {
		mustDo(t, os.Mkdir(filepath.Join(out, "dir", "a"), 0o755),
			os.Symlink(filepath.Join(out, "dir"), filepath.Join(save, "t")))
	}},
	{"single-file torrent is a link", "f.bin", func(t *testing.T, save, out string) {
		mustDo(t, os.Symlink(filepath.Join(out, "secret"), filepath.Join(save, "f.bin")))
	}},
	{"link to a directory inside the save directory", "t/sub/f.bin", func(t *testing.T, save, out string) {
		mustDo(t, os.MkdirAll(filepath.Join(save, "other"), 0o755),
			os.WriteFile(filepath.Join(save, "other", "f.bin"), []byte("another torrent's file\n"), 0o644),
			os.Mkdir(filepath.Join(save, "t"), 0o755),
			os.Symlink(filepath.Join(save, "other"), filepath.Join(save, "t", "sub")))
	}},
	{"FIFO as the torrent's file", "t/f.bin", func(t *testing.T, save, out string) {
		mustDo(t, os.Mkdir(filepath.Join(save, "t"), 0o755), unix.Mkfifo(filepath.Join(save, "t", "f.bin"), 0o644))
	}},
}

// TestConfinementRefusesLinks plants each link, runs each storage
// operation that touches a path, and requires a *FileError matching
// ErrUnsafePath with the operation's name and nothing changed, outside the
// save directory or in it (the link itself stays, pointing where it did).
func TestConfinementRefusesLinks(t *testing.T) {
	const size = 32
	data := bytes.Repeat([]byte("T"), size)
	ops := []struct {
		name   string
		length int64 // of the torrent's file
		op     string
		run    func(s *FileStorage) error
	}{
		{"write", size, "create", func(s *FileStorage) error { _, err := s.WriteAt(data, 0, 0); return err }},
		{"read", size, "open", func(s *FileStorage) error { _, err := s.ReadAt(make([]byte, size), 0, 0); return err }},
		{"write blocks", size, "create", func(s *FileStorage) error {
			return s.writeBlocks([]BlockRef{{Data: data}}, 0, 0, make([]unix.Iovec, 0, maxIovecs))
		}},
		{"create empty files", 0, "create", func(s *FileStorage) error { return s.CreateEmptyFiles() }},
		{"stat", size, "stat", func(s *FileStorage) error { _, err := s.Stat(); return err }},
		{"delete files", size, "delete", func(s *FileStorage) error { return s.DeleteFiles() }},
	}
	bothResolvers(t, func(t *testing.T) {
		for _, p := range plants {
			for _, o := range ops {
				t.Run(p.name+"/"+o.name, func(t *testing.T) {
					save, out := t.TempDir(), t.TempDir()
					outsideTree(t, out)
					p.plant(t, save, out)
					l := Layout{PieceLength: size, TotalLength: o.length, Files: []FileSpec{{Path: p.path, Length: o.length}}}
					if o.length == 0 {
						l.PieceLength = 1
					}
					s, err := Open(save, l)
					if err != nil {
						t.Fatal(err)
					}
					defer s.Close()
					saveBefore, outBefore := snapshot(t, save), snapshot(t, out)
					err = o.run(s)
					var fe *FileError
					if !errors.Is(err, ErrUnsafePath) || !errors.As(err, &fe) {
						t.Fatalf("%s: err %v, want a *FileError matching ErrUnsafePath", o.name, err)
					}
					if isFIFO := p.name == "FIFO as the torrent's file"; errors.Is(err, unix.ELOOP) == isFIFO {
						t.Errorf("err %v: errors.Is(err, unix.ELOOP) = %v, want %v", err, isFIFO, !isFIFO)
					}
					if fe.Op != o.op || fe.Path != p.path {
						t.Errorf("FileError Op %q Path %q, want %q %q", fe.Op, fe.Path, o.op, p.path)
					}
					sameSnapshot(t, "outside", outBefore, snapshot(t, out))
					sameSnapshot(t, "save directory", saveBefore, snapshot(t, save))
					if sizes := s.fileSizes(nil); o.length > 0 && sizes[0] != -1 {
						t.Errorf("fileSizes reports %d for a file behind a link, want -1", sizes[0])
					}
				})
			}
		}
	})
}

// TestConfinementLinkPlantedWhileSeeding replaces a directory of the
// torrent, or its file, with a link after the file was written and read
// and the descriptor LRU closed it: the next open must be refused and the
// link's target left as it was.
func TestConfinementLinkPlantedWhileSeeding(t *testing.T) {
	const size = 4096
	swaps := []struct {
		name string
		swap func(t *testing.T, save, out string)
	}{
		{"directory replaced by a link", func(t *testing.T, save, out string) {
			mustDo(t, os.Rename(filepath.Join(save, "t", "sub"), filepath.Join(save, "sub.moved")),
				os.Symlink(filepath.Join(out, "dir"), filepath.Join(save, "t", "sub")))
		}},
		{"file replaced by a link", func(t *testing.T, save, out string) {
			mustDo(t, os.Rename(filepath.Join(save, "t", "sub", "f.bin"), filepath.Join(save, "f.moved")),
				os.Symlink(filepath.Join(out, "secret"), filepath.Join(save, "t", "sub", "f.bin")))
		}},
		{"root replaced by a link", func(t *testing.T, save, out string) {
			mustDo(t, os.MkdirAll(filepath.Join(out, "dir", "sub"), 0o755),
				os.WriteFile(filepath.Join(out, "dir", "sub", "f.bin"), bytes.Repeat([]byte("O"), size), 0o600),
				os.Rename(filepath.Join(save, "t"), filepath.Join(save, "t.moved")),
				os.Symlink(filepath.Join(out, "dir"), filepath.Join(save, "t")))
		}},
	}
	bothResolvers(t, func(t *testing.T) {
		for _, sw := range swaps {
			t.Run(sw.name, func(t *testing.T) {
				save, out := t.TempDir(), t.TempDir()
				outsideTree(t, out)
				// The torrent's file first, then enough others that touching
				// them all pushes its descriptor out of the LRU.
				fs := []FileSpec{{Path: "t/sub/f.bin", Length: size}}
				for i := range MaxOpenFiles {
					fs = append(fs, FileSpec{Path: fmt.Sprintf("t/other/%02d", i), Length: size})
				}
				l := Layout{PieceLength: size, TotalLength: sum(fs), Files: fs}
				s, err := Open(save, l)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				ref := reference(l, 3)
				writeAll(t, s, ref, size)
				buf := make([]byte, size)
				if _, err := s.ReadAt(buf, 0, 0); err != nil || !bytes.Equal(buf, ref[:size]) {
					t.Fatalf("read back before the swap: %v", err)
				}
				for p := 1; p < l.NumPieces(); p++ {
					if _, err := s.ReadAt(buf, p, 0); err != nil {
						t.Fatal(err)
					}
				}
				if s.peek(0) != nil {
					t.Fatal("file 0 is still open; the LRU did not close it")
				}
				sw.swap(t, save, out)
				outBefore := snapshot(t, out)
				if _, err := s.ReadAt(buf, 0, 0); !errors.Is(err, ErrUnsafePath) {
					t.Errorf("read after the swap: %v, want ErrUnsafePath", err)
				}
				if _, err := s.WriteAt(bytes.Repeat([]byte("X"), size), 0, 0); !errors.Is(err, ErrUnsafePath) {
					t.Errorf("write after the swap: %v, want ErrUnsafePath", err)
				}
				if _, err := s.Stat(); !errors.Is(err, ErrUnsafePath) {
					t.Errorf("stat after the swap: %v, want ErrUnsafePath", err)
				}
				sameSnapshot(t, "outside", outBefore, snapshot(t, out))
			})
		}
	})
}

// TestConfinementAllowsOrdinaryTrees: what the resolvers refuse must not
// catch honest layouts. A save directory that is itself a link is the
// user's choice and is followed; nested directories are made as needed;
// Stat reports, and DeleteFiles removes, exactly the torrent's files and
// the directories they leave empty.
func TestConfinementAllowsOrdinaryTrees(t *testing.T) {
	bothResolvers(t, func(t *testing.T) {
		real := t.TempDir()
		save := filepath.Join(t.TempDir(), "save-link")
		mustDo(t, os.Symlink(real, save))
		l := testLayout()
		s, err := Open(save, l)
		if err != nil {
			t.Fatal(err)
		}
		st, err := s.Stat()
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range l.Files {
			if !f.Pad && st[i].Size != -1 {
				t.Errorf("Stat before any write: %s has size %d, want -1", f.Path, st[i].Size)
			}
		}
		ref := reference(l, 5)
		writeAll(t, s, ref, 8<<10)
		mustDo(t, s.CreateEmptyFiles())
		got := make([]byte, l.TotalLength)
		if _, err := s.readAbs(got, 0); err != nil || !bytes.Equal(got, ref) {
			t.Fatalf("read back: %v", err)
		}
		if st, err = s.Stat(); err != nil {
			t.Fatal(err)
		}
		for i, f := range l.Files {
			if st[i].Size != f.Length {
				t.Errorf("Stat: %s has size %d, want %d", f.Path, st[i].Size, f.Length)
			}
			if !f.Pad {
				if _, err := os.Lstat(filepath.Join(real, f.Path)); err != nil {
					t.Errorf("%s is not in the link's target: %v", f.Path, err)
				}
			}
		}
		// A user's file beside the torrent's keeps its directory.
		mustDo(t, os.WriteFile(filepath.Join(real, "dir", "keep"), []byte("mine"), 0o644))
		mustDo(t, s.Close())
		if st2, err := s.Stat(); err != nil || st2[0] != st[0] {
			t.Fatalf("Stat after Close: %v, %v", st2, err)
		}
		mustDo(t, s.DeleteFiles())
		want := map[string]string{".": "d---------", "dir": "d---------", "dir/keep": snapshot(t, real)["dir/keep"]}
		sameSnapshot(t, "after DeleteFiles", want, snapshot(t, real))
	})
}

// TestConfinementMissingSaveDirectory: reads of a torrent whose save
// directory does not exist yet are ErrMissing and Stat reports every file
// missing; the first write makes the directory.
func TestConfinementMissingSaveDirectory(t *testing.T) {
	save := filepath.Join(t.TempDir(), "not", "yet")
	l := Layout{PieceLength: 16, TotalLength: 16, Files: []FileSpec{{Path: "t/f.bin", Length: 16}}}
	s, err := Open(save, l)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.ReadAt(make([]byte, 16), 0, 0); !errors.Is(err, ErrMissing) {
		t.Fatalf("read: %v, want ErrMissing", err)
	}
	if st, err := s.Stat(); err != nil || st[0].Size != -1 {
		t.Fatalf("Stat: %v, %v", st, err)
	}
	if _, err := s.WriteAt(bytes.Repeat([]byte("x"), 16), 0, 0); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(save, "t", "f.bin")); err != nil || len(b) != 16 {
		t.Fatalf("file after write: %d bytes, %v", len(b), err)
	}
}

// BenchmarkOpenConfined measures what confinement adds to opening a data
// file (open and close of a file two directories deep): a plain open(2) of
// the absolute path, as before, against openBeneath with openat2 and with
// the walk. The package doc in confine.go quotes the figures.
func BenchmarkOpenConfined(b *testing.B) {
	save := b.TempDir()
	rel := "t/sub/f.bin"
	if err := os.MkdirAll(filepath.Join(save, "t", "sub"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(save, rel), []byte("x"), 0o644); err != nil {
		b.Fatal(err)
	}
	dfd, err := unix.Open(save, dirOpenFlags|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(dfd)
	b.Run("open", func(b *testing.B) {
		abs := filepath.Join(save, rel)
		for b.Loop() {
			fd, err := unix.Open(abs, unix.O_RDWR|unix.O_CLOEXEC, 0)
			if err != nil {
				b.Fatal(err)
			}
			unix.Close(fd)
		}
	})
	for _, walk := range []bool{false, true} {
		name := "openat2"
		if walk {
			name = "walk"
		}
		b.Run(name, func(b *testing.B) {
			if !walk && !probeOpenat2() {
				b.Skip("no openat2")
			}
			forceWalk.Store(walk)
			defer forceWalk.Store(false)
			for b.Loop() {
				fd, err := openBeneath(dfd, rel, unix.O_RDWR)
				if err != nil {
					b.Fatal(err)
				}
				unix.Close(fd)
			}
		})
	}
}

// TestConfinementSaveDirectoryRemoved: a save directory deleted while the
// torrent runs is resolved again, not written into forever as a deleted
// directory: reads find the files missing and the next write makes the
// directory again where the user's path points.
func TestConfinementSaveDirectoryRemoved(t *testing.T) {
	bothResolvers(t, func(t *testing.T) {
		save := filepath.Join(t.TempDir(), "save")
		var fs []FileSpec
		for i := range MaxOpenFiles + 1 {
			fs = append(fs, FileSpec{Path: fmt.Sprintf("t/f%02d", i), Length: 64})
		}
		l := Layout{PieceLength: 64, TotalLength: sum(fs), Files: fs}
		s, err := Open(save, l)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ref := reference(l, 7)
		writeAll(t, s, ref, 64)
		if s.peek(0) != nil {
			t.Fatal("file 0 is still open; the LRU did not close it")
		}
		mustDo(t, os.RemoveAll(save))
		if _, err := s.ReadAt(make([]byte, 64), 0, 0); !errors.Is(err, ErrMissing) {
			t.Fatalf("read after the save directory was removed: %v, want ErrMissing", err)
		}
		if _, err := s.WriteAt(ref[:64], 0, 0); err != nil {
			t.Fatalf("write after the save directory was removed: %v", err)
		}
		if b, err := os.ReadFile(filepath.Join(save, "t", "f00")); err != nil || !bytes.Equal(b, ref[:64]) {
			t.Fatalf("file after the write: %v", err)
		}
	})
}

// TestResolveRefusesEscapingNames: below the lexical check in Open, the
// resolvers themselves refuse any name that is absolute or has an empty,
// "." or ".." component, with the same verdict under openat2 and the walk,
// for opening, creating, statting and unlinking.
func TestResolveRefusesEscapingNames(t *testing.T) {
	bothResolvers(t, func(t *testing.T) {
		parent := t.TempDir()
		save := filepath.Join(parent, "save")
		mustDo(t, os.MkdirAll(filepath.Join(save, "a"), 0o755),
			os.WriteFile(filepath.Join(save, "x"), []byte("inside"), 0o644),
			os.WriteFile(filepath.Join(parent, "x"), []byte("outside"), 0o644))
		dfd, err := unix.Open(save, dirOpenFlags|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(dfd)
		before := snapshot(t, parent)
		for _, name := range []string{
			"../x", "a/../../x", "a/../x", "/etc/passwd", filepath.Join(parent, "x"),
			"./x", "a//x", "a/", "", ".", "..",
		} {
			if fd, err := openBeneath(dfd, name, unix.O_RDWR|unix.O_CREAT); !errors.Is(err, ErrUnsafePath) {
				unix.Close(fd)
				t.Errorf("create %q: %v, want ErrUnsafePath", name, err)
			}
			if fd, err := openBeneath(dfd, name, unix.O_RDONLY); !errors.Is(err, ErrUnsafePath) {
				unix.Close(fd)
				t.Errorf("open %q: %v, want ErrUnsafePath", name, err)
			}
			var st unix.Stat_t
			if err := statBeneath(dfd, name, &st); !errors.Is(err, ErrUnsafePath) {
				t.Errorf("stat %q: %v, want ErrUnsafePath", name, err)
			}
			if err := unlinkBeneath(dfd, name, false); !errors.Is(err, ErrUnsafePath) {
				t.Errorf("unlink %q: %v, want ErrUnsafePath", name, err)
			}
		}
		sameSnapshot(t, "around the save directory", before, snapshot(t, parent))
	})
}

// TestDirectReopenStaysOnTheOpenFile: the O_DIRECT descriptor is opened by
// path on a handle's first direct write, possibly long after the handle.
// If the path has meanwhile become a link, or another file, the direct
// write must neither follow the link nor land in the other file: it goes
// through the handle's own descriptor, to the file the handle opened.
func TestDirectReopenStaysOnTheOpenFile(t *testing.T) {
	const pl = 256 << 10
	swaps := []struct {
		name string
		swap func(t *testing.T, save, out string)
	}{
		{"file replaced by a link", func(t *testing.T, save, out string) {
			mustDo(t, os.Rename(filepath.Join(save, "t", "f.bin"), filepath.Join(save, "t", "f.orig")),
				os.Symlink(filepath.Join(out, "secret"), filepath.Join(save, "t", "f.bin")))
		}},
		{"file replaced by another file", func(t *testing.T, save, out string) {
			mustDo(t, os.Rename(filepath.Join(save, "t", "f.bin"), filepath.Join(save, "t", "f.orig")),
				os.WriteFile(filepath.Join(save, "t", "f.bin"), []byte("someone else's file\n"), 0o644))
		}},
	}
	bothResolvers(t, func(t *testing.T) {
		for _, sw := range swaps {
			t.Run(sw.name, func(t *testing.T) {
				save, out := t.TempDir(), t.TempDir()
				outsideTree(t, out)
				l := Layout{PieceLength: pl, TotalLength: 2 * pl, Files: []FileSpec{{Path: "t/f.bin", Length: 2 * pl}}}
				s, err := Open(save, l)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if fd := dioProbe(t, save); fd < 0 {
					t.Skip("this filesystem does not support O_DIRECT")
				}
				ref := reference(l, 13)
				if _, err := s.WriteAt(ref[pl:], 1, 0); err != nil { // opens the handle, buffered
					t.Fatal(err)
				}
				sw.swap(t, save, out)
				outBefore := snapshot(t, out)
				newBefore, _ := os.Lstat(filepath.Join(save, "t", "f.bin"))
				s.SetDirectWrites(true)
				var buf []byte
				data := alignedBuf(&buf, pl)
				copy(data, ref[:pl])
				if err := s.writePieceDirect(data, 0); err != nil {
					t.Fatal(err)
				}
				sameSnapshot(t, "outside", outBefore, snapshot(t, out))
				if got, err := os.ReadFile(filepath.Join(save, "t", "f.orig")); err != nil || !bytes.Equal(got, ref) {
					t.Fatalf("the handle's file does not hold both pieces: %v", err)
				}
				if after, err := os.Lstat(filepath.Join(save, "t", "f.bin")); err != nil || after.Size() != newBefore.Size() || after.Mode() != newBefore.Mode() {
					t.Fatalf("what now sits at the path changed: %v", err)
				}
				if !s.DirectWrites() {
					t.Error("a replaced file turned direct writes off for the whole storage")
				}
			})
		}
	})
}

// dioProbe reports whether dir's filesystem takes O_DIRECT (>= 0) or not.
func dioProbe(t *testing.T, dir string) int {
	t.Helper()
	p := filepath.Join(dir, ".dio-probe")
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_DIRECT|unix.O_CLOEXEC, 0o644)
	os.Remove(p)
	if err != nil {
		return -1
	}
	defer unix.Close(fd)
	return dioAlign(fd)
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(ents)
}

// TestSaveDirectoryDescriptorShared: Storages with the same save path share
// one descriptor of it (2,000 torrents in one directory cost one
// descriptor, not 2,000), and it is closed with the last of them.
func TestSaveDirectoryDescriptorShared(t *testing.T) {
	save := t.TempDir()
	const n = 2000
	before := openFDs(t)
	var all []*FileStorage
	for i := range n {
		l := Layout{PieceLength: 16, TotalLength: 16, Files: []FileSpec{{Path: fmt.Sprintf("t%04d/f.bin", i), Length: 16}}}
		s, err := Open(save, l)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, s)
		if _, err := s.Stat(); err != nil {
			t.Fatal(err)
		}
	}
	if got := openFDs(t) - before; got > 1 {
		t.Errorf("%d Storages in one directory hold %d descriptors, want 1", n, got)
	}
	if _, err := all[0].WriteAt(bytes.Repeat([]byte("x"), 16), 0, 0); err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		mustDo(t, s.Close())
	}
	if got := openFDs(t); got != before {
		t.Errorf("after every Close, %d descriptors are open, %d before", got, before)
	}
	savedDirs.mu.Lock()
	_, left := savedDirs.m[save]
	savedDirs.mu.Unlock()
	if left {
		t.Error("the shared descriptor's entry outlived its last Storage")
	}
}

// TestSaveDirectoryResolvedPerStorage: a save path that is a link the user
// re-points (to another disk, say) is followed by Storages opened after
// the change, while one already running keeps the directory it resolved,
// for files it opens afterwards too.
func TestSaveDirectoryResolvedPerStorage(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	save := filepath.Join(t.TempDir(), "data")
	mustDo(t, os.Symlink(a, save))
	l := Layout{PieceLength: 4, TotalLength: 8, Files: []FileSpec{{Path: "f.bin", Length: 4}, {Path: "g.bin", Length: 4}}}
	first, err := Open(save, l)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if _, err := first.WriteAt([]byte("aaaa"), 0, 0); err != nil {
		t.Fatal(err)
	}
	mustDo(t, os.Remove(save), os.Symlink(b, save))
	second, err := Open(save, l)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if _, err := second.WriteAt([]byte("bbbb"), 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := first.WriteAt([]byte("AAAA"), 1, 0); err != nil { // g.bin: a new open
		t.Fatal(err)
	}
	want := map[string]string{"a/f.bin": "aaaa", "a/g.bin": "AAAA", "b/f.bin": "bbbb"}
	got := map[string]string{}
	for name, dir := range map[string]string{"a": a, "b": b} {
		for _, f := range []string{"f.bin", "g.bin"} {
			if data, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
				got[name+"/"+f] = string(data)
			}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("files = %v, want %v", got, want)
	}
}

// TestSaveDirectorySharedConcurrently opens, uses and closes Storages on
// one save directory from several goroutines (run it with -race): the
// shared descriptor's count must end at zero with nothing leaked.
func TestSaveDirectorySharedConcurrently(t *testing.T) {
	save := t.TempDir()
	before := openFDs(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				l := Layout{PieceLength: 8, TotalLength: 8, Files: []FileSpec{{Path: fmt.Sprintf("g%d/%02d", g, i), Length: 8}}}
				s, err := Open(save, l)
				if err != nil {
					errs <- err
					return
				}
				if _, err = s.WriteAt([]byte("12345678"), 0, 0); err == nil {
					_, err = s.Stat()
				}
				if i%2 == 0 {
					if derr := s.DeleteFiles(); err == nil {
						err = derr
					}
				} else {
					s.Close()
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := openFDs(t); got != before {
		t.Errorf("%d descriptors open after every Storage closed, %d before", got, before)
	}
}
