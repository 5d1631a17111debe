package loop

import (
	"os"

	"github.com/asyncore-go/asyncore/internal/sock"
	"golang.org/x/sys/unix"
)

// waitFault asks the fault injector (internal/sock, for tests only) about
// phase 2's wait; with none installed it costs one atomic load. An injected
// EINTR or EAGAIN ends the wait at once with no events: a wake-up with
// nothing ready, which the loop takes in its stride — timers and posted
// functions still run, and the next iteration waits again. (The pollers
// retry a real EINTR themselves and never return it.) Any other errno fails
// the iteration, as a failing poller would.
func waitFault() (injected bool, err error) {
	f := sock.Inject(sock.OpWait, -1)
	switch f.Err {
	case 0:
		return false, nil
	case unix.EINTR, unix.EAGAIN:
		return true, nil
	}
	return true, os.NewSyscallError("wait", f.Err)
}
