//go:build !dragonfly

package main

import "golang.org/x/sys/unix"

// readlinkatSys is readlinkat(2).
func readlinkatSys(dir int, name string, buf []byte) (int, error) {
	return unix.Readlinkat(dir, name, buf)
}
