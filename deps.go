//go:build tools

// Package shardtorrent: this file pins github.com/panjf2000/gnet/v2, a
// design-card dependency that no package imports. loop/ is built on
// golang.org/x/sys alone because gnet's pkg/netpoll measured worse here
// (its Trigger allocates per task, its Polling resizes its event list and
// has no timeout or after-batch hook; see loop/doc.go). Keeping it pinned
// lets the benchmark and the next measurement use the same version.
package shardtorrent

import (
	_ "github.com/panjf2000/gnet/v2/pkg/netpoll"
)
