package loop

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
)

// Group runs several loops at once, one per goroutine locked to its own OS
// thread, each with its own Map: the supported way to use more than one core.
// A loop and everything registered in it stay single-threaded, as in
// asyncore; the loops share nothing, so a server usually gives each one its
// own listener on the same port with SO_REUSEPORT
// (dispatcher.Dispatcher.ReusePort) and lets the kernel spread the
// connections between them. That is how nginx's workers and gnet's
// multi-core mode work, without an acceptor thread handing descriptors over.
type Group struct {
	loops []*Loop
	wg    sync.WaitGroup

	mu  sync.Mutex
	err error // the first error a loop's Run returned
}

// StartGroup starts n loops with opts (opts.Map must be nil: each loop makes
// its own) and returns once every one has been set up and is running. Each
// loop runs until Stop, even while its map is empty; opts.Count is ignored.
// setup
// is called for loop i on that loop's goroutine, before it runs, one loop
// after another in order: loop 0's setup has returned before loop 1's
// starts, so loop 0 may bind port 0 and the others reuse the port it got.
// If a setup fails, the loops already started are stopped and closed, and
// the error is returned.
func StartGroup(n int, opts Options, setup func(i int, l *Loop) error) (*Group, error) {
	if n < 1 {
		return nil, fmt.Errorf("loop: StartGroup needs at least one loop, got %d", n)
	}
	if opts.Map != nil {
		return nil, errors.New("loop: StartGroup makes a map per loop; Options.Map must be nil")
	}
	if setup == nil {
		return nil, errors.New("loop: StartGroup needs a setup function")
	}
	g := &Group{}
	for i := range n {
		ready := make(chan error, 1)
		g.wg.Add(1)
		go g.run(i, opts, setup, ready)
		if err := <-ready; err != nil {
			g.Stop()
			g.Wait()
			return nil, fmt.Errorf("loop: group loop %d: %w", i, err)
		}
	}
	return g, nil
}

// run is one loop's goroutine: create, set up, report, run, close.
func (g *Group) run(i int, opts Options, setup func(int, *Loop) error, ready chan<- error) {
	defer g.wg.Done()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	opts.Map = NewMap()
	l, err := New(opts)
	if err != nil {
		ready <- err
		return
	}
	if err := setup(i, l); err != nil {
		_ = l.Close()
		ready <- err
		return
	}
	g.mu.Lock()
	g.loops = append(g.loops, l)
	g.mu.Unlock()
	ready <- nil

	if err := l.runUntilStopped(); err != nil {
		g.mu.Lock()
		if g.err == nil {
			g.err = fmt.Errorf("loop: group loop %d: %w", i, err)
		}
		g.mu.Unlock()
	}
	_ = l.Close()
}

// runUntilStopped is Run without its exit on an empty map or Count: a
// group's loop serves until Stop or a completed Shutdown, even while it has
// no channel, so a function posted to it always runs.
func (l *Loop) runUntilStopped() error {
	timeout := l.timeout
	if timeout == 0 {
		timeout = -1 // no Count here: polling would spin (Options.Timeout)
	}
	l.setServing(true)
	defer l.setServing(false)
	for !l.stopReq.CompareAndSwap(true, false) {
		if l.shutDone {
			l.shutDone = false
			return nil
		}
		if err := l.RunOnce(timeout); err != nil {
			return err
		}
	}
	return nil
}

// Len reports how many loops the group runs.
func (g *Group) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.loops)
}

// Post queues f on loop i (see Loop.Post) and passes it that loop when it
// runs. It is how another goroutine reaches the channels of one loop: to
// read its Stats, or to close its channels with dispatcher.CloseAll before
// Stop.
func (g *Group) Post(i int, f func(l *Loop)) error {
	if f == nil {
		return errors.New("loop: Post of a nil function")
	}
	g.mu.Lock()
	if i < 0 || i >= len(g.loops) {
		g.mu.Unlock()
		return fmt.Errorf("loop: group has no loop %d", i)
	}
	l := g.loops[i]
	g.mu.Unlock()
	return l.Post(func() { f(l) })
}

// Stop asks every loop to return from Run (see Loop.Stop); each loop then
// closes itself. The channels still registered are not closed: a loop's Map
// outlives it; release their descriptors with dispatcher.CloseAll in a
// function posted to each loop before Stop. Stop may be
// called from any goroutine, more than once.
func (g *Group) Stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, l := range g.loops {
		l.Stop()
	}
}

// Wait blocks until every loop has returned and been closed, after Stop, and
// reports the first error a loop returned (a failing poller).
func (g *Group) Wait() error {
	g.wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}
