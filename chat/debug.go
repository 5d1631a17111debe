package chat

import "os"

// The debug mode for CollectIncomingData's slice lifetime. The data given
// to CollectIncomingData points into a read buffer that the next read
// reuses — and that another connection may borrow from the pool — so a
// handler that keeps the slice itself, rather than a copy, sees it change
// under it later: the port of asynchat's self.buffer.append(data) as
// c.parts = append(c.parts, data) corrupts data, across reads and across
// connections, and only under load. In the debug mode the chat overwrites
// the slice with poisonByte as soon as CollectIncomingData returns, so
// such a handler gets visibly wrong data at once, in its tests.
//
// The mode is on in a race build (go test -race), and when the environment
// variable ASYNCORE_DEBUG is set to anything but "" or "0" when the program
// starts. Otherwise the only cost is one test of a boolean per collected
// piece.

// poisonByte is what collected data is overwritten with in the debug mode.
const poisonByte = '#'

// debugCollect is the debug mode's switch, read once.
var debugCollect = raceEnabled || debugEnv(os.Getenv("ASYNCORE_DEBUG"))

// debugEnv reports whether an ASYNCORE_DEBUG value turns debugging on.
func debugEnv(v string) bool { return v != "" && v != "0" }

// poison overwrites b, which the handler was lent, with poisonByte.
func poison(b []byte) {
	for i := range b {
		b[i] = poisonByte
	}
}
