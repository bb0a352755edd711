//go:build unix && !linux

package storage

import "golang.org/x/sys/unix"

// dirOpenFlags open a directory for use as an *at base (no O_PATH here).
const dirOpenFlags = unix.O_RDONLY | unix.O_DIRECTORY

// openat2 is Linux's; elsewhere the walk resolves every path.
func openat2(dirfd int, rel string, flags int, mode uint32) (int, error) { return -1, unix.ENOSYS }

func probeOpenat2() bool { return false }
