package shardtorrent

import (
	"go/build"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestLayering holds the import rules of the layering README.md and
// STYLE.md draw, read from the sources with go/build (what `go list
// -deps` reports, without running the go command): a package imports only
// from the layers below it. Test files are not counted: a package's tests
// may use higher layers (shard's tests drive ext/mse's handshake).
func TestLayering(t *testing.T) {
	mod := modulePath(t)
	cases := []struct {
		pkg string // relative to the module
		// deps: check every package reached through imports (go list
		// -deps), not just the package's own imports.
		deps bool
		// forbidden are import paths relative to the module; a trailing
		// "/" forbids the whole tree under it, "." is the root package.
		forbidden []string
		// pending, when set, names what still breaks the rule: the case
		// is skipped with that reason. Clear it when the rule holds.
		pending string
	}{
		{pkg: "plugin", deps: true, forbidden: []string{"shard", "ext/", "."}},
		{pkg: "shard", deps: true, forbidden: []string{"ext/", "."}},
		{pkg: "ext/", deps: true, forbidden: []string{"shard", "."}},
		// The node configures a session through the root package and
		// package settings, never the shard.
		{pkg: "internal/nodecmd", forbidden: []string{"shard"}},
	}
	for _, tc := range cases {
		t.Run(strings.TrimSuffix(tc.pkg, "/"), func(t *testing.T) {
			pkgs := []string{tc.pkg}
			if strings.HasSuffix(tc.pkg, "/") {
				pkgs = packagesUnder(t, strings.TrimSuffix(tc.pkg, "/"))
			}
			var bad []string
			for _, p := range pkgs {
				for imp, via := range localImports(t, mod, p, tc.deps) {
					for _, f := range tc.forbidden {
						if f == imp || (strings.HasSuffix(f, "/") && strings.HasPrefix(imp+"/", f)) {
							bad = append(bad, p+" imports "+imp+": "+via)
						}
					}
				}
			}
			slices.Sort(bad)
			if len(bad) > 0 && tc.pending != "" {
				t.Skipf("pending: %s:\n%s", tc.pending, strings.Join(bad, "\n"))
			}
			if tc.pending != "" {
				t.Fatalf("the rule holds now: clear pending (%s)", tc.pending)
			}
			for _, b := range bad {
				t.Error(b)
			}
		})
	}
}

// TestLayeringCatches: the walk of TestLayering sees a direct import and a
// transitive one (the root package reaches loop through shard), so a
// broken rule cannot pass unnoticed.
func TestLayeringCatches(t *testing.T) {
	mod := modulePath(t)
	if _, ok := localImports(t, mod, ".", false)["shard"]; !ok {
		t.Error("the root package's direct import of shard not seen")
	}
	deps := localImports(t, mod, "internal/nodecmd", true)
	for _, want := range []string{".", "shard", "loop", "ext/mse"} {
		if _, ok := deps[want]; !ok {
			t.Errorf("internal/nodecmd's dependency %q not seen", want)
		}
	}
	if len(packagesUnder(t, "ext")) < 2 {
		t.Error("no packages found under ext/")
	}
}

// modulePath reads the module path from go.mod (the test runs in the
// module's root directory).
func modulePath(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	t.Fatal("go.mod names no module")
	return ""
}

// localImports returns the module's packages that pkg (a directory
// relative to the module root, "." for the root package) imports from its
// non-test files, relative to the module ("." is the root package), each
// with the chain of imports that reaches it. With deps it follows them
// transitively.
func localImports(t *testing.T, mod, pkg string, deps bool) map[string]string {
	t.Helper()
	seen := make(map[string]string)
	var walk func(dir, chain string)
	walk = func(dir, chain string) {
		p, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		for _, imp := range p.Imports {
			var rel string
			switch {
			case imp == mod:
				rel = "."
			case strings.HasPrefix(imp, mod+"/"):
				rel = strings.TrimPrefix(imp, mod+"/")
			default:
				continue
			}
			if _, ok := seen[rel]; ok {
				continue
			}
			seen[rel] = chain + " -> " + rel
			if deps {
				walk(rel, seen[rel])
			}
		}
	}
	walk(pkg, pkg)
	return seen
}

// packagesUnder lists the directories under dir (relative to the module
// root) that hold a Go package, dir included.
func packagesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); path != dir && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		if _, err := build.ImportDir(path, 0); err == nil {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
