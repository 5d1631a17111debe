package main

import (
	"sync"
)

// Defaults of the commit pool.
const (
	// defaultCommitWorkers is how many messages are synced to disk at
	// once. A few are enough to keep a disk busy; more only queue in the
	// kernel.
	defaultCommitWorkers = 4
	// defaultCommitQueue is how many finished messages may wait for a
	// worker. Past it, a message is refused with a temporary error rather
	// than the loop waiting for the disk.
	defaultCommitQueue = 64
)

// committer makes finished messages durable — fsync, rename into new/,
// fsync of new/ — on a few goroutines of its own, so that the loop never
// waits for the disk: while one message is synced, every other session is
// served. Each result comes back to the loop goroutine through the
// function given with the message, which posts it there (loop.Loop.Post).
type committer struct {
	jobs chan commitJob // nil: commit on the caller's goroutine (tests)
	wg   sync.WaitGroup
}

// commitJob is one message to commit and what to do with the result; done
// runs on a worker goroutine.
type commitJob struct {
	msg  *message
	done func(error)
}

// newCommitter starts workers goroutines with a queue of queue messages.
// With workers < 0 there are none: submit commits at once, on its caller's
// goroutine, which is what a test driving the loop by hand wants.
func newCommitter(workers, queue int) *committer {
	c := &committer{}
	if workers < 0 {
		return c
	}
	if workers == 0 {
		workers = defaultCommitWorkers
	}
	if queue <= 0 {
		queue = defaultCommitQueue
	}
	c.jobs = make(chan commitJob, queue)
	for range workers {
		c.wg.Go(func() {
			for j := range c.jobs {
				j.done(j.msg.commit())
			}
		})
	}
	return c
}

// submit hands msg to a worker and reports whether one took it; when the
// queue is full it returns false at once, and msg is still the caller's. A
// nil committer commits at once, as one without workers does.
func (c *committer) submit(msg *message, done func(error)) bool {
	if c == nil || c.jobs == nil {
		done(msg.commit())
		return true
	}
	select {
	case c.jobs <- commitJob{msg, done}:
		return true
	default:
		return false
	}
}

// close lets the workers finish the messages already handed to them and
// waits for them. Those messages are delivered even though their 250 may
// never be sent: once a client has sent the final ".", the message is kept
// rather than lost (see session.endData). Call it once, after the last
// submit.
func (c *committer) close() {
	if c.jobs != nil {
		close(c.jobs)
		c.wg.Wait()
	}
}
