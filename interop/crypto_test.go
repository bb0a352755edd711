//go:build interop

package interop

import (
	"context"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/internal/refpeer"
)

// MSE/PE against the reference clients. libtorrent runs with
// in_enc_policy = out_enc_policy = pe_forced and allowed_enc_level = pe_rc4,
// aria2 with --bt-require-crypto --bt-min-crypto-level=arc4, and the node
// with -encryption forced -enc-level rc4: a plaintext connection, or an MSE
// one that carries plaintext, is refused by every party, so a completed
// download with identical file hashes means an RC4 stream end to end.

// ltForcedRC4 is libtorrent's side of every test here.
var ltForcedRC4 = refpeer.LTOptions{Encryption: "forced", EncLevel: "rc4"}

// nodeForcedRC4 are the node's encryption flags.
var nodeForcedRC4 = []string{"-encryption", "forced", "-enc-level", "rc4"}

// libtorrent (forced RC4) seeds; the node (forced) dials it and downloads.
func TestEncryptedLibtorrentSeedsNodeDownloads(t *testing.T) {
	ctx := setup(t, testTimeout)
	requireNode(t)
	dir := t.TempDir()
	f := makeFixture(t, dir, "single.bin", singleSize, nil, singlePiece)
	ports := freePorts(t, 2)
	seed := ltSeed(t, ctx, f, ports[0], ltForcedRC4)
	leechDir := mkdir(t, dir, "node")
	args := append(append([]string(nil), nodeForcedRC4...), nodeLeechArgs(f, leechDir, ports[1], seed.Addr())...)
	n := startNode(t, ctx, "node-leech", args...)
	waitNode(t, ctx, n)
	f.verify(t, "node", leechDir)
}

// The node (forced) seeds; libtorrent (forced RC4) dials it and downloads.
func TestEncryptedNodeSeedsLibtorrentDownloads(t *testing.T) {
	ctx := setup(t, testTimeout)
	requireNode(t)
	dir := t.TempDir()
	f := makeFixture(t, dir, "single.bin", singleSize, nil, singlePiece)
	ports := freePorts(t, 2)
	encNodeSeed(t, ctx, f, ports[0])
	leechDir := mkdir(t, dir, "lt")
	o := ltForcedRC4
	o.Peers = []string{loopback(ports[0])}
	l := ltLeech(t, ctx, f, leechDir, ports[1], o)
	waitLT(t, ctx, l)
	f.verify(t, "libtorrent", leechDir)
}

// The node (forced) seeds; aria2 requiring RC4 finds it through the tracker
// fixture and downloads.
func TestEncryptedNodeSeedsAria2Downloads(t *testing.T) {
	ctx := setup(t, testTimeout)
	requireAria2(t)
	requireNode(t)
	dir := t.TempDir()
	ports := freePorts(t, 2)
	url, stop, err := refpeer.StartTracker(addrPort(ports[0]))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	f := makeFixture(t, dir, "single.bin", singleSize, nil, singlePiece, url)
	encNodeSeed(t, ctx, f, ports[0])
	leechDir := mkdir(t, dir, "aria2")
	a, err := refpeer.StartAria2(ctx, refpeer.Aria2Options{Torrent: f.Torrent, Dir: leechDir, ListenPort: ports[1],
		RequireEncryption: true, Log: t.Output()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Stop() })
	if _, err := a.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	f.verify(t, "aria2", leechDir)
}

// encNodeSeed is nodeSeed with forced RC4.
func encNodeSeed(t *testing.T, ctx context.Context, f fixture, port int) {
	t.Helper()
	args := append(append([]string(nil), nodeForcedRC4...), "-listen", loopback(port), "-data", f.SeedDir, f.Torrent)
	p := startNode(t, ctx, "node-seed", args...)
	waitNodeSeeding(t, ctx, p, port)
}

// The control: a node with encryption disabled gets nothing from the same
// libtorrent seeder, so the tests above are not passing in plaintext.
func TestEncryptedLibtorrentRefusesPlaintextNode(t *testing.T) {
	ctx := setup(t, testTimeout)
	requireNode(t)
	dir := t.TempDir()
	f := makeFixture(t, dir, "small.bin", 1<<20, nil, singlePiece)
	ports := freePorts(t, 2)
	seed := ltSeed(t, ctx, f, ports[0], ltForcedRC4)
	leechDir := mkdir(t, dir, "node")
	args := append([]string{"-encryption", "disabled"}, nodeLeechArgs(f, leechDir, ports[1], seed.Addr())...)
	n := startNode(t, ctx, "node-leech-plain", args...)
	select {
	case <-n.Done():
		t.Fatal("a plaintext node completed a download from a forced-RC4 libtorrent seeder")
	case <-time.After(8 * time.Second):
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
}
