//go:build !(darwin || freebsd || netbsd || openbsd || dragonfly)

package poller

// openKqueue fails where there is no kqueue: it is macOS's and the BSDs'.
func openKqueue() (Poller, error) { return nil, ErrUnsupported }
