//go:build !linux

package poller

func openEpoll() (Poller, error) { return nil, ErrUnsupported }
