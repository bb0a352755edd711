package shardtorrent

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/bufpool"
	"github.com/shardtorrent/shardtorrent/ext/mse"
	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/plugin"
	"github.com/shardtorrent/shardtorrent/shard"
)

// newEncSession is newTestSession with engine settings (the encryption
// policies, timeouts).
func newEncSession(t *testing.T, pool *bufpool.Pool, shards int, eng shard.Settings) *Session {
	t.Helper()
	s, err := NewSession(context.Background(), Settings{
		ListenAddr: "127.0.0.1:0",
		Shards:     shards,
		Pool:       pool,
		AlertMask:  plugin.CategoryAll,
		Engine:     eng,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tap is a loopback TCP relay that records what the upstream (the seeder)
// sends, so a test can check whether payload crossed the wire in the clear.
type tap struct {
	ln   net.Listener
	mu   sync.Mutex
	down bytes.Buffer
	wg   sync.WaitGroup
}

func startTap(t *testing.T, upstream netip.AddrPort) *tap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp := &tap{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream.String())
			if err != nil {
				c.Close()
				continue
			}
			tp.wg.Add(2)
			go func() { defer tp.wg.Done(); io.Copy(u, c); u.Close() }()
			go func() { defer tp.wg.Done(); io.Copy(io.MultiWriter(c, tp), u); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return tp
}

func (tp *tap) Write(b []byte) (int, error) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.down.Write(b)
}

func (tp *tap) addr() netip.AddrPort {
	return tp.ln.Addr().(*net.TCPAddr).AddrPort()
}

func (tp *tap) recorded() []byte {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return bytes.Clone(tp.down.Bytes())
}

// encFixture is one seeded torrent.
type encFixture struct {
	src  string
	mi   *metainfo.MetaInfo
	data []byte
}

func newEncFixture(t *testing.T, size int) *encFixture {
	t.Helper()
	src := t.TempDir()
	writeFiles(t, src, map[string]int{"enc.bin": size})
	_, mi, err := metainfo.Create(filepath.Join(src, "enc.bin"), metainfo.CreateOptions{PieceLength: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(src, "enc.bin"))
	if err != nil {
		t.Fatal(err)
	}
	return &encFixture{src: src, mi: mi, data: data}
}

func seedFixture(t *testing.T, s *Session, f *encFixture) {
	t.Helper()
	if _, err := s.AddTorrent(context.Background(), AddTorrentParams{MetaInfo: f.mi, SavePath: f.src}); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, s, 20*time.Second, func(a plugin.Alert) bool {
		sc, ok := a.(*plugin.StateChangedAlert)
		return ok && sc.To == plugin.StateSeeding
	})
}

func isEncErr(err, cause error) bool {
	return errors.Is(err, ErrEncryptionHandshake) && (cause == nil || errors.Is(err, cause))
}

// Two sessions under every pair of policies: the transfer happens (over
// RC4, over MSE with a plaintext stream, or in plaintext after the
// libtorrent-style retry) or fails with typed alerts on both ends.
func TestEncryptionPolicies(t *testing.T) {
	const size = 2<<20 + 4321
	cases := []struct {
		name        string
		seed, leech shard.Settings
		ok          bool
		clear       bool  // payload crosses the wire in plaintext
		leechErr    error // cause on the leecher's PeerErrorAlert (nil: none expected)
		seedRefused error // cause on the seeder's IncomingRefusedAlert
	}{
		{name: "forced_forced_rc4",
			seed:  shard.Settings{InEncPolicy: EncForced, OutEncPolicy: EncForced, AllowedEncLevel: EncLevelRC4},
			leech: shard.Settings{InEncPolicy: EncForced, OutEncPolicy: EncForced, AllowedEncLevel: EncLevelRC4},
			ok:    true},
		{name: "default_default_selects_plaintext", ok: true, clear: true},
		{name: "prefer_rc4_selects_rc4", seed: shard.Settings{PreferRC4: true}, ok: true},
		{name: "forced_plaintext_level",
			seed:  shard.Settings{InEncPolicy: EncForced, AllowedEncLevel: EncLevelPlaintext},
			leech: shard.Settings{OutEncPolicy: EncForced, AllowedEncLevel: EncLevelPlaintext},
			ok:    true, clear: true},
		{name: "enabled_to_disabled_falls_back",
			seed:  shard.Settings{InEncPolicy: EncDisabled, OutEncPolicy: EncDisabled},
			leech: shard.Settings{OutEncPolicy: EncEnabled},
			ok:    true, clear: true, leechErr: io.EOF, seedRefused: shard.ErrEncryptedRefused},
		{name: "forced_to_disabled_fails",
			seed:     shard.Settings{InEncPolicy: EncDisabled},
			leech:    shard.Settings{OutEncPolicy: EncForced},
			leechErr: io.EOF, seedRefused: shard.ErrEncryptedRefused},
		{name: "disabled_to_forced_fails",
			seed:        shard.Settings{InEncPolicy: EncForced},
			leech:       shard.Settings{OutEncPolicy: EncDisabled},
			seedRefused: shard.ErrPlaintextRefused},
		{name: "rc4_only_to_plaintext_only_fails",
			seed:     shard.Settings{AllowedEncLevel: EncLevelPlaintext},
			leech:    shard.Settings{OutEncPolicy: EncForced, AllowedEncLevel: EncLevelRC4},
			leechErr: io.EOF, seedRefused: mse.ErrNoCommonMethod},
	}
	f := newEncFixture(t, size)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			seedPool, leechPool := bufpool.New(), bufpool.New()
			seeder := newEncSession(t, seedPool, 1, tc.seed)
			leecher := newEncSession(t, leechPool, 2, tc.leech)
			ctx := context.Background()
			seedFixture(t, seeder, f)
			relay := startTap(t, seeder.ListenAddr())
			dst := t.TempDir()
			if _, err := leecher.AddTorrent(ctx, AddTorrentParams{MetaInfo: f.mi, SavePath: dst,
				Peers: []netip.AddrPort{relay.addr()}}); err != nil {
				t.Fatal(err)
			}
			if tc.seedRefused != nil {
				waitAlert(t, seeder, 20*time.Second, func(a plugin.Alert) bool {
					r, ok := a.(*plugin.IncomingRefusedAlert)
					return ok && isEncErr(r.Reason, tc.seedRefused)
				})
			}
			var leechAlerts []plugin.Alert
			if tc.leechErr != nil {
				leechAlerts = waitAlert(t, leecher, 20*time.Second, func(a plugin.Alert) bool {
					e, ok := a.(*plugin.PeerErrorAlert)
					return ok && isEncErr(e.Err, tc.leechErr)
				})
			}
			if tc.ok {
				waitAlert(t, leecher, 60*time.Second, func(a plugin.Alert) bool {
					_, ok := a.(*plugin.TorrentFinishedAlert)
					return ok
				})
				got, err := os.ReadFile(filepath.Join(dst, "enc.bin"))
				if err != nil || !bytes.Equal(got, f.data) {
					t.Fatalf("downloaded data differs (%v)", err)
				}
				// A 64-byte run of payload from the middle of the file is on
				// the wire only if the stream is not RC4.
				sample := f.data[size/2 : size/2+64]
				if onWire := bytes.Contains(relay.recorded(), sample); onWire != tc.clear {
					t.Fatalf("payload in the clear on the wire: %v, want %v", onWire, tc.clear)
				}
				// Encrypted blocks were encrypted in their own spans.
				for _, l := range seeder.loops {
					if n := l.Stats().CryptoCopies; n != 0 {
						t.Fatalf("seeder copied %d spans before encrypting them", n)
					}
				}
			} else {
				// No transfer, and no retry in plaintext.
				for _, a := range append(leechAlerts, waitFor(leecher, 2*time.Second)...) {
					if _, ok := a.(*plugin.PeerConnectedAlert); ok {
						t.Fatalf("a connection was established: %v", a.Message())
					}
				}
			}
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := leecher.Close(cctx); err != nil {
				t.Fatal(err)
			}
			if err := seeder.Close(cctx); err != nil {
				t.Fatal(err)
			}
			if n, m := seedPool.Outstanding(), leechPool.Outstanding(); n != 0 || m != 0 {
				t.Fatalf("spans outstanding: seeder %d, leecher %d", n, m)
			}
		})
	}
}

