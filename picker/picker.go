// Package picker decides which blocks to request from which peer.
//
// The semantics follow libtorrent's piece picker:
//
//   - Priority groups come first: a piece of priority 7 is picked before any
//     piece of priority 6, and so on down to 1. Priority 0 means "don't
//     download". New pieces start at DefaultPriority (4).
//   - Within a priority group, partially downloaded pieces are finished first
//     ("prefer partials"), which keeps the number of open pieces small.
//   - Otherwise the rarest piece wins: pieces sit in buckets keyed by
//     (priority, availability), and within a bucket in random order, so equal
//     pieces are tie-broken at random by the caller's rng.
//   - End game: once no wanted block is left unrequested (InEndgame), a peer
//     may be given blocks that another peer already has outstanding, at most
//     MaxRequesters outstanding requests per block, never twice to one peer.
//
// Availability is counted per piece for peers that sent a bitfield or HAVEs;
// peers that have everything are counted once in a seed counter (AddSeed) so
// that they cost O(1) and never reorder the buckets.
//
// Threading: a Picker is loop only. It belongs to one shard's event loop
// goroutine and takes no locks; no method may be called concurrently.
//
// Hot paths (Pick into a dst with spare capacity, Received, Abort,
// IncAvailability, DecAvailability) do not allocate in steady state: partial
// piece records are recycled through a free list and buckets keep their
// capacity. See alloc_test.go.
package picker

import (
	"fmt"
	"math/rand/v2"

	"github.com/shardtorrent/shardtorrent/bitfield"
)

// Invariants (verified by (*Picker).check after every step of the tests):
//   - A piece is in a bucket iff !have && prio > 0 && it is not downloading;
//     then buckets[prio][avail][pos] is that piece.
//   - A piece is downloading iff its dl index is >= 0; then
//     downloads[dl].piece is that piece, and the piece is not had.
//   - In a download, free/requested/received equal the number of blocks in
//     each state; a free block has no requesters; a requested block has
//     1..MaxRequesters distinct requesters; a download always has at least
//     one requested or received block (otherwise it is released).
//   - haveCount, wantedLeft, bucketLen, dlPrio and freeWanted equal what a
//     full recount gives.

// Piece priorities.
const (
	// DontDownload excludes a piece from picking and from Complete.
	DontDownload = 0
	// DefaultPriority is the priority every piece starts with.
	DefaultPriority = 4
	// MaxPriority is the highest priority; higher values are clamped.
	MaxPriority = 7
)

// MaxRequesters bounds how many peers may have the same block outstanding.
// Outside end game a block has at most one requester; in end game a second
// peer may ask for it too. Two is enough to route around one slow peer, and
// bounds the bandwidth end game can waste to one duplicate per block; a peer
// that stalls both copies is the caller's request timeout's business (Abort).
const MaxRequesters = 2

// Block is one request: Length bytes at offset Begin within piece Piece.
type Block struct {
	Piece  uint32
	Begin  uint32
	Length uint32
}

// Peer is a caller-assigned key for a connection. The picker stores it, never
// interprets it; keys must be unique among connected peers.
type Peer uint32

// Block states within a downloading piece. "Finished" (written and verified)
// is not a block state: a verified piece leaves the downloading set.
const (
	blockFree      uint8 = iota // nobody asked for it
	blockRequested              // outstanding with 1..MaxRequesters peers
	blockReceived               // data arrived (being written / awaiting hash)
)

type blockInfo struct {
	state uint8
	nreq  uint8
	req   [MaxRequesters]Peer
	from  Peer // a received block's sender (the first copy's); see soleSource
}

// download is the state of one partially downloaded piece.
type download struct {
	piece     uint32
	blocks    []blockInfo
	free      int // blocks in blockFree
	requested int // blocks in blockRequested
	received  int // blocks in blockReceived
	reqs      int // requester entries over all blocks (for AbortPeer)
	// exclusive: started by owner while it was on parole (parole.go); no
	// other peer gets blocks of it.
	exclusive bool
	owner     Peer
}

type pieceInfo struct {
	avail int32 // peers with a bitfield that have it; seeds are not included
	pos   int32 // index in buckets[prio][avail], or -1
	dl    int32 // index in downloads, or -1
	prio  uint8
	have  bool
}

