package loop_test

// Tests named after the failure modes in docs/failure-modes.md: F4 stale-event,
// F6 double-close, F7 map-change-in-batch, F18 eintr, F19 busy-loop,
// F21 handler-panic, F24 select-fd-setsize, F25 dup-ghost-events. Each runs on
// every backend (F26 backend-parity).

import (
	"errors"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

const reuseRounds = 200

// TestFDReuseWithinBatch is F4 stale-event: a stale event for a closed fd must
// never reach a channel created in the same batch.
func TestFDReuseWithinBatch(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)

		// Two dispatchers are readable in one batch; whichever runs first
		// closes the other and at once creates a new socketpair and a
		// dispatcher for it. The victim's close is deferred to the end of
		// the batch, so the kernel cannot hand its number to the new
		// sockets — that is our design, and asserted here.
		t.Run("deferred close", func(t *testing.T) {
			l := newLoop(t, kind, loop.Options{})
			m := l.Map()
			for round := range reuseRounds {
				aL, aP := testutil.BareSocketpair(t)
				bL, bP := testutil.BareSocketpair(t)
				a, b := newProbe(t, m, aL), newProbe(t, m, bL)
				poke(t, aP)
				poke(t, bP)

				var victim, fresh *probe
				victimFd, freshL, freshP := -1, -1, -1
				var setupErr error
				first := func(self, other *probe) func() {
					return func() {
						_, _ = self.Recv(self.buf[:])
						if victim != nil {
							return
						}
						victim, victimFd = other, other.Fd()
						setupErr = errors.Join(setupErr, other.Close())
						fds, err := testutil.NewSocketpair()
						if err != nil {
							setupErr = errors.Join(setupErr, err)
							return
						}
						freshL, freshP = fds[0], fds[1]
						fresh = &probe{}
						fresh.Init(fresh, m)
						fresh.Logger = discard
						setupErr = errors.Join(setupErr, fresh.Adopt(freshL))
						_, err = unix.Write(freshP, []byte{'x'}) // readable at once
						setupErr = errors.Join(setupErr, err)
					}
				}
				a.onRead, b.onRead = first(a, b), first(b, a)

				require.NoError(t, l.RunOnce(time.Second))
				require.NoError(t, setupErr)
				require.NotNil(t, victim, "round %d: no handler ran", round)
				assert.NotEqual(t, victimFd, freshL, "round %d: the victim's number was reused inside the batch", round)
				assert.NotEqual(t, victimFd, freshP, "round %d: the victim's number was reused inside the batch", round)
				assert.Zero(t, fresh.calls(), "round %d: the new dispatcher got an event in the batch it was made in", round)
				assert.Zero(t, victim.calls(), "round %d: the victim was called after Close", round)
				assert.Zero(t, victim.late, "round %d", round)
				assert.Equal(t, 1, victim.closes, "round %d", round)
				assert.False(t, testutil.IsOpen(victimFd), "round %d: the deferred close happens before RunOnce returns", round)

				// The new dispatcher was readable all along: it gets its
				// event in the next iteration.
				require.NoError(t, l.RunOnce(time.Second))
				assert.Equal(t, 1, fresh.reads, "round %d", round)

				for _, p := range []*probe{a, b, fresh} {
					_ = p.Close()
				}
				for _, fd := range []int{aP, bP, freshP} {
					_ = unix.Close(fd)
				}
				if t.Failed() {
					return
				}
			}
		})

		// The generation guard on its own: the handler that runs first
		// removes the other channel and registers a new one under the same
		// descriptor. The batch still holds an event for that descriptor
		// with the old generation; the new channel must not receive it.
		t.Run("generation guard, same descriptor", func(t *testing.T) {
			l := newLoop(t, kind, loop.Options{})
			m := l.Map()
			for round := range reuseRounds {
				aL, aP := testutil.BareSocketpair(t)
				bL, bP := testutil.BareSocketpair(t)
				a := addFake(t, m, aL, poller.Read)
				b := addFake(t, m, bL, poller.Read)
				poke(t, aP)
				poke(t, bP)
				var replaced, replacement *fake
				var addErr error
				first := func(other *fake) func(poller.Events) {
					return func(poller.Events) {
						if replacement != nil {
							return
						}
						replaced = other
						m.Remove(other.fd, other)
						replacement = &fake{m: m, fd: other.fd, want: poller.Read}
						addErr = m.Add(other.fd, replacement)
					}
				}
				a.onEvents, b.onEvents = first(b), first(a)

				require.NoError(t, l.RunOnce(time.Second))
				require.NoError(t, addErr)
				require.NotNil(t, replacement)
				assert.Zero(t, replacement.events, "round %d: stale event delivered to the new registration", round)
				assert.Zero(t, replaced.events, "round %d: the removed channel was called", round)

				// The byte is still unread, so the next iteration reports it
				// to the new registration: the event was real, only stale.
				require.NoError(t, l.RunOnce(time.Second))
				assert.Equal(t, 1, replacement.events, "round %d", round)

				for _, c := range []*fake{a, b, replacement} {
					_ = c.Close()
				}
				_ = unix.Close(aP)
				_ = unix.Close(bP)
				if t.Failed() {
					return
				}
			}
		})

		// The number really reused: the handler closes the other channel's
		// descriptor at once (bypassing the deferral), puts a brand-new
		// socket on the same number, and registers it. The new socket has
		// nothing to read, so any event it gets is the old socket's.
		t.Run("generation guard, reused number", func(t *testing.T) {
			l := newLoop(t, kind, loop.Options{})
			m := l.Map()
			for round := range reuseRounds {
				aL, aP := testutil.BareSocketpair(t)
				bL, bP := testutil.BareSocketpair(t)
				a := addFake(t, m, aL, poller.Read)
				b := addFake(t, m, bL, poller.Read)
				poke(t, aP)
				poke(t, bP)
				var replacement *fake
				newPeer := -1
				var setupErr error
				first := func(other *fake) func(poller.Events) {
					return func(poller.Events) {
						if replacement != nil {
							return
						}
						num := other.fd
						m.Remove(num, other)
						other.closed = true
						setupErr = errors.Join(setupErr, unix.Close(num))
						fds, err := testutil.NewSocketpair()
						if err != nil {
							setupErr = errors.Join(setupErr, err)
							return
						}
						switch num {
						case fds[0]:
							newPeer = fds[1]
						case fds[1]:
							newPeer = fds[0]
						default:
							setupErr = errors.Join(setupErr, testutil.DupTo(fds[0], num), unix.Close(fds[0]))
							newPeer = fds[1]
						}
						replacement = &fake{m: m, fd: num, want: poller.Read}
						setupErr = errors.Join(setupErr, m.Add(num, replacement))
					}
				}
				a.onEvents, b.onEvents = first(b), first(a)

				require.NoError(t, l.RunOnce(time.Second))
				require.NoError(t, setupErr)
				require.NotNil(t, replacement)
				assert.Zero(t, replacement.events, "round %d: the new socket got the old socket's event", round)
				require.NoError(t, l.RunOnce(5*time.Millisecond))
				assert.Zero(t, replacement.events, "round %d: the new socket has nothing to read", round)

				poke(t, newPeer)
				require.NoError(t, l.RunOnce(time.Second))
				assert.Equal(t, 1, replacement.events, "round %d: the new socket is watched", round)

				for _, c := range []*fake{a, b, replacement} {
					_ = c.Close()
				}
				for _, fd := range []int{aP, bP, newPeer} {
					_ = unix.Close(fd)
				}
				if t.Failed() {
					return
				}
			}
		})
	})
}