// waitFor collects s's alerts for d.
func waitFor(s *Session, d time.Duration) []plugin.Alert {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var out []plugin.Alert
	for ctx.Err() == nil {
		out = append(out, s.PopAlerts()...)
		_ = s.WaitForAlert(ctx)
	}
	return append(out, s.PopAlerts()...)
}

// The 768-bit MSE prime, for hand-made handshakes.
var testDHP, _ = new(big.Int).SetString("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"+
	"020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"+
	"4FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563", 16)

func sha(parts ...[]byte) []byte {
	h := sha1.New()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// handmadeInitiator speaks the initiator side by hand over c, up to the
// third message, with a chosen len(PadC): mse.Initiator never sends an
// over-long pad, a hostile peer may.
func handmadeInitiator(t *testing.T, c net.Conn, ih [20]byte, padC int) {
	t.Helper()
	x := big.NewInt(0x1234567)
	ya := make([]byte, 96)
	new(big.Int).Exp(big.NewInt(2), x, testDHP).FillBytes(ya)
	if _, err := c.Write(ya); err != nil {
		t.Fatal(err)
	}
	yb := make([]byte, 96)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, yb); err != nil {
		t.Fatalf("reading Yb: %v", err)
	}
	s := make([]byte, 96)
	new(big.Int).Exp(new(big.Int).SetBytes(yb), x, testDHP).FillBytes(s)
	req2, req3 := sha([]byte("req2"), ih[:]), sha([]byte("req3"), s)
	msg := sha([]byte("req1"), s)
	for i := range req2 {
		msg = append(msg, req2[i]^req3[i])
	}
	enc := make([]byte, 8, 8+4+2+padC)
	enc = binary.BigEndian.AppendUint32(enc, uint32(mse.MethodRC4))
	enc = binary.BigEndian.AppendUint16(enc, uint16(padC))
	enc = append(enc, make([]byte, padC)...)
	var rc mse.RC4
	rc.SetOutgoingKey(sha([]byte("keyA"), s, ih[:]))
	rc.Encrypt([][]byte{enc})
	if _, err := c.Write(append(msg, enc...)); err != nil {
		t.Fatal(err)
	}
}

