package loop_test

// Property tests over random fault scripts
// (docs/failure-modes.md#test-harness-notes): the wait and close(2) fail
// through internal/sock's fault-injection seam. The seed is logged, and
// -fault.seed replays a failing run.

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/internal/sock"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// waitFaults returns an injector answer for the wait: EINTR or EAGAIN at
// the given rate, counting them in n.
func waitFaults(rng *rand.Rand, rate float64, n *int) func() sock.Fault {
	return func() sock.Fault {
		if rng.Float64() >= rate {
			return sock.Fault{}
		}
		*n++
		return sock.Fault{Err: []unix.Errno{unix.EINTR, unix.EAGAIN}[rng.IntN(2)]}
	}
}

// TestFaultWait: a wait that fails with EINTR or EAGAIN is a wake-up with
// nothing ready, never an error. Under a random script of them an echo
// completes, a timer fires once and not early, and a posted function runs.
func TestFaultWait(t *testing.T) {
	seed := testutil.FaultSeed(t)
	scripts := looptest.FaultScripts(600, 90)
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l := newLoop(t, kind, loop.Options{})
		local, peer := testutil.PeerSocketpair(t)
		echo := newProbe(t, l.Map(), local)
		echo.onRead = func() {
			if n, _ := echo.Recv(echo.buf[:]); n > 0 {
				_, _ = echo.Send(echo.buf[:n])
			}
		}
		injected := 0
		buf := make([]byte, 64)
		for i := range scripts {
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			where := fmt.Sprintf("seed %d script %d", seed, i)
			wait := waitFaults(rng, rng.Float64()*0.9, &injected)
			restore := sock.SetInjector(func(op sock.Op, _ int) sock.Fault {
				if op == sock.OpWait {
					return wait()
				}
				return sock.Fault{}
			})

			msg := make([]byte, 1+rng.IntN(len(buf)))
			for j := range msg {
				msg[j] = byte(rng.IntN(256))
			}
			delay := time.Duration(rng.IntN(500)) * time.Microsecond
			start := time.Now()
			fired, posted := 0, false
			var firedAt time.Duration
			l.AfterFunc(delay, func() { fired++; firedAt = time.Since(start) })
			require.NoError(t, l.Post(func() { posted = true }))
			n, err := unix.Write(peer, msg)
			require.NoError(t, err)
			require.Equal(t, len(msg), n)

			var got []byte
			deadline := time.Now().Add(testutil.HangGuard)
			for len(got) < len(msg) || fired == 0 || !posted {
				if err := l.RunOnce(time.Millisecond); err != nil {
					restore()
					t.Fatalf("%s: RunOnce: %v", where, err)
				}
				if n, err := unix.Read(peer, buf); err == nil {
					got = append(got, buf[:n]...)
				}
				if time.Now().After(deadline) {
					restore()
					t.Fatalf("%s: stuck: echoed %d of %d bytes, timer fired %d times, posted %v", where, len(got), len(msg), fired, posted)
				}
			}
			restore()
			require.Equal(t, msg, got, where)
			require.Equal(t, 1, fired, where)
			require.GreaterOrEqual(t, firedAt, delay, "%s: the timer fired early", where)
		}
		assert.Zero(t, echo.late)
		assert.Empty(t, echo.errs)
		assert.Positive(t, injected)
		t.Logf("%d scripts, %d waits failed with EINTR or EAGAIN", scripts, injected)
	})
}

// TestFaultWaitError: any other errno from the wait fails the iteration
// with that errno, as a failing poller would; the loop runs normally once
// the wait succeeds again.
func TestFaultWaitError(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		local, peer := testutil.PeerSocketpair(t)
		p := newProbe(t, l.Map(), local)
		poke(t, peer)
		restore := sock.SetInjector(func(op sock.Op, _ int) sock.Fault {
			if op == sock.OpWait {
				return sock.Fault{Err: unix.ENOMEM}
			}
			return sock.Fault{}
		})
		err := l.RunOnce(0)
		restore()
		require.ErrorIs(t, err, unix.ENOMEM)
		assert.Zero(t, p.reads, "no events were dispatched")
		testutil.RunUntil(t, l, 5*time.Second, func() bool { return p.reads > 0 })
	})
}

