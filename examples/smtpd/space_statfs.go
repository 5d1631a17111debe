//go:build !netbsd && !openbsd

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// freeSpace returns the bytes available to this process on the file system
// holding dir (statfs's f_bavail blocks).
func freeSpace(dir string) (uint64, error) {
	var st unix.Statfs_t
	for {
		err := unix.Statfs(dir, &st)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, os.NewSyscallError("statfs", err)
		}
		// The field types differ between systems; the conversions make
		// this one line compile on all of them.
		return uint64(st.Bavail) * uint64(st.Bsize), nil //nolint:unconvert
	}
}