// TestHandlerRunAfterCloseSameEvent is F6(a) double-close: nothing runs on a
// channel after it is closed, in the same batch or the same event.
func TestHandlerRunAfterCloseSameEvent(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		// Loop level: two channels, each readable and writable; whichever
		// runs first closes both.
		t.Run("fake channels", func(t *testing.T) {
			l := newLoop(t, kind, loop.Options{})
			m := l.Map()
			for round := range 50 {
				xL, xP := testutil.PeerSocketpair(t)
				yL, yP := testutil.PeerSocketpair(t)
				poke(t, xP)
				poke(t, yP)
				x := addFake(t, m, xL, poller.Read|poller.Write)
				y := addFake(t, m, yL, poller.Read|poller.Write)
				closeBoth := func(poller.Events) {
					_ = x.Close()
					_ = y.Close()
				}
				x.onEvents, y.onEvents = closeBoth, closeBoth
				require.NoError(t, l.RunOnce(time.Second))
				assert.Equal(t, 1, x.events+y.events, "round %d: only the first channel is called", round)
				assert.Equal(t, 1, x.closes, "round %d", round)
				assert.Equal(t, 1, y.closes, "round %d", round)
				assert.Zero(t, x.late+y.late, "round %d", round)
				assert.Zero(t, m.Len())
				require.NoError(t, l.RunOnce(time.Millisecond))
				assert.Equal(t, 1, x.events+y.events, "round %d", round)
			}
		})

		// Dispatcher level: read and write are both ready; HandleRead
		// closes, so HandleWrite must not run, and nothing else either.
		t.Run("dispatcher closes in HandleRead", func(t *testing.T) {
			l := newLoop(t, kind, loop.Options{})
			local, peer := testutil.PeerSocketpair(t)
			poke(t, peer)
			p := newProbe(t, l.Map(), local)
			p.writable = true
			p.onRead = func() { _ = p.Close() }
			require.NoError(t, l.RunOnce(time.Second))
			assert.Equal(t, 1, p.reads)
			assert.Zero(t, p.writes, "HandleWrite ran after Close in the same event")
			assert.Zero(t, p.handleCloses)
			assert.Zero(t, p.late)
			assert.Equal(t, 1, p.closes)
		})

		// Dispatcher level across channels: A's HandleRead closes B, which
		// is ready for read and write in the same batch.
		t.Run("dispatcher closes another", func(t *testing.T) {
			l := newLoop(t, kind, loop.Options{})
			for round := range 50 {
				aL, aP := testutil.PeerSocketpair(t)
				bL, bP := testutil.PeerSocketpair(t)
				poke(t, aP)
				poke(t, bP)
				a, b := newProbe(t, l.Map(), aL), newProbe(t, l.Map(), bL)
				a.writable, b.writable = true, true
				a.onRead = func() { _ = b.Close() }
				b.onRead = func() { _ = a.Close() }
				require.NoError(t, l.RunOnce(time.Second))
				require.NotEqual(t, a.closed, b.closed, "round %d: exactly one is closed", round)
				victim, survivor := a, b
				if b.closed {
					victim, survivor = b, a
				}
				assert.Zero(t, victim.calls(), "round %d: the closed dispatcher was called", round)
				assert.Equal(t, 1, survivor.reads, "round %d", round)
				assert.Zero(t, a.late+b.late, "round %d", round)
				_ = a.Close()
				_ = b.Close()
			}
		})
	})
}

