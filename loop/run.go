package loop

import (
	"context"
	"sync/atomic"
	"time"
)

// Run iterates until the map is empty, Stop is called, a Shutdown has
// completed, or the Count given to New has run out — asyncore.loop. It
// returns nil in those cases and an error only if the poller itself fails.
func (l *Loop) Run() error { return l.run(nil) }

// RunContext is Run that also returns, with nil, once ctx is done, leaving
// the channels open (Shutdown is the graceful way to end a server; call it
// first). A ctx already done returns at once.
func (l *Loop) RunContext(ctx context.Context) error {
	if ctx.Err() != nil {
		return nil
	}
	if ctx.Done() == nil {
		return l.Run()
	}
	var done atomic.Bool
	stop := context.AfterFunc(ctx, func() {
		done.Store(true)
		l.wakeUp()
	})
	defer stop()
	return l.run(&done)
}

func (l *Loop) run(ctxDone *atomic.Bool) error {
	if l.count < 0 {
		return nil
	}
	if l.running {
		return ErrRunning
	}
	l.setServing(true)
	defer l.setServing(false)
	for i := 0; l.count == 0 || i < l.count; i++ {
		if l.shutDone {
			l.shutDone = false
			return nil
		}
		if l.m.Len() == 0 {
			return nil
		}
		if l.stopReq.CompareAndSwap(true, false) {
			return nil
		}
		if ctxDone != nil && ctxDone.Load() {
			return nil
		}
		if err := l.RunOnce(l.runTimeout()); err != nil {
			return err
		}
	}
	return nil
}

// setServing records whether a long-running Run is under way, for a
// Shutdown whose deadline passed: it waits for the loop to close what is
// left only while something runs the loop.
func (l *Loop) setServing(on bool) {
	l.mu.Lock()
	l.serving = on
	if !on {
		for _, c := range l.exitWait {
			close(c)
		}
		l.exitWait = nil
	}
	l.mu.Unlock()
}

// runTimeout is the wait Run gives each iteration: Options.Timeout, except
// that a zero Timeout polls only when Count bounds the run; without a
// Count, polling would spin, so it waits without bound instead.
func (l *Loop) runTimeout() time.Duration {
	if l.timeout == 0 && l.count == 0 {
		return -1
	}
	return l.timeout
}
