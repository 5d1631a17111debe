//go:build !linux

package testutil

import "golang.org/x/sys/unix"

// DupTo duplicates oldfd onto the number newfd (closing whatever newfd was)
// and marks the copy close-on-exec: dup2(2), then FD_CLOEXEC, where there
// is no portable dup3.
func DupTo(oldfd, newfd int) error {
	if err := unix.Dup2(oldfd, newfd); err != nil {
		return err
	}
	unix.CloseOnExec(newfd)
	return nil
}
