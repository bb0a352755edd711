package shardtorrent

import (
	"errors"
	"time"

	"github.com/shardtorrent/shardtorrent/ext/mse"
	"github.com/shardtorrent/shardtorrent/loop"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/shard"
	"github.com/shardtorrent/shardtorrent/wire"
)

// An incoming connection is accepted on the listening loop, which reads just
// enough of the handshake (48 bytes: protocol string, reserved bits and
// info-hash) to know which torrent, and so which shard, it is for. The fd
// and every byte read so far then move to the owning loop, which replies and
// runs the connection from there. No torrent state is touched off its loop.
// A connection that does not start like a plaintext handshake runs its MSE
// handshake on the accepting loop first (encryption.go), with its two
// modular exponentiations on a bounded worker pool (dhpool.go).

// handshakePrefixLen is what the accepting loop must read to route a peer.
const handshakePrefixLen = 48

// acceptTimeout bounds how long an accepted socket may take to send the
// first 48 bytes of its handshake.
const acceptTimeout = 10 * time.Second

// ErrUnknownInfoHash refuses an incoming handshake for a torrent we do not have.
var ErrUnknownInfoHash = errors.New("shardtorrent: incoming handshake for an unknown info-hash")

// errAcceptTimeout refuses an accepted socket that did not send the start
// of its handshake within the handshake timeout.
var errAcceptTimeout = errors.New("handshake not received in time")

type acceptConn struct {
	s        *Session
	c        *loop.Conn
	timer    *loop.Timer
	handing  bool
	finished bool
	rcv      *mse.Receiver // an MSE handshake is running (encryption.go)
	dhBusy   bool          // rcv's DH job is with the pool; reads paused (dhpool.go)
}

func (s *Session) accept(c *loop.Conn) loop.Handler {
	return &acceptConn{s: s, c: c}
}

func (a *acceptConn) OnOpen(c *loop.Conn) {
	a.c = c
	if a.s.ipFiltered(c) {
		a.finished = true
		return
	}
	to := a.s.live.Load().Engine.HandshakeTimeout
	if to <= 0 {
		to = acceptTimeout
	}
	a.timer = c.Loop().AfterFunc(to, acceptTimedOut, a)
}

func acceptTimedOut(arg any) {
	a := arg.(*acceptConn)
	if !a.finished && !a.handing {
		if a.rcv != nil {
			a.refuse(shard.NewEncryptionError(shard.ErrEncryptionTimeout))
			return
		}
		a.refuse(errAcceptTimeout)
	}
}

func (a *acceptConn) refuse(err error) {
	a.s.incoming.refused(err)
	a.finished = true
	a.s.alerts.Post(&plugin.IncomingRefusedAlert{Addr: a.c.RemoteAddr(), Reason: err})
	a.c.Close(err)
}

func (a *acceptConn) OnData(c *loop.Conn, data []byte) int {
	if a.handing || a.finished {
		return 0
	}
	if n, handled := a.encData(c, data); handled {
		return n
	}
	if len(data) < handshakePrefixLen {
		return 0
	}
	_, ih, err := wire.ParseHandshakePrefix(data)
	if err != nil {
		a.refuse(err)
		return len(data)
	}
	var add *shard.AddParams
	if a.s.lookup(ih) == nil {
		// Unknown info-hash: a session plugin with FeatureUnknownTorrent
		// may adopt it (libtorrent's on_unknown_torrent; the prefix we read
		// is a plaintext handshake by construction).
		if !a.s.ext.HasUnknownTorrentHooks() {
			a.refuse(ErrUnknownInfoHash)
			return len(data)
		}
		var err error
		add, err = a.s.adoptUnknown(ih, c)
		if err != nil {
			a.refuse(err)
			return len(data)
		}
	}
	a.handOffLater(&handoffReq{a: a, ih: ih, add: add})
	return 0
}

