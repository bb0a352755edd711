package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/shardtorrent/shardtorrent/internal/refpeer"
	"github.com/shardtorrent/shardtorrent/metainfo"
)

// dataset is generated torrents on disk: their data under src (a torrent
// named X is at src/X) and a list file naming their .torrent files.
type dataset struct {
	src      string
	torrents []string
	list     string
	metas    []*metainfo.MetaInfo
	size     int64  // payload bytes over all torrents
	state    string // verifiedState's directory, once made
}

// makeDataset generates n torrents of size bytes each (deterministic
// pseudo-random content) under dir, named prefix0000..., and writes their
// .torrent files and a list of them. Files are written and hashed on every
// CPU.
func makeDataset(dir, prefix string, n int, size, piece int64) (*dataset, error) {
	ds := &dataset{src: filepath.Join(dir, "seed"), list: filepath.Join(dir, prefix+".list"), size: int64(n) * size}
	tdir := filepath.Join(dir, "torrents")
	for _, d := range []string{ds.src, tdir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	ds.torrents = make([]string, n)
	ds.metas = make([]*metainfo.MetaInfo, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	work := make(chan int)
	for range max(2, 2*numCPU()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, min(size, 1<<20))
			for i := range work {
				if err := makeOne(ds, tdir, prefix, i, size, piece, buf); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := os.WriteFile(ds.list, []byte(strings.Join(ds.torrents, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	return ds, nil
}

func makeOne(ds *dataset, tdir, prefix string, i int, size, piece int64, buf []byte) error {
	name := fmt.Sprintf("%s%05d.bin", prefix, i)
	path := filepath.Join(ds.src, name)
	if size > 64<<20 {
		// Large payloads: refpeer's generator streams them.
		if err := refpeer.MakeData(ds.src, map[string]int64{name: size}, int64(i)+1); err != nil {
			return err
		}
	} else {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		r := rand.New(rand.NewPCG(uint64(i)+1, 0x5eed))
		for left := size; left > 0; {
			b := buf[:min(int64(len(buf)), left)]
			for k := 0; k+8 <= len(b); k += 8 {
				v := r.Uint64()
				b[k], b[k+1], b[k+2], b[k+3], b[k+4], b[k+5], b[k+6], b[k+7] =
					byte(v), byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56)
			}
			if _, err := f.Write(b); err != nil {
				f.Close()
				return err
			}
			left -= int64(len(b))
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	tb, mi, err := metainfo.Create(path, metainfo.CreateOptions{PieceLength: piece, CreatedBy: "shardtorrent bench"})
	if err != nil {
		return err
	}
	tp := filepath.Join(tdir, strings.TrimSuffix(name, ".bin")+".torrent")
	if err := os.WriteFile(tp, tb, 0o644); err != nil {
		return err
	}
	ds.torrents[i], ds.metas[i] = tp, mi
	return nil
}

// verifiedState returns a node state directory holding resume data for
// every torrent of ds, made once per dataset by a node that checks them all
// (a full hash) and exits. Seeders started over it serve at once with every
// piece verified, as a node restarted from its resume data does; seed mode
// would instead hash each piece on its first request, inside the window
// being measured. Seeders save into it again at exit (one at a time: no
// scenario runs two of our seeders over one dataset at once).
func (e *env) verifiedState(ds *dataset, dir string) (string, error) {
	if ds.state != "" {
		return ds.state, nil
	}
	state := filepath.Join(dir, "state")
	ctx, cancel := context.WithTimeout(e.ctx, e.o.timeout)
	defer cancel()
	n, err := startNode(ctx, e.self, nodeOpts{name: "check", listen: "off", data: ds.src, torrentList: ds.list,
		exitDone: true, reportDir: dir, state: state})
	if err != nil {
		return "", err
	}
	if _, _, err := n.wait(ctx); err != nil {
		return "", fmt.Errorf("checking the dataset: %w\n%s", err, n.Tail(10))
	}
	ds.state = state
	return state, nil
}