// Picker is a block-level piece picker. Create one with New.
type Picker struct {
	numPieces   int
	pieceLength int64
	totalLength int64
	blockSize   int
	rng         *rand.Rand

	pieces []pieceInfo
	// buckets[prio][avail] holds the wanted pieces of that priority and
	// availability that are neither had nor downloading, in random order.
	buckets   [MaxPriority + 1][][]uint32
	bucketLen [MaxPriority + 1]int // pieces in buckets[prio]

	downloads []*download
	pool      []*download          // released downloads kept for reuse (no alloc)
	dlPrio    [MaxPriority + 1]int // downloads by the priority of their piece

	parole []Peer // peers on parole (parole.go), few

	seeds      int
	haveCount  int
	wantedLeft int // pieces with prio > 0 that are not had
	freeWanted int // free blocks over downloads of wanted (prio > 0) pieces

	deadlines []deadline // time-critical pieces, soonest first (deadline.go)
}

// New returns a picker for a torrent of numPieces pieces of pieceLength
// bytes (the last one shorter, as totalLength says) cut into blocks of
// blockSize bytes (normally 16 KiB; the last block of a piece may be
// shorter). rng breaks ties between equally rare pieces and must not be nil.
// New panics on inconsistent geometry: it is the metainfo's job to reject it.
func New(numPieces int, pieceLength, totalLength int64, blockSize int, rng *rand.Rand) *Picker {
	if numPieces < 0 || pieceLength <= 0 || blockSize <= 0 || rng == nil ||
		pieceLength > 1<<32-1 ||
		totalLength > int64(numPieces)*pieceLength ||
		(numPieces > 0 && totalLength <= int64(numPieces-1)*pieceLength) {
		panic(fmt.Sprintf("picker: bad geometry: %d pieces of %d, total %d, block %d",
			numPieces, pieceLength, totalLength, blockSize))
	}
	p := &Picker{
		numPieces:   numPieces,
		pieceLength: pieceLength,
		totalLength: totalLength,
		blockSize:   blockSize,
		rng:         rng,
		pieces:      make([]pieceInfo, numPieces),
		wantedLeft:  numPieces,
	}
	p.buckets[DefaultPriority] = [][]uint32{make([]uint32, 0, numPieces)}
	for i := range p.pieces {
		p.pieces[i] = pieceInfo{pos: -1, dl: -1, prio: DefaultPriority}
		p.insert(i)
	}
	return p
}

// NumPieces returns the number of pieces.
func (p *Picker) NumPieces() int { return p.numPieces }

func (p *Picker) pieceLen(piece int) int64 {
	if piece == p.numPieces-1 {
		return p.totalLength - int64(piece)*p.pieceLength
	}
	return p.pieceLength
}

// BlocksInPiece returns the number of blocks in piece.
func (p *Picker) BlocksInPiece(piece int) int {
	return int((p.pieceLen(piece) + int64(p.blockSize) - 1) / int64(p.blockSize))
}

// BlockLength returns the length of block number block of piece.
func (p *Picker) BlockLength(piece, block int) uint32 {
	rest := p.pieceLen(piece) - int64(block)*int64(p.blockSize)
	return uint32(min(rest, int64(p.blockSize)))
}

// Valid reports whether b is a block of this torrent as the picker cuts it
// (piece in range, Begin on a block boundary, exact Length). Use it on a
// peer's PIECE, REJECT or REQUEST before passing the block on.
func (p *Picker) Valid(b Block) bool {
	if int64(b.Piece) >= int64(p.numPieces) || b.Begin%uint32(p.blockSize) != 0 {
		return false
	}
	blk := int(b.Begin) / p.blockSize
	return blk < p.BlocksInPiece(int(b.Piece)) && b.Length == p.BlockLength(int(b.Piece), blk)
}

// ---- our own progress ----

// SetHave marks piece as had (verified on disk, e.g. at resume) so it is
// never picked again. Its outstanding requests are forgotten; cancelling them
// on the wire is the caller's job.
func (p *Picker) SetHave(piece int) {
	pc := &p.pieces[piece]
	if pc.have {
		return
	}
	if pc.dl >= 0 {
		p.release(int(pc.dl))
	}
	if pc.pos >= 0 {
		p.remove(piece)
	}
	if len(p.deadlines) > 0 {
		p.ClearDeadline(piece)
	}
	pc.have = true
	p.haveCount++
	if pc.prio > 0 {
		p.wantedLeft--
	}
}

