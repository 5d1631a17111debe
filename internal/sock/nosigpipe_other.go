//go:build netbsd || openbsd

package sock

// noSigpipe does nothing here: the Go runtime ignores SIGPIPE raised by
// writes to descriptors other than 1 and 2, so a closed peer yields EPIPE.
func noSigpipe(int) {}
