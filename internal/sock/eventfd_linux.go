package sock

import (
	"os"

	"golang.org/x/sys/unix"
)

// Eventfd creates a non-blocking, close-on-exec eventfd with a zero counter:
// one descriptor that any number of writes make readable once. It goes
// through the fault-injection seam as OpOpen.
func Eventfd() (int, error) {
	if f := Inject(OpOpen, -1); f.Err != 0 {
		return -1, os.NewSyscallError("eventfd", f.Err)
	}
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return -1, os.NewSyscallError("eventfd", err)
	}
	return fd, nil
}