// ClearHave marks a had piece as missing again (its data vanished from
// disk): it becomes pickable with its current priority and availability.
func (p *Picker) ClearHave(piece int) {
	pc := &p.pieces[piece]
	if !pc.have {
		return
	}
	pc.have = false
	p.haveCount--
	if pc.prio > 0 {
		p.wantedLeft++
		if pc.dl < 0 {
			p.insert(piece)
		}
	}
}

// Have reports whether piece is had.
func (p *Picker) Have(piece int) bool { return p.pieces[piece].have }

// HaveCount returns the number of pieces had.
func (p *Picker) HaveCount() int { return p.haveCount }

// Complete reports whether every wanted (priority > 0) piece is had.
func (p *Picker) Complete() bool { return p.wantedLeft == 0 }

// Priority returns the priority of piece.
func (p *Picker) Priority(piece int) int { return int(p.pieces[piece].prio) }

// SetPriority sets the priority of piece: DontDownload (0) up to
// MaxPriority (7); values outside that range are clamped. A downloading
// piece set to 0 keeps its received blocks but hands out no more.
func (p *Picker) SetPriority(piece int, prio int) {
	prio = max(DontDownload, min(prio, MaxPriority))
	pc := &p.pieces[piece]
	old := int(pc.prio)
	if old == prio {
		return
	}
	if pc.pos >= 0 {
		p.remove(piece)
	}
	if !pc.have {
		if old == 0 {
			p.wantedLeft++
		} else if prio == 0 {
			p.wantedLeft--
		}
	}
	if pc.dl >= 0 {
		d := p.downloads[pc.dl]
		p.dlPrio[old]--
		p.dlPrio[prio]++
		if old > 0 {
			p.freeWanted -= d.free
		}
		if prio > 0 {
			p.freeWanted += d.free
		}
	}
	pc.prio = uint8(prio)
	if !pc.have && pc.dl < 0 && prio > 0 {
		p.insert(piece)
	}
}

// ---- swarm availability ----

// AddPeerBitfield counts a newly connected peer's pieces. Bits past
// NumPieces are ignored. A peer that has every piece is cheaper counted with
// AddSeed.
func (p *Picker) AddPeerBitfield(bf *bitfield.Bitfield) {
	for i := bf.NextSet(0); i >= 0 && i < p.numPieces; i = bf.NextSet(i + 1) {
		p.IncAvailability(i)
	}
}

// RemovePeerBitfield uncounts a departing peer's pieces; bf must hold what
// was counted (its bitfield plus the HAVEs passed to IncAvailability).
func (p *Picker) RemovePeerBitfield(bf *bitfield.Bitfield) {
	for i := bf.NextSet(0); i >= 0 && i < p.numPieces; i = bf.NextSet(i + 1) {
		p.DecAvailability(i)
	}
}

// AddSeed counts a peer that has every piece (HAVE_ALL or a full bitfield).
func (p *Picker) AddSeed() { p.seeds++ }

// RemoveSeed uncounts a peer counted with AddSeed.
func (p *Picker) RemoveSeed() {
	if p.seeds > 0 {
		p.seeds--
	}
}

// IncAvailability counts one more peer having piece (a HAVE message).
func (p *Picker) IncAvailability(piece int) {
	pc := &p.pieces[piece]
	if pc.pos >= 0 {
		p.remove(piece)
		pc.avail++
		p.insert(piece)
		return
	}
	pc.avail++
}

// DecAvailability counts one fewer peer having piece (lt_donthave, or a
// departing peer). It never goes below zero.
func (p *Picker) DecAvailability(piece int) {
	pc := &p.pieces[piece]
	if pc.avail == 0 {
		return
	}
	if pc.pos >= 0 {
		p.remove(piece)
		pc.avail--
		p.insert(piece)
		return
	}
	pc.avail--
}

// Availability returns how many connected peers have piece, seeds included.
func (p *Picker) Availability(piece int) int { return int(p.pieces[piece].avail) + p.seeds }

// ---- buckets ----

