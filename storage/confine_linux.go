package storage

import "golang.org/x/sys/unix"

// dirOpenFlags open a directory for use as an *at base only: O_PATH needs
// no read permission and does no I/O.
const dirOpenFlags = unix.O_PATH | unix.O_DIRECTORY

// resolveConfined is openat2's resolve set: no link anywhere on the path
// (the last component included) and nothing outside dirfd.
const resolveConfined = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS

// openat2 opens rel below dirfd, refusing links and escapes. ELOOP (a link
// on the path) and EXDEV (an escape) become ErrUnsafePath. EAGAIN, which
// the kernel returns when a concurrent rename or mount may have raced the
// lookup, is retried.
func openat2(dirfd int, rel string, flags int, mode uint32) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags), Resolve: resolveConfined}
	if flags&unix.O_CREAT != 0 { // openat2 refuses a mode without O_CREAT
		how.Mode = uint64(mode)
	}
	for tries := 0; ; tries++ {
		fd, err := unix.Openat2(dirfd, rel, &how)
		switch {
		case err == nil:
			return fd, nil
		case err == unix.EINTR || err == unix.EAGAIN && tries < 16:
			continue
		case err == unix.ELOOP || err == unix.EXDEV:
			return -1, unsafePath(err.(unix.Errno))
		}
		return -1, err
	}
}

// probeOpenat2 reports whether openat2 with our resolve flags works here:
// it resolves "." below a descriptor of "/", which needs no permission and
// does not depend on the working directory.
func probeOpenat2() bool {
	root, err := unix.Open("/", dirOpenFlags|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(root)
	fd, err := unix.Openat2(root, ".", &unix.OpenHow{Flags: dirOpenFlags | unix.O_CLOEXEC, Resolve: resolveConfined})
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}
