package shard

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/picker"
	"github.com/shardtorrent/shardtorrent/storage"
	"github.com/shardtorrent/shardtorrent/wire"
)

// The stream tests use 64 KiB pieces (4 blocks each).
const (
	stPieceLen = 64 << 10
	stBlocks   = stPieceLen / wire.BlockSize
)

// quietSettings keep the peer timers out of the way of the fake clock.
var quietSettings = Settings{PieceTimeout: time.Hour, InactivityTimeout: time.Hour, KeepAliveInterval: time.Hour}

// waitDone waits for one value on done (a signal, not a sleep).
func waitDone(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(waitTimeout):
		t.Fatal("no answer on the wait channel")
		return nil
	}
}

func pieceBlocks(reqs []picker.Block, piece uint32) int {
	n := 0
	for _, b := range reqs {
		if b.Piece == piece {
			n++
		}
	}
	return n
}

// TestDeadlinePiecesRequestedFirst: a peer's pipeline takes the deadline
// pieces first, soonest deadline first, then the rest.
func TestDeadlinePiecesRequestedFirst(t *testing.T) {
	h := newHarness(t, quietSettings)
	tf := makeTorrent(t, 40*stPieceLen, stPieceLen)
	tor := h.leech(tf)
	var reqs []picker.Block
	h.do(func() {
		if err := tor.SetPieceDeadline(30, 2*time.Second); err != nil {
			fatalf("SetPieceDeadline: %v", err)
		}
		if err := tor.SetPieceDeadline(17, time.Second); err != nil {
			fatalf("SetPieceDeadline: %v", err)
		}
		p := h.handshaken(tor, 1, simple(wire.HaveAll))
		p.fc.take()
		h.feed(p, simple(wire.Unchoke))
		reqs = requestsOf(p.fc.take())
	})
	if len(reqs) != initialQueueDepth {
		t.Fatalf("%d requests, want %d", len(reqs), initialQueueDepth)
	}
	for i, b := range reqs[:2*stBlocks] {
		want := uint32(17)
		if i >= stBlocks {
			want = 30
		}
		if b.Piece != want {
			t.Fatalf("request %d is %+v, want piece %d (deadline pieces first, soonest first): %v", i, b, want, reqs[:2*stBlocks])
		}
	}
	if pieceBlocks(reqs[2*stBlocks:], 17)+pieceBlocks(reqs[2*stBlocks:], 30) != 0 {
		t.Fatal("deadline pieces requested twice")
	}
}

// TestDeadlineFastestPeerFirst: a new deadline goes to the fastest peer with
// room, and the slowest tenth of the peers gets no deadline blocks.
func TestDeadlineFastestPeerFirst(t *testing.T) {
	h := newHarness(t, quietSettings)
	tf := makeTorrent(t, 40*stPieceLen, stPieceLen)
	tor := h.leech(tf)
	h.do(func() {
		slow := h.handshaken(tor, 1, simple(wire.HaveAll), simple(wire.Unchoke))
		fast := h.handshaken(tor, 2, simple(wire.HaveAll), simple(wire.Unchoke))
		slow.fc.take()
		fast.fc.take()
		// Both pipelines full; then room for one piece each.
		slow.downRate, fast.downRate = 10<<10, 5<<20
		slow.queueDepth += stBlocks
		fast.queueDepth += stBlocks
		var idle int
		for idle = 0; idle < 40; idle++ {
			if tor.pk.Availability(idle) > 0 && !tor.pk.Requested(picker.Block{Piece: uint32(idle), Length: wire.BlockSize}, slow.pid) &&
				!tor.pk.Requested(picker.Block{Piece: uint32(idle), Length: wire.BlockSize}, fast.pid) {
				break
			}
		}
		if err := tor.SetPieceDeadline(idle, 0); err != nil {
			fatalf("SetPieceDeadline: %v", err)
		}
		if n := pieceBlocks(requestsOf(fast.fc.take()), uint32(idle)); n != stBlocks {
			fatalf("the fast peer got %d blocks of deadline piece %d, want %d", n, idle, stBlocks)
		}
		if n := pieceBlocks(requestsOf(slow.fc.take()), uint32(idle)); n != 0 {
			fatalf("the slow peer got %d blocks of the deadline piece", n)
		}
	})

	// Ten peers: the slowest gets no deadline blocks, the next does.
	h2 := newHarness(t, quietSettings)
	tor2 := h2.leech(tf)
	h2.do(func() {
		var ps []*tpeer
		for i := range 10 {
			p := h2.handshaken(tor2, i+1, simple(wire.HaveAll))
			p.downRate = int64(i+1) << 20
			ps = append(ps, p)
		}
		if err := tor2.SetPieceDeadline(3, 0); err != nil {
			fatalf("SetPieceDeadline: %v", err)
		}
		tor2.deadlineTick()
		if got := tor2.pickDeadline(ps[0].peer, nil, nil, true, 100); len(got) != 0 {
			fatalf("the slowest of ten peers got deadline blocks %v", got)
		}
		if got := tor2.pickDeadline(ps[1].peer, nil, nil, true, 100); len(got) != stBlocks {
			fatalf("the second slowest got %v, want the deadline piece", got)
		}
	})
}