// TestFaultClose: close(2) fails at random with EIO, EINTR or ENOSPC, for
// channels closed directly and for channels closed by their own handler
// (where the loop defers the close to the end of the batch), while the
// wait also fails at random. Properties: a direct Close returns the errno;
// a deferred close logs it once; every descriptor is released either way;
// no handler runs after the close.
func TestFaultClose(t *testing.T) {
	logs := captureLog(t)
	seed := testutil.FaultSeed(t)
	scripts := looptest.FaultScripts(600, 90)
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l := newLoop(t, kind, loop.Options{})
		failed := 0
		for i := range scripts {
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			where := fmt.Sprintf("seed %d script %d", seed, i)
			before := testutil.OpenFDs()
			logged := strings.Count(logs.String(), "deferred close failed")

			type closing struct {
				p        *probe
				fd, peer int
				errno    unix.Errno
				inside   bool // closed by its own HandleRead
			}
			chans := make([]*closing, 1+rng.IntN(6))
			faults := map[int]unix.Errno{}
			deferredFaults := 0
			for j := range chans {
				fds, err := testutil.NewSocketpair()
				require.NoError(t, err)
				c := &closing{p: newProbe(t, l.Map(), fds[0]), fd: fds[0], peer: fds[1], inside: rng.IntN(2) == 0}
				if rng.IntN(3) > 0 {
					c.errno = []unix.Errno{unix.EIO, unix.EINTR, unix.ENOSPC}[rng.IntN(3)]
					faults[c.fd] = c.errno
					if c.inside {
						deferredFaults++
					}
				}
				if c.inside {
					c.p.onRead = func() {
						if err := c.p.Close(); err != nil {
							t.Errorf("%s: a Close deferred to the end of the batch returned %v", where, err)
						}
					}
					poke(t, c.peer)
				}
				chans[j] = c
			}
			waits := 0
			wait := waitFaults(rng, rng.Float64()*0.5, &waits)
			restore := sock.SetInjector(func(op sock.Op, fd int) sock.Fault {
				switch op {
				case sock.OpWait:
					return wait()
				case sock.OpClose:
					if errno, ok := faults[fd]; ok {
						delete(faults, fd) // once: the number may be reused
						return sock.Fault{Err: errno}
					}
				}
				return sock.Fault{}
			})

			for _, c := range chans {
				if c.inside || rng.IntN(2) == 0 {
					continue
				}
				err := c.p.Close()
				if c.errno != 0 {
					require.ErrorIs(t, err, c.errno, where)
					failed++
				} else {
					require.NoError(t, err, where)
				}
				require.False(t, testutil.IsOpen(c.fd), "%s: a failed close leaked the descriptor", where)
			}
			testutil.RunUntil(t, l, 5*time.Second, func() bool {
				for _, c := range chans {
					if c.inside && !c.p.closed {
						return false
					}
				}
				return true
			})
			for _, c := range chans {
				if !c.inside && !c.p.closed {
					err := c.p.Close()
					if c.errno != 0 {
						require.ErrorIs(t, err, c.errno, where)
						failed++
					} else {
						require.NoError(t, err, where)
					}
				}
			}
			restore()
			require.NoError(t, l.RunOnce(0))
			for _, c := range chans {
				require.Zero(t, c.p.late, "%s: a handler ran after the close", where)
				require.Empty(t, c.p.errs, where)
				require.NoError(t, unix.Close(c.peer))
			}
			failed += deferredFaults
			require.Equal(t, deferredFaults, strings.Count(logs.String(), "deferred close failed")-logged,
				"%s: each failed deferred close is logged once", where)
			if after := testutil.OpenFDs(); after != before {
				t.Fatalf("%s: descriptors open: %d before the script, %d after", where, before, after)
			}
		}
		t.Logf("%d scripts, %d failed closes", scripts, failed)
	})
}
