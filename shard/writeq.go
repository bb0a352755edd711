package shard

// Write back-pressure: a torrent stops asking peers for more blocks while
// the pieces it handed to the disk workers (hashed and written there) and
// that are not done yet hold more than writeQueueLimit bytes, and asks
// again as soon as a write completes below it. libtorrent does the same
// with max_queued_disk_bytes (it stops reading the socket instead).
//
// Why: the disk queue has no bound (Submit never blocks a loop), and over
// loopback a seeder can send faster than SHA-1 runs (1.6 GB/s per core).
// Without a bound the backlog grew to hundreds of MiB of receive spans
// (leecher peak RSS 135-556 MiB on a 1 GiB transfer), every span of it cold
// in cache by the time a worker copied and hashed it, and the span, job
// and piece pools grew to that working set, allocating as they went. With
// the bound the blocks are hashed while still in cache and the pools stay
// at a few dozen entries. Blocks already requested keep arriving (at most
// the peers' pipelines), so the workers never run dry.

// writeQueueMin is the least writeQueueLimit: enough pieces that every
// disk worker has one to hash and several waiting. 8 MiB measured as
// well as 16 MiB in CPU and throughput (1 GiB, 1 MiB pieces, 3 runs each
// interleaved) with a smaller working set: peak RSS 37 MiB against 45.
const writeQueueMin = 8 << 20

// writeQueue is a torrent's count of piece bytes at the disk workers.
// Loop only. Invariant: queued == the sum of the sizes of the torrent's
// JobWritePiece jobs submitted and not yet completed; stalled implies some
// fillRequests returned early since the last write completed.
type writeQueue struct {
	queued  int64
	stalled bool
}

// writeQueueLimit is the most piece bytes a torrent keeps at the disk
// workers before it stops requesting: writeQueueMin, or four pieces.
func (t *Torrent) writeQueueLimit() int64 {
	return max(writeQueueMin, 4*t.info.PieceLength)
}

// writeBlocked reports whether requesting must wait for the disk, and
// remembers that someone waited. Loop only.
func (t *Torrent) writeBlocked() bool {
	if t.wq.queued < t.writeQueueLimit() {
		return false
	}
	t.wq.stalled = true
	return true
}

// writeSubmitted counts a piece write of n bytes handed to the disk.
// Loop only.
func (t *Torrent) writeSubmitted(n int64) { t.wq.queued += n }

// writeCompleted counts a piece write of n bytes done; below the limit it
// refills the pipelines that stalled on the queue. Loop only.
func (t *Torrent) writeCompleted(n int64) {
	t.wq.queued -= n
	if t.wq.stalled && t.wq.queued < t.writeQueueLimit() && !t.removed {
		t.wq.stalled = false
		t.requestFromAll()
	}
}
