package testutil

import "golang.org/x/sys/unix"

// DupTo duplicates oldfd onto the number newfd (closing whatever newfd was)
// and marks the copy close-on-exec in the same call: dup3(2).
func DupTo(oldfd, newfd int) error { return unix.Dup3(oldfd, newfd, unix.O_CLOEXEC) }