// insert puts a wanted, idle piece at a uniformly random position of its
// bucket (the inside-out Fisher-Yates step), so bucket order is a random
// permutation and equal pieces are tie-broken by the rng.
func (p *Picker) insert(piece int) {
	pc := &p.pieces[piece]
	prio, avail := pc.prio, int(pc.avail)
	bs := p.buckets[prio]
	for len(bs) <= avail {
		bs = append(bs, nil) // grows only when a new availability is reached
	}
	p.buckets[prio] = bs
	b := append(bs[avail], uint32(piece))
	last := len(b) - 1
	j := p.rng.IntN(last + 1)
	b[last] = b[j]
	p.pieces[b[last]].pos = int32(last)
	b[j] = uint32(piece)
	pc.pos = int32(j)
	bs[avail] = b
	p.bucketLen[prio]++
}

// remove swap-removes piece from its bucket.
func (p *Picker) remove(piece int) {
	pc := &p.pieces[piece]
	b := p.buckets[pc.prio][pc.avail]
	last := len(b) - 1
	moved := b[last]
	b[pc.pos] = moved
	p.pieces[moved].pos = pc.pos
	p.buckets[pc.prio][pc.avail] = b[:last]
	p.bucketLen[pc.prio]--
	pc.pos = -1
}

// ---- downloads ----

// start moves an idle piece from its bucket to the downloading set.
func (p *Picker) start(piece int) *download {
	pc := &p.pieces[piece]
	if pc.pos >= 0 {
		p.remove(piece)
	}
	var d *download
	if n := len(p.pool); n > 0 {
		d = p.pool[n-1]
		p.pool[n-1] = nil
		p.pool = p.pool[:n-1]
	} else {
		d = new(download)
	}
	nb := p.BlocksInPiece(piece)
	if cap(d.blocks) < nb {
		d.blocks = make([]blockInfo, nb, p.BlocksInPiece(0))
	}
	d.blocks = d.blocks[:nb]
	clear(d.blocks)
	*d = download{piece: uint32(piece), blocks: d.blocks, free: nb}
	pc.dl = int32(len(p.downloads))
	p.downloads = append(p.downloads, d)
	p.dlPrio[pc.prio]++
	if pc.prio > 0 {
		p.freeWanted += nb
	}
	return d
}

// release drops downloads[i] (its blocks' states and requesters are
// forgotten) and returns the piece to its bucket if it is still wanted.
func (p *Picker) release(i int) {
	d := p.downloads[i]
	piece := int(d.piece)
	pc := &p.pieces[piece]
	last := len(p.downloads) - 1
	if i != last {
		p.downloads[i] = p.downloads[last]
		p.pieces[p.downloads[i].piece].dl = int32(i)
	}
	p.downloads[last] = nil
	p.downloads = p.downloads[:last]
	p.dlPrio[pc.prio]--
	if pc.prio > 0 {
		p.freeWanted -= d.free
	}
	pc.dl = -1
	p.pool = append(p.pool, d)
	if !pc.have && pc.prio > 0 {
		p.insert(piece)
	}
}

// blockRef resolves b to its download and block, or nil if b is invalid or
// its piece is not downloading.
func (p *Picker) blockRef(b Block) (*download, *blockInfo) {
	if !p.Valid(b) {
		return nil, nil
	}
	pc := &p.pieces[b.Piece]
	if pc.dl < 0 {
		return nil, nil
	}
	d := p.downloads[pc.dl]
	return d, &d.blocks[int(b.Begin)/p.blockSize]
}

// dropRequester removes peer from bi's requesters; a requested block left
// with none becomes free. It reports whether peer was a requester.
func (p *Picker) dropRequester(d *download, bi *blockInfo, peer Peer) bool {
	for k := 0; k < int(bi.nreq); k++ {
		if bi.req[k] != peer {
			continue
		}
		bi.nreq--
		bi.req[k] = bi.req[bi.nreq]
		bi.req[bi.nreq] = 0
		d.reqs--
		if bi.state == blockRequested && bi.nreq == 0 {
			bi.state = blockFree
			d.requested--
			d.free++
			if p.pieces[d.piece].prio > 0 {
				p.freeWanted++
			}
		}
		return true
	}
	return false
}

