package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// freeSpace returns the bytes available to this process on the file system
// holding dir. NetBSD has statvfs instead of statfs; its blocks are
// f_frsize bytes.
func freeSpace(dir string) (uint64, error) {
	var st unix.Statvfs_t
	for {
		err := unix.Statvfs(dir, &st)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, os.NewSyscallError("statvfs", err)
		}
		return uint64(st.Bavail) * uint64(st.Frsize), nil
	}
}
