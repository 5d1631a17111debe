package sock

import "golang.org/x/sys/unix"

// stackIovecs is how many buffers Sendv describes on the stack: a reply
// is rarely more than a few, and a gathered write of many small ones uses
// the caller's IovecScratch.
const stackIovecs = 8

// IovecScratch is where Sendv builds the iovec array for more than
// stackIovecs buffers, kept by the caller between calls so that a steady
// stream of such writes allocates nothing. It is one pointer, nil until
// first needed, so that a connection that never gathers many buffers holds
// no array. The zero value is ready to use.
type IovecScratch struct {
	v *[]unix.Iovec
}
