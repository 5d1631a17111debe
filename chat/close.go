package chat

import (
	"time"

	"github.com/asyncore-go/asyncore/internal/config"
	"github.com/asyncore-go/asyncore/internal/lifecycle"
	"github.com/asyncore-go/asyncore/loop"
)

// The closing side of AsyncChat: CloseWhenDone, the flush after the peer's
// EOF, the lingering close, Close and the chat's deadlines. The states and
// their clocks are internal/lifecycle's, shared with
// dispatcher.DispatcherWithSend; this file says what the chat does on each
// transition.

// CloseWhenDone closes the channel once everything queued so far has been
// written: asynchat's close_when_done. Input that arrives meanwhile is read
// and discarded, not framed, and anything pushed afterwards is dropped.
func (c *AsyncChat) CloseWhenDone() {
	if c.life.Closing() || c.Fd() < 0 {
		return
	}
	c.life.BeginClose(chatConn{c}, c.lingerTimeout())
	c.in, c.framing = nil, false
	c.unhold()
	c.out.PushClose()
	c.UpdateInterest()
	if !c.reading {
		c.initiateSend()
	}
}

func (c *AsyncChat) lingerTimeout() time.Duration {
	return config.Or(c.LingerTimeout, DefaultLingerTimeout)
}

// closeWritten is initiateSend's part once the output before the close
// marker is written: close, or linger first
// (docs/failure-modes.md#f17-lingering-close). Lingering reads and drops
// input until the peer's EOF, so reading resumes even if it had stopped
// above OutHighWater. HandleClose runs when the lingering ends.
func (c *AsyncChat) closeWritten() {
	if c.life.Linger(chatConn{c}, c.lingerTimeout()) {
		c.paused = false
		c.UpdateInterest()
		return
	}
	c.self.HandleClose()
}

// NextDeadline reports the chat's earliest deadline — the current frame's
// and the CloseWhenDone's — for the dispatcher's timer
// (dispatcher.Deadliner).
func (c *AsyncChat) NextDeadline() (time.Duration, bool) {
	next, ok := time.Duration(0), false
	if to := c.frameTimeout(); to > 0 {
		next, ok = time.Duration(c.frameAt)+to, true
	}
	if at, ok2 := c.life.Deadline(c.lingerTimeout()); ok2 && (!ok || at < next) {
		next, ok = at, true
	}
	return next, ok
}

// HandleDeadline acts on the chat's deadlines that have passed by now
// (dispatcher.Deadliner): a CloseWhenDone past LingerTimeout closes the
// channel; a frame past FrameTimeout fails it with ErrFrameTimeout, as an
// input limit does — HandleError may push a reply, which is written before
// the close.
func (c *AsyncChat) HandleDeadline(now time.Duration) {
	switch c.life.Expired(now, c.lingerTimeout()) {
	case lifecycle.Drained:
		// Everything was written; the peer just never finished.
		c.Hooks().CountTimeout()
		c.self.HandleClose()
		return
	case lifecycle.Stalled:
		c.Hooks().CountTimeout()
		_ = c.self.Close()
		return
	}
	if to := c.frameTimeout(); to > 0 && int64(now) >= c.frameAt+int64(to) {
		c.framing = false
		if c.life.Acting() {
			c.Hooks().CountTimeout()
			c.fail(ErrFrameTimeout)
		}
	}
}

// HandleClose is asynchat's handle_close, which closes the channel. When the
// peer has only finished sending (EOF) and replies are still queued, it
// writes them first and closes afterwards — asynchat would drop them
// (docs/asyncore-compat.md#half-close, docs/failure-modes.md#f15-half-close). A
// second HandleClose while flushing (the peer went away entirely) closes at
// once.
func (c *AsyncChat) HandleClose() {
	if c.life.StartFlush(c.Hooks().EOF(), !c.out.Empty(), c.Connected()) {
		c.CloseWhenDone()
		return
	}
	_ = c.self.Close()
}

// Close closes the channel and releases its buffers, dropping any queued
// output (producers that are io.Closers are closed).
func (c *AsyncChat) Close() error {
	c.out.Discard()
	c.in, c.incoming, c.lent, c.offered = nil, nil, false, false
	c.unhold()
	c.framing = false
	c.life.Stop()
	return c.Dispatcher.Close()
}

// chatConn is the chat as the lifecycle sees it (lifecycle.Conn): the
// dispatcher's socket and hooks, which are not in its method set. It is one
// pointer, so passing it as an interface does not allocate.
type chatConn struct{ c *AsyncChat }

func (x chatConn) Loop() *loop.Loop            { return x.c.Map().Loop() }
func (x chatConn) EOF() bool                   { return x.c.Hooks().EOF() }
func (x chatConn) Type() int                   { return x.c.Socket().Type() }
func (x chatConn) Unread() int                 { return x.c.Socket().Unread() }
func (x chatConn) ShutdownWrite() error        { return x.c.Socket().ShutdownWrite() }
func (x chatConn) ArmTimeout(at time.Duration) { x.c.Hooks().ArmTimeout(at) }

var _ lifecycle.Conn = chatConn{}
