package dispatcher

import "github.com/asyncore-go/asyncore/loop"

// DataHandler is implemented by a handler that wants its input handed to
// it rather than reading it itself: the fast path for a stream connection.
// When the value given to Init has HandleData, a read event reads once into
// the loop's read buffer (loop.Loop.BorrowReadBuffer, loop.ReadBufferSize
// bytes) and calls HandleData with what arrived, instead of calling
// HandleRead. EOF and errors go where Recv sends them — HandleClose, or
// HandleError — and the read counts for the timeouts and statistics as a
// Recv does; HandleData is called only with data (len(p) > 0).
//
// The connection holds no read buffer: the loop's one buffer serves all its
// connections, because a loop runs one handler at a time. So p is only
// lent, and only until HandleData returns — the same rule as
// chat.Handler's CollectIncomingData. Use it, send it (Send and a
// DispatcherWithSend queue a copy of what the socket does not take at
// once), or copy it; never keep p itself. Reading another channel from
// inside HandleData (a proxy's Recv on its other side, or that side's own
// read event) is fine: a nested read gets a buffer of its own, never the
// one p points into. Under go test -race, or with ASYNCORE_DEBUG set, p is
// overwritten with '#' bytes once HandleData returns, so a handler that
// keeps it fails at once in its tests.
//
// asyncore's handle_read with recv remains supported: a handler without
// HandleData has HandleRead called, and reads with Recv into a buffer of
// its own. HandleData is an addition asyncore does not have.
type DataHandler interface {
	HandleData(p []byte)
}

// poisonByte is what lent input is overwritten with in the debug mode.
const poisonByte = '#'

// readData is the read event of a handler with HandleData: one Recv into
// the loop's buffer, whose result HandleData handles before the buffer is
// returned.
func (d *Dispatcher) readData(h DataHandler) {
	l := d.m.Loop()
	buf := l.BorrowReadBuffer()
	defer l.ReturnReadBuffer(buf) // also if HandleData panics
	n, _ := d.Recv(buf)           // errors have gone to HandleClose or HandleError
	if n <= 0 {
		return
	}
	h.HandleData(buf[:n])
	if debugLend {
		poison(buf[:n])
	}
}

// debugLend turns on the poisoning of lent input (see DataHandler).
var debugLend = raceEnabled || loop.DebugEnabled()

// poison overwrites b, which the handler was lent, with poisonByte.
func poison(b []byte) {
	for i := range b {
		b[i] = poisonByte
	}
}