// adoptUnknown asks the UnknownTorrentHooks about ih. When one returns
// true, the torrent is registered with its owning shard at once (so the
// routing of later handshakes finds it) and its AddParams are returned:
// the owning loop adds it, then adopts the connection. Nil AddParams
// without an error: the torrent was added meanwhile, and the connection
// is just routed to it. Runs on the accepting loop.
func (s *Session) adoptUnknown(ih [20]byte, c *loop.Conn) (*shard.AddParams, error) {
	var pp plugin.AddTorrentParams
	if !s.ext.DispatchUnknownTorrent(ih, shard.NewPendingConn(c.RemoteAddr(), c.LocalAddr()), &pp) {
		return nil, ErrUnknownInfoHash
	}
	ap, err := shardParams(&pp)
	if err != nil {
		return nil, err
	}
	if ap.InfoHash.Short() != ih {
		return nil, errAdoptMismatch
	}
	sh := s.shardFor(ih)
	t := s.newTorrent(sh, ih, &ap)
	if _, added := s.handles.add(t); !added {
		return nil, nil // added meanwhile: just route to it
	}
	s.registerTorrent(t)
	return &ap, nil
}

// errAdoptMismatch: an UnknownTorrentHook returned parameters for another torrent.
var errAdoptMismatch = errors.New("unknown-torrent plugin returned a different info-hash")

// handoffReq is an accepted connection on its way to the loop owning its
// torrent: plaintext (enc nil) or with a finished MSE handshake.
type handoffReq struct {
	a   *acceptConn
	ih  [20]byte
	add *shard.AddParams // adopt: add this torrent on the owner's loop first
	enc *shard.MSEResult // the MSE handshake, for an encrypted connection
}

// handOffLater schedules the hand-off of a's connection once the current
// OnData returns, so the loop has the bytes it leaves unconsumed as
// pending data (and, after MSE, the receiver's last message is still to
// go out from the owning loop: Detach needs an empty send queue). Runs on
// the accepting loop.
func (a *acceptConn) handOffLater(r *handoffReq) {
	a.handing = true
	if a.timer != nil {
		a.timer.Stop()
	}
	a.c.Loop().Post(handOff, r)
}

// handOff moves an accepted connection to the loop owning its torrent,
// plaintext or encrypted alike: it detaches the fd with the bytes read
// past what OnData consumed, and the owning loop adds the torrent first if
// an unknown-torrent plugin adopted it, then adopts the connection. Runs
// on the accepting loop after the OnData that scheduled it.
func handOff(arg any) {
	r := arg.(*handoffReq)
	a := r.a
	if a.c.Closed() {
		return
	}
	remote := a.c.RemoteAddr()
	fd, pending, err := a.c.Detach()
	if err != nil {
		a.refuse(err)
		return
	}
	a.finished = true
	sh := a.s.lookup(r.ih)
	if sh == nil {
		closeFd(fd)
		a.s.incoming.refused(ErrUnknownInfoHash)
		a.s.alerts.Post(&plugin.IncomingRefusedAlert{Addr: remote, Reason: ErrUnknownInfoHash})
		return
	}
	sh.Loop().Post(func(any) {
		if r.add != nil && sh.Torrent(r.ih) == nil {
			if _, err := sh.AddTorrent(*r.add); err != nil {
				if t, ok := r.add.Owner.(*Torrent); ok {
					a.s.forgetTorrent(t)
				}
				closeFd(fd)
				a.s.alerts.Post(&plugin.IncomingRefusedAlert{Addr: remote, Reason: err})
				return
			}
		}
		var err error
		if r.enc != nil {
			err = sh.AdoptEncrypted(fd, pending, *r.enc, remote)
		} else {
			err = sh.AdoptIncoming(fd, pending, r.ih, remote)
		}
		if err != nil {
			a.s.alerts.Post(&plugin.IncomingRefusedAlert{Addr: remote, Reason: err})
		}
	}, nil)
}

func (a *acceptConn) OnWritable(*loop.Conn) {}

func (a *acceptConn) OnClose(c *loop.Conn, err error) {
	if a.rcv != nil && !a.finished && !a.handing {
		// The peer closed (or reset) inside the MSE handshake.
		a.s.incoming.refused(shard.NewEncryptionError(err))
		a.s.alerts.Post(&plugin.IncomingRefusedAlert{Addr: c.RemoteAddr(), Reason: shard.NewEncryptionError(err)})
	}
	a.finished = true
	if a.timer != nil {
		a.timer.Stop()
	}
}
