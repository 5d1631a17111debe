package loop

import (
	"context"

	"github.com/asyncore-go/asyncore/poller"
)

// RunContext is Run (asyncore.loop) that also returns, with nil, once ctx is
// done; see Loop.RunContext.
func RunContext(ctx context.Context, opts Options) error {
	return runMap(ctx, opts)
}

// Run is asyncore.loop: it serves opts.Map (DefaultMap if nil) until it is
// empty, or for opts.Count iterations. Like asyncore, and unlike a Loop made
// with New, it asks every channel's predicates on every iteration, so a
// Readable or Writable changed in a timer, a posted function or another
// channel's handler is seen without Map.Update; Options.ActiveOnly turns
// that off. It reuses the loop already attached to
// the map when that loop has the requested backend, so calling Run with
// Count: 1 over and over (a common asyncore idiom) costs no set-up per call;
// otherwise it creates one, which it closes again once the map is empty.
// Long-lived servers usually create a Loop with New instead.
func Run(opts Options) error { return runMap(context.Background(), opts) }

func runMap(ctx context.Context, opts Options) error {
	m := opts.Map
	if m == nil {
		m = defaultMap
	}
	if m.Len() == 0 || opts.Count < 0 {
		return nil // asyncore returns at once on an empty map or count
	}
	kind := opts.Backend
	if kind == 0 && opts.UsePoll {
		kind = poller.Poll
	}
	if kind == 0 {
		kind = poller.Available()[0]
	}
	l := m.loop.Load()
	if l == nil || l.p == nil || l.Kind() != kind || l.isClosed() {
		var err error
		if l, err = New(opts); err != nil {
			return err
		}
		l.implicit = true
	}
	timeout, count, strict, check := l.timeout, l.count, l.strict, l.check
	opts.Strict = opts.Strict || !opts.ActiveOnly // asyncore asks every predicate every pass
	l.configure(opts)
	err := l.RunContext(ctx)
	l.timeout, l.count, l.strict, l.check = timeout, count, strict, check
	if m.Len() == 0 {
		l.unneeded()
	}
	return err
}

// The implicit loop. The package-level Run serves a map with the loop
// attached to it when that loop can be reused, and otherwise makes one and
// marks it implicit. The caller never holds an implicit loop, so the
// library closes it, by the rules below and nowhere else, once it has
// nothing left to do: Run only ever reuses the loop attached to the map, so
// an implicit loop that lost its map, or whose map is empty, would hold its
// poller and wake-up descriptors for nothing. A loop made with New is the
// caller's and is never closed for them.

// unneeded is how the map tells its loop that it has nothing to serve:
// the last channel left (Map.Remove, and Run returning on an empty map), or
// another loop took the map over (Map.attach). An implicit loop that is not
// running closes; one that is running finds the map empty and returns, and
// Run closes it then.
func (l *Loop) unneeded() {
	if l.implicit && !l.running {
		_ = l.Close()
	}
}

// replaced is New's notice to the map's loop that a new loop takes the map
// over: an implicit one closes even while running, since it can never get
// its map back.
func (l *Loop) replaced() {
	if l.implicit {
		_ = l.Close()
	}
}
