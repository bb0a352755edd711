//go:build !linux

package storage

import "testing"

func evict(b *testing.B, path string) { b.Skip("no per-file page cache eviction here") }
