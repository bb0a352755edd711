package shard

import (
	"errors"
	"syscall"
)

// fakeDial is the harness's Shard.dial: it records the attempt and gives
// the peer a fake connection that is still connecting; the test opens it
// (openDial), refuses it (refuseDial), or sets dialErr to fail at once.
// Loop only.
func (h *harness) fakeDial(p *peer) error {
	if h.dialErr != nil {
		return h.dialErr
	}
	fc := &fakeConn{pool: h.pool, writable: true}
	tp := &tpeer{peer: p, fc: fc}
	p.c = fc
	h.peers = append(h.peers, tp)
	h.dials = append(h.dials, tp)
	return nil
}

// openDial completes a pending dial: the peer sends its handshake. Loop only.
func (h *harness) openDial(tp *tpeer) { tp.open(tp.fc) }

// refuseDial fails a pending dial as a refused connect. Loop only.
func (h *harness) refuseDial(tp *tpeer) {
	tp.fc.closed, tp.fc.delivered = true, true
	tp.closedWith(errRefused)
}

var errRefused = errors.New("connect: " + syscall.ECONNREFUSED.Error())
