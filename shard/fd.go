package shard

import "golang.org/x/sys/unix"

// closeFd closes a socket that was handed to us but never made it onto a loop.
func closeFd(fd int) { _ = unix.Close(fd) }
