package loop

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"
)

// ShutdownHandler is implemented by channels that take part in a graceful
// Shutdown: BeginShutdown is called once, on the loop's goroutine, when the
// shutdown begins. A listener stops accepting; a connection says goodbye
// (an SMTP 421, a chat room's "server shutting down", Connection: close on
// the next HTTP reply) and closes once its output is written. Channels that
// do not implement it are closed by force when Shutdown's context ends.
type ShutdownHandler interface {
	BeginShutdown()
}

// shutdownReq is one Shutdown call waiting for the loop.
type shutdownReq struct {
	done    chan struct{} // closed when the shutdown completed
	forced  bool          // the deadline closed channels; set before done
	expired atomic.Bool   // the caller's context is done
}

// Shutdown ends the loop gracefully; any goroutine may call it, but not the
// loop's own (a handler, timer or posted function), since it waits for the
// loop. On the loop's goroutine it calls BeginShutdown once on every channel
// in the map that implements ShutdownHandler, then lets the loop run until
// the map is empty or ctx is done, whichever comes first; at the deadline it
// closes every channel left, through its Close, as the loop does with a
// channel it cannot trust. Then Run (or RunContext, or a Group's loop)
// returns nil.
//
// Shutdown returns nil if the map emptied by itself, and ctx.Err() if the
// deadline forced closes. It needs the loop to be run: asked before Run, it
// is served once Run starts; if nothing runs the loop when ctx ends, it
// returns ctx.Err() at once, and the channels left are closed at the loop's
// next iteration. On a closed loop it returns ErrClosed.
func (l *Loop) Shutdown(ctx context.Context) error {
	s := &shutdownReq{done: make(chan struct{})}
	if err := l.Post(func() { l.beginShutdown(s) }); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() {
		s.expired.Store(true)
		l.wakeUp()
	})
	defer stop()
	select {
	case <-s.done:
		if s.forced {
			return ctx.Err()
		}
		return nil
	case <-ctx.Done():
	}
	// The deadline: the loop closes what is left at its next iteration.
	// Wait for that while something runs the loop.
	l.mu.Lock()
	if !l.serving {
		l.mu.Unlock()
		return ctx.Err()
	}
	exited := make(chan struct{})
	l.exitWait = append(l.exitWait, exited)
	l.mu.Unlock()
	select {
	case <-s.done:
	case <-exited:
	}
	return ctx.Err()
}

// beginShutdown runs on the loop's goroutine (posted by Shutdown). The
// first of concurrent Shutdowns tells the channels; the others wait with
// it.
func (l *Loop) beginShutdown(s *shutdownReq) {
	first := len(l.shut) == 0
	l.shut = append(l.shut, s)
	if first {
		l.m.Range(func(fd int, ch Channel) bool {
			if h, ok := ch.(ShutdownHandler); ok {
				l.callBeginShutdown(fd, ch, h)
			}
			return true
		})
	}
	l.progressShutdown()
}

// callBeginShutdown calls h.BeginShutdown, handing a panic to the
// channel's HandleError as a handler's panic is.
func (l *Loop) callBeginShutdown(fd int, ch Channel, h ShutdownHandler) {
	defer func() {
		if v := recover(); v != nil {
			l.recovered(fd, ch, v)
		}
	}()
	h.BeginShutdown()
}

// progressShutdown runs at the end of every iteration while a Shutdown is
// under way: it completes it once the map is empty, or closes every channel
// left once a caller's deadline has passed.
func (l *Loop) progressShutdown() {
	forced := false
	if l.m.Len() > 0 {
		expired := false
		for _, s := range l.shut {
			expired = expired || s.expired.Load()
		}
		if !expired {
			return
		}
		l.m.Range(func(fd int, ch Channel) bool {
			l.forceRemove(fd, ch)
			return true
		})
		forced = true
	}
	for _, s := range l.shut {
		s.forced = forced
		close(s.done)
	}
	l.shut = nil
	l.shutDone = true
}

// DefaultGrace is the grace period RunGraceful gives connections when it is
// passed zero: time enough for a client to read a reply already queued, short
// enough that a SIGTERM under a service manager (whose own timeout is often
// 10 s or more) ends the process by itself.
const DefaultGrace = 5 * time.Second

// RunGraceful runs the loop until ctx is done and then shuts it down
// gracefully: Shutdown with a deadline grace (zero or less: DefaultGrace)
// from the moment ctx ended. It is what a server's main wants on SIGTERM:
//
//	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//	defer cancel()
//	return l.RunGraceful(ctx, 0)
//
// Listeners stop accepting, connections say goodbye and close once their
// output is written, and whatever is still open when the grace period ends
// is closed (logged at Info with slog, since a server's operator wants to
// know that connections were cut). It returns Run's error, once the
// shutdown is complete; the loop is still open, so Close it afterwards.
func (l *Loop) RunGraceful(ctx context.Context, grace time.Duration) error {
	if grace <= 0 {
		grace = DefaultGrace
	}
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(done)
		sctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		if err := l.Shutdown(sctx); errors.Is(err, context.DeadlineExceeded) {
			slog.Info("loop: grace period over: closed the connections left", "grace", grace)
		}
	})
	err := l.Run()
	if !stop() {
		<-done // Shutdown is under way: let it return before the caller closes l
	}
	return err
}