// TestDeadlineLatePieceEndgame: once a deadline piece is late, a second
// peer gets its blocks too (and no duplicate of anything else); the block
// arriving from one peer is cancelled with the other.
func TestDeadlineLatePieceEndgame(t *testing.T) {
	h := newHarness(t, quietSettings)
	tf := makeTorrent(t, 40*stPieceLen, stPieceLen)
	tor := h.leech(tf)
	var a, b *tpeer
	const x = 39 // idle after the first peer's pipeline (rarest-first is random, so pick it by state)
	var piece uint32
	h.do(func() {
		a = h.handshaken(tor, 1, simple(wire.HaveAll), simple(wire.Unchoke))
		taken := map[uint32]bool{}
		for _, r := range a.outstanding {
			taken[r.Piece] = true
		}
		for piece = x; taken[piece]; piece-- {
		}
		a.queueDepth += stBlocks
		if err := tor.SetPieceDeadline(int(piece), 0); err != nil {
			fatalf("SetPieceDeadline: %v", err)
		}
		if n := pieceBlocks(requestsOf(a.fc.take()), piece); n != stBlocks {
			fatalf("peer a got %d blocks of deadline piece %d", n, piece)
		}
		b = h.handshaken(tor, 2, simple(wire.HaveAll), simple(wire.Unchoke))
		if n := pieceBlocks(requestsOf(b.fc.take()), piece); n != 0 {
			fatalf("peer b got %d duplicates of a piece that is not late", n)
		}
		b.queueDepth += stBlocks + 2
	})
	h.tick(defaultPieceTime) // due at once, downloading for a piece time: late
	h.do(func() {
		reqs := requestsOf(b.fc.take())
		if n := pieceBlocks(reqs, piece); n != stBlocks {
			fatalf("peer b got %d duplicates of late piece %d, want %d: %v", n, piece, stBlocks, reqs)
		}
		for _, r := range reqs {
			if r.Piece != piece && tor.pk.Requested(r, a.pid) {
				fatalf("duplicate of non-deadline block %+v", r)
			}
		}
		h.feed(a, wire.AppendPiece(nil, piece, 0, tf.block(piece, 0, wire.BlockSize)))
		cancels := only(b.fc.take(), wire.Cancel)
		if len(cancels) != 1 || cancels[0].Index != piece || cancels[0].Begin != 0 {
			fatalf("after a's copy arrived b got cancels %+v, want one for (%d, 0)", cancels, piece)
		}
	})
}

