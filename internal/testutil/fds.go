package testutil

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// OpenFDs counts this process's open descriptors (/proc/self/fd); -1 where
// /proc is missing.
func OpenFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries) - 1 // the directory's own descriptor
}

// IsOpen reports whether fd is an open descriptor.
func IsOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

// CheckFDLeaks fails the test if it ends with more descriptors open than it
// started with. Register it first, so that it runs after the other cleanups.
// It calls WarmUp first, so that the Go runtime's own descriptors, opened
// on first use of package net, do not count against the first test that
// uses it.
func CheckFDLeaks(t testing.TB) {
	t.Helper()
	WarmUp(t)
	before := OpenFDs()
	if before < 0 {
		return
	}
	t.Cleanup(func() {
		if after := OpenFDs(); after > before {
			t.Errorf("descriptor leak: %d open before the test, %d after", before, after)
		}
	})
}
