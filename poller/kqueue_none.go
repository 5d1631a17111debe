//go:build !(darwin || freebsd || netbsd || openbsd || dragonfly)

package poller

func openKqueue() (Poller, error) { return nil, ErrUnsupported }
