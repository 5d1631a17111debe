package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// freeSpace returns the bytes available to this process on the file system
// holding dir. OpenBSD's statfs names its fields f_bavail and f_bsize.
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
		return uint64(st.F_bavail) * uint64(st.F_bsize), nil
	}
}