// TestStreamWakesOnVerification: a stream waiting for a piece is woken when
// the piece passes, not before, and reads its bytes; the window's
// deadlines are set and the passed piece's dropped.
func TestStreamWakesOnVerification(t *testing.T) {
	h := newHarness(t, quietSettings)
	tf := makeTorrent(t, 16*stPieceLen, stPieceLen)
	tor := h.leech(tf)
	done := make(chan error, 1)
	var s *Stream
	var a *tpeer
	h.do(func() {
		var err error
		if s, err = tor.OpenStream(); err != nil {
			fatalf("OpenStream: %v", err)
		}
		s.SetWindow(5*stPieceLen+100, 2*stPieceLen) // pieces 5, 6, 7
		for piece := 5; piece < 8; piece++ {
			at, _, ok := tor.pk.Deadline(piece)
			if want := s.at.Add(time.Duration(piece-5) * StreamStep); !ok || !at.Equal(want) {
				fatalf("piece %d deadline %v %v, want %v", piece, at, ok, want)
			}
		}
		if tor.pk.NumDeadlines() != 3 {
			fatalf("%d deadlines, want 3", tor.pk.NumDeadlines())
		}
		s.WaitPiece(5, done)
		a = h.handshaken(tor, 1, simple(wire.HaveAll), simple(wire.Unchoke))
		a.fc.take()
		// Three of its four blocks: not complete, so no wake.
		for blk := uint32(0); blk < stBlocks-1; blk++ {
			h.feed(a, wire.AppendPiece(nil, 5, blk*wire.BlockSize, tf.block(5, blk*wire.BlockSize, wire.BlockSize)))
		}
	})
	select {
	case err := <-done:
		t.Fatalf("woken (%v) before the piece was complete", err)
	default:
	}
	h.do(func() {
		last := uint32(stBlocks-1) * wire.BlockSize
		h.feed(a, wire.AppendPiece(nil, 5, last, tf.block(5, last, wire.BlockSize)))
	})
	if err := waitDone(t, done); err != nil {
		t.Fatalf("wait answered %v", err)
	}
	buf := make([]byte, stPieceLen-100)
	if n, err := s.ReadAt(buf, 5*stPieceLen+100); err != nil || n != len(buf) {
		t.Fatalf("ReadAt: %d, %v", n, err)
	}
	if !bytes.Equal(buf, tf.data[5*stPieceLen+100:6*stPieceLen]) {
		t.Fatal("the stream read other bytes than the source's")
	}
	h.do(func() {
		if _, _, ok := tor.pk.Deadline(5); ok {
			fatalf("the passed piece kept its deadline")
		}
		// A wait for a piece that is had is answered at once.
		s.WaitPiece(5, done)
	})
	if err := waitDone(t, done); err != nil {
		t.Fatalf("wait for a had piece answered %v", err)
	}
}

// TestStreamWindowsAndClose: two streams' windows overlap; each piece has
// the soonest of their deadlines; moving or closing one drops only what no
// other stream or SetPieceDeadline claims; Close answers a pending wait.
func TestStreamWindowsAndClose(t *testing.T) {
	h := newHarness(t, quietSettings)
	tf := makeTorrent(t, 16*stPieceLen, stPieceLen)
	tor := h.leech(tf)
	has := func(pieces ...int) {
		for i := 0; i < 16; i++ {
			_, _, ok := tor.pk.Deadline(i)
			want := false
			for _, p := range pieces {
				want = want || p == i
			}
			if ok != want {
				fatalf("piece %d has a deadline: %v, want %v (want exactly %v)", i, ok, want, pieces)
			}
		}
	}
	done := make(chan error, 1)
	h.do(func() {
		s1, _ := tor.OpenStream()
		s1.SetWindow(2*stPieceLen, 4*stPieceLen) // 2..5
		h.clock.now = h.clock.now.Add(time.Second)
		s2, _ := tor.OpenStream()
		s2.SetWindow(4*stPieceLen, 4*stPieceLen) // 4..7
		has(2, 3, 4, 5, 6, 7)
		at, _, _ := tor.pk.Deadline(4)
		if want := s1.at.Add(2 * StreamStep); !at.Equal(want) {
			fatalf("piece 4 deadline %v, want s1's %v (sooner than s2's %v)", at, want, s2.at)
		}
		if err := tor.SetPieceDeadline(2, time.Hour); err != nil {
			fatalf("SetPieceDeadline: %v", err)
		}
		s1.WaitPiece(3, done)
		s1.Close()
		has(2, 4, 5, 6, 7)
		s2.SetWindow(10*stPieceLen, stPieceLen) // 10
		has(2, 10)
		if err := tor.ResetPieceDeadline(2); err != nil {
			fatalf("ResetPieceDeadline: %v", err)
		}
		s2.Close()
		has()
		s2.SetWindow(0, stPieceLen) // closed: no effect
		has()
	})
	if err := waitDone(t, done); !errors.Is(err, ErrStreamClosed) {
		t.Fatalf("Close answered the wait with %v, want ErrStreamClosed", err)
	}
	h.do(func() {
		if err := tor.SetPieceDeadline(16, 0); !errors.Is(err, ErrPieceRange) {
			fatalf("SetPieceDeadline(16): %v, want ErrPieceRange", err)
		}
		if err := tor.SetPieceDeadline(-1, 0); !errors.Is(err, ErrPieceRange) {
			fatalf("SetPieceDeadline(-1): %v, want ErrPieceRange", err)
		}
	})
}

