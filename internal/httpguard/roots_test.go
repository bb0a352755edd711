package httpguard

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestConfine is the table of path-escape attacks against the roots.
func TestConfine(t *testing.T) {
	base := t.TempDir()
	base, _ = filepath.EvalSymlinks(base)
	root := filepath.Join(base, "root")
	root2 := filepath.Join(base, "root2")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{root, root2, outside, filepath.Join(root, "sub"), filepath.Join(root2, "in")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"root/out":      outside,                        // a directory link leading out
		"root/outrel":   "../outside",                   // relative, leading out
		"root/in":       filepath.Join(root, "sub"),     // a link that stays in
		"root/toroot2":  filepath.Join(root2, "in"),     // into another root
		"root/dangling": filepath.Join(outside, "nope"), // target missing
		"root/loop":     "loop",                         // a loop
		"root/sub/up":   "..",                           // up, but still inside
		"root/sub/up2":  "../..",                        // up and out
		"link-to-root":  root,                           // the root via a link
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(base, name)); err != nil {
			t.Fatal(err)
		}
	}
	// A root given through a link resolves to its target.
	r, err := NewRoots([]string{filepath.Join(base, "link-to-root"), root2})
	if err != nil {
		t.Fatal(err)
	}
	if r.Dirs()[0] != root {
		t.Fatalf("root resolved to %s", r.Dirs()[0])
	}
	cases := []struct {
		path string
		want string // resolved path, or "" for a refusal
		kind ErrorKind
	}{
		{root, root, 0},
		{root + "/", root, 0},
		{root + "/sub", root + "/sub", 0},
		{root + "/new/deeper", root + "/new/deeper", 0},
		{root + "/sub/../sub/./x", root + "/sub/x", 0},
		{root + "/in/x", root + "/sub/x", 0},
		{root + "/sub/up/file", root + "/file", 0},
		{root + "/toroot2/y", root2 + "/in/y", 0},
		{base + "/link-to-root/sub", root + "/sub", 0},
		{root2, root2, 0},
		{root + "/file/below", root + "/file/below", 0}, // not a directory: the caller's open fails, inside all the same
		{root + "/..", "", ErrOutsideRoots},
		{root + "/../outside", "", ErrOutsideRoots},
		{root + "/sub/../../outside/x", "", ErrOutsideRoots},
		{root + "/../root2x", "", ErrOutsideRoots},
		{base + "/root3", "", ErrOutsideRoots},
		{root + "x", "", ErrOutsideRoots}, // a sibling sharing the prefix
		{"/", "", ErrOutsideRoots},
		{"/etc/passwd", "", ErrOutsideRoots},
		{root + "/out", "", ErrOutsideRoots},
		{root + "/out/new/dir", "", ErrOutsideRoots},
		{root + "/outrel/x", "", ErrOutsideRoots},
		{root + "/sub/up2/outside", "", ErrOutsideRoots},
		{root + "/dangling", "", ErrUnresolvable},
		{root + "/dangling/x", "", ErrUnresolvable},
		{root + "/loop/x", "", ErrUnresolvable},
		{"", "", ErrNotAbsolute},
		{"relative/path", "", ErrNotAbsolute},
		{"../root", "", ErrNotAbsolute},
		{root + "/a\x00b", "", ErrNotAbsolute},
	}
	for _, c := range cases {
		got, err := r.Confine(c.path)
		if c.kind == 0 {
			if err != nil || got != c.want {
				t.Errorf("Confine(%q) = %q, %v; want %q", c.path, got, err, c.want)
			}
			continue
		}
		var pe *PathError
		if !errors.Is(err, c.kind) || !errors.As(err, &pe) || pe.Path != c.path || got != "" {
			t.Errorf("Confine(%q) = %q, %v; want a %v PathError", c.path, got, err, c.kind)
		}
	}
}

func TestNewRootsRefusals(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dirs := range [][]string{nil, {filepath.Join(dir, "missing")}, {file}, {dir, file}} {
		if _, err := NewRoots(dirs); !errors.Is(err, ErrBadRoot) {
			t.Errorf("NewRoots(%q): %v, want ErrBadRoot", dirs, err)
		}
	}
}
