package plugin

import (
	"sync/atomic"

	"github.com/shardtorrent/shardtorrent/bufpool"
)

// Block is a received block as PieceHook sees it: a view of the pooled
// receive span the bytes arrived in. Data is valid during the call only; a
// plugin that keeps the bytes calls Retain and later Release, which costs no
// copy.
type Block struct {
	// Data is the block's bytes; read-only.
	Data []byte
	span *bufpool.Span
}

// NewBlock makes a Block viewing data, which lies in span (nil for bytes
// not in a pooled span: Retain then copies). For engines and tests.
func NewBlock(span *bufpool.Span, data []byte) Block { return Block{Data: data, span: span} }

// Retain keeps the block's bytes past the call. Loop only, during the
// PieceHook call that received b. The result may be read and released from
// any goroutine.
func (b Block) Retain() *RetainedBlock {
	if b.span == nil {
		return &RetainedBlock{data: append([]byte(nil), b.Data...)}
	}
	return &RetainedBlock{span: b.span.Retain(), gen: b.span.Gen(), data: b.Data}
}

// RetainedBlock holds a reference to a block's span. Misuse panics with a
// *bufpool.MisuseError: Bytes after Release, or a second Release (it would
// otherwise steal another holder's reference).
type RetainedBlock struct {
	span     *bufpool.Span
	gen      uint32
	data     []byte
	released atomic.Bool
}

// Bytes returns the block. Any goroutine, until Release.
func (r *RetainedBlock) Bytes() []byte {
	if r.released.Load() || (r.span != nil && r.span.Gen() != r.gen) {
		panic(&bufpool.MisuseError{Op: "read of a released block", Refs: 0})
	}
	return r.data
}

// Release gives the span back. Any goroutine; exactly once.
func (r *RetainedBlock) Release() {
	if r.released.Swap(true) {
		panic(&bufpool.MisuseError{Op: "release of a released block", Refs: 0})
	}
	if r.span != nil {
		r.span.Release()
	}
	r.data = nil
}
