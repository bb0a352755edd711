package storage

import (
	"testing"

	"golang.org/x/sys/unix"
)

// evict drops one file's pages from the page cache (after a Sync, so none
// are dirty), to benchmark reads that must go to the disk.
func evict(b *testing.B, path string) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED); err != nil {
		b.Fatal(err)
	}
}
