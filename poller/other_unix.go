//go:build unix && !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package poller

// Solaris, illumos and AIX have neither epoll nor kqueue here (event ports
// and pollset are not implemented), so only the portable backends remain.
var available = []Kind{Poll, Select}