// TestMassCloseInsideHandler is F7 map-change-in-batch: 200 channels readable
// in one batch; the first handler closes the other 199 and registers 50 new
// ones.
func TestMassCloseInsideHandler(t *testing.T) {
	const total, fresh = 200, 50
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l := newLoop(t, kind, loop.Options{})
		m := l.Map()
		probes := make([]*probe, total)
		for i := range probes {
			local, peer := testutil.PeerSocketpair(t)
			probes[i] = newProbe(t, m, local)
			poke(t, peer)
		}
		var first *probe
		var added []*probe
		var setupErr error
		for _, p := range probes {
			p.onRead = func() {
				if first != nil {
					return
				}
				first = p
				for _, q := range probes {
					if q != p {
						setupErr = errors.Join(setupErr, q.Close())
					}
				}
				for range fresh {
					fds, err := testutil.NewSocketpair()
					if err != nil {
						setupErr = errors.Join(setupErr, err)
						return
					}
					t.Cleanup(func() { _ = unix.Close(fds[1]) })
					_, err = unix.Write(fds[1], []byte{'x'})
					setupErr = errors.Join(setupErr, err)
					q := &probe{}
					q.Init(q, m)
					q.Logger = discard
					setupErr = errors.Join(setupErr, q.Adopt(fds[0]))
					added = append(added, q)
				}
			}
		}
		require.NoError(t, l.RunOnce(time.Second))
		require.NoError(t, setupErr)
		require.NotNil(t, first)
		require.Len(t, added, fresh)
		assert.Equal(t, 1+fresh, m.Len(), "the survivor and the new channels")
		assert.Equal(t, 1, first.reads)
		for i, p := range probes {
			if p == first {
				continue
			}
			assert.Zero(t, p.calls(), "closed channel %d was called", i)
			assert.Zero(t, p.late, "closed channel %d", i)
			assert.Equal(t, 1, p.closes, "closed channel %d: exactly one Close", i)
		}
		for i, q := range added {
			assert.Zero(t, q.calls(), "new channel %d was called in the batch it was made in", i)
		}

		// The next iteration serves the new channels.
		testutil.RunUntil(t, l, 5*time.Second, func() bool {
			for _, q := range added {
				if q.reads == 0 {
					return false
				}
			}
			return true
		})
		for i, p := range probes {
			if p != first {
				assert.Equal(t, 1, p.closes, "closed channel %d", i)
				assert.Zero(t, p.late, "closed channel %d", i)
			}
		}
	})
}