// request records peer as a requester of block k of d.
func (p *Picker) request(d *download, k int, peer Peer) Block {
	bi := &d.blocks[k]
	if bi.state == blockFree {
		bi.state = blockRequested
		d.free--
		d.requested++
		if p.pieces[d.piece].prio > 0 {
			p.freeWanted--
		}
	}
	bi.req[bi.nreq] = peer
	bi.nreq++
	d.reqs++
	return Block{Piece: d.piece, Begin: uint32(k * p.blockSize), Length: p.BlockLength(int(d.piece), k)}
}

// ---- picking ----

func peerHasPiece(has *bitfield.Bitfield, isSeed bool, piece int) bool {
	return isSeed || (has != nil && has.Has(piece))
}

// Pick appends to dst up to max blocks to request from peer and records
// them as requested by it. peerHas is the peer's bitfield (it may be nil when
// isSeed). Returned blocks are never had, received, or already outstanding
// with this peer; outside end game they are outstanding with nobody.
// With a dst of enough capacity Pick does not allocate in steady state.
func (p *Picker) Pick(dst []Block, peer Peer, peerHas *bitfield.Bitfield, isSeed bool, max int) []Block {
	if max <= 0 || (!isSeed && (peerHas == nil || peerHas.None())) {
		return dst
	}
	want := max
	parole := p.OnParole(peer)
	for prio := MaxPriority; prio > 0 && want > 0; prio-- {
		// Partials first: finish what was started.
		if p.dlPrio[prio] > 0 {
			for _, d := range p.downloads {
				if d.free == 0 || int(p.pieces[d.piece].prio) != prio ||
					!peerHasPiece(peerHas, isSeed, int(d.piece)) ||
					!p.mayShare(d, peer, parole) {
					continue
				}
				if parole {
					// Its own partial (mayShare): keep it so.
					d.exclusive, d.owner = true, peer
				}
				dst, want = p.pickFree(dst, d, peer, want)
				if want == 0 {
					return dst
				}
			}
		}
		// Then the rarest idle piece, random among equals.
		if p.bucketLen[prio] == 0 {
			continue
		}
		for _, bucket := range p.buckets[prio] {
			for i := 0; i < len(bucket); {
				piece := int(bucket[i])
				if !peerHasPiece(peerHas, isSeed, piece) {
					i++
					continue
				}
				// start swap-removes bucket[i]; the element moved
				// into i is examined next.
				d := p.start(piece)
				if parole {
					d.exclusive, d.owner = true, peer
				}
				bucket = bucket[:len(bucket)-1]
				dst, want = p.pickFree(dst, d, peer, want)
				if want == 0 {
					return dst
				}
			}
		}
	}
	// No end-game duplicates for a peer on parole (libtorrent neither):
	// they would give a piece a second sender.
	if want > 0 && !parole && p.InEndgame() {
		dst = p.pickBusy(dst, peer, peerHas, isSeed, want)
	}
	return dst
}

func (p *Picker) pickFree(dst []Block, d *download, peer Peer, want int) ([]Block, int) {
	for k := range d.blocks {
		if d.free == 0 || want == 0 {
			break
		}
		if d.blocks[k].state == blockFree {
			dst = append(dst, p.request(d, k, peer))
			want--
		}
	}
	return dst, want
}

// pickBusy hands out end-game duplicates: requested blocks of wanted pieces
// that have fewer than MaxRequesters requesters, none of them peer.
func (p *Picker) pickBusy(dst []Block, peer Peer, peerHas *bitfield.Bitfield, isSeed bool, want int) []Block {
	for _, d := range p.downloads {
		if d.requested == 0 || p.pieces[d.piece].prio == 0 ||
			!peerHasPiece(peerHas, isSeed, int(d.piece)) ||
			!p.mayShare(d, peer, false) {
			continue
		}
		if dst, want = p.pickBusyIn(dst, d, peer, want); want == 0 {
			return dst
		}
	}
	return dst
}

// InEndgame reports whether every wanted block that is not had is requested
// or received, while the download is not complete. Pick then hands out
// duplicate requests (see MaxRequesters).
func (p *Picker) InEndgame() bool {
	total := 0
	for _, n := range p.bucketLen[1:] {
		total += n
	}
	return total == 0 && p.freeWanted == 0 && p.wantedLeft > 0
}

// Downloading returns the number of partially downloaded pieces (requested
// or received blocks, not yet passed or failed).
func (p *Picker) Downloading() int { return len(p.downloads) }

// ---- block lifecycle ----

