package nodecmd

// The node's state directory (-state, default DATA/.shardtorrent): one
// resume file per torrent, written by the session (Settings.ResumeDir).
// At start the node re-adds every torrent found there from its resume data
// (the info dictionary is inside), without hashing, and adopts another
// client's resume directory with -import-resume.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	shardtorrent "github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/resume"
)

// stateDirName is the state directory under -data when -state is not given.
const stateDirName = ".shardtorrent"

// stateDir resolves -state. Fleet members sharing one data directory
// get one state directory each by default (DATA/.shardtorrent/fleet-I-of-N):
// each saves only its share.
func stateDir(flagValue, dataDir string, fleet shardtorrent.Fleet) string {
	if flagValue == "off" {
		return "" // no resume data: every start checks, as before it existed
	}
	if flagValue != "" {
		return flagValue
	}
	if fleet.N > 0 {
		return filepath.Join(dataDir, stateDirName, fmt.Sprintf("fleet-%d-of-%d", fleet.I, fleet.N))
	}
	return filepath.Join(dataDir, stateDirName)
}

// loadState reads the torrents to resume: first those adopted from
// importDir (if set; each is saved into the state directory at once, so
// the next start finds it there), then every resume file in the state
// directory. A torrent in both comes once. Unreadable files are reported on
// out and skipped. It runs before the session starts (Store.LoadAll must
// not run beside the session's saves). dataDir is the save path of
// torrents whose resume data names none.
func loadState(state, importDir, dataDir string, out io.Writer) ([]shardtorrent.AddTorrentParams, error) {
	if state == "" {
		if importDir != "" {
			return nil, errors.New("-import-resume needs a -state directory (not off)")
		}
		return nil, nil
	}
	if _, err := os.Stat(state); errors.Is(err, fs.ErrNotExist) && importDir == "" {
		return nil, nil // a first start: the session creates it
	}
	st, err := resume.OpenStore(state)
	if err != nil {
		return nil, fmt.Errorf("-state: %w", err)
	}
	if importDir != "" {
		ims, errs := resume.ImportDir(importDir)
		for _, err := range errs {
			fmt.Fprintf(out, "import-resume: %v\n", err)
		}
		for _, im := range ims {
			if im.Data.SavePath == "" {
				im.Data.SavePath = dataDir
			}
			if err := st.Save(im.Data.InfoHash, im.Data); err != nil {
				return nil, fmt.Errorf("-import-resume: %w", err)
			}
		}
		fmt.Fprintf(out, "imported %d torrents from %s into %s\n", len(ims), importDir, state)
	}
	ds, errs := st.LoadAll()
	for _, err := range errs {
		fmt.Fprintf(out, "state: %v\n", err)
	}
	ps := make([]shardtorrent.AddTorrentParams, 0, len(ds))
	for _, d := range ds {
		p, err := shardtorrent.ParamsFromResume(d)
		if err != nil {
			fmt.Fprintf(out, "state: %v\n", err)
			continue
		}
		if p.MetaInfo == nil {
			// No info inside: the torrent would wait for metadata
			// from peers. Kept, as a magnet with its progress.
			p.Name = d.Name
		}
		if p.SavePath == "" {
			p.SavePath = dataDir
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// addResumed adds the torrents read from the state directory in one batch
// and prints how many resumed and how many had to be re-checked (their
// files changed since the save, or the data did not fit).
func (n *node) addResumed(ctx context.Context, ps []shardtorrent.AddTorrentParams) error {
	if len(ps) == 0 {
		return nil
	}
	start := time.Now()
	var mine []shardtorrent.AddTorrentParams
	for _, p := range ps {
		// Not n.mine: a torrent of another share (after -fleet changed)
		// is not one the command line gave, so it is not counted.
		if _, dup := n.byHash[p.InfoHash]; dup || !n.fleet.Has(p.InfoHash) {
			continue
		}
		p.Peers = append(p.Peers, n.peers...)
		mine = append(mine, p)
	}
	hs, errs := n.sess.AddTorrents(ctx, mine)
	var added []*shardtorrent.Torrent
	for i, h := range hs {
		if errs[i] != nil {
			fmt.Fprintf(n.out, "resume %s: %v\n", mine[i].InfoHash, errs[i])
			continue
		}
		ih := mine[i].InfoHash
		n.byHash[ih] = &tracked{h: h}
		n.order = append(n.order, ih)
		added = append(added, h)
	}
	rechecked := countRechecked(ctx, n.sess, added)
	fmt.Fprintf(n.out, "resumed %d torrents (%d re-checked) in %.3f s\n", len(added), rechecked, time.Since(start).Seconds())
	return nil
}

// countRechecked counts the torrents of hs whose resume data was rejected,
// from one status round per shard (Session.TorrentStatuses), not one round
// trip per torrent: a node may resume 10,000.
func countRechecked(ctx context.Context, sess *shardtorrent.Session, hs []*shardtorrent.Torrent) int {
	sts, err := sess.TorrentStatuses(ctx, nil)
	if err != nil {
		return 0
	}
	added := make(map[metainfo.InfoHash]bool, len(hs))
	for _, h := range hs {
		added[h.InfoHash()] = true
	}
	count := 0
	for i := range sts {
		if sts[i].ResumeRejected && added[sts[i].InfoHash] {
			count++
		}
	}
	return count
}