// Bad incoming MSE handshakes are each refused with a typed error and an
// alert (the stalled one within the handshake timeout), while a leecher
// keeps downloading from the same seeder over RC4.
func TestBadIncomingHandshakes(t *testing.T) {
	const timeout = time.Second
	f := newEncFixture(t, 4<<20+17)
	seedPool := bufpool.New()
	seeder := newEncSession(t, seedPool, 2, shard.Settings{HandshakeTimeout: timeout})
	defer seeder.Close(context.Background())
	seedFixture(t, seeder, f)
	ih := f.mi.InfoHash.Short()

	garbage := make([]byte, 96+mse.MaxPad+20+8)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range garbage {
		garbage[i] = byte(r.Uint32())
	}
	garbage[0] = 0x55 // not a plaintext handshake
	cases := []struct {
		name  string
		cause error
		run   func(t *testing.T, c net.Conn)
	}{
		{"garbage", mse.ErrSyncNotFound, func(t *testing.T, c net.Conn) { c.Write(garbage) }},
		{"wrong_skey_hash", mse.ErrUnknownInfoHash, func(t *testing.T, c net.Conn) {
			init, err := mse.NewInitiator([20]byte{9, 9, 9}, mse.MethodRC4, rand.NewChaCha8([32]byte{1}), nil)
			if err != nil {
				t.Fatal(err)
			}
			c.Write(init.Output())
			buf := make([]byte, 4096)
			for !init.Done() && init.Err() == nil {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				init.Step(buf[:n])
				c.Write(init.Output())
			}
		}},
		{"truncated_then_close", io.EOF, func(t *testing.T, c net.Conn) {
			c.Write(garbage[:96+10])
			c.(*net.TCPConn).CloseWrite()
		}},
		{"padding_too_long", mse.ErrPadTooLong, func(t *testing.T, c net.Conn) { handmadeInitiator(t, c, ih, mse.MaxPad+1) }},
		{"stalled", shard.ErrEncryptionTimeout, func(t *testing.T, c net.Conn) { c.Write(garbage[:96]) }},
	}
	// Good peers: leechers over RC4, one started before the bad cases
	// (running across them) and one after (the seeder still serves).
	goodLeecher := func() (*Session, string) {
		leecher := newEncSession(t, bufpool.New(), 1, shard.Settings{OutEncPolicy: EncForced, AllowedEncLevel: EncLevelRC4})
		t.Cleanup(func() { leecher.Close(context.Background()) })
		dst := t.TempDir()
		if _, err := leecher.AddTorrent(context.Background(), AddTorrentParams{MetaInfo: f.mi, SavePath: dst,
			Peers: []netip.AddrPort{seeder.ListenAddr()}}); err != nil {
			t.Fatal(err)
		}
		return leecher, dst
	}
	checkDone := func(leecher *Session, dst string) {
		waitAlert(t, leecher, 60*time.Second, func(a plugin.Alert) bool {
			_, ok := a.(*plugin.TorrentFinishedAlert)
			return ok
		})
		got, err := os.ReadFile(filepath.Join(dst, "enc.bin"))
		if err != nil || !bytes.Equal(got, f.data) {
			t.Fatalf("a good peer's download differs (%v)", err)
		}
	}
	first, firstDst := goodLeecher()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Before the dial: the seeder's handshake clock starts when its
			// loop accepts, which can be before Dial returns here (seen:
			// refused 30 µs under the timeout when timed from after it).
			start := time.Now()
			c, err := net.DialTimeout("tcp", seeder.ListenAddr().String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			tc.run(t, c)
			expectClosed(t, c)
			waitAlert(t, seeder, 10*time.Second, func(a plugin.Alert) bool {
				r, ok := a.(*plugin.IncomingRefusedAlert)
				if ok && errors.Is(r.Reason, ErrEncryptionHandshake) && !errors.Is(r.Reason, tc.cause) {
					t.Logf("other refusal: %v", r.Reason)
				}
				return ok && isEncErr(r.Reason, tc.cause)
			})
			if el := time.Since(start); tc.cause == shard.ErrEncryptionTimeout && (el < timeout || el > timeout+3*time.Second) {
				t.Fatalf("stalled handshake refused after %v, want about %v", el, timeout)
			}
		})
	}
	checkDone(first, firstDst)
	checkDone(goodLeecher())
}