// Received records that the data of b arrived from peer; the first copy
// wins. duplicate reports that the data is not needed: the block was already
// received, its piece is had or not wanted, or b is not a valid block. When
// pieceComplete is true every block of the piece is in: hash it, then call
// PiecePassed or PieceFailed.
//
// The other peers that still have b outstanding stay listed, so that after
// Received the caller can find them with OtherRequesters and CANCEL; they
// leave the list through Abort, AbortPeer, their own (duplicate) Received,
// or when the piece leaves the downloading set.
func (p *Picker) Received(b Block, peer Peer) (pieceComplete, duplicate bool) {
	if !p.Valid(b) {
		return false, true
	}
	pc := &p.pieces[b.Piece]
	if pc.have {
		return false, true
	}
	if pc.dl < 0 {
		if pc.prio == 0 {
			return false, true
		}
		p.start(int(b.Piece)) // unrequested but useful data
	}
	d := p.downloads[pc.dl]
	bi := &d.blocks[int(b.Begin)/p.blockSize]
	switch bi.state {
	case blockReceived:
		p.dropRequester(d, bi, peer)
		return false, true
	case blockRequested:
		// Remove peer before the state change so that dropRequester
		// does not see an orphaned request.
		bi.state = blockReceived
		d.requested--
		p.dropRequester(d, bi, peer)
	case blockFree:
		bi.state = blockReceived
		d.free--
		if pc.prio > 0 {
			p.freeWanted--
		}
	}
	bi.from = peer
	d.received++
	return d.received == len(d.blocks), false
}

// OtherRequesters appends to dst the peers other than except that have b
// outstanding; in end game these are the ones to CANCEL after Received.
func (p *Picker) OtherRequesters(b Block, except Peer, dst []Peer) []Peer {
	_, bi := p.blockRef(b)
	if bi == nil {
		return dst
	}
	for _, r := range bi.req[:bi.nreq] {
		if r != except {
			dst = append(dst, r)
		}
	}
	return dst
}

// Requested reports whether peer has b outstanding according to the picker.
func (p *Picker) Requested(b Block, peer Peer) bool {
	_, bi := p.blockRef(b)
	if bi == nil {
		return false
	}
	for _, r := range bi.req[:bi.nreq] {
		if r == peer {
			return true
		}
	}
	return false
}

// Abort forgets peer's request for b (cancelled, rejected, choked, timed
// out). A block left with no requester becomes pickable again; a piece left
// with no requested or received block goes back to its bucket.
func (p *Picker) Abort(b Block, peer Peer) {
	d, bi := p.blockRef(b)
	if bi == nil || !p.dropRequester(d, bi, peer) {
		return
	}
	if d.requested == 0 && d.received == 0 {
		p.release(int(p.pieces[d.piece].dl))
	}
}

// AbortPeer forgets every request of peer (it disconnected or choked us).
// It costs O(blocks of downloading pieces that peer may appear in); pieces
// with no requester entries are skipped.
func (p *Picker) AbortPeer(peer Peer) {
	for i := len(p.downloads) - 1; i >= 0; i-- {
		d := p.downloads[i]
		if d.exclusive && d.owner == peer {
			d.exclusive = false // others may finish it now (Unreserve)
		}
		if d.reqs == 0 {
			continue
		}
		for k := range d.blocks {
			if d.blocks[k].nreq > 0 {
				p.dropRequester(d, &d.blocks[k], peer)
			}
		}
		// release swaps the last download into i; it was visited.
		if d.requested == 0 && d.received == 0 {
			p.release(i)
		}
	}
}

// PiecePassed marks piece as had after its hash checked out.
func (p *Picker) PiecePassed(piece int) { p.SetHave(piece) }

// PieceFailed returns every block of piece to the pickable pool after its
// hash failed. Requests still in flight for it are forgotten.
func (p *Picker) PieceFailed(piece int) {
	pc := &p.pieces[piece]
	if pc.dl >= 0 {
		p.release(int(pc.dl))
	}
}

// ---- invariants ----

