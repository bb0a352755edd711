package refpeer

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	p, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return p[0], nil
}

// FreePorts returns n distinct free TCP ports on 127.0.0.1 (all listeners
// are held until every port is picked, so they differ).
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// MakeData creates files under dir with deterministic pseudo-random content:
// files maps slash-separated relative paths (nested directories are
// created) to sizes. The content depends only on seed and the path.
func MakeData(dir string, files map[string]int64, seed int64) error {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := makeFile(dir, name, files[name], seed); err != nil {
			return err
		}
	}
	return nil
}

func makeFile(dir, name string, size int64, seed int64) error {
	if !fs.ValidPath(name) || name == "." {
		return fmt.Errorf("refpeer: MakeData: invalid path %q", name)
	}
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	var key [32]byte
	h := sha256.New()
	_ = binary.Write(h, binary.LittleEndian, seed)
	h.Write([]byte(name))
	h.Sum(key[:0])
	rng := rand.NewChaCha8(key)
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := io.CopyN(w, rng, size); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// StateDirName is the node's state directory under its data directory
// (-state's default), which HashFiles leaves out.
const StateDirName = ".shardtorrent"

// HashFiles returns the SHA-256 (hex) of every regular file under dir,
// keyed by slash-separated path relative to dir, leaving out the node's
// state directory (StateDirName). If dir is a regular file the map has one
// entry keyed by its base name.
func HashFiles(dir string) (map[string]string, error) {
	out := map[string]string{}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if fi.Mode().IsRegular() {
		h, err := hashFile(dir)
		if err != nil {
			return nil, err
		}
		out[filepath.Base(dir)] = h
		return out, nil
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == StateDirName {
			return filepath.SkipDir // the node's resume data, not payload
		}
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		h, err := hashFile(p)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = h
		return nil
	})
	return out, err
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// DiffHashes compares two HashFiles results and returns nil if they are
// identical, else an error listing missing, extra and differing files.
func DiffHashes(want, got map[string]string) error {
	var diffs []string
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			diffs = append(diffs, "missing "+name)
		case g != w:
			diffs = append(diffs, "content differs: "+name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			diffs = append(diffs, "unexpected file "+name)
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	slices.Sort(diffs)
	return fmt.Errorf("refpeer: trees differ (%d files expected, %d found):\n  %s", len(want), len(got), strings.Join(diffs, "\n  "))
}