// TestHandlerPanicIsolated is F21 handler-panic: a panic in one channel's
// handler reaches that channel's HandleError as a *loop.PanicError, and the
// other channels go on being served.
func TestHandlerPanicIsolated(t *testing.T) {
	errBoom := errors.New("boom")
	// busyFakes registers n fakes that are always readable.
	busyFakes := func(t *testing.T, m *loop.Map, n int) []*fake {
		fakes := make([]*fake, n)
		for i := range fakes {
			local, peer := testutil.PeerSocketpair(t)
			poke(t, peer)
			fakes[i] = addFake(t, m, local, poller.Read)
		}
		return fakes
	}
	checkServed := func(t *testing.T, others []*fake, want int) {
		t.Helper()
		for i, c := range others {
			assert.Equal(t, want, c.events, "bystander %d", i)
			assert.Empty(t, c.errs, "bystander %d", i)
		}
	}
	checkPanicErr := func(t *testing.T, err error) {
		t.Helper()
		var pe *loop.PanicError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, errBoom, pe.Value)
		assert.NotEmpty(t, pe.Stack)
		assert.Contains(t, string(pe.Stack), "loop_test", "the stack shows where the panic happened")
		assert.ErrorIs(t, err, errBoom)
	}

	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		t.Run("HandleEvents panics", func(t *testing.T) {
			l := newLoop(t, kind, loop.Options{})
			fakes := busyFakes(t, l.Map(), 4)
			bad := fakes[1]
			bad.onEvents = func(poller.Events) { panic(errBoom) }
			for range 5 {
				require.NoError(t, l.RunOnce(time.Second))
			}
			require.Len(t, bad.errs, 5, "every panic reaches HandleError")
			for _, err := range bad.errs {
				checkPanicErr(t, err)
			}
			checkServed(t, []*fake{fakes[0], fakes[2], fakes[3]}, 5)
		})

		t.Run("HandleError panics too", func(t *testing.T) {
			l := newLoop(t, kind, loop.Options{})
			fakes := busyFakes(t, l.Map(), 4)
			bad := fakes[2]
			bad.onEvents = func(poller.Events) { panic(errBoom) }
			bad.onError = func(error) { panic("again") }
			for range 5 {
				require.NoError(t, l.RunOnce(time.Second))
			}
			assert.Equal(t, 1, bad.events)
			assert.Equal(t, 1, bad.closes, "the channel is closed by force, once")
			assert.Nil(t, l.Map().Get(bad.fd), "and removed from the map")
			assert.False(t, testutil.IsOpen(bad.fd))
			assert.Zero(t, bad.late)
			checkServed(t, []*fake{fakes[0], fakes[1], fakes[3]}, 5)
		})

		t.Run("HandleError and Close panic", func(t *testing.T) {
			l := newLoop(t, kind, loop.Options{})
			fakes := busyFakes(t, l.Map(), 3)
			bad := fakes[0]
			bad.onEvents = func(poller.Events) { panic(errBoom) }
			bad.onError = func(error) { panic("again") }
			bad.onClose = func() error { panic("and again") }
			require.NoError(t, l.RunOnce(time.Second))
			assert.Nil(t, l.Map().Get(bad.fd), "the loop removes a channel whose Close panicked")
			assert.False(t, testutil.IsOpen(bad.fd), "and closes its descriptor")
			for range 4 {
				require.NoError(t, l.RunOnce(time.Second))
			}
			assert.Equal(t, 1, bad.events)
			assert.Equal(t, 1, bad.closes)
			checkServed(t, fakes[1:], 5)
		})

		t.Run("Interest panics", func(t *testing.T) {
			l := newLoop(t, kind, loop.Options{})
			fakes := busyFakes(t, l.Map(), 3)
			bad := fakes[1]
			bad.onInterest = func() poller.Events { panic(errBoom) }
			for range 3 {
				require.NoError(t, l.RunOnce(time.Second))
			}
			require.Len(t, bad.errs, 1, "asked once, at registration")
			checkPanicErr(t, bad.errs[0])
			assert.Zero(t, bad.events, "a channel whose Interest failed is not watched")
			checkServed(t, []*fake{fakes[0], fakes[2]}, 3)

			// And in strict mode, where Interest is asked every iteration.
			ls := newLoop(t, kind, loop.Options{Strict: true})
			sf := busyFakes(t, ls.Map(), 3)
			sf[0].onInterest = func() poller.Events { panic(errBoom) }
			sf[0].onError = func(error) { panic("again") }
			for range 3 {
				require.NoError(t, ls.RunOnce(time.Second))
			}
			assert.Equal(t, 1, sf[0].closes, "HandleError panicking in phase 1 closes the channel by force")
			assert.Nil(t, ls.Map().Get(sf[0].fd))
			checkServed(t, sf[1:], 3)
		})

		// With a real dispatcher the default HandleError logs and closes.
		t.Run("dispatcher default HandleError", func(t *testing.T) {
			l := newLoop(t, kind, loop.Options{})
			fakes := busyFakes(t, l.Map(), 3)
			local, peer := testutil.PeerSocketpair(t)
			poke(t, peer)
			d := &panicky{}
			d.Init(d, l.Map())
			d.Logger = discard
			require.NoError(t, d.Adopt(local))
			for range 3 {
				require.NoError(t, l.RunOnce(time.Second))
			}
			assert.Equal(t, 1, d.reads)
			assert.Nil(t, l.Map().Get(local), "the default HandleError closes the dispatcher")
			assert.Equal(t, -1, d.Fd())
			checkServed(t, fakes, 3)
		})
	})
}