// check verifies the invariants listed at the top of this file.
func (p *Picker) check() error {
	var bucketLen [MaxPriority + 1]int
	var dlPrio [MaxPriority + 1]int
	haveCount, wantedLeft, freeWanted := 0, 0, 0
	for i := range p.pieces {
		pc := &p.pieces[i]
		if pc.avail < 0 {
			return fmt.Errorf("piece %d: avail %d", i, pc.avail)
		}
		if pc.have {
			haveCount++
		} else if pc.prio > 0 {
			wantedLeft++
		}
		wantBucket := !pc.have && pc.prio > 0 && pc.dl < 0
		if wantBucket != (pc.pos >= 0) {
			return fmt.Errorf("piece %d: in bucket %v, want %v (have=%v prio=%d dl=%d)",
				i, pc.pos >= 0, wantBucket, pc.have, pc.prio, pc.dl)
		}
		if pc.pos >= 0 {
			bs := p.buckets[pc.prio]
			if int(pc.avail) >= len(bs) || int(pc.pos) >= len(bs[pc.avail]) ||
				bs[pc.avail][pc.pos] != uint32(i) {
				return fmt.Errorf("piece %d: not at buckets[%d][%d][%d]", i, pc.prio, pc.avail, pc.pos)
			}
		}
		if pc.dl >= 0 {
			if int(pc.dl) >= len(p.downloads) || p.downloads[pc.dl].piece != uint32(i) {
				return fmt.Errorf("piece %d: bad dl index %d", i, pc.dl)
			}
			if pc.have {
				return fmt.Errorf("piece %d: had and downloading", i)
			}
		}
	}
	for prio := range p.buckets {
		for avail, b := range p.buckets[prio] {
			bucketLen[prio] += len(b)
			for pos, piece := range b {
				pc := &p.pieces[piece]
				if int(pc.prio) != prio || int(pc.avail) != avail || int(pc.pos) != pos {
					return fmt.Errorf("bucket[%d][%d][%d]=%d is misfiled", prio, avail, pos, piece)
				}
			}
		}
	}
	for i, d := range p.downloads {
		pc := &p.pieces[d.piece]
		if int(pc.dl) != i {
			return fmt.Errorf("download %d (piece %d): piece says dl=%d", i, d.piece, pc.dl)
		}
		dlPrio[pc.prio]++
		if len(d.blocks) != p.BlocksInPiece(int(d.piece)) {
			return fmt.Errorf("piece %d: %d blocks", d.piece, len(d.blocks))
		}
		var counts [3]int
		reqs := 0
		for k, bi := range d.blocks {
			counts[bi.state]++
			reqs += int(bi.nreq)
			switch {
			case bi.state == blockFree && bi.nreq != 0:
				return fmt.Errorf("piece %d block %d: free with %d requesters", d.piece, k, bi.nreq)
			case bi.state == blockRequested && (bi.nreq == 0 || bi.nreq > MaxRequesters):
				return fmt.Errorf("piece %d block %d: requested with %d requesters", d.piece, k, bi.nreq)
			}
			for a := 0; a < int(bi.nreq); a++ {
				for c := a + 1; c < int(bi.nreq); c++ {
					if bi.req[a] == bi.req[c] {
						return fmt.Errorf("piece %d block %d: peer %d listed twice", d.piece, k, bi.req[a])
					}
				}
			}
		}
		if counts[blockFree] != d.free || counts[blockRequested] != d.requested ||
			counts[blockReceived] != d.received || reqs != d.reqs {
			return fmt.Errorf("piece %d: counts %v reqs %d, recorded %d/%d/%d reqs %d",
				d.piece, counts, reqs, d.free, d.requested, d.received, d.reqs)
		}
		if d.requested == 0 && d.received == 0 {
			return fmt.Errorf("piece %d: idle download not released", d.piece)
		}
		if pc.prio > 0 {
			freeWanted += d.free
		}
	}
	switch {
	case bucketLen != p.bucketLen:
		return fmt.Errorf("bucketLen %v, recount %v", p.bucketLen, bucketLen)
	case dlPrio != p.dlPrio:
		return fmt.Errorf("dlPrio %v, recount %v", p.dlPrio, dlPrio)
	case haveCount != p.haveCount:
		return fmt.Errorf("haveCount %d, recount %d", p.haveCount, haveCount)
	case wantedLeft != p.wantedLeft:
		return fmt.Errorf("wantedLeft %d, recount %d", p.wantedLeft, wantedLeft)
	case freeWanted != p.freeWanted:
		return fmt.Errorf("freeWanted %d, recount %d", p.freeWanted, freeWanted)
	}
	return p.checkDeadlines()
}
