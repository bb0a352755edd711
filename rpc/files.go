package rpc

// File selection and priorities: torrent-add's and torrent-set's
// "files-wanted", "files-unwanted", "priority-high", "priority-low" and
// "priority-normal", and torrent-get's "wanted", "priorities" and
// "fileStats", over the engine's file priorities (shardtorrent.Priority,
// libtorrent's 0-7).
//
// Transmission keeps a file's wanted flag and its priority apart; the
// engine has one value, 0 meaning skipped. So:
//   - files-unwanted sets 0; files-wanted sets a skipped file to the
//     default (4) and leaves a wanted one as it is; they apply first, in
//     that order, as Transmission's torrent-set.
//   - priority-high/normal/low set 7/4/1 on files wanted after that; on a
//     skipped file they are ignored (Transmission would remember the
//     priority for when the file is wanted again; the engine cannot).
//   - torrent-get reads wanted as priority > 0, and priority as high (1)
//     for 5-7, normal (0) for 4 and for a skipped file, low (-1) for 1-3.
//   - An empty list means every file, as in Transmission; an index out of
//     range is refused (*ArgError) and nothing changes.

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/shardtorrent/shardtorrent"
	"github.com/shardtorrent/shardtorrent/metainfo"
)

type metainfoFile = metainfo.File

// Transmission's file priorities (TR_PRI_LOW, TR_PRI_NORMAL, TR_PRI_HIGH).
const (
	trPriLow    = -1
	trPriNormal = 0
	trPriHigh   = 1
)

// The engine priorities the Transmission ones set.
const (
	engineLow    = shardtorrent.PriorityLow
	engineNormal = shardtorrent.PriorityDefault
	engineHigh   = shardtorrent.PriorityTop
)

// fileArgKeys are the file arguments in the order they apply.
var fileArgKeys = [...]string{"files-unwanted", "files-wanted", "priority-high", "priority-low", "priority-normal"}

// fileArgs are the file arguments of one request; lists[i] is the list of
// fileArgKeys[i], given[i] whether it was present.
type fileArgs struct {
	lists [len(fileArgKeys)][]int
	given [len(fileArgKeys)]bool
}

// parse takes argument k into fa if it is a file argument.
func (fa *fileArgs) parse(k string, v json.RawMessage) (bool, error) {
	for i, key := range fileArgKeys {
		if k != key {
			continue
		}
		var l []int
		if err := json.Unmarshal(v, &l); err != nil {
			return true, &ArgError{Arg: k, Reason: "want a list of file indexes"}
		}
		for _, x := range l {
			if x < 0 {
				return true, &ArgError{Arg: k, Reason: "file index " + strconv.Itoa(x) + " is negative"}
			}
		}
		fa.lists[i], fa.given[i] = l, true
		return true, nil
	}
	return false, nil
}

// any reports whether a file argument was given.
func (fa *fileArgs) any() bool {
	for _, g := range fa.given {
		if g {
			return true
		}
	}
	return false
}

// apply returns cur (the priorities by file index) changed by fa. n is the
// number of files, or -1 when the metadata is unknown (then an empty list,
// "every file", is refused, and priorities past cur default).
func (fa *fileArgs) apply(cur []shardtorrent.Priority, n int) ([]shardtorrent.Priority, error) {
	out := append([]shardtorrent.Priority(nil), cur...)
	for n >= 0 && len(out) < n {
		out = append(out, shardtorrent.PriorityDefault)
	}
	for i, key := range fileArgKeys {
		if !fa.given[i] {
			continue
		}
		idx := fa.lists[i]
		if len(idx) == 0 {
			if n < 0 {
				return nil, &ArgError{Arg: key, Reason: "the torrent's files are not known yet: name them by index"}
			}
			idx = make([]int, n)
			for j := range idx {
				idx[j] = j
			}
		}
		for _, x := range idx {
			if n >= 0 && x >= n {
				return nil, &ArgError{Arg: key, Reason: fmt.Sprintf("file index %d out of range: the torrent has %d files", x, n)}
			}
			if n < 0 && x >= maxPendingFileIndex {
				return nil, &ArgError{Arg: key, Reason: fmt.Sprintf("file index %d is too large", x)}
			}
			for len(out) <= x {
				out = append(out, shardtorrent.PriorityDefault)
			}
			switch key {
			case "files-unwanted":
				out[x] = shardtorrent.PriorityDontDownload
			case "files-wanted":
				if out[x] == shardtorrent.PriorityDontDownload {
					out[x] = engineNormal
				}
			default:
				if out[x] == shardtorrent.PriorityDontDownload {
					continue // skipped: see the file comment
				}
				out[x] = enginePriority(key)
			}
		}
	}
	return out, nil
}

// enginePriority is the engine priority a priority-* argument sets.
func enginePriority(key string) shardtorrent.Priority {
	switch key {
	case "priority-high":
		return engineHigh
	case "priority-low":
		return engineLow
	}
	return engineNormal
}

// visibleFiles is the number of files of mi that Torrent.Files lists (pad
// files left out).
func visibleFiles(info []metainfoFile) int {
	n := 0
	for _, f := range info {
		if !f.IsPad() {
			n++
		}
	}
	return n
}

// setFilePriorities applies fa to torrent t. Safe from any goroutine.
func setFilePriorities(ctx context.Context, t *shardtorrent.Torrent, fa *fileArgs) error {
	files, err := t.Files(ctx)
	if err != nil {
		return err
	}
	cur, err := t.FilePriorities(ctx)
	if err != nil {
		return err
	}
	n := -1
	if files != nil {
		n = len(files)
	}
	prios, err := fa.apply(cur, n)
	if err != nil {
		return err
	}
	return t.SetFilePriorities(ctx, prios)
}

// maxPendingFileIndex bounds the file indexes accepted for a torrent whose
// metadata is unknown (the engine keeps them until it arrives).
const maxPendingFileIndex = 1 << 16

// trPriority is Transmission's priority for an engine priority.
func trPriority(p shardtorrent.Priority) int {
	switch {
	case p == shardtorrent.PriorityDontDownload || p == engineNormal:
		return trPriNormal
	case p < engineNormal:
		return trPriLow
	}
	return trPriHigh
}

// appendTrPriority appends trPriority(p).
func appendTrPriority(b []byte, p shardtorrent.Priority) []byte {
	return strconv.AppendInt(b, int64(trPriority(p)), 10)
}