// panicky is a dispatcher whose HandleRead panics; everything else is the
// default.
type panicky struct {
	dispatcher.Dispatcher
	reads int
}

func (p *panicky) HandleRead() { p.reads++; panic("read boom") }

func pairAt(t *testing.T, num int) int {
	t.Helper()
	a, b := testutil.BareSocketpair(t)
	switch num {
	case a:
	case b:
		a, b = b, a
	default:
		require.NoError(t, testutil.DupTo(a, num))
		require.NoError(t, unix.Close(a))
	}
	t.Cleanup(func() { _ = unix.Close(b) })
	return b
}

// TestIdleNoSpin is F19(a) busy-loop: idle connected dispatchers — whose
// default Writable is false — must let the loop sleep.
func TestIdleNoSpin(t *testing.T) {
	const idle = 100
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		probes := make([]*probe, idle)
		m := loop.NewMap()
		for i := range probes {
			local, _ := testutil.PeerSocketpair(t)
			probes[i] = newProbe(t, m, local)
			require.True(t, probes[i].Connected())
		}

		l := newLoop(t, kind, loop.Options{Map: m, Count: 10, Timeout: 50 * time.Millisecond})
		start := time.Now()
		require.NoError(t, l.Run())
		elapsed := time.Since(start)
		assert.Equal(t, uint64(10), l.Map().Stats().Iterations)
		assert.GreaterOrEqual(t, elapsed, 500*time.Millisecond, "every iteration waited its full timeout")
		for i, p := range probes {
			assert.Zero(t, p.calls(), "idle dispatcher %d was called", i)
		}

		// Iterations against elapsed time: with a 100 ms timeout, 300 ms
		// of running makes three or four wake-ups, not hundreds.
		l2 := newLoop(t, kind, loop.Options{Map: m, Timeout: 100 * time.Millisecond})
		watchdog(t, l2, testutil.HangGuard)
		before := m.Stats().Iterations // the map's count, l's included
		start = time.Now()             // before the timer is armed: a lower bound
		l2.AfterFunc(300*time.Millisecond, l2.Stop)
		require.NoError(t, l2.Run())
		elapsed = time.Since(start)
		assert.GreaterOrEqual(t, elapsed, 300*time.Millisecond)
		assert.LessOrEqual(t, m.Stats().Iterations-before, uint64(5))
		assert.Equal(t, idle, m.Len(), "Stop, not the watchdog, ended Run")
		for i, p := range probes {
			assert.Zero(t, p.calls(), "idle dispatcher %d was called", i)
		}
	})
}