// TestStreamTorrentRemoved: removing the torrent answers a pending wait
// with ErrUnknownTorrent, and no stream opens afterwards.
func TestStreamTorrentRemoved(t *testing.T) {
	h := newHarness(t, quietSettings)
	tf := makeTorrent(t, 4*stPieceLen, stPieceLen)
	tor := h.leech(tf)
	done := make(chan error, 1)
	h.do(func() {
		s, err := tor.OpenStream()
		if err != nil {
			fatalf("OpenStream: %v", err)
		}
		s.SetWindow(0, stPieceLen)
		s.WaitPiece(0, done)
		tor.Remove()
		if _, err := tor.OpenStream(); !errors.Is(err, ErrUnknownTorrent) {
			fatalf("OpenStream after Remove: %v", err)
		}
	})
	if err := waitDone(t, done); !errors.Is(err, ErrUnknownTorrent) {
		t.Fatalf("wait answered %v, want ErrUnknownTorrent", err)
	}
}

// TestStreamBeforeMetadata: a magnet without metadata has no stream and no
// deadlines yet.
func TestStreamBeforeMetadata(t *testing.T) {
	h := newHarness(t, quietSettings)
	tf := makeTorrent(t, 4*stPieceLen, stPieceLen)
	h.do(func() {
		tor, err := h.s.AddTorrent(AddParams{InfoHash: tf.mi.InfoHash, SavePath: h.t.TempDir()})
		if err != nil {
			fatalf("AddTorrent: %v", err)
		}
		if _, err := tor.OpenStream(); !errors.Is(err, ErrNoMetadata) {
			fatalf("OpenStream: %v, want ErrNoMetadata", err)
		}
		if err := tor.SetPieceDeadline(0, 0); !errors.Is(err, ErrNoMetadata) {
			fatalf("SetPieceDeadline: %v, want ErrNoMetadata", err)
		}
	})
}