// Incoming MSE handshakes are routed by their obfuscated info-hash to the
// shard that owns the torrent, whichever it is: torrents on both shards of
// a two-shard seeder (the accepting loop is shard 0's), each fetched by a
// leecher that forces RC4.
func TestEncryptedIncomingRoutedAcrossShards(t *testing.T) {
	seeder := newEncSession(t, bufpool.New(), 2, shard.Settings{InEncPolicy: EncForced})
	defer seeder.Close(context.Background())
	var fixtures []*encFixture
	away := 0
	// Torrents of different sizes until some land on each shard.
	for i := 0; i < 32 && (len(fixtures) < 4 || away == 0 || away == len(fixtures)); i++ {
		f := newEncFixture(t, 256<<10+i*1000)
		if seeder.shardFor(f.mi.InfoHash.Short()) != seeder.shards[0] {
			away++
		}
		seedFixture(t, seeder, f)
		fixtures = append(fixtures, f)
	}
	if away == 0 || away == len(fixtures) {
		t.Fatalf("%d of %d torrents away from shard 0: the test needs both kinds", away, len(fixtures))
	}
	leecher := newEncSession(t, bufpool.New(), 1, shard.Settings{OutEncPolicy: EncForced, AllowedEncLevel: EncLevelRC4})
	defer leecher.Close(context.Background())
	dsts := make([]string, len(fixtures))
	for i, f := range fixtures {
		dsts[i] = t.TempDir()
		if _, err := leecher.AddTorrent(context.Background(), AddTorrentParams{MetaInfo: f.mi, SavePath: dsts[i],
			Peers: []netip.AddrPort{seeder.ListenAddr()}}); err != nil {
			t.Fatal(err)
		}
	}
	done := 0
	waitAlert(t, leecher, 60*time.Second, func(a plugin.Alert) bool {
		if _, ok := a.(*plugin.TorrentFinishedAlert); ok {
			done++
		}
		return done == len(fixtures)
	})
	for i, f := range fixtures {
		got, err := os.ReadFile(filepath.Join(dsts[i], "enc.bin"))
		if err != nil || !bytes.Equal(got, f.data) {
			t.Fatalf("torrent %d differs (%v)", i, err)
		}
	}
}
