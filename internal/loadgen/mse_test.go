package loadgen

import (
	"context"
	"testing"
	"time"

	"github.com/shardtorrent/shardtorrent/metainfo"
	"github.com/shardtorrent/shardtorrent/shard"
)

// TestEncrypt: against a seeder that refuses plaintext and allows only RC4
// after MSE, the encrypted load generator connects, downloads and verifies
// pieces; the plaintext one gets nothing.
func TestEncrypt(t *testing.T) {
	addr, mi := seedSessionWith(t, 4<<20, 256<<10, shard.Settings{InEncPolicy: shard.EncForced, AllowedEncLevel: shard.EncLevelRC4})
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) { testEncrypt(t, addr, mi, tr) })
	}
}

func testEncrypt(t *testing.T, addr string, mi *metainfo.MetaInfo, tr Transport) {
	for _, enc := range []bool{true, false} {
		res, err := Run(context.Background(), Config{
			Addr: addr, Torrents: []Torrent{FromMetaInfo(mi)}, Conns: 2, Pipeline: 32,
			Verify: true, Encrypt: enc, Transport: tr, Duration: 300 * time.Millisecond, DialTimeout: 5 * time.Second,
			ReadyTimeout: 5 * time.Second,
		})
		t.Logf("encrypt %v: %+v (err %v)", enc, res, err)
		if enc {
			if err != nil || res.Connected != 2 || res.Verified == 0 || res.HashFails != 0 {
				t.Fatalf("encrypted: err %v, connected %d, verified %d, hash failures %d", err, res.Connected, res.Verified, res.HashFails)
			}
		} else if res.Bytes != 0 || res.Connected != 0 {
			t.Fatalf("plaintext connections to a forced seeder got %d bytes (%d connected)", res.Bytes, res.Connected)
		}
	}
}
