package main

import "golang.org/x/sys/unix"

// readlinkatSys: DragonFly's system-call package has no readlinkat, so a
// symbolic link in the served tree cannot be followed safely there and is
// refused (the request gets a 404) instead of being followed by name.
func readlinkatSys(dir int, name string, buf []byte) (int, error) {
	return 0, unix.ENOSYS
}
