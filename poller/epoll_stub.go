//go:build !linux

package poller

// openEpoll fails where there is no epoll: it is Linux's.
func openEpoll() (Poller, error) { return nil, ErrUnsupported }
