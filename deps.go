//go:build tools

// Package shardtorrent keeps the design-card dependencies pinned until the packages that use them land.
package shardtorrent

import (
	_ "github.com/anacrolix/torrent/bencode"
	_ "github.com/cespare/xxhash/v2"
	_ "github.com/panjf2000/gnet/v2/pkg/netpoll"
	_ "golang.org/x/sys/unix"
)