// TestDeadlineReceiveAllocs: with deadlines pending, a received block (the
// picker's deadline path, the duplicate check, the pipeline refill) does not
// allocate.
func TestDeadlineReceiveAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("measures allocations (not under -race, which adds some)")
	}
	const pieceLen = 1 << 20 // 64 blocks: no piece completes during the runs
	h := newHarness(t, quietSettings)
	tf := makeTorrent(t, 8*pieceLen, pieceLen)
	tor := h.leech(tf)
	var a *tpeer
	var msgs [][]byte
	h.do(func() {
		for piece := range 8 {
			if err := tor.SetPieceDeadline(piece, time.Duration(piece)*time.Second); err != nil {
				fatalf("SetPieceDeadline: %v", err)
			}
		}
		a = h.handshaken(tor, 1, simple(wire.HaveAll), simple(wire.Unchoke))
		for _, b := range a.outstanding {
			if b.Piece == 0 {
				msgs = append(msgs, wire.AppendPiece(nil, b.Piece, b.Begin, tf.block(b.Piece, b.Begin, b.Length)))
			}
		}
		a.fc.discard = true
		// The receive spans stay with the piece until it is written: have
		// the pool hold enough of them that the runs reuse, not allocate.
		var warm []*bufpool.Span
		for range len(msgs) + 4 {
			warm = append(warm, h.pool.Get(len(msgs[0])))
		}
		for _, sp := range warm {
			sp.Release()
		}
	})
	if len(msgs) != pieceLen/wire.BlockSize {
		t.Fatalf("%d blocks of piece 0 requested, want all %d", len(msgs), pieceLen/wire.BlockSize)
	}
	var allocs float64
	const runs = 50
	h.do(func() {
		i := 0
		allocs = testing.AllocsPerRun(runs, func() {
			h.feed(a, msgs[i])
			i++
		})
		if tor.pk.NumDeadlines() != 8 {
			fatalf("%d deadlines left, want 8", tor.pk.NumDeadlines())
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per received block with deadlines pending, want 0", allocs)
	}
}

// TestDeadlineMakesRoom: a new urgent deadline on a peer whose pipeline is
// full of other pieces cancels its newest requests for pieces without a
// deadline, as many as the deadline pieces have free blocks, and asks for
// the deadline pieces instead, soonest first (a deadline far off alone
// cancels nothing); the peer's REJECTs of the cancelled requests are taken
// quietly.
func TestDeadlineMakesRoom(t *testing.T) {
	h := newHarness(t, quietSettings)
	tf := makeTorrent(t, 40*stPieceLen, stPieceLen)
	tor := h.leech(tf)
	h.do(func() {
		a := h.handshaken(tor, 1, simple(wire.HaveAll), simple(wire.Unchoke))
		before := append([]picker.Block(nil), a.outstanding...)
		if len(before) != initialQueueDepth {
			fatalf("%d outstanding, want a full pipeline of %d", len(before), initialQueueDepth)
		}
		var idle, later = -1, -1
		for i := 0; i < 40 && later < 0; i++ {
			if pieceBlocks(before, uint32(i)) == 0 {
				if idle < 0 {
					idle = i
				} else {
					later = i
				}
			}
		}
		// Due in an hour: not urgent, it waits for room.
		if err := tor.SetPieceDeadline(later, time.Hour); err != nil {
			fatalf("SetPieceDeadline: %v", err)
		}
		if msgs := a.fc.take(); len(msgs) != 0 {
			fatalf("a deadline an hour away made room: sent %v", ids(msgs))
		}
		if err := tor.SetPieceDeadline(idle, 0); err != nil {
			fatalf("SetPieceDeadline: %v", err)
		}
		msgs := a.fc.take()
		cancels, reqs := only(msgs, wire.Cancel), requestsOf(msgs)
		if len(cancels) != 2*stBlocks {
			fatalf("sent %d cancels, want %d (the two deadline pieces' blocks)", len(cancels), 2*stBlocks)
		}
		for i, c := range cancels { // the newest requests, newest first
			if want := before[len(before)-1-i]; c.Index != want.Piece || c.Begin != want.Begin {
				fatalf("cancel %d is (%d, %d), want the newest request %+v", i, c.Index, c.Begin, want)
			}
			if tor.pk.Requested(picker.Block{Piece: c.Index, Begin: c.Begin, Length: c.Length}, a.pid) {
				fatalf("cancelled block (%d, %d) still requested in the picker", c.Index, c.Begin)
			}
		}
		if len(reqs) != 2*stBlocks || pieceBlocks(reqs[:stBlocks], uint32(idle)) != stBlocks ||
			pieceBlocks(reqs[stBlocks:], uint32(later)) != stBlocks {
			fatalf("requests after the cancels %v: want piece %d, then piece %d", reqs, idle, later)
		}
		if len(a.outstanding) != initialQueueDepth {
			fatalf("%d outstanding after the swap, want %d", len(a.outstanding), initialQueueDepth)
		}
		for _, c := range cancels {
			h.feed(a, wire.AppendReject(nil, c.Index, c.Begin, c.Length))
		}
		if a.fc.closed {
			fatalf("closed after REJECTs of cancelled requests: %v", a.fc.closeErr)
		}
		// The urgent piece is requested now: nothing more is cancelled.
		a.fc.take()
		tor.requestDeadlines()
		if n := len(only(a.fc.take(), wire.Cancel)); n != 0 {
			fatalf("%d more cancels with the urgent piece requested", n)
		}
	})
}

// TestStreamDiskError: a disk error answers a pending wait with that
// error, a new wait gets it at once while the torrent is stopped, and the
// stream stays open: after Resume a wait waits again.
func TestStreamDiskError(t *testing.T) {
	h := newHarness(t, quietSettings)
	tf := makeTorrent(t, 4*stPieceLen, stPieceLen)
	tor := h.leech(tf)
	diskErr := &storage.FileError{Op: "write", Path: "x", Err: errors.New("disk on fire")}
	first, second, third := make(chan error, 1), make(chan error, 1), make(chan error, 1)
	var s *Stream
	h.do(func() {
		var err error
		if s, err = tor.OpenStream(); err != nil {
			fatalf("OpenStream: %v", err)
		}
		s.WaitPiece(0, first)
		tor.fail(diskErr)
		s.WaitPiece(1, second)
	})
	for i, ch := range []chan error{first, second} {
		if err := waitDone(t, ch); !errors.Is(err, diskErr) {
			t.Fatalf("wait %d answered %v, want the disk error", i, err)
		}
	}
	h.do(func() {
		tor.Resume()
		s.WaitPiece(2, third)
		select {
		case err := <-third:
			fatalf("after Resume the wait was answered at once: %v", err)
		default:
		}
		s.Close()
	})
	if err := waitDone(t, third); !errors.Is(err, ErrStreamClosed) {
		t.Fatalf("wait after Resume answered %v at Close, want ErrStreamClosed", err)
	}
}
