package dispatcher

import (
	"errors"

	"github.com/asyncore-go/asyncore/loop"
	"golang.org/x/sys/unix"
)

// CloseAll closes every channel in m (DefaultMap if nil) and empties it:
// asyncore's close_all. Errors from Close are collected and returned joined,
// except EBADF, which is ignored, and except all of them when ignoreAll is
// set. Unlike asyncore, the map is emptied even when some Close fails: a
// channel whose Close did not remove it is removed anyway.
func CloseAll(m *loop.Map, ignoreAll bool) error {
	if m == nil {
		m = loop.DefaultMap()
	}
	var errs []error
	m.Range(func(fd int, ch loop.Channel) bool {
		if err := ch.Close(); err != nil && !ignoreAll && !errors.Is(err, unix.EBADF) {
			errs = append(errs, err)
		}
		if m.Remove(fd, ch) { // Close did not remove it
			stateOf(m).removed(fd)
		}
		return true
	})
	return errors.Join(errs...)
}