// TestClosedFDBehindOurBack is F19(c) busy-loop: a registered descriptor closed
// without telling the loop must not make it spin. poll reports POLLNVAL and
// select EBADF, so the channel hears about it and is removed; epoll silently
// drops a closed descriptor from its interest list, so the channel hears
// nothing until its interest next changes, and then gets the error.
func TestClosedFDBehindOurBack(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		local, _ := testutil.PeerSocketpair(t)
		c := addFake(t, l.Map(), local, poller.Read)
		// The descriptor is gone; Close must only leave the map.
		c.onClose = func() error {
			c.closed = true
			l.Map().Remove(local, c)
			return nil
		}
		require.NoError(t, l.RunOnce(0)) // registered in the poller
		require.NoError(t, unix.Close(local))

		called := 0
		start := time.Now()
		for range 20 {
			before := c.events + len(c.errs) + c.closes
			require.NoError(t, l.RunOnce(10*time.Millisecond))
			if c.events+len(c.errs)+c.closes != before {
				called++
			}
		}
		elapsed := time.Since(start)
		assert.LessOrEqual(t, called, 5, "iterations that called the channel")
		assert.GreaterOrEqual(t, elapsed, 15*10*time.Millisecond, "the other iterations waited their timeout")
		assert.Zero(t, c.late)

		switch kind {
		case poller.Poll, poller.Select:
			assert.Nil(t, l.Map().Get(local), "the channel is removed")
			assert.NotZero(t, c.all&poller.Invalid, "it was told the descriptor is invalid")
			assert.Equal(t, 1, c.closes)
		case poller.Epoll:
			assert.Zero(t, called, "epoll forgets a closed descriptor: no events")
			c.want = poller.Read | poller.Write
			l.Map().Update(local)
			require.NoError(t, l.RunOnce(0))
			require.Len(t, c.errs, 1, "the next interest change reports the bad descriptor")
			assert.ErrorIs(t, c.errs[0], unix.EBADF)
			_ = c.Close()
		}
	})
}

// TestDupedFDNoGhostEvents is F25 dup-ghost-events: epoll watches the open file
// description, so a registered descriptor that was dup'd would keep producing
// events after close unless it is taken out of the poller first.
func TestDupedFDNoGhostEvents(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		m := l.Map()
		local, peer := testutil.PeerSocketpair(t)
		c := addFake(t, m, local, poller.Read)
		require.NoError(t, l.RunOnce(0))
		dup, err := unix.Dup(local)
		require.NoError(t, err)
		t.Cleanup(func() { _ = unix.Close(dup) })

		require.NoError(t, c.Close())
		require.False(t, testutil.IsOpen(local))
		poke(t, peer) // the dup's file is readable from now on

		before := l.Map().Stats().Iterations
		start := time.Now()
		for range 10 {
			require.NoError(t, l.RunOnce(10*time.Millisecond))
		}
		assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond, "a ghost event woke the loop")
		assert.Equal(t, uint64(10), l.Map().Stats().Iterations-before)
		assert.Zero(t, c.late)
		assert.Equal(t, 0, c.events)

		// A new socket on the original number gets nothing meant for the
		// dup.
		np := pairAt(t, local)
		n := addFake(t, m, local, poller.Read)
		start = time.Now()
		for range 5 {
			require.NoError(t, l.RunOnce(10*time.Millisecond))
		}
		assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
		assert.Zero(t, n.events, "the new socket got the dup's events")
		poke(t, np)
		require.NoError(t, l.RunOnce(time.Second))
		assert.Equal(t, 1, n.events)
	})
}

// TestSelectRefusesHighFD is F24 select-fd-setsize at the loop level: select
// cannot watch a descriptor at or above FD_SETSIZE. Map.Add refuses it at once
// while a select loop serves the map; a channel added before the loop existed
// hears about it through HandleError instead of the process panicking. The
// other backends serve it.
func TestSelectRefusesHighFD(t *testing.T) {
	const high = 1500
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		local, peer := testutil.PeerSocketpair(t)
		require.False(t, testutil.IsOpen(high), "fd %d is taken", high)
		require.NoError(t, testutil.DupTo(local, high))
		require.NoError(t, unix.Close(local))
		poke(t, peer)
		if kind == poller.Select {
			served := newLoop(t, kind, loop.Options{})
			assert.ErrorIs(t, served.Map().Add(high, &fake{}), poller.ErrFDTooLarge)
		}
		m := loop.NewMap()
		c := addFake(t, m, high, poller.Read) // no loop yet
		other, otherPeer := testutil.PeerSocketpair(t)
		poke(t, otherPeer)
		o := addFake(t, m, other, poller.Read)
		l := newLoop(t, kind, loop.Options{Map: m})

		require.NotPanics(t, func() { require.NoError(t, l.RunOnce(time.Second)) })
		assert.Equal(t, 1, o.events, "the other channel is served")
		if kind == poller.Select {
			require.Len(t, c.errs, 1)
			assert.ErrorIs(t, c.errs[0], poller.ErrFDTooLarge)
			assert.Zero(t, c.events)
		} else {
			assert.Empty(t, c.errs)
			assert.Equal(t, 1, c.events)
		}
	})
}
