//go:build unix && !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package poller

// available lists only the portable backends where there is neither epoll
// nor kqueue: Solaris, illumos and AIX have event ports and pollset
// instead, which are not implemented.
var available = []Kind{Poll, Select}
